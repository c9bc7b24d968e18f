package io.lorica.pipelines.scheduler;

import java.util.ArrayList;
import java.util.List;

/** The enumerated values of {@code scheduler_config.json}, each with its spelling in the file. */
final class Options {

    private Options() {
    }

    /** An option value as the config file spells it. */
    interface ConfigValue {

        /** The value as written in {@code scheduler_config.json}. */
        String configValue();
    }

    /** {@code beta_schedule}. */
    enum BetaSchedule implements ConfigValue {
        LINEAR("linear"), SCALED_LINEAR("scaled_linear"), SQUAREDCOS_CAP_V2("squaredcos_cap_v2");

        private final String value;

        BetaSchedule(String value) {
            this.value = value;
        }

        @Override
        public String configValue() {
            return value;
        }
    }

    /** {@code timestep_spacing}. */
    enum Spacing implements ConfigValue {
        LEADING("leading"), LINSPACE("linspace"), TRAILING("trailing");

        private final String value;

        Spacing(String value) {
            this.value = value;
        }

        @Override
        public String configValue() {
            return value;
        }
    }

    /** {@code prediction_type}. */
    enum Prediction implements ConfigValue {
        EPSILON("epsilon"), V_PREDICTION("v_prediction"), SAMPLE("sample");

        private final String value;

        Prediction(String value) {
            this.value = value;
        }

        @Override
        public String configValue() {
            return value;
        }
    }

    /** {@code interpolation_type} (Euler). */
    enum Interpolation implements ConfigValue {
        LINEAR("linear"), LOG_LINEAR("log_linear");

        private final String value;

        Interpolation(String value) {
            this.value = value;
        }

        @Override
        public String configValue() {
            return value;
        }
    }

    /** {@code final_sigmas_type}. */
    enum FinalSigmas implements ConfigValue {
        ZERO("zero"), SIGMA_MIN("sigma_min");

        private final String value;

        FinalSigmas(String value) {
            this.value = value;
        }

        @Override
        public String configValue() {
            return value;
        }
    }

    /** {@code timestep_type} (Euler). */
    enum TimestepType implements ConfigValue {
        DISCRETE("discrete"), CONTINUOUS("continuous");

        private final String value;

        TimestepType(String value) {
            this.value = value;
        }

        @Override
        public String configValue() {
            return value;
        }
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
        MIDPOINT("midpoint"), HEUN("heun"), LOGRHO("logrho"), BH1("bh1"), BH2("bh2");

        private final String value;

        Solver(String value) {
            this.value = value;
        }

        @Override
        public String configValue() {
            return value;
        }

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
