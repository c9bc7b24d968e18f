package io.lorica.policy.impl;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

import io.lorica.config.LayeredConfiguration;
import io.lorica.policy.settings.BlockWeightPresets;

/**
 * Keys and built-in defaults of the configuration PID {@code io.lorica.policy}, and what they configure.
 *
 * @param limits  the limits every request is checked against
 * @param presets the built-in A1111 block-weight presets with the configured ones added or replacing them
 */
record PolicyConfig(PolicyLimits limits, BlockWeightPresets presets) {

    static final String SCOPE = "policy";
    static final String PID = "io.lorica.policy";
    static final Map<String, Object> DEFAULTS = defaults();

    private static Map<String, Object> defaults() {
        Map<String, Object> map = new LinkedHashMap<>();
        map.put("max.active.adapters", 8);
        map.put("weight.min", -10.0);
        map.put("weight.max", 10.0);
        map.put("presets", "");
        return Collections.unmodifiableMap(map);
    }

    static PolicyConfig from(LayeredConfiguration config) {
        PolicyLimits limits;
        try {
            limits = new PolicyLimits(config.getInt("max.active.adapters"), config.getDouble("weight.min"),
                    config.getDouble("weight.max"));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("configuration " + PID + " is not valid: " + e.getMessage(), e);
        }
        Map<String, String> configured = new LinkedHashMap<>();
        for (String entry : config.getString("presets").split("[;\\n]")) {
            if (entry.isBlank()) {
                continue;
            }
            int colon = entry.indexOf(':');
            if (colon <= 0) {
                throw new IllegalArgumentException("configuration " + PID + " key 'presets': entry '" + entry.trim()
                        + "' is not valid: expected NAME:v1,v2,... (12, 17, 20 or 26 numbers)");
            }
            configured.put(entry.substring(0, colon).trim(), entry.substring(colon + 1).trim());
        }
        BlockWeightPresets presets;
        try {
            presets = BlockWeightPresets.defaults().withOverrides(configured);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("configuration " + PID + " key 'presets' is not valid: " + e.getMessage(), e);
        }
        return new PolicyConfig(limits, presets);
    }
}
