package io.lorica.pipelines.scheduler;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.Collection;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The keys of a Diffusers {@code scheduler_config.json} that Lorica's schedulers read. A {@code null} component is a
 * key the file does not set (or sets to {@code null}): the scheduler class that is created supplies its own default,
 * as Diffusers' {@code from_config} does. Keys Lorica does not read are ignored.
 *
 * <p>Values are checked on construction, which throws {@link IllegalArgumentException} naming the key, the value
 * and what was expected; enumerated values must be spelled as Diffusers spells them. Whether a
 * particular scheduler supports a value (e.g. {@code prediction_type} {@code sample} for PNDM) is checked when the
 * scheduler is created.
 *
 * @param className {@code _class_name}, the Diffusers scheduler class the file was written for
 * @param numTrainTimesteps {@code num_train_timesteps}, at least 1
 * @param betaStart {@code beta_start}, in [0, 1)
 * @param betaEnd {@code beta_end}, in [0, 1)
 * @param betaSchedule {@code beta_schedule}: {@code linear}, {@code scaled_linear} or {@code squaredcos_cap_v2}
 * @param trainedBetas {@code trained_betas}, betas in [0, 1] replacing the schedule; unmodifiable
 * @param predictionType {@code prediction_type}: {@code epsilon}, {@code v_prediction} or {@code sample}
 * @param timestepSpacing {@code timestep_spacing}: {@code leading}, {@code linspace} or {@code trailing}
 * @param stepsOffset {@code steps_offset}, at least 0
 * @param useKarrasSigmas {@code use_karras_sigmas}
 * @param sigmaMin {@code sigma_min}, the smallest Karras sigma (Euler, DPM-Solver), positive
 * @param sigmaMax {@code sigma_max}, the largest Karras sigma (Euler, DPM-Solver), positive
 * @param interpolationType {@code interpolation_type}: {@code linear} or {@code log_linear} (Euler)
 * @param finalSigmasType {@code final_sigmas_type}: {@code zero} or {@code sigma_min}
 * @param timestepType {@code timestep_type}: {@code discrete} or {@code continuous} (Euler)
 * @param rescaleBetasZeroSnr {@code rescale_betas_zero_snr}
 * @param setAlphaToOne {@code set_alpha_to_one} (DDIM, PNDM)
 * @param skipPrkSteps {@code skip_prk_steps} (PNDM)
 * @param clipSample {@code clip_sample} (DDIM)
 * @param clipSampleRange {@code clip_sample_range} (DDIM), positive
 * @param thresholding {@code thresholding} (DDIM, DPM-Solver; dynamic thresholding is not supported)
 * @param solverOrder {@code solver_order} (DPM-Solver), 1 to 3
 * @param algorithmType {@code algorithm_type} (DPM-Solver): {@code dpmsolver++}, {@code sde-dpmsolver++},
 *     {@code dpmsolver}, {@code sde-dpmsolver} or {@code deis}
 * @param solverType {@code solver_type} (DPM-Solver): {@code midpoint}, {@code heun}, {@code logrho}, {@code bh1} or
 *     {@code bh2}
 * @param lowerOrderFinal {@code lower_order_final} (DPM-Solver)
 * @param eulerAtFinal {@code euler_at_final} (DPM-Solver)
 */
public record SchedulerConfig(
        String className,
        Integer numTrainTimesteps,
        Double betaStart,
        Double betaEnd,
        String betaSchedule,
        List<Double> trainedBetas,
        String predictionType,
        String timestepSpacing,
        Integer stepsOffset,
        Boolean useKarrasSigmas,
        Double sigmaMin,
        Double sigmaMax,
        String interpolationType,
        String finalSigmasType,
        String timestepType,
        Boolean rescaleBetasZeroSnr,
        Boolean setAlphaToOne,
        Boolean skipPrkSteps,
        Boolean clipSample,
        Double clipSampleRange,
        Boolean thresholding,
        Integer solverOrder,
        String algorithmType,
        String solverType,
        Boolean lowerOrderFinal,
        Boolean eulerAtFinal) {

    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final int MAX_TRAIN_TIMESTEPS = 1_000_000;

    /**
     * A config; {@code null} components are keys the file does not set.
     *
     * @param className {@code _class_name}, the Diffusers scheduler class the file was written for
     * @param numTrainTimesteps {@code num_train_timesteps}, at least 1
     * @param betaStart {@code beta_start}, in [0, 1)
     * @param betaEnd {@code beta_end}, in [0, 1)
     * @param betaSchedule {@code beta_schedule}: {@code linear}, {@code scaled_linear} or {@code squaredcos_cap_v2}
     * @param trainedBetas {@code trained_betas}, betas in [0, 1] replacing the schedule; unmodifiable
     * @param predictionType {@code prediction_type}: {@code epsilon}, {@code v_prediction} or {@code sample}
     * @param timestepSpacing {@code timestep_spacing}: {@code leading}, {@code linspace} or {@code trailing}
     * @param stepsOffset {@code steps_offset}, at least 0
     * @param useKarrasSigmas {@code use_karras_sigmas}
     * @param sigmaMin {@code sigma_min}, the smallest Karras sigma (Euler, DPM-Solver), positive
     * @param sigmaMax {@code sigma_max}, the largest Karras sigma (Euler, DPM-Solver), positive
     * @param interpolationType {@code interpolation_type}: {@code linear} or {@code log_linear} (Euler)
     * @param finalSigmasType {@code final_sigmas_type}: {@code zero} or {@code sigma_min}
     * @param timestepType {@code timestep_type}: {@code discrete} or {@code continuous} (Euler)
     * @param rescaleBetasZeroSnr {@code rescale_betas_zero_snr}
     * @param setAlphaToOne {@code set_alpha_to_one} (DDIM, PNDM)
     * @param skipPrkSteps {@code skip_prk_steps} (PNDM)
     * @param clipSample {@code clip_sample} (DDIM)
     * @param clipSampleRange {@code clip_sample_range} (DDIM), positive
     * @param thresholding {@code thresholding} (DDIM, DPM-Solver; dynamic thresholding is not supported)
     * @param solverOrder {@code solver_order} (DPM-Solver), 1 to 3
     * @param algorithmType {@code algorithm_type} (DPM-Solver): {@code dpmsolver++}, {@code sde-dpmsolver++},
     *     {@code dpmsolver}, {@code sde-dpmsolver} or {@code deis}
     * @param solverType {@code solver_type} (DPM-Solver): {@code midpoint}, {@code heun}, {@code logrho},
     *     {@code bh1} or {@code bh2}
     * @param lowerOrderFinal {@code lower_order_final} (DPM-Solver)
     * @param eulerAtFinal {@code euler_at_final} (DPM-Solver)
     * @throws IllegalArgumentException naming the key, the value and what was expected when a set value is out of
     *     range or not one of the accepted spellings
     */
    public SchedulerConfig {
        if (className != null && className.isBlank()) {
            throw new IllegalArgumentException("scheduler config key '_class_name' is blank; expected the name of a"
                    + " Diffusers scheduler class such as \"EulerDiscreteScheduler\"");
        }
        checkInt("num_train_timesteps", numTrainTimesteps, 1, MAX_TRAIN_TIMESTEPS);
        checkUnit("beta_start", betaStart);
        checkUnit("beta_end", betaEnd);
        checkOption("beta_schedule", betaSchedule, Options.BetaSchedule.class);
        if (trainedBetas != null) {
            if (trainedBetas.isEmpty()) {
                throw new IllegalArgumentException("scheduler config key 'trained_betas' is an empty array; expected"
                        + " one beta in [0, 1] per training timestep");
            }
            for (int i = 0; i < trainedBetas.size(); i++) {
                Double beta = trainedBetas.get(i);
                if (beta == null || !(beta >= 0 && beta <= 1)) {
                    throw new IllegalArgumentException("scheduler config key 'trained_betas' has value " + beta
                            + " at index " + i + "; expected betas in [0, 1]");
                }
            }
            trainedBetas = List.copyOf(trainedBetas);
        }
        checkOption("prediction_type", predictionType, Options.Prediction.class);
        checkOption("timestep_spacing", timestepSpacing, Options.Spacing.class);
        checkInt("steps_offset", stepsOffset, 0, MAX_TRAIN_TIMESTEPS);
        checkPositive("sigma_min", sigmaMin);
        checkPositive("sigma_max", sigmaMax);
        checkOption("interpolation_type", interpolationType, Options.Interpolation.class);
        checkOption("final_sigmas_type", finalSigmasType, Options.FinalSigmas.class);
        checkOption("timestep_type", timestepType, Options.TimestepType.class);
        checkPositive("clip_sample_range", clipSampleRange);
        checkInt("solver_order", solverOrder, 1, 3);
        checkOption("algorithm_type", algorithmType, Options.Algorithm.class);
        checkOption("solver_type", solverType, Options.Solver.class);
    }

    /**
     * A config that sets no key: every scheduler takes its Diffusers defaults.
     *
     * @return the empty config
     */
    public static SchedulerConfig empty() {
        return of(Map.of());
    }

    /**
     * A config from the keys of a parsed {@code scheduler_config.json} (JSON names, Java values: {@link String},
     * integral {@link Number}s, other {@link Number}s, {@link Boolean}, a {@link List} of numbers, or {@code null} for
     * an unset key). Keys Lorica does not read are ignored; keys listed in {@code _use_default_values} (which Diffusers
     * writes for the values it defaulted) count as unset.
     *
     * @param values the keys and values
     * @return the config
     * @throws IllegalArgumentException naming the key and the value when a value has the wrong type or is out of range
     */
    public static SchedulerConfig of(Map<String, ?> values) {
        Set<String> defaulted = new HashSet<>();
        Object useDefaults = values.get("_use_default_values");
        if (useDefaults != null) {
            if (!(useDefaults instanceof Collection)) {
                throw new IllegalArgumentException("scheduler config key '_use_default_values' has a value of type "
                        + useDefaults.getClass().getSimpleName() + "; expected an array of key names");
            }
            for (Object name : (Collection<?>) useDefaults) {
                if (!(name instanceof String)) {
                    throw new IllegalArgumentException("scheduler config key '_use_default_values' contains " + name
                            + "; expected an array of key names");
                }
                defaulted.add((String) name);
            }
        }
        Map<ConfigKey, Object> typed = new EnumMap<>(ConfigKey.class);
        for (ConfigKey key : ConfigKey.values()) {
            Object raw = values.get(key.jsonName());
            if (raw != null && !defaulted.contains(key.jsonName())) {
                typed.put(key, key.coerce(raw));
            }
        }
        return fromKeys(typed);
    }

    /**
     * Parses the text of a {@code scheduler_config.json}.
     *
     * @param json the JSON object
     * @param source where the text comes from, for messages
     * @throws IllegalArgumentException when the text is not a JSON object or a value is invalid
     */
    static SchedulerConfig fromJson(String json, String source) {
        JsonNode root;
        try {
            root = MAPPER.readTree(json);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("scheduler config " + source + " is not valid JSON: "
                    + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException("scheduler config " + source + " is not a JSON object");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> values = MAPPER.convertValue(root, LinkedHashMap.class);
        try {
            return of(values);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(e.getMessage() + " (in " + source + ")", e);
        }
    }

    /**
     * The keys this config sets, by JSON name, in a fixed order; {@link #of(Map)} of the result equals this config.
     *
     * @return a new mutable map
     */
    public Map<String, Object> toMap() {
        Map<String, Object> map = new LinkedHashMap<>();
        for (ConfigKey key : ConfigKey.values()) {
            Object value = get(key);
            if (value != null) {
                map.put(key.jsonName(), value);
            }
        }
        return map;
    }

    /**
     * This config with one key set, or unset when {@code value} is {@code null}, e.g.
     * {@code config.with("use_karras_sigmas", true)}.
     *
     * @param key the JSON name of the key
     * @param value the new value, as for {@link #of(Map)}
     * @return a new config
     * @throws IllegalArgumentException when Lorica does not read {@code key} or the value is invalid
     */
    public SchedulerConfig with(String key, Object value) {
        if (ConfigKey.byJsonName(key).isEmpty()) {
            throw new IllegalArgumentException("unknown scheduler config key '" + key + "'; known keys: "
                    + String.join(", ", ConfigKey.jsonNames()));
        }
        Map<String, Object> map = toMap();
        if (value == null) {
            map.remove(key);
        } else {
            map.put(key, value);
        }
        return of(map);
    }

    /** The value of {@code key}, {@code null} when unset. */
    Object get(ConfigKey key) {
        return switch (key) {
            case CLASS_NAME -> className;
            case NUM_TRAIN_TIMESTEPS -> numTrainTimesteps;
            case BETA_START -> betaStart;
            case BETA_END -> betaEnd;
            case BETA_SCHEDULE -> betaSchedule;
            case TRAINED_BETAS -> trainedBetas;
            case PREDICTION_TYPE -> predictionType;
            case TIMESTEP_SPACING -> timestepSpacing;
            case STEPS_OFFSET -> stepsOffset;
            case USE_KARRAS_SIGMAS -> useKarrasSigmas;
            case SIGMA_MIN -> sigmaMin;
            case SIGMA_MAX -> sigmaMax;
            case INTERPOLATION_TYPE -> interpolationType;
            case FINAL_SIGMAS_TYPE -> finalSigmasType;
            case TIMESTEP_TYPE -> timestepType;
            case RESCALE_BETAS_ZERO_SNR -> rescaleBetasZeroSnr;
            case SET_ALPHA_TO_ONE -> setAlphaToOne;
            case SKIP_PRK_STEPS -> skipPrkSteps;
            case CLIP_SAMPLE -> clipSample;
            case CLIP_SAMPLE_RANGE -> clipSampleRange;
            case THRESHOLDING -> thresholding;
            case SOLVER_ORDER -> solverOrder;
            case ALGORITHM_TYPE -> algorithmType;
            case SOLVER_TYPE -> solverType;
            case LOWER_ORDER_FINAL -> lowerOrderFinal;
            case EULER_AT_FINAL -> eulerAtFinal;
        };
    }

    @SuppressWarnings("unchecked")
    private static SchedulerConfig fromKeys(Map<ConfigKey, Object> v) {
        return new SchedulerConfig(
                (String) v.get(ConfigKey.CLASS_NAME),
                (Integer) v.get(ConfigKey.NUM_TRAIN_TIMESTEPS),
                (Double) v.get(ConfigKey.BETA_START),
                (Double) v.get(ConfigKey.BETA_END),
                (String) v.get(ConfigKey.BETA_SCHEDULE),
                (List<Double>) v.get(ConfigKey.TRAINED_BETAS),
                (String) v.get(ConfigKey.PREDICTION_TYPE),
                (String) v.get(ConfigKey.TIMESTEP_SPACING),
                (Integer) v.get(ConfigKey.STEPS_OFFSET),
                (Boolean) v.get(ConfigKey.USE_KARRAS_SIGMAS),
                (Double) v.get(ConfigKey.SIGMA_MIN),
                (Double) v.get(ConfigKey.SIGMA_MAX),
                (String) v.get(ConfigKey.INTERPOLATION_TYPE),
                (String) v.get(ConfigKey.FINAL_SIGMAS_TYPE),
                (String) v.get(ConfigKey.TIMESTEP_TYPE),
                (Boolean) v.get(ConfigKey.RESCALE_BETAS_ZERO_SNR),
                (Boolean) v.get(ConfigKey.SET_ALPHA_TO_ONE),
                (Boolean) v.get(ConfigKey.SKIP_PRK_STEPS),
                (Boolean) v.get(ConfigKey.CLIP_SAMPLE),
                (Double) v.get(ConfigKey.CLIP_SAMPLE_RANGE),
                (Boolean) v.get(ConfigKey.THRESHOLDING),
                (Integer) v.get(ConfigKey.SOLVER_ORDER),
                (String) v.get(ConfigKey.ALGORITHM_TYPE),
                (String) v.get(ConfigKey.SOLVER_TYPE),
                (Boolean) v.get(ConfigKey.LOWER_ORDER_FINAL),
                (Boolean) v.get(ConfigKey.EULER_AT_FINAL));
    }

    private static void checkInt(String key, Integer value, int min, int max) {
        if (value != null && (value < min || value > max)) {
            throw new IllegalArgumentException("scheduler config key '" + key + "' has value " + value
                    + "; expected an integer from " + min + " to " + max);
        }
    }

    private static void checkUnit(String key, Double value) {
        if (value != null && !(value >= 0 && value < 1)) {
            throw new IllegalArgumentException("scheduler config key '" + key + "' has value " + value
                    + "; expected a number in [0, 1)");
        }
    }

    private static void checkPositive(String key, Double value) {
        if (value != null && !(value > 0 && value < Double.POSITIVE_INFINITY)) {
            throw new IllegalArgumentException("scheduler config key '" + key + "' has value " + value
                    + "; expected a positive finite number");
        }
    }

    private static <E extends Enum<E> & Options.ConfigValue> void checkOption(String key, String value,
            Class<E> type) {
        if (value != null) {
            Options.parse(type, key, value);
        }
    }
}
