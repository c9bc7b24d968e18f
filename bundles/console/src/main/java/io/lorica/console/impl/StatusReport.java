package io.lorica.console.impl;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The status document of a Lorica container: every Lorica bundle with its state, and the ONNX Runtime service's
 * execution provider (read from its service properties, so the console needs no ONNX Runtime classes).
 */
final class StatusReport {

    /** One bundle as the report shows it. */
    record BundleState(String symbolicName, String version, String state) {
    }

    /** The ONNX Runtime service as its properties describe it. */
    record Runtime(String provider, List<String> usableProviders, String onnxRuntimeVersion, String flavour) {
    }

    private StatusReport() {
    }

    /** Whether every Lorica bundle is ACTIVE and the runtime service is present. */
    static boolean ready(List<BundleState> bundles, Runtime runtime) {
        return !bundles.isEmpty() && runtime != null && bundles.stream().allMatch(b -> b.state().equals("ACTIVE"));
    }

    static Map<String, Object> document(String version, List<BundleState> bundles, Runtime runtime) {
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("lorica", version);
        doc.put("ready", ready(bundles, runtime));
        List<Map<String, Object>> list = new ArrayList<>();
        for (BundleState bundle : bundles) {
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("symbolicName", bundle.symbolicName());
            entry.put("version", bundle.version());
            entry.put("state", bundle.state());
            list.add(entry);
        }
        doc.put("bundles", list);
        if (runtime == null) {
            doc.put("runtime", null);
        } else {
            Map<String, Object> rt = new LinkedHashMap<>();
            rt.put("provider", runtime.provider());
            rt.put("usableProviders", runtime.usableProviders());
            rt.put("onnxruntime", runtime.onnxRuntimeVersion());
            rt.put("flavour", runtime.flavour());
            doc.put("runtime", rt);
        }
        return doc;
    }

    static String stateName(int state) {
        return switch (state) {
            case 1 -> "UNINSTALLED";
            case 2 -> "INSTALLED";
            case 4 -> "RESOLVED";
            case 8 -> "STARTING";
            case 16 -> "STOPPING";
            case 32 -> "ACTIVE";
            default -> "UNKNOWN(" + state + ")";
        };
    }
}
