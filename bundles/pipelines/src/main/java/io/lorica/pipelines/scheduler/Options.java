package io.lorica.pipelines.scheduler;

import java.util.ArrayList;
import java.util.List;

/** The enumerated values of {@code scheduler_config.json}, each with its spelling in the file. */
final class Options {

    private Options() {
    }

    /** An option value as the config file spells it: by default the constant's name in lower case. */
    interface ConfigValue {

        /** The constant's name. */
        String name();

        /** The value as written in {@code scheduler_config.json}. */
        default String configValue() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /** {@code beta_schedule}. */
    enum BetaSchedule implements ConfigValue {
        LINEAR, SCALED_LINEAR, SQUAREDCOS_CAP_V2;
    }

    /** {@code timestep_spacing}. */
    enum Spacing implements ConfigValue {
        LEADING, LINSPACE, TRAILING;
    }

    /** {@code prediction_type}. */
    enum Prediction implements ConfigValue {
        EPSILON, V_PREDICTION, SAMPLE;
    }

    /** {@code interpolation_type} (Euler). */
    enum Interpolation implements ConfigValue {
        LINEAR, LOG_LINEAR;
    }

    /** {@code final_sigmas_type}. */
    enum FinalSigmas implements ConfigValue {
        ZERO, SIGMA_MIN;
    }

    /** {@code timestep_type} (Euler). */
    enum TimestepType implements ConfigValue {
        DISCRETE, CONTINUOUS;
    }

    /**
     * {@code algorithm_type} (DPM-Solver). {@code deis} is accepted and runs as {@code dpmsolver++}, as Diffusers
     * does when it builds a DPM-Solver from a DEIS config.
     */
    enum Algorithm implements ConfigValue {
        DPMSOLVER_PP("dpmsolver++"), SDE_DPMSOLVER_PP("sde-dpmsolver++"), DPMSOLVER("dpmsolver"),
        SDE_DPMSOLVER("sde-dpmsolver"), DEIS("deis");

        private final String value;

        Algorithm(String value) {
            this.value = value;
        }

        @Override
        public String configValue() {
            return value;
        }

        /** Whether this algorithm predicts the data (x0) rather than the noise. */
        boolean predictsData() {
            return this == DPMSOLVER_PP || this == SDE_DPMSOLVER_PP;
        }

        /** Whether this algorithm adds noise at every step. */
        boolean stochastic() {
            return this == SDE_DPMSOLVER_PP || this == SDE_DPMSOLVER;
        }
    }

    /**
     * {@code solver_type} (DPM-Solver). The UniPC/DEIS values {@code logrho}, {@code bh1} and {@code bh2} are accepted
     * and run as {@code midpoint}, as Diffusers does.
     */
    enum Solver implements ConfigValue {
        MIDPOINT, HEUN, LOGRHO, BH1, BH2;

        /** The solver Diffusers runs for this value: {@code heun} or {@code midpoint}. */
        Solver effective() {
            return this == HEUN ? HEUN : MIDPOINT;
        }
    }

    /**
     * The constant of {@code type} spelled {@code value}.
     *
     * @throws IllegalArgumentException naming the key, the value and the accepted values when none matches
     */
    static <E extends Enum<E> & ConfigValue> E parse(Class<E> type, String key, String value) {
        for (E constant : type.getEnumConstants()) {
            if (constant.configValue().equals(value)) {
                return constant;
            }
        }
        throw new IllegalArgumentException("scheduler config key '" + key + "' has value \"" + value
                + "\"; accepted values: " + String.join(", ", accepted(type)));
    }

    /** The spellings of the constants of {@code type}, in declaration order. */
    static <E extends Enum<E> & ConfigValue> List<String> accepted(Class<E> type) {
        List<String> values = new ArrayList<>();
        for (E constant : type.getEnumConstants()) {
            values.add(constant.configValue());
        }
        return List.copyOf(values);
    }
}
