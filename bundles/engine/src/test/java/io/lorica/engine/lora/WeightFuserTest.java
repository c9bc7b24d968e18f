package io.lorica.engine.lora;

import static io.lorica.engine.lora.LoraFixtures.ENV;
import static io.lorica.engine.lora.LoraFixtures.a1;
import static io.lorica.engine.lora.LoraFixtures.a2;
import static io.lorica.engine.lora.LoraFixtures.assertClose;
import static io.lorica.engine.lora.LoraFixtures.reference;
import static io.lorica.engine.lora.LoraFixtures.run;
import static io.lorica.engine.lora.LoraFixtures.scales;
import static io.lorica.engine.onnx.TestGraphs.CONV1;
import static io.lorica.engine.onnx.TestGraphs.TO_OUT;
import static io.lorica.engine.onnx.TestGraphs.TO_Q;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtSession;
import io.lorica.api.Component;
import io.lorica.api.DType;
import io.lorica.api.TensorData;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.adapter.LoraModule;
import io.lorica.api.policy.EffectiveScales;
import io.lorica.engine.index.ModuleIndex;
import io.lorica.engine.onnx.OnnxModel;
import io.lorica.engine.onnx.TestGraphs;
import io.lorica.engine.onnx.TestGraphs.Style;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class WeightFuserTest {

    @TempDir
    Path dir;

    /** fp32 weights: 1e-4; DYNAMO stores to_out.0 as fp16, so its patched weight is rounded once to fp16. */
    @ParameterizedTest
    @CsvSource({"LEGACY, false, 1e-4", "LEGACY, true, 1e-4", "DYNAMO, false, 5e-3"})
    void fusedEqualsDynamicEqualsReference(Style style, boolean external, double tolerance) throws Exception {
        TestGraphs.Generated g = TestGraphs.unet(dir, style, external, 4);
        OnnxModel model = OnnxModel.read(g.file());
        ModuleIndex index = ModuleIndex.build(model, TestGraphs.catalog(), Component.UNET);
        LoraGraphRewriter.Rewritten rewritten = LoraGraphRewriter.rewrite(model, index);
        WeightFuser fuser = new WeightFuser(model, index);
        Map<String, LoraAdapter> adapters = Map.of("a1", a1(), "a2", a2());
        EffectiveScales[] requests = {scales("a1", adapters.get("a1"), 0.9),
            scales("a1", adapters.get("a1"), 0.6, "a2", adapters.get("a2"), 1.3)};
        try (OrtSession dynamic = session(rewritten.model(), dir.resolve("rewritten.onnx"), external)) {
            for (EffectiveScales request : requests) {
                Map<String, TensorData> fused = fuser.fuse(request, adapters, true);
                if (style == Style.DYNAMO && fused.containsKey(TO_OUT + ".weight")) {
                    assertEquals(DType.F16, fused.get(TO_OUT + ".weight").dtype());
                }
                float[][] expected = reference(g, request, adapters);
                float[][] fusedOut;
                try (OrtSession s = session(WeightFuser.apply(model, fused), dir.resolve("fused.onnx"), external)) {
                    fusedOut = run(s, Map.of());
                }
                float[][] dynamicOut = DynamicLoraTest.runWith(dynamic, rewritten.layout(), request, adapters);
                assertClose(expected, dynamicOut, 1e-4);
                assertClose(expected, fusedOut, tolerance);
                assertClose(dynamicOut, fusedOut, tolerance);
            }
        }
    }

    @Test
    void unfuseRestoresBaseBytesExactly() throws Exception {
        TestGraphs.Generated g = TestGraphs.unet(dir, Style.DYNAMO, false, 5);
        OnnxModel model = OnnxModel.read(g.file());
        ModuleIndex index = ModuleIndex.build(model, TestGraphs.catalog(), Component.UNET);
        WeightFuser fuser = new WeightFuser(model, index);
        Map<String, LoraAdapter> adapters = Map.of("a1", a1(), "a2", a2());
        Map<String, TensorData> fused = fuser.fuse(scales("a1", adapters.get("a1"), 1, "a2", adapters.get("a2"), 1),
                adapters, true);
        assertEquals(6, fused.size(), fused.keySet().toString()); // six layers; to_out.0 weight is fp16
        OnnxModel fusedModel = WeightFuser.apply(model, fused);
        OnnxModel restored = WeightFuser.apply(fusedModel, fuser.unfuse(fused.keySet()));
        for (String name : fused.keySet()) {
            assertTrue(!fusedModel.initializer(name).orElseThrow().data()
                    .equals(model.initializer(name).orElseThrow().data()), name);
            assertEquals(model.initializer(name).orElseThrow().data(), restored.initializer(name).orElseThrow().data(),
                    name);
        }
        try (OrtSession base = ENV.createSession(model.toBytes(), new OrtSession.SessionOptions());
                OrtSession back = ENV.createSession(restored.toBytes(), new OrtSession.SessionOptions())) {
            float[][] expected = run(base, Map.of());
            float[][] actual = run(back, Map.of());
            assertArrayEquals(expected[0], actual[0]);
            assertArrayEquals(expected[1], actual[1]);
        }
        // fusing again starts from the pristine weights: same result, nothing accumulated
        assertEquals(fused, fuser.fuse(scales("a1", adapters.get("a1"), 1, "a2", adapters.get("a2"), 1), adapters,
                true));
    }

    @Test
    void safeFusingRefusesNanNamingAdapterAndModule() throws Exception {
        TestGraphs.Generated g = TestGraphs.unet(dir, Style.LEGACY, false, 6);
        OnnxModel model = OnnxModel.read(g.file());
        ModuleIndex index = ModuleIndex.build(model, TestGraphs.catalog(), Component.UNET);
        WeightFuser fuser = new WeightFuser(model, index);
        LayerGeometry geometry = TestGraphs.UNET_MODULES.get(TO_Q);
        float[] b = new float[16 * 2];
        b[5] = Float.NaN;
        LoraAdapter bad = LoraFixtures.adapter(LoraModule.of(Component.UNET, TO_Q, geometry, 2f,
                TensorData.ofFloats(geometry.aShape(2), new float[2 * 16]), TensorData.ofFloats(geometry.bShape(2), b)));
        Map<String, LoraAdapter> adapters = Map.of("good", a1(), "broken", bad);
        EffectiveScales request = scales("good", adapters.get("good"), 1, "broken", bad, 1);
        Map<String, TensorData> before = fuser.unfuse(model.initializers().keySet());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> fuser.fuse(request, adapters, true));
        assertTrue(e.getMessage().startsWith(
                "NaNs detected in the merged weights. The adapter broken seems to be broken"), e.getMessage());
        assertTrue(e.getMessage().contains(TO_Q), e.getMessage());
        // nothing changed: the model's weights are the pristine ones, and a good fusion still works
        assertEquals(before, fuser.unfuse(model.initializers().keySet()));
        Map<String, TensorData> good = fuser.fuse(scales("good", adapters.get("good"), 1), adapters, true);
        assertEquals(4, good.size());
        // without safe mode the NaN goes through, as in Diffusers
        Map<String, TensorData> unsafe = fuser.fuse(request, adapters, false);
        String toQ = index.binding(TO_Q).orElseThrow().weightInitializer();
        float[] merged = unsafe.get(toQ).toFloatArray();
        assertTrue(Float.isNaN(merged[0]) || java.util.stream.IntStream.range(0, merged.length)
                .anyMatch(i -> Float.isNaN(merged[i])));
    }

    @Test
    void fullDeltaAndDoraNeedTheFusedPath() throws Exception {
        TestGraphs.Generated g = TestGraphs.unet(dir, Style.LEGACY, false, 7);
        OnnxModel model = OnnxModel.read(g.file());
        ModuleIndex index = ModuleIndex.build(model, TestGraphs.catalog(), Component.UNET);
        LayerGeometry conv = TestGraphs.UNET_MODULES.get(CONV1);
        LayerGeometry toQ = TestGraphs.UNET_MODULES.get(TO_Q);
        float[] delta = LoraFixtures.random(new java.util.Random(9), conv.weightShape());
        LoraAdapter full = LoraFixtures.adapter(LoraModule.fullDelta(Component.UNET, CONV1, conv,
                TensorData.ofFloats(conv.weightShape(), delta)));
        LoraModule plain = LoraFixtures.lora(TO_Q, 2, 2f, 31);
        // magnitude = row norms of W + sΔW: the DoRA merge then equals the plain merge; twice that doubles W'
        float s = 0.5f;
        float[] w = g.weights().get(TO_Q);
        float[] a = plain.a().toFloatArray();
        float[] bb = plain.b().toFloatArray();
        float[] merged = new float[16 * 16];
        float[] norms = new float[16];
        for (int o = 0; o < 16; o++) {
            double n = 0;
            for (int i = 0; i < 16; i++) {
                double d = 0;
                for (int k = 0; k < 2; k++) {
                    d += (double) bb[o * 2 + k] * a[k * 16 + i];
                }
                merged[o * 16 + i] = (float) (w[o * 16 + i] + s * plain.scale() * d);
                n += (double) merged[o * 16 + i] * merged[o * 16 + i];
            }
            norms[o] = (float) (2 * Math.sqrt(n));
        }
        LoraAdapter dora = LoraFixtures.adapter(new LoraModule(Component.UNET, TO_Q, toQ, 2, 2f, plain.a(), plain.b(),
                Optional.empty(), Optional.of(TensorData.ofFloats(new long[] {16}, norms)), Optional.empty()));
        Map<String, LoraAdapter> adapters = Map.of("full", full, "dora", dora);
        EffectiveScales request = scales("full", full, 0.75, "dora", dora, s);

        LoraGraphRewriter.Rewritten rewritten = LoraGraphRewriter.rewrite(model, index);
        try (DynamicInputs.Request inputs = LoraFixtures.inputs(rewritten.layout(), request, adapters)) {
            assertEquals(List.of(new DynamicInputs.Unapplied("full", CONV1, DynamicInputs.Reason.FULL_DELTA),
                    new DynamicInputs.Unapplied("dora", TO_Q, DynamicInputs.Reason.DORA)), inputs.needsFusedPath());
        }
        Map<String, TensorData> fused = new WeightFuser(model, index).fuse(request, adapters, true);
        float[] convW = fused.get(CONV1 + ".weight").toFloatArray();
        float[] convBase = g.weights().get(CONV1);
        for (int i = 0; i < convW.length; i++) {
            assertEquals(convBase[i] + 0.75f * delta[i], convW[i], 1e-6);
        }
        String toQName = index.binding(TO_Q).orElseThrow().weightInitializer();
        float[] stored = fused.get(toQName).toFloatArray(); // IN_OUT: [in, out]
        for (int o = 0; o < 16; o++) {
            for (int i = 0; i < 16; i++) {
                assertEquals(2 * merged[o * 16 + i], stored[i * 16 + o], 1e-5);
            }
        }
    }

    @Test
    void halfAndBfloat16Rounding() {
        assertEquals((short) 0x3c00, Floats.floatToHalf(1f));
        assertEquals((short) 0x7bff, Floats.floatToHalf(65504f));
        assertEquals((short) 0x7c00, Floats.floatToHalf(65520f));
        assertEquals((short) 0x0001, Floats.floatToHalf(0x1p-24f));
        assertEquals((short) 0x8000, Floats.floatToHalf(-0f));
        assertEquals((short) 0x3c00, Floats.floatToHalf(1f + 0x1p-11f)); // tie to even
        assertEquals((short) 0x3c02, Floats.floatToHalf(1f + 3 * 0x1p-11f)); // tie to even (up)
        java.util.Random random = new java.util.Random(1);
        for (int i = 0; i < 10000; i++) {
            float f = (random.nextFloat() - 0.5f) * 100;
            short h = Floats.floatToHalf(f);
            float back = TensorData.of(DType.F16, new long[] {1}, new byte[] {(byte) h, (byte) (h >> 8)})
                    .toFloatArray()[0];
            assertTrue(Math.abs(back - f) <= Math.max(Math.ulp(back), Math.ulp(f)) * 4096, f + " -> " + back);
        }
        for (int i = 0; i < 100000; i++) {
            float f = Float.intBitsToFloat(random.nextInt());
            if (!Float.isNaN(f)) {
                assertEquals(ai.onnxruntime.platform.Fp16Conversions.floatToFp16(f), Floats.floatToHalf(f),
                        Float.toString(f));
            }
        }
        assertEquals((short) 0x3f80, Floats.floatToBfloat16(1f));
        assertEquals((short) 0x3f80, Floats.floatToBfloat16(1f + 0x1p-8f)); // tie to even
    }

    @Test
    void safeFusingRefusesFp16Overflow() {
        TestGraphs.Generated g = TestGraphs.unet(dir, Style.DYNAMO, false, 8);
        OnnxModel model = OnnxModel.read(g.file());
        ModuleIndex index = ModuleIndex.build(model, TestGraphs.catalog(), Component.UNET);
        LayerGeometry geometry = TestGraphs.UNET_MODULES.get(TO_OUT);
        float[] a = new float[16];
        float[] b = new float[16];
        java.util.Arrays.fill(a, 300f);
        java.util.Arrays.fill(b, 300f);
        LoraAdapter huge = LoraFixtures.adapter(LoraModule.of(Component.UNET, TO_OUT, geometry, 1f,
                TensorData.ofFloats(geometry.aShape(1), a), TensorData.ofFloats(geometry.bShape(1), b)));
        WeightFuser fuser = new WeightFuser(model, index);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> fuser.fuse(scales("huge", huge, 1), Map.of("huge", huge), true));
        assertTrue(e.getMessage().contains("huge") && e.getMessage().contains("overflows F16"), e.getMessage());
        assertEquals(DType.F16, fuser.fuse(scales("huge", huge, 1), Map.of("huge", huge), false)
                .get(TO_OUT + ".weight").dtype());
    }

    private static OrtSession session(OnnxModel model, Path file, boolean external) throws Exception {
        if (external) {
            model.write(file);
            return ENV.createSession(file.toString(), new OrtSession.SessionOptions());
        }
        return ENV.createSession(model.toBytes(), new OrtSession.SessionOptions());
    }
}
