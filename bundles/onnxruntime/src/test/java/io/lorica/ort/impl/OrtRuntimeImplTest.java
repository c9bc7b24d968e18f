package io.lorica.ort.impl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Map;
import java.util.Properties;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;
import io.lorica.config.LayeredConfiguration;
import io.lorica.ort.ProviderRequest;
import io.lorica.ort.RuntimeSettings;
import io.lorica.ort.SelfTest;
import org.junit.jupiter.api.Test;

/** Runs against the real ONNX Runtime CPU build on the test class path. */
class OrtRuntimeImplTest {

    private static RuntimeSettings settings(Map<String, ?> admin) {
        return OrtConfig.settings(LayeredConfiguration.of(OrtConfig.SCOPE, OrtConfig.DEFAULTS, admin, new Properties(), Map.of()));
    }

    private static OrtRuntimeImpl runtime(RuntimeSettings settings) {
        return new OrtRuntimeImpl(OrtEnvironment.getEnvironment(), "1.29.0", "cpu", Path.of("natives"), settings);
    }

    @Test
    void auto_onCpuBuild_selectsCpuAndSaysWhyNotCuda() {
        OrtRuntimeImpl runtime = runtime(settings(Map.of()));
        assertEquals(OrtProvider.CPU, runtime.selectedProvider());
        assertEquals(java.util.Set.of(OrtProvider.CPU), runtime.usableProviders());
        assertTrue(runtime.fallbackReason().orElseThrow().startsWith("CUDA unavailable: this ONNX Runtime build has no CUDA"));
    }

    @Test
    void selfTest_runsTinyMatMulAddOnCpuExactly() {
        SelfTest result = runtime(settings(Map.of())).selfTest();
        assertEquals(OrtProvider.CPU, result.provider());
        assertTrue(result.maxAbsError() <= 1e-6, "error " + result.maxAbsError());
    }

    @Test
    void newSessionOptions_createUsableSessionsWithConfiguredThreads() throws OrtException {
        OrtRuntimeImpl runtime = runtime(settings(Map.of("intra.op.threads", "1", "optimization", "basic")));
        assertEquals(1, runtime.settings().intraOpThreads());
        try (OrtSession.SessionOptions options = runtime.newSessionOptions();
             OrtSession session = runtime.environment().createSession(TinyModel.bytes(), options)) {
            assertEquals(java.util.Set.of("x"), session.getInputNames());
            assertEquals(java.util.Set.of("y"), session.getOutputNames());
        }
    }

    @Test
    void cudaRequired_onCpuBuild_refusesToStart() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> runtime(settings(Map.of("provider", "cuda"))));
        assertTrue(e.getMessage().startsWith("provider=cuda is configured but CUDA cannot be used"), e.getMessage());
    }

    @Test
    void update_toCpu_dropsTheFallbackReasonAndReportsTheChange() {
        OrtRuntimeImpl runtime = runtime(settings(Map.of()));
        assertTrue(runtime.update(settings(Map.of("provider", "cpu", "inter.op.threads", 2))));
        assertFalse(runtime.fallbackReason().isPresent());
        assertEquals(2, runtime.settings().interOpThreads());
        assertEquals(ProviderRequest.CPU, runtime.settings().provider());
    }

    @Test
    void update_toCudaOnCpuBuild_failsAndKeepsTheOldSettings() {
        OrtRuntimeImpl runtime = runtime(settings(Map.of("intra.op.threads", 1)));
        assertThrows(IllegalStateException.class, () -> runtime.update(settings(Map.of("provider", "cuda"))));
        assertEquals(1, runtime.settings().intraOpThreads());
        assertEquals(OrtProvider.CPU, runtime.selectedProvider());
    }
}
