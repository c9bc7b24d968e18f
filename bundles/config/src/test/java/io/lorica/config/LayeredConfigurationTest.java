package io.lorica.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

import org.junit.jupiter.api.Test;

class LayeredConfigurationTest {

    enum Mode { AUTO, CPU, CUDA }

    private static final Map<String, Object> DEFAULTS = defaults();

    private static Map<String, Object> defaults() {
        Map<String, Object> map = new LinkedHashMap<>();
        map.put("provider", "auto");
        map.put("intra.op.threads", 0);
        map.put("memory.pattern", true);
        map.put("scale", 1.5);
        map.put("native.dir", "");
        return map;
    }

    private static LayeredConfiguration config(Map<String, ?> admin, Properties sys, Map<String, String> env) {
        return LayeredConfiguration.of("onnxruntime", DEFAULTS, admin, sys, env);
    }

    @Test
    void get_withOnlyDefaults_returnsDefaultsFromDefaultLayer() {
        LayeredConfiguration c = config(Map.of(), new Properties(), Map.of());
        assertEquals("auto", c.getString("provider"));
        assertEquals(0, c.getInt("intra.op.threads"));
        assertTrue(c.getBoolean("memory.pattern"));
        assertEquals(1.5, c.getDouble("scale"));
        assertEquals(ConfigLayer.DEFAULT, c.sourceOf("provider"));
        assertEquals("io.lorica.onnxruntime", c.pid());
    }

    @Test
    void get_whenEveryLayerSetsAKey_environmentWinsThenSystemThenConfigAdmin() {
        Properties sys = new Properties();
        sys.setProperty("lorica.onnxruntime.intra.op.threads", "3");
        sys.setProperty("lorica.onnxruntime.provider", "cuda");
        Map<String, String> env = Map.of("LORICA_ONNXRUNTIME_PROVIDER", "cpu");
        LayeredConfiguration c = config(Map.of("intra.op.threads", 2, "scale", "0.25", "provider", "auto"), sys, env);

        assertEquals("cpu", c.getString("provider"));
        assertEquals(ConfigLayer.ENVIRONMENT, c.sourceOf("provider"));
        assertEquals(3, c.getInt("intra.op.threads"));
        assertEquals(ConfigLayer.SYSTEM_PROPERTY, c.sourceOf("intra.op.threads"));
        assertEquals(0.25, c.getDouble("scale"));
        assertEquals(ConfigLayer.CONFIG_ADMIN, c.sourceOf("scale"));
        assertEquals(Mode.CPU, c.getEnum("provider", Mode.class));
    }

    @Test
    void of_ignoresFrameworkPropertiesAndReportsUnknownKeys() {
        Properties sys = new Properties();
        sys.setProperty("lorica.onnxruntime.provder", "cuda");
        sys.setProperty("lorica.console.path", "/x");
        LayeredConfiguration c = config(Map.of("service.pid", "io.lorica.onnxruntime",
                "felix.fileinstall.filename", "file:/etc/x.cfg", "component.name", "x", "threads", 4), sys, Map.of());
        assertEquals(Set.of("lorica.onnxruntime.provder", "threads"), c.unknownKeys());
    }

    @Test
    void getInt_whenValueIsNotANumber_namesKeyValueAndLayer() {
        LayeredConfiguration c = config(Map.of("intra.op.threads", "many"), new Properties(), Map.of());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> c.getInt("intra.op.threads"));
        assertTrue(e.getMessage().contains("'intra.op.threads' = 'many'"), e.getMessage());
        assertTrue(e.getMessage().contains("configuration io.lorica.onnxruntime"), e.getMessage());
        assertTrue(e.getMessage().contains("expected an integer"), e.getMessage());
    }

    @Test
    void getEnum_whenValueUnknown_listsExpectedValuesAndSource() {
        Map<String, String> env = Map.of("LORICA_ONNXRUNTIME_PROVIDER", "tpu");
        LayeredConfiguration c = config(Map.of(), new Properties(), env);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> c.getEnum("provider", Mode.class));
        assertTrue(e.getMessage().contains("environment variable LORICA_ONNXRUNTIME_PROVIDER"), e.getMessage());
        assertTrue(e.getMessage().contains("[auto, cpu, cuda]"), e.getMessage());
    }

    @Test
    void getString_interpolatesSystemPropertiesAndOtherKeys() {
        System.setProperty("lorica.test.home", "/srv/lorica");
        try {
            LayeredConfiguration c = config(Map.of("native.dir", "${sys:lorica.test.home}/natives/${provider}"),
                    new Properties(), Map.of());
            assertEquals("/srv/lorica/natives/auto", c.getString("native.dir"));
        } finally {
            System.clearProperty("lorica.test.home");
        }
    }

    @Test
    void getString_whenKeyNotDeclared_rejectsListingKnownKeys() {
        LayeredConfiguration c = config(Map.of(), new Properties(), Map.of());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> c.getString("threads"));
        assertTrue(e.getMessage().contains("[provider, intra.op.threads, memory.pattern, scale, native.dir]"), e.getMessage());
    }

    @Test
    void of_whenDefaultKeyMalformed_rejects() {
        assertThrows(IllegalArgumentException.class,
                () -> LayeredConfiguration.of("onnxruntime", Map.of("Intra_Op", 1), Map.of(), new Properties(), Map.of()));
        assertThrows(IllegalArgumentException.class,
                () -> LayeredConfiguration.of("Onnx-Runtime", Map.of("a", 1), Map.of(), new Properties(), Map.of()));
    }

    @Test
    void effective_listsEveryKnownKeyWithItsWinningValue() {
        LayeredConfiguration c = config(Map.of("provider", "cpu"), new Properties(), Map.of());
        assertEquals("{provider=cpu, intra.op.threads=0, memory.pattern=true, scale=1.5, native.dir=}",
                c.effective().toString());
    }
}
