package io.lorica.ort.impl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.EnumSet;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

import ai.onnxruntime.OrtProvider;
import io.lorica.ort.ProviderRequest;
import org.junit.jupiter.api.Test;

class ProviderSelectorTest {

    private static final Set<OrtProvider> CPU_BUILD = EnumSet.of(OrtProvider.CPU);
    private static final Set<OrtProvider> GPU_BUILD = EnumSet.of(OrtProvider.CPU, OrtProvider.CUDA, OrtProvider.TENSOR_RT);

    @Test
    void auto_onCpuBuild_choosesCpuWithReasonAndNeverProbes() {
        AtomicInteger probes = new AtomicInteger();
        ProviderSelector.Selection s = ProviderSelector.select(ProviderRequest.AUTO, CPU_BUILD, () -> {
            probes.incrementAndGet();
            return Optional.empty();
        });
        assertEquals(OrtProvider.CPU, s.selected());
        assertEquals(EnumSet.of(OrtProvider.CPU), s.usable());
        assertTrue(s.fallbackReason().orElseThrow().contains("no CUDA execution provider"));
        assertEquals(0, probes.get());
    }

    @Test
    void auto_onGpuBuildWhereCudaInitialises_choosesCuda() {
        ProviderSelector.Selection s = ProviderSelector.select(ProviderRequest.AUTO, GPU_BUILD, Optional::empty);
        assertEquals(OrtProvider.CUDA, s.selected());
        assertEquals(EnumSet.of(OrtProvider.CPU, OrtProvider.CUDA), s.usable());
        assertFalse(s.fallbackReason().isPresent());
    }

    @Test
    void auto_onGpuBuildWithoutGpu_fallsBackToCpuCarryingTheProbeMessage() {
        ProviderSelector.Selection s = ProviderSelector.select(ProviderRequest.AUTO, GPU_BUILD,
                () -> Optional.of("Failed to load shared library libonnxruntime_providers_cuda.so"));
        assertEquals(OrtProvider.CPU, s.selected());
        assertEquals("CUDA unavailable: Failed to load shared library libonnxruntime_providers_cuda.so", s.fallbackReason().orElseThrow());
    }

    @Test
    void cuda_whenUnavailable_refusesWithReason() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> ProviderSelector.select(ProviderRequest.CUDA, GPU_BUILD, () -> Optional.of("no device")));
        assertEquals("provider=cuda is configured but CUDA cannot be used: no device", e.getMessage());
    }

    @Test
    void cpu_whereCudaWorks_choosesCpuButReportsCudaUsable() {
        ProviderSelector.Selection s = ProviderSelector.select(ProviderRequest.CPU, GPU_BUILD, Optional::empty);
        assertEquals(OrtProvider.CPU, s.selected());
        assertTrue(s.usable().contains(OrtProvider.CUDA));
        assertFalse(s.fallbackReason().isPresent());
    }
}
