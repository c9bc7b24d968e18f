package io.lorica.engine.impl;

import static io.lorica.engine.onnx.LoraTestFixtures.BATCH;
import static io.lorica.engine.onnx.LoraTestFixtures.a1;
import static io.lorica.engine.onnx.LoraTestFixtures.a2;
import static io.lorica.engine.onnx.LoraTestFixtures.assertClose;
import static io.lorica.engine.onnx.LoraTestFixtures.outputs;
import static io.lorica.engine.onnx.LoraTestFixtures.reference;
import static io.lorica.engine.onnx.LoraTestFixtures.scales;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.DType;
import io.lorica.api.TensorData;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.engine.LoraBinding;
import io.lorica.api.engine.LoraMode;
import io.lorica.api.policy.EffectiveScales;
import io.lorica.engine.lora.BranchLayout;
import io.lorica.engine.lora.Floats;
import io.lorica.engine.onnx.LoraTestFixtures;
import io.lorica.engine.onnx.TestGraphs;
import io.lorica.engine.onnx.TestGraphs.Style;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Graphs exported in fp16 throughout: the LoRA branches take fp16 factors; dynamic, fused and reference agree. */
class HalfPrecisionTest {

    /** fp16 activations and weights against a float32 reference: a few parts in a thousand. */
    static final double TOLERANCE = 2e-2;

    @TempDir
    Path dir;

    static Map<String, TensorData> halfInputs() {
        return Map.of("sample", new TensorData(DType.F16, new long[] {BATCH, 8, 4, 4},
                        Floats.encodeDirect(LoraTestFixtures.sample(), DType.F16)),
                "encoder_hidden_states", new TensorData(DType.F16, new long[] {BATCH, 3, 12},
                        Floats.encodeDirect(LoraTestFixtures.hidden(), DType.F16)));
    }

    @ParameterizedTest
    @EnumSource(Style.class)
    void fp16GraphGetsFp16BranchesAndDynamicEqualsFusedEqualsReference(Style style) {
        TestGraphs.Generated g = TestGraphs.unetHalf(dir, style, style == Style.LEGACY, 21);
        Map<String, LoraAdapter> adapters = Map.of("a1", a1(), "a2", a2());
        EffectiveScales[] requests = {scales("a1", adapters.get("a1"), 1.0),
            scales("a1", adapters.get("a1"), 0.8, "a2", adapters.get("a2"), -0.5)};
        try (OnnxModelHandle handle = OnnxModelHandleTest.openUnet(g.file())) {
            assertEquals(6, handle.layout().branches().size());
            for (BranchLayout.Branch branch : handle.layout().branches().values()) {
                assertEquals(DType.F16, branch.dtype(), branch.modulePath());
            }
            Map<String, TensorData> out = handle.run(halfInputs());
            assertEquals(DType.F16, out.get("out_sample").dtype());
            float[][] base = outputs(out);
            assertClose(reference(g, EffectiveScales.empty(), adapters), base, TOLERANCE);
            int sessions = handle.sessionsCreated();
            for (EffectiveScales request : requests) {
                float[][] expected = reference(g, request, adapters);
                float[][] dynamic;
                try (LoraBinding binding = handle.bind(LoraMode.DYNAMIC, request, adapters)) {
                    assertEquals(LoraMode.DYNAMIC, binding.mode());
                    dynamic = outputs(handle.run(halfInputs(), binding));
                }
                float[][] fused;
                try (LoraBinding binding = handle.bind(LoraMode.FUSED, request, adapters)) {
                    fused = outputs(handle.run(halfInputs(), binding));
                }
                assertClose(expected, dynamic, TOLERANCE);
                assertClose(expected, fused, TOLERANCE);
                assertClose(dynamic, fused, TOLERANCE);
                assertFalse(Arrays.equals(base[0], dynamic[0]), "the adapter changed nothing");
            }
            assertTrue(handle.sessionsCreated() <= sessions + requests.length, "one fused session per request");
        }
    }
}
