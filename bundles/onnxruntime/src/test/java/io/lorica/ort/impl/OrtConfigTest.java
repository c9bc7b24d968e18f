package io.lorica.ort.impl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.Reader;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;

import ai.onnxruntime.OrtSession.SessionOptions.OptLevel;
import io.lorica.config.LayeredConfiguration;
import io.lorica.ort.ProviderRequest;
import io.lorica.ort.RuntimeSettings;
import org.junit.jupiter.api.Test;

class OrtConfigTest {

    private static RuntimeSettings settings(Map<String, ?> admin) {
        return OrtConfig.settings(LayeredConfiguration.of(OrtConfig.SCOPE, OrtConfig.DEFAULTS, admin, new Properties(), Map.of()));
    }

    @Test
    void defaults_matchTheMetatypeDefinitionKeyForKey() {
        Map<String, Object> metatype = new LinkedHashMap<>();
        for (Method method : OrtRuntimeComponent.Config.class.getDeclaredMethods()) {
            metatype.put(method.getName().replace('_', '.'), method.getDefaultValue());
        }
        assertEquals(OrtConfig.DEFAULTS, metatype);
    }

    @Test
    void shippedCfgFile_declaresEveryKeyWithItsDefault() throws IOException {
        Properties cfg = new Properties();
        try (Reader reader = Files.newBufferedReader(Path.of("../../config/io.lorica.onnxruntime.cfg"))) {
            cfg.load(reader);
        }
        assertEquals(OrtConfig.DEFAULTS.keySet(), cfg.stringPropertyNames());
        OrtConfig.DEFAULTS.forEach((key, value) -> assertEquals(String.valueOf(value), cfg.getProperty(key), key));
    }

    @Test
    void settings_fromDefaults() {
        RuntimeSettings s = settings(Map.of());
        assertEquals(new RuntimeSettings(ProviderRequest.AUTO, 0, 0, 0, 0, OptLevel.ALL_OPT, true, true, ""), s);
    }

    @Test
    void settings_badOptimization_namesKeyAndChoices() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> settings(Map.of("optimization", "max")));
        assertEquals("configuration io.lorica.onnxruntime key 'optimization' = 'max' is not valid: expected one of [none, basic, extended, all]",
                e.getMessage());
    }

    @Test
    void settings_negativeThreads_namesKey() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> settings(Map.of("intra.op.threads", -2)));
        assertTrue(e.getMessage().contains("intra.op.threads must be in [0, 1024]"), e.getMessage());
    }
}
