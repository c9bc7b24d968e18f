package io.lorica.pipelines.scheduler;

import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The Diffusers scheduler classes Lorica implements, with the {@code __init__} keys each reads and its defaults.
 */
enum SchedulerClass {
    EULER("EulerDiscreteScheduler", "linspace", ConfigKey.INTERPOLATION_TYPE, "linear",
            ConfigKey.USE_KARRAS_SIGMAS, false, ConfigKey.SIGMA_MIN, null, ConfigKey.SIGMA_MAX, null,
            ConfigKey.TIMESTEP_TYPE, "discrete", ConfigKey.RESCALE_BETAS_ZERO_SNR, false,
            ConfigKey.FINAL_SIGMAS_TYPE, "zero"),
    EULER_ANCESTRAL("EulerAncestralDiscreteScheduler", "linspace",
            ConfigKey.RESCALE_BETAS_ZERO_SNR, false),
    DDIM("DDIMScheduler", "leading", ConfigKey.CLIP_SAMPLE, true, ConfigKey.SET_ALPHA_TO_ONE, true,
            ConfigKey.THRESHOLDING, false, ConfigKey.CLIP_SAMPLE_RANGE, 1.0, ConfigKey.RESCALE_BETAS_ZERO_SNR, false),
    /*
     * sigma_min and sigma_max are not DPMSolverMultistepScheduler arguments, but its Karras conversion reads them
     * from the config when the file carries them (hasattr(self.config, "sigma_min")).
     */
    DPM_SOLVER_MULTISTEP("DPMSolverMultistepScheduler", "linspace", ConfigKey.SOLVER_ORDER, 2,
            ConfigKey.THRESHOLDING, false, ConfigKey.ALGORITHM_TYPE, "dpmsolver++", ConfigKey.SOLVER_TYPE, "midpoint",
            ConfigKey.LOWER_ORDER_FINAL, true, ConfigKey.EULER_AT_FINAL, false, ConfigKey.USE_KARRAS_SIGMAS, false,
            ConfigKey.SIGMA_MIN, null, ConfigKey.SIGMA_MAX, null, ConfigKey.FINAL_SIGMAS_TYPE, "zero",
            ConfigKey.RESCALE_BETAS_ZERO_SNR, false),
    PNDM("PNDMScheduler", "leading", ConfigKey.SKIP_PRK_STEPS, false, ConfigKey.SET_ALPHA_TO_ONE, false),
    LMS("LMSDiscreteScheduler", "linspace", ConfigKey.USE_KARRAS_SIGMAS, false);

    private final String className;
    private final Set<ConfigKey> keys;
    private final Map<ConfigKey, Object> defaults;

    /**
     * @param className the Diffusers class name
     * @param spacing the default {@code timestep_spacing}
     * @param extra pairs of further keys and their defaults ({@code null}: no default)
     */
    SchedulerClass(String className, String spacing, Object... extra) {
        this.className = className;
        Set<ConfigKey> keySet = EnumSet.of(ConfigKey.NUM_TRAIN_TIMESTEPS, ConfigKey.BETA_START, ConfigKey.BETA_END,
                ConfigKey.BETA_SCHEDULE, ConfigKey.TRAINED_BETAS, ConfigKey.PREDICTION_TYPE,
                ConfigKey.TIMESTEP_SPACING, ConfigKey.STEPS_OFFSET);
        Map<ConfigKey, Object> defaultValues = new EnumMap<>(ConfigKey.class);
        defaultValues.put(ConfigKey.NUM_TRAIN_TIMESTEPS, 1000);
        defaultValues.put(ConfigKey.BETA_START, 0.0001);
        defaultValues.put(ConfigKey.BETA_END, 0.02);
        defaultValues.put(ConfigKey.BETA_SCHEDULE, "linear");
        defaultValues.put(ConfigKey.PREDICTION_TYPE, "epsilon");
        defaultValues.put(ConfigKey.TIMESTEP_SPACING, spacing);
        defaultValues.put(ConfigKey.STEPS_OFFSET, 0);
        for (int i = 0; i < extra.length; i += 2) {
            ConfigKey key = (ConfigKey) extra[i];
            keySet.add(key);
            if (extra[i + 1] != null) {
                defaultValues.put(key, extra[i + 1]);
            }
        }
        this.keys = Collections.unmodifiableSet(keySet);
        this.defaults = Collections.unmodifiableMap(defaultValues);
    }

    /** The Diffusers class name, e.g. {@code EulerDiscreteScheduler}. */
    String className() {
        return className;
    }

    /** The config keys this class reads. */
    Set<ConfigKey> keys() {
        return keys;
    }

    /** The class's default for {@code key}, {@code null} when it has none (or does not read the key). */
    Object defaultValue(ConfigKey key) {
        return defaults.get(key);
    }

    /** The class named {@code className}, if Lorica implements it. */
    static Optional<SchedulerClass> byClassName(String className) {
        for (SchedulerClass type : values()) {
            if (type.className.equals(className)) {
                return Optional.of(type);
            }
        }
        return Optional.empty();
    }

    /** The Diffusers class names Lorica implements. */
    static List<String> classNames() {
        List<String> names = new ArrayList<>();
        for (SchedulerClass type : values()) {
            names.add(type.className);
        }
        return List.copyOf(names);
    }
}
