package io.lorica.ort.impl;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

import ai.onnxruntime.OrtSession.SessionOptions.OptLevel;
import io.lorica.config.LayeredConfiguration;
import io.lorica.ort.ProviderRequest;
import io.lorica.ort.RuntimeSettings;

/** Keys and built-in defaults of the configuration PID {@code io.lorica.onnxruntime}. */
final class OrtConfig {

    static final String SCOPE = "onnxruntime";
    static final String PID = "io.lorica.onnxruntime";

    /** Every key with its built-in default, in the order the {@code .cfg} file documents them. */
    static final Map<String, Object> DEFAULTS = defaults();

    private OrtConfig() {
    }

    private static Map<String, Object> defaults() {
        Map<String, Object> map = new LinkedHashMap<>();
        map.put("provider", "auto");
        map.put("cuda.device", 0);
        map.put("gpu.mem.limit", 0L);
        map.put("intra.op.threads", 0);
        map.put("inter.op.threads", 0);
        map.put("optimization", "all");
        map.put("memory.pattern", true);
        map.put("cpu.arena", true);
        map.put("native.dir", "");
        return java.util.Collections.unmodifiableMap(map);
    }

    /** The settings the layered configuration describes; IllegalArgumentException naming the key when invalid. */
    static RuntimeSettings settings(LayeredConfiguration config) {
        OptLevel level = switch (config.getString("optimization").trim().toLowerCase(Locale.ROOT)) {
            case "none", "disabled" -> OptLevel.NO_OPT;
            case "basic" -> OptLevel.BASIC_OPT;
            case "extended" -> OptLevel.EXTENDED_OPT;
            case "all" -> OptLevel.ALL_OPT;
            default -> throw new IllegalArgumentException("configuration " + PID + " key 'optimization' = '"
                    + config.getString("optimization") + "' is not valid: expected one of [none, basic, extended, all]");
        };
        try {
            return new RuntimeSettings(
                    config.getEnum("provider", ProviderRequest.class),
                    config.getInt("cuda.device"),
                    config.getLong("gpu.mem.limit"),
                    config.getInt("intra.op.threads"),
                    config.getInt("inter.op.threads"),
                    level,
                    config.getBoolean("memory.pattern"),
                    config.getBoolean("cpu.arena"),
                    config.getString("native.dir").trim());
        } catch (IllegalArgumentException e) {
            if (e.getMessage() != null && e.getMessage().startsWith("configuration ")) {
                throw e;
            }
            throw new IllegalArgumentException("configuration " + PID + " is not valid: " + e.getMessage(), e);
        }
    }
}
