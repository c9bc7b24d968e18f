package io.lorica.pipelines.scheduler;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * The resolved settings of one scheduler class: what Diffusers' {@code Target.from_config(config)} passes to the
 * class's {@code __init__}. A key the class reads takes the config's value when the file sets it and the class's
 * default otherwise (Diffusers drops the values a loaded scheduler defaulted, listed in {@code _use_default_values},
 * before handing its config to another class). Keys the class does not read hold neutral values nobody reads.
 *
 * @param schedulerClass the Diffusers class
 * @param numTrainTimesteps {@code num_train_timesteps}
 * @param betaStart {@code beta_start}
 * @param betaEnd {@code beta_end}
 * @param betaSchedule {@code beta_schedule}
 * @param trainedBetas {@code trained_betas}, {@code null} when unset
 * @param predictionType {@code prediction_type}
 * @param timestepSpacing {@code timestep_spacing}
 * @param stepsOffset {@code steps_offset}
 * @param useKarrasSigmas {@code use_karras_sigmas}
 * @param sigmaMin {@code sigma_min}, {@code null} when unset
 * @param sigmaMax {@code sigma_max}, {@code null} when unset
 * @param interpolationType {@code interpolation_type}
 * @param finalSigmasType {@code final_sigmas_type}
 * @param timestepType {@code timestep_type}
 * @param rescaleBetasZeroSnr {@code rescale_betas_zero_snr}
 * @param setAlphaToOne {@code set_alpha_to_one}
 * @param skipPrkSteps {@code skip_prk_steps}
 * @param clipSample {@code clip_sample}
 * @param clipSampleRange {@code clip_sample_range}
 * @param thresholding {@code thresholding}
 * @param solverOrder {@code solver_order}
 * @param algorithmType {@code algorithm_type} as configured ({@code deis} included)
 * @param solverType {@code solver_type} as configured
 * @param lowerOrderFinal {@code lower_order_final}
 * @param eulerAtFinal {@code euler_at_final}
 */
record SchedulerSettings(
        SchedulerClass schedulerClass,
        int numTrainTimesteps,
        double betaStart,
        double betaEnd,
        Options.BetaSchedule betaSchedule,
        List<Double> trainedBetas,
        Options.Prediction predictionType,
        Options.Spacing timestepSpacing,
        int stepsOffset,
        boolean useKarrasSigmas,
        Double sigmaMin,
        Double sigmaMax,
        Options.Interpolation interpolationType,
        Options.FinalSigmas finalSigmasType,
        Options.TimestepType timestepType,
        boolean rescaleBetasZeroSnr,
        boolean setAlphaToOne,
        boolean skipPrkSteps,
        boolean clipSample,
        double clipSampleRange,
        boolean thresholding,
        int solverOrder,
        Options.Algorithm algorithmType,
        Options.Solver solverType,
        boolean lowerOrderFinal,
        boolean eulerAtFinal) {

    /** Values of the keys a class does not read. */
    private static final Map<ConfigKey, Object> NEUTRAL = neutral();

    /**
     * The settings of {@code schedulerClass} built from {@code config}, with {@code overrides} (by key) taking
     * precedence over the config, as keyword arguments of Diffusers' {@code from_config} do.
     *
     * @throws IllegalArgumentException when {@code trained_betas} does not have one beta per training timestep
     */
    static SchedulerSettings resolve(SchedulerClass schedulerClass, SchedulerConfig config,
            Map<ConfigKey, Object> overrides) {
        Map<ConfigKey, Object> v = new EnumMap<>(ConfigKey.class);
        for (ConfigKey key : ConfigKey.values()) {
            Object value;
            if (!schedulerClass.keys().contains(key)) {
                value = NEUTRAL.get(key);
            } else if (overrides.containsKey(key)) {
                value = overrides.get(key);
            } else if (config.get(key) != null) {
                value = config.get(key);
            } else {
                value = schedulerClass.defaultValue(key);
            }
            v.put(key, value);
        }
        @SuppressWarnings("unchecked")
        List<Double> trainedBetas = (List<Double>) v.get(ConfigKey.TRAINED_BETAS);
        int numTrainTimesteps = (Integer) v.get(ConfigKey.NUM_TRAIN_TIMESTEPS);
        if (trainedBetas != null && trainedBetas.size() != numTrainTimesteps) {
            throw new IllegalArgumentException("scheduler config key 'trained_betas' has " + trainedBetas.size()
                    + " betas but num_train_timesteps is " + numTrainTimesteps
                    + "; expected one beta per training timestep");
        }
        return new SchedulerSettings(schedulerClass,
                numTrainTimesteps,
                (Double) v.get(ConfigKey.BETA_START),
                (Double) v.get(ConfigKey.BETA_END),
                option(Options.BetaSchedule.class, ConfigKey.BETA_SCHEDULE, v),
                trainedBetas,
                option(Options.Prediction.class, ConfigKey.PREDICTION_TYPE, v),
                option(Options.Spacing.class, ConfigKey.TIMESTEP_SPACING, v),
                (Integer) v.get(ConfigKey.STEPS_OFFSET),
                (Boolean) v.get(ConfigKey.USE_KARRAS_SIGMAS),
                (Double) v.get(ConfigKey.SIGMA_MIN),
                (Double) v.get(ConfigKey.SIGMA_MAX),
                option(Options.Interpolation.class, ConfigKey.INTERPOLATION_TYPE, v),
                option(Options.FinalSigmas.class, ConfigKey.FINAL_SIGMAS_TYPE, v),
                option(Options.TimestepType.class, ConfigKey.TIMESTEP_TYPE, v),
                (Boolean) v.get(ConfigKey.RESCALE_BETAS_ZERO_SNR),
                (Boolean) v.get(ConfigKey.SET_ALPHA_TO_ONE),
                (Boolean) v.get(ConfigKey.SKIP_PRK_STEPS),
                (Boolean) v.get(ConfigKey.CLIP_SAMPLE),
                (Double) v.get(ConfigKey.CLIP_SAMPLE_RANGE),
                (Boolean) v.get(ConfigKey.THRESHOLDING),
                (Integer) v.get(ConfigKey.SOLVER_ORDER),
                option(Options.Algorithm.class, ConfigKey.ALGORITHM_TYPE, v),
                option(Options.Solver.class, ConfigKey.SOLVER_TYPE, v),
                (Boolean) v.get(ConfigKey.LOWER_ORDER_FINAL),
                (Boolean) v.get(ConfigKey.EULER_AT_FINAL));
    }

    /**
     * Checks that this class's scheduler supports the configured {@code prediction_type}.
     *
     * @throws IllegalArgumentException naming the value and the accepted ones otherwise
     */
    void requirePrediction(Options.Prediction... supported) {
        if (!Arrays.asList(supported).contains(predictionType)) {
            List<String> names = new ArrayList<>();
            for (Options.Prediction prediction : supported) {
                names.add(prediction.configValue());
            }
            throw new IllegalArgumentException("scheduler config key 'prediction_type' has value \""
                    + predictionType.configValue() + "\", which " + schedulerClass.className()
                    + " does not support; accepted values: " + String.join(", ", names));
        }
    }

    /**
     * Checks that {@code thresholding} is off.
     *
     * @throws IllegalArgumentException otherwise
     */
    void requireNoThresholding() {
        if (thresholding) {
            throw new IllegalArgumentException("scheduler config key 'thresholding' has value true; dynamic"
                    + " thresholding is not supported by Lorica's " + schedulerClass.className()
                    + " (accepted value: false)");
        }
    }

    private static <E extends Enum<E> & Options.ConfigValue> E option(Class<E> type, ConfigKey key,
            Map<ConfigKey, Object> values) {
        return Options.parse(type, key.jsonName(), (String) values.get(key));
    }

    private static Map<ConfigKey, Object> neutral() {
        Map<ConfigKey, Object> values = new EnumMap<>(ConfigKey.class);
        values.put(ConfigKey.USE_KARRAS_SIGMAS, false);
        values.put(ConfigKey.INTERPOLATION_TYPE, "linear");
        values.put(ConfigKey.FINAL_SIGMAS_TYPE, "zero");
        values.put(ConfigKey.TIMESTEP_TYPE, "discrete");
        values.put(ConfigKey.RESCALE_BETAS_ZERO_SNR, false);
        values.put(ConfigKey.SET_ALPHA_TO_ONE, false);
        values.put(ConfigKey.SKIP_PRK_STEPS, false);
        values.put(ConfigKey.CLIP_SAMPLE, false);
        values.put(ConfigKey.CLIP_SAMPLE_RANGE, 1.0);
        values.put(ConfigKey.THRESHOLDING, false);
        values.put(ConfigKey.SOLVER_ORDER, 2);
        values.put(ConfigKey.ALGORITHM_TYPE, "dpmsolver++");
        values.put(ConfigKey.SOLVER_TYPE, "midpoint");
        values.put(ConfigKey.LOWER_ORDER_FINAL, true);
        values.put(ConfigKey.EULER_AT_FINAL, false);
        return values;
    }
}
