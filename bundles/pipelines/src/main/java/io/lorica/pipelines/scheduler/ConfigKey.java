package io.lorica.pipelines.scheduler;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;

/** The keys of {@code scheduler_config.json} that Lorica reads, with their JSON names and value types. */
enum ConfigKey {
    CLASS_NAME("_class_name", Type.STRING),
    NUM_TRAIN_TIMESTEPS("num_train_timesteps", Type.INTEGER),
    BETA_START("beta_start", Type.NUMBER),
    BETA_END("beta_end", Type.NUMBER),
    BETA_SCHEDULE("beta_schedule", Type.STRING),
    TRAINED_BETAS("trained_betas", Type.NUMBER_LIST),
    PREDICTION_TYPE("prediction_type", Type.STRING),
    TIMESTEP_SPACING("timestep_spacing", Type.STRING),
    STEPS_OFFSET("steps_offset", Type.INTEGER),
    USE_KARRAS_SIGMAS("use_karras_sigmas", Type.BOOLEAN),
    SIGMA_MIN("sigma_min", Type.NUMBER),
    SIGMA_MAX("sigma_max", Type.NUMBER),
    INTERPOLATION_TYPE("interpolation_type", Type.STRING),
    FINAL_SIGMAS_TYPE("final_sigmas_type", Type.STRING),
    TIMESTEP_TYPE("timestep_type", Type.STRING),
    RESCALE_BETAS_ZERO_SNR("rescale_betas_zero_snr", Type.BOOLEAN),
    SET_ALPHA_TO_ONE("set_alpha_to_one", Type.BOOLEAN),
    SKIP_PRK_STEPS("skip_prk_steps", Type.BOOLEAN),
    CLIP_SAMPLE("clip_sample", Type.BOOLEAN),
    CLIP_SAMPLE_RANGE("clip_sample_range", Type.NUMBER),
    THRESHOLDING("thresholding", Type.BOOLEAN),
    SOLVER_ORDER("solver_order", Type.INTEGER),
    ALGORITHM_TYPE("algorithm_type", Type.STRING),
    SOLVER_TYPE("solver_type", Type.STRING),
    LOWER_ORDER_FINAL("lower_order_final", Type.BOOLEAN),
    EULER_AT_FINAL("euler_at_final", Type.BOOLEAN);

    /** The JSON value type of a key. */
    enum Type { STRING, INTEGER, NUMBER, BOOLEAN, NUMBER_LIST }

    private final String jsonName;
    private final Type type;

    ConfigKey(String jsonName, Type type) {
        this.jsonName = jsonName;
        this.type = type;
    }

    /** The key as written in {@code scheduler_config.json}. */
    String jsonName() {
        return jsonName;
    }

    /** The key with JSON name {@code name}, if Lorica reads it. */
    static Optional<ConfigKey> byJsonName(String name) {
        for (ConfigKey key : values()) {
            if (key.jsonName.equals(name)) {
                return Optional.of(key);
            }
        }
        return Optional.empty();
    }

    /** The JSON names of all keys, in declaration order. */
    static List<String> jsonNames() {
        List<String> names = new ArrayList<>();
        for (ConfigKey key : values()) {
            names.add(key.jsonName);
        }
        return List.copyOf(names);
    }

    /**
     * {@code raw} (a value of a parsed JSON tree or of a caller's map) as this key's Java type: {@link String},
     * {@link Integer}, {@link Double}, {@link Boolean} or an unmodifiable {@code List<Double>}.
     *
     * @throws IllegalArgumentException naming the key and the value when the type does not fit
     */
    Object coerce(Object raw) {
        return switch (type) {
            case STRING -> {
                if (raw instanceof String) {
                    yield raw;
                }
                throw typeError(raw, "a string");
            }
            case BOOLEAN -> {
                if (raw instanceof Boolean) {
                    yield raw;
                }
                throw typeError(raw, "true or false");
            }
            case INTEGER -> toInteger(raw);
            case NUMBER -> {
                if (raw instanceof Number) {
                    yield ((Number) raw).doubleValue();
                }
                throw typeError(raw, "a number");
            }
            case NUMBER_LIST -> toNumberList(raw);
        };
    }

    private Integer toInteger(Object raw) {
        if (raw instanceof Integer || raw instanceof Long || raw instanceof Short || raw instanceof Byte
                || raw instanceof BigInteger) {
            long value = ((Number) raw).longValue();
            if (raw instanceof BigInteger && ((BigInteger) raw).bitLength() > 63
                    || value < Integer.MIN_VALUE || value > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("scheduler config key '" + jsonName + "' has value " + raw
                        + "; expected an integer that fits 32 bits");
            }
            return (int) value;
        }
        throw typeError(raw, "an integer");
    }

    private List<Double> toNumberList(Object raw) {
        List<?> items;
        if (raw instanceof List) {
            items = (List<?>) raw;
        } else if (raw instanceof double[]) {
            List<Double> copy = new ArrayList<>();
            for (double value : (double[]) raw) {
                copy.add(value);
            }
            items = copy;
        } else if (raw instanceof float[]) {
            List<Double> copy = new ArrayList<>();
            for (float value : (float[]) raw) {
                copy.add((double) value);
            }
            items = copy;
        } else {
            throw typeError(raw, "an array of numbers");
        }
        List<Double> values = new ArrayList<>(items.size());
        for (int i = 0; i < items.size(); i++) {
            Object item = items.get(i);
            if (!(item instanceof Number)) {
                throw new IllegalArgumentException("scheduler config key '" + jsonName + "' has "
                        + describe(item) + " at index " + i + "; expected an array of numbers");
            }
            values.add(((Number) item).doubleValue());
        }
        return Collections.unmodifiableList(values);
    }

    private IllegalArgumentException typeError(Object raw, String expected) {
        return new IllegalArgumentException("scheduler config key '" + jsonName + "' has " + describe(raw)
                + "; expected " + expected);
    }

    private static String describe(Object raw) {
        if (raw == null) {
            return "value null";
        }
        if (raw instanceof String) {
            return "value \"" + raw + "\" (a string)";
        }
        if (raw instanceof Boolean) {
            return "value " + raw + " (a boolean)";
        }
        if (raw instanceof Number) {
            return "value " + raw + " (a number)";
        }
        if (raw instanceof List) {
            return "an array value";
        }
        if (raw instanceof java.util.Map) {
            return "an object value";
        }
        return "a value of type " + raw.getClass().getSimpleName();
    }
}
