package io.lorica.engine.impl;

import static io.lorica.engine.onnx.LoraTestFixtures.a1;
import static io.lorica.engine.onnx.LoraTestFixtures.a2;
import static io.lorica.engine.onnx.LoraTestFixtures.assertClose;
import static io.lorica.engine.onnx.LoraTestFixtures.outputs;
import static io.lorica.engine.onnx.LoraTestFixtures.reference;
import static io.lorica.engine.onnx.LoraTestFixtures.scales;
import static io.lorica.engine.onnx.LoraTestFixtures.unetInputs;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.TensorData;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LoadReport;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.adapter.LoraModule;
import io.lorica.api.engine.LoraBinding;
import io.lorica.api.engine.LoraMode;
import io.lorica.api.engine.ModelRole;
import io.lorica.api.policy.EffectiveScales;
import io.lorica.engine.onnx.Reference;
import io.lorica.engine.onnx.LoraTestFixtures;
import io.lorica.engine.onnx.TestGraphs;
import io.lorica.engine.onnx.TestGraphs.Style;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The fused base of {@link OnnxModelHandle} and {@link EngineFuseBackend} against the plain-Java reference. */
class FusedBaseTest {

    static final OnnxInferenceEngine ENGINE = OnnxModelHandleTest.ENGINE;

    @TempDir
    Path dir;

    static double tolerance(Style style) {
        // the DYNAMO graph stores to_out.0 in fp16: fused weights are rounded there
        return style == Style.DYNAMO ? 2e-3 : 1e-4;
    }

    /** a1 with a NaN in one B factor. */
    static LoraAdapter broken() {
        LayerGeometry g = TestGraphs.UNET_MODULES.get(TestGraphs.TO_Q);
        float[] a = LoraTestFixtures.random(new Random(91), g.aShape(2));
        float[] b = LoraTestFixtures.random(new Random(92), g.bShape(2));
        b[3] = Float.NaN;
        return LoraTestFixtures.adapter(Component.UNET, LoraModule.of(Component.UNET, TestGraphs.TO_Q, g, 2f,
                TensorData.ofFloats(g.aShape(2), a), TensorData.ofFloats(g.bShape(2), b)));
    }

    @ParameterizedTest
    @EnumSource(Style.class)
    void fuseBaseMatchesReferenceAndUnfuseRestoresExactly(Style style) {
        TestGraphs.Generated g = TestGraphs.unet(dir, style, false, 3);
        Map<String, LoraAdapter> adapters = Map.of("a1", a1(), "a2", a2());
        EffectiveScales request = scales("a1", adapters.get("a1"), 0.8, "a2", adapters.get("a2"), -0.5);
        try (OnnxModelHandle handle = OnnxModelHandleTest.openUnet(g.file())) {
            float[][] original = outputs(handle.run(unetInputs()));
            assertEquals(List.of(), handle.fusedAdapters());
            handle.fuseBase(request, adapters, true);
            assertEquals(List.of("a1", "a2"), handle.fusedAdapters());
            float[][] fused = outputs(handle.run(unetInputs(), handle.base()));
            assertClose(reference(g, request, adapters), fused, tolerance(style));
            assertFalse(Arrays.equals(original[0], fused[0]));
            handle.unfuseBase();
            assertEquals(List.of(), handle.fusedAdapters());
            assertTrue(handle.fusedScales().isEmpty());
            float[][] back = outputs(handle.run(unetInputs()));
            assertArrayEquals(original[0], back[0]);
            assertArrayEquals(original[1], back[1]);
            int sessions = handle.sessionsCreated();
            handle.unfuseBase(); // nothing fused: no new session
            assertEquals(sessions, handle.sessionsCreated());
        }
    }

    @ParameterizedTest
    @EnumSource(Style.class)
    void dynamicAndFusedBindingsActOnTopOfFusedBase(Style style) {
        TestGraphs.Generated g = TestGraphs.unet(dir, style, false, 4);
        LoraAdapter first = a1();
        LoraAdapter second = a2();
        Map<String, LoraAdapter> adapters = Map.of("a1", first, "a2", second);
        try (OnnxModelHandle handle = OnnxModelHandleTest.openUnet(g.file())) {
            handle.fuseBase(scales("a1", first, 1.0), Map.of("a1", first), false);
            EffectiveScales both = scales("a1", first, 1.0, "a2", second, 0.7);
            float[][] expected = reference(g, both, adapters);
            int sessions = handle.sessionsCreated();
            try (LoraBinding dynamic = handle.bind(LoraMode.DYNAMIC, scales("a2", second, 0.7), Map.of("a2", second))) {
                assertEquals(sessions, handle.sessionsCreated(), "dynamic bindings reuse the fused base session");
                assertClose(expected, outputs(handle.run(unetInputs(), dynamic)), tolerance(style));
            }
            try (LoraBinding fused = handle.bind(LoraMode.FUSED, scales("a2", second, 0.7), Map.of("a2", second))) {
                assertClose(expected, outputs(handle.run(unetInputs(), fused)), tolerance(style));
            }
            // the same adapter fused and active: its deltas add up
            try (LoraBinding again = handle.bind(LoraMode.DYNAMIC, scales("a1", first, 0.5), Map.of("a1", first))) {
                assertClose(reference(g, scales("a1", first, 1.5), adapters), outputs(handle.run(unetInputs(), again)),
                        tolerance(style));
            }
        }
    }

    @Test
    void fuseReplacesWhatWasFusedBefore() {
        TestGraphs.Generated g = TestGraphs.unet(dir, Style.LEGACY, false, 5);
        LoraAdapter first = a1();
        LoraAdapter second = a2();
        try (OnnxModelHandle handle = OnnxModelHandleTest.openUnet(g.file())) {
            handle.fuseBase(scales("a1", first, 1.0), Map.of("a1", first), false);
            handle.fuseBase(scales("a2", second, 0.9), Map.of("a2", second), false);
            assertEquals(List.of("a2"), handle.fusedAdapters());
            assertClose(reference(g, scales("a2", second, 0.9), Map.of("a2", second)), outputs(handle.run(unetInputs())),
                    1e-4);
        }
    }

    @Test
    void failingSafeFuseLeavesPreviousBaseUntouched() {
        TestGraphs.Generated g = TestGraphs.unet(dir, Style.LEGACY, false, 6);
        LoraAdapter first = a1();
        LoraAdapter bad = broken();
        try (OnnxModelHandle handle = OnnxModelHandleTest.openUnet(g.file())) {
            handle.fuseBase(scales("a1", first, 1.0), Map.of("a1", first), true);
            float[][] before = outputs(handle.run(unetInputs()));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> handle.fuseBase(scales("a1", first, 1.0, "bad", bad, 1.0), Map.of("a1", first, "bad", bad),
                            true));
            assertTrue(e.getMessage().contains("NaNs detected in the merged weights. The adapter bad seems to be broken"),
                    e.getMessage());
            assertEquals(List.of("a1"), handle.fusedAdapters());
            float[][] after = outputs(handle.run(unetInputs()));
            assertArrayEquals(before[0], after[0]);
            assertArrayEquals(before[1], after[1]);
            assertThrows(IllegalArgumentException.class, () -> handle.fuseBase(
                    EffectiveScales.builder().put(Component.UNET, "no.such.module", "a1", 1f).build(),
                    Map.of("a1", first), false));
            assertThrows(IllegalArgumentException.class,
                    () -> handle.fuseBase(scales("a2", a2(), 1.0), Map.of(), false));
            assertEquals(List.of("a1"), handle.fusedAdapters());
        }
    }

    @Test
    void runsDuringSwapsSeeOneOfTheStatesAndOldSessionsClose() throws Exception {
        TestGraphs.Generated g = TestGraphs.unet(dir, Style.LEGACY, false, 7);
        LoraAdapter first = a1();
        EffectiveScales request = scales("a1", first, 1.0);
        try (OnnxModelHandle handle = OnnxModelHandleTest.openUnet(g.file())) {
            float[][] plain = outputs(handle.run(unetInputs()));
            handle.fuseBase(request, Map.of("a1", first), false);
            float[][] fused = outputs(handle.run(unetInputs()));
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<float[][]>> runs = new ArrayList<>();
                for (int i = 0; i < 40; i++) {
                    runs.add(pool.submit(() -> outputs(handle.run(unetInputs()))));
                    if (i % 8 == 0) {
                        if (i % 16 == 0) {
                            handle.unfuseBase();
                        } else {
                            handle.fuseBase(request, Map.of("a1", first), false);
                        }
                    }
                }
                for (Future<float[][]> run : runs) {
                    float[][] out = run.get(60, TimeUnit.SECONDS);
                    assertTrue(Arrays.equals(out[0], plain[0]) || Arrays.equals(out[0], fused[0]),
                            "a run saw neither the pristine nor the fused weights");
                }
            } finally {
                pool.shutdown();
                assertTrue(pool.awaitTermination(60, TimeUnit.SECONDS));
            }
            // a swapped-out session is closed once nothing uses it
            PatchedSession next = handle.prepareBase(EffectiveScales.empty(), Map.of(), false);
            PatchedSession previous = handle.install(next);
            assertFalse(previous.isClosed());
            previous.release();
            assertTrue(previous.isClosed());
        }
    }

    static LoraAdapter twoComponents(LoraModule unet, LoraModule text) {
        Map<Component, Map<String, LoraModule>> modules = new LinkedHashMap<>();
        modules.put(Component.UNET, Map.of(unet.modulePath(), unet));
        modules.put(Component.TEXT_ENCODER, Map.of(text.modulePath(), text));
        return new LoraAdapter("peft", ModelFamily.SD15, modules, Map.of(), LoadReport.empty());
    }

    static LoraModule textLora(long seed, boolean nan) {
        LayerGeometry g = TestGraphs.TEXT_MODULES.get(TestGraphs.Q_PROJ);
        float[] a = LoraTestFixtures.random(new Random(seed), g.aShape(2));
        float[] b = LoraTestFixtures.random(new Random(seed + 1), g.bShape(2));
        if (nan) {
            b[1] = Float.NaN;
        }
        return LoraModule.of(Component.TEXT_ENCODER, TestGraphs.Q_PROJ, g, 4f, TensorData.ofFloats(g.aShape(2), a),
                TensorData.ofFloats(g.bShape(2), b));
    }

    @Test
    void backendFusesEveryComponentAndRollsBackWhenOneFails() {
        TestGraphs.Generated u = TestGraphs.unet(dir.resolve("unet"), Style.LEGACY, false, 8);
        TestGraphs.Generated t = TestGraphs.textEncoder(dir.resolve("te"), Style.LEGACY, false, 9);
        LoraAdapter good = twoComponents(LoraTestFixtures.lora(TestGraphs.TO_Q, 2, 4f, 31), textLora(32, false));
        LoraAdapter bad = twoComponents(LoraTestFixtures.lora(TestGraphs.CONV1, 2, 2f, 33), textLora(34, true));
        float[] x = LoraTestFixtures.random(new Random(77), new long[] {5, 8});
        Map<String, TensorData> textInputs = Map.of("hidden", TensorData.ofFloats(new long[] {5, 8}, x));
        try (OnnxModelHandle unet = OnnxModelHandleTest.openUnet(u.file());
                OnnxModelHandle text = ENGINE.open(t.file(), ModelRole.TEXT_ENCODER, TestGraphs.catalog())) {
            EngineFuseBackend backend = new EngineFuseBackend(Map.of(Component.UNET, unet,
                    Component.TEXT_ENCODER, text));
            float[][] unetPlain = outputs(unet.run(unetInputs()));
            float[] textPlain = text.run(textInputs).get("last_hidden_state").toFloatArray();

            backend.fuse(Map.of("good", good), Set.of(Component.UNET, Component.TEXT_ENCODER), Map.of("good", 0.6f),
                    true);
            // adapterScales[a] · alpha/r
            EffectiveScales expected = scales("good", good, 0.6);
            assertClose(reference(u, expected, Map.of("good", good)), outputs(unet.run(unetInputs())), 1e-4);
            float[] w = LoraTestFixtures.patched(t, Component.TEXT_ENCODER, expected, Map.of("good", good))
                    .get(TestGraphs.Q_PROJ);
            float[] textExpected = Reference.linear(x, 5, w, t.biases().get(TestGraphs.Q_PROJ), 8, 8);
            float[] textFused = text.run(textInputs).get("last_hidden_state").toFloatArray();
            assertClose(new float[][] {textExpected}, new float[][] {textFused}, 1e-4);
            float[][] unetFused = outputs(unet.run(unetInputs()));

            // the text encoder (fused after the UNet) fails: the UNet keeps its previous weights
            Map<String, LoraAdapter> both = new LinkedHashMap<>();
            both.put("good", good);
            both.put("bad", bad);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> backend.fuse(both,
                    Set.of(Component.UNET, Component.TEXT_ENCODER), Map.of("good", 1f, "bad", 1f), true));
            assertTrue(e.getMessage().contains("NaNs detected in the merged weights"), e.getMessage());
            assertEquals(List.of("good"), unet.fusedAdapters());
            assertEquals(List.of("good"), text.fusedAdapters());
            assertArrayEquals(unetFused[0], outputs(unet.run(unetInputs()))[0]);
            assertArrayEquals(textFused, text.run(textInputs).get("last_hidden_state").toFloatArray());

            // only the named components change
            backend.fuse(Map.of("bad", bad), Set.of(Component.UNET), Map.of("bad", 1f), true);
            assertEquals(List.of("bad"), unet.fusedAdapters());
            assertEquals(List.of("good"), text.fusedAdapters());

            IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                    () -> backend.unfuse(Set.of(Component.UNET, Component.TEXT_ENCODER_2)));
            assertTrue(missing.getMessage().contains(Component.TEXT_ENCODER_2.toString()), missing.getMessage());
            assertEquals(List.of("bad"), unet.fusedAdapters());
            assertThrows(IllegalArgumentException.class, () -> backend.fuse(Map.of("good", good),
                    Set.of(Component.UNET), Map.of(), false));

            backend.unfuse(Set.of(Component.UNET, Component.TEXT_ENCODER));
            assertEquals(List.of(), unet.fusedAdapters());
            assertEquals(List.of(), text.fusedAdapters());
            float[][] unetBack = outputs(unet.run(unetInputs()));
            assertArrayEquals(unetPlain[0], unetBack[0]);
            assertArrayEquals(unetPlain[1], unetBack[1]);
            assertArrayEquals(textPlain, text.run(textInputs).get("last_hidden_state").toFloatArray());
        }
    }

    @Test
    void backendOnClosedHandleChangesNothing() {
        TestGraphs.Generated u = TestGraphs.unet(dir.resolve("unet"), Style.LEGACY, false, 10);
        TestGraphs.Generated t = TestGraphs.textEncoder(dir.resolve("te"), Style.LEGACY, false, 11);
        LoraAdapter good = twoComponents(LoraTestFixtures.lora(TestGraphs.TO_Q, 2, 4f, 41), textLora(42, false));
        try (OnnxModelHandle unet = OnnxModelHandleTest.openUnet(u.file())) {
            OnnxModelHandle text = ENGINE.open(t.file(), ModelRole.TEXT_ENCODER, TestGraphs.catalog());
            text.close();
            EngineFuseBackend backend = new EngineFuseBackend(Map.of(Component.UNET, unet,
                    Component.TEXT_ENCODER, text));
            assertThrows(IllegalStateException.class, () -> backend.fuse(Map.of("good", good),
                    Set.of(Component.UNET, Component.TEXT_ENCODER), Map.of("good", 1f), false));
            assertEquals(List.of(), unet.fusedAdapters());
            assertThrows(IllegalArgumentException.class, () -> new EngineFuseBackend(Map.of()));
        }
    }
}
