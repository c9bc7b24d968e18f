package io.lorica.console.impl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

class ConsoleComponentTest {

    @Test
    void path_defaultsToLoricaAndDropsTrailingSlash() {
        assertEquals("/lorica", ConsoleComponent.path(Map.of()));
        assertEquals("/admin/lorica", ConsoleComponent.path(Map.of("path", "/admin/lorica/")));
    }

    @Test
    void path_withWildcardOrRelative_isRejectedNamingTheValue() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ConsoleComponent.path(Map.of("path", "/lorica/*")));
        assertTrue(e.getMessage().contains("'path' = '/lorica/*'"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ConsoleComponent.path(Map.of("path", "lorica")));
        assertThrows(IllegalArgumentException.class, () -> ConsoleComponent.path(Map.of("path", "/")));
    }

    @Test
    void statusDocument_readyOnlyWhenAllActiveAndRuntimePresent() {
        var runtime = new StatusReport.Runtime("CPU", List.of("CPU"), "1.29.0", "cpu");
        var active = List.of(new StatusReport.BundleState("io.lorica.api", "0.1.0", "ACTIVE"));
        var resolved = List.of(new StatusReport.BundleState("io.lorica.api", "0.1.0", "RESOLVED"));
        assertTrue(StatusReport.ready(active, runtime));
        assertFalse(StatusReport.ready(resolved, runtime));
        assertFalse(StatusReport.ready(active, null));
        assertEquals("{\"lorica\":\"0.1.0\",\"ready\":true,\"bundles\":[{\"symbolicName\":\"io.lorica.api\",\"version\":\"0.1.0\",\"state\":\"ACTIVE\"}],"
                        + "\"runtime\":{\"provider\":\"CPU\",\"usableProviders\":[\"CPU\"],\"onnxruntime\":\"1.29.0\",\"flavour\":\"cpu\"}}",
                Json.write(StatusReport.document("0.1.0", active, runtime)));
    }

    @Test
    void json_escapesControlAndHtmlCharacters() {
        assertEquals("\"a\\\"b\\\\c\\n\\u003c/script\\u003e\"", Json.write("a\"b\\c\n</script>"));
        assertEquals("[1,2.5,null,true]", Json.write(List.of(1, 2.5, Double.NaN, true)));
        assertEquals("{\"k\":null}", Json.write(new java.util.LinkedHashMap<>(java.util.Collections.singletonMap("k", null))));
    }
}
