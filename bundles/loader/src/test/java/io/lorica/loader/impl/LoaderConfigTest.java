package io.lorica.loader.impl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.Reader;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import io.lorica.config.LayeredConfiguration;
import org.junit.jupiter.api.Test;

class LoaderConfigTest {

    private static LoaderConfig config(Map<String, ?> admin) {
        return LoaderConfig.from(LayeredConfiguration.of(LoaderConfig.SCOPE, LoaderConfig.DEFAULTS, admin, new Properties(), Map.of()));
    }

    @Test
    void defaults_matchTheMetatypeDefinitionKeyForKey() {
        Map<String, Object> metatype = new LinkedHashMap<>();
        for (Method method : LoaderComponent.Config.class.getDeclaredMethods()) {
            metatype.put(method.getName().replace('_', '.'), method.getDefaultValue());
        }
        assertEquals(LoaderConfig.DEFAULTS, metatype);
    }

    @Test
    void shippedCfgFile_declaresExactlyTheKnownKeys() throws IOException {
        Properties cfg = new Properties();
        try (Reader reader = Files.newBufferedReader(Path.of("../../config/io.lorica.loader.cfg"))) {
            cfg.load(reader);
        }
        assertEquals(LoaderConfig.DEFAULTS.keySet(), cfg.stringPropertyNames());
    }

    @Test
    void from_readsRootsTimeoutsAndInterpolatesTheHubCache() {
        LoaderConfig c = config(Map.of("roots", " /srv/a , /srv/b ,", "hub.read.timeout.ms", "1500", "hub.offline", "true"));
        assertEquals(List.of(Path.of("/srv/a"), Path.of("/srv/b")), c.extraRoots());
        assertEquals(Duration.ofMillis(1500), c.readTimeout());
        assertTrue(c.hubOffline());
        assertEquals(Path.of(System.getProperty("user.home"), ".cache/huggingface/hub"), c.hubCache());
    }

    @Test
    void from_nonPositiveTimeout_isRejectedNamingTheKeys() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> config(Map.of("hub.connect.timeout.ms", 0)));
        assertTrue(e.getMessage().contains("hub.connect.timeout.ms"), e.getMessage());
    }
}
