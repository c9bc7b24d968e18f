package io.lorica.engine.component;

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

import org.junit.jupiter.api.Test;

class EngineComponentTest {

    @Test
    void defaults_matchTheMetatypeDefinitionAndTheShippedCfg() throws IOException {
        Map<String, Object> metatype = new LinkedHashMap<>();
        for (Method method : EngineComponent.Config.class.getDeclaredMethods()) {
            metatype.put(method.getName().replace('_', '.'), method.getDefaultValue());
        }
        assertEquals(EngineComponent.DEFAULTS, metatype);
        Properties cfg = new Properties();
        try (Reader reader = Files.newBufferedReader(Path.of("../../config/io.lorica.engine.cfg"))) {
            cfg.load(reader);
        }
        assertEquals(EngineComponent.DEFAULTS.keySet(), cfg.stringPropertyNames());
        for (Map.Entry<String, Object> e : EngineComponent.DEFAULTS.entrySet()) {
            assertEquals(String.valueOf(e.getValue()), cfg.getProperty(e.getKey()), e.getKey());
        }
    }

    @Test
    void build_negativeCacheSize_isRejectedNamingTheKey() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> EngineComponent.build(null, Map.of("factor.cache.mb", -1)));
        assertTrue(e.getMessage().contains("'factor.cache.mb' = -1"), e.getMessage());
    }

    @Test
    void build_unknownFamily_isRejectedNamingTheKeyAndChoices() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> EngineComponent.build(null, Map.of("family", "sd3")));
        assertTrue(e.getMessage().contains("'family' = 'sd3'") && e.getMessage().contains("[auto, sd15, sdxl]"), e.getMessage());
    }
}
