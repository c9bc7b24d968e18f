package io.lorica.engine.impl;

import static io.lorica.engine.onnx.LoraTestFixtures.BATCH;
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

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.lorica.api.Component;
import io.lorica.api.ExecutionProvider;
import io.lorica.api.TensorData;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.adapter.LoraModule;
import io.lorica.api.engine.LoraBinding;
import io.lorica.api.engine.LoraMode;
import io.lorica.api.engine.ModelRole;
import io.lorica.api.policy.EffectiveScales;
import io.lorica.engine.onnx.OnnxModel;
import io.lorica.engine.onnx.Reference;
import io.lorica.engine.onnx.LoraTestFixtures;
import io.lorica.engine.onnx.TestGraphs;
import io.lorica.engine.onnx.TestGraphs.Style;

import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class OnnxModelHandleTest {

    static final OnnxInferenceEngine ENGINE = new OnnxInferenceEngine(io.lorica.ort.impl.OrtRuntimeImpl.standalone(
            new io.lorica.ort.RuntimeSettings(io.lorica.ort.ProviderRequest.CPU, 0, 0L, 1, 0,
                    ai.onnxruntime.OrtSession.SessionOptions.OptLevel.ALL_OPT, true, true, "")));

    @TempDir
    Path dir;

    static OnnxModelHandle openUnet(Path file) {
        return ENGINE.open(file, ModelRole.UNET, TestGraphs.catalog());
    }

    /** The original graph run directly in ONNX Runtime. */
    static float[][] original(Path file) throws Exception {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession session = env.createSession(OnnxModel.read(file).toBytes(), new OrtSession.SessionOptions());
                OnnxTensor s = OnnxTensor.createTensor(env, FloatBuffer.wrap(LoraTestFixtures.sample()),
                        new long[] {BATCH, 8, 4, 4});
                OnnxTensor e = OnnxTensor.createTensor(env, FloatBuffer.wrap(LoraTestFixtures.hidden()),
                        new long[] {BATCH, 3, 12});
                OrtSession.Result r = session.run(Map.of("sample", s, "encoder_hidden_states", e))) {
            return new float[][] {((OnnxTensor) r.get("out_sample").orElseThrow()).getFloatBuffer().array(),
                ((OnnxTensor) r.get("attn_out").orElseThrow()).getFloatBuffer().array()};
        }
    }

    @ParameterizedTest
    @EnumSource(Style.class)
    void baseRunEqualsOriginalGraphExactly(Style style) throws Exception {
        TestGraphs.Generated g = TestGraphs.unet(dir, style, false, 3);
        try (OnnxModelHandle handle = openUnet(g.file())) {
            assertEquals(ExecutionProvider.CPU, ENGINE.provider());
            assertEquals(Set.of("sample", "encoder_hidden_states"), handle.inputNames());
            assertEquals(Set.of("out_sample", "attn_out"), handle.outputNames());
            assertEquals(TestGraphs.UNET_MODULES, handle.loraTargets());
            assertEquals(ModelRole.UNET, handle.role());
            float[][] expected = original(g.file());
            float[][] base = outputs(handle.run(unetInputs()));
            assertArrayEquals(expected[0], base[0]);
            assertArrayEquals(expected[1], base[1]);
            assertEquals(LoraMode.DYNAMIC, handle.base().mode());
            assertEquals(List.of(), handle.base().adapterNames());
            handle.base().close(); // no-op
            float[][] again = outputs(handle.run(unetInputs(), handle.base()));
            assertArrayEquals(expected[0], again[0]);
            assertClose(reference(g, EffectiveScales.empty(), Map.of()), base, 1e-4);
            TensorData out = handle.run(unetInputs()).get("out_sample");
            assertArrayEquals(new long[] {BATCH, 16, 2, 2}, out.shape());
        }
    }

    @ParameterizedTest
    @EnumSource(Style.class)
    void dynamicEqualsFusedEqualsReferenceWithoutNewDynamicSession(Style style) throws Exception {
        TestGraphs.Generated g = TestGraphs.unet(dir, style, false, 3);
        Map<String, LoraAdapter> adapters = Map.of("a1", a1(), "a2", a2());
        EffectiveScales[] requests = {scales("a1", adapters.get("a1"), 1.0),
            scales("a1", adapters.get("a1"), 0.8, "a2", adapters.get("a2"), -0.5),
            scales("a2", adapters.get("a2"), 1.5, "a1", adapters.get("a1"), 0.25)};
        try (OnnxModelHandle handle = openUnet(g.file())) {
            assertEquals(1, handle.sessionsCreated());
            float[][] base = outputs(handle.run(unetInputs()));
            for (EffectiveScales request : requests) {
                float[][] expected = reference(g, request, adapters);
                float[][] dynamic;
                int sessions = handle.sessionsCreated();
                try (LoraBinding binding = handle.bind(LoraMode.DYNAMIC, request, adapters)) {
                    assertEquals(LoraMode.DYNAMIC, binding.mode());
                    assertEquals(request.adapterNames(), binding.adapterNames());
                    assertEquals(request.modules(Component.UNET).size(), binding.layerCount());
                    dynamic = outputs(handle.run(unetInputs(), binding));
                }
                assertEquals(sessions, handle.sessionsCreated(), "dynamic bindings must reuse the one session");
                assertClose(expected, dynamic, 1e-4);
                assertFalse(java.util.Arrays.equals(base[0], dynamic[0]), "the adapter changed nothing");
                int before = handle.sessionsCreated();
                try (LoraBinding fused = handle.bind(LoraMode.FUSED, request, adapters)) {
                    assertEquals(LoraMode.FUSED, fused.mode());
                    assertEquals(before + 1, handle.sessionsCreated());
                    float[][] f = outputs(handle.run(unetInputs(), fused));
                    // the DYNAMO graph stores to_out.0 in fp16: fused weights are rounded to fp16 there (as
                    // fuse_lora does), while the branches stay fp32; the LEGACY graph is all fp32
                    double tolerance = style == Style.DYNAMO ? 2e-3 : 1e-4;
                    assertClose(expected, f, tolerance);
                    assertClose(dynamic, f, tolerance);
                }
            }
            // switching back and forth between live dynamic bindings: still the single dynamic session
            int before = handle.sessionsCreated();
            try (LoraBinding b1 = handle.bind(LoraMode.DYNAMIC, requests[0], adapters);
                    LoraBinding b2 = handle.bind(LoraMode.DYNAMIC, requests[1], adapters)) {
                for (int i = 0; i < 3; i++) {
                    assertClose(reference(g, requests[0], adapters), outputs(handle.run(unetInputs(), b1)), 1e-4);
                    assertClose(reference(g, requests[1], adapters), outputs(handle.run(unetInputs(), b2)), 1e-4);
                    assertArrayEquals(base[0], outputs(handle.run(unetInputs()))[0]);
                }
            }
            assertEquals(before, handle.sessionsCreated());
        }
    }

    @Test
    void externalDataModelRunsDynamicAndFused() throws Exception {
        TestGraphs.Generated g = TestGraphs.unet(dir, Style.LEGACY, true, 4);
        Map<String, LoraAdapter> adapters = Map.of("a1", a1(), "a2", a2());
        EffectiveScales request = scales("a1", adapters.get("a1"), 0.6, "a2", adapters.get("a2"), 1.1);
        try (OnnxModelHandle handle = openUnet(g.file())) {
            assertClose(reference(g, EffectiveScales.empty(), adapters), outputs(handle.run(unetInputs())), 1e-4);
            try (LoraBinding d = handle.bind(LoraMode.DYNAMIC, request, adapters);
                    LoraBinding f = handle.bind(LoraMode.FUSED, request, adapters)) {
                assertClose(reference(g, request, adapters), outputs(handle.run(unetInputs(), d)), 1e-4);
                assertClose(reference(g, request, adapters), outputs(handle.run(unetInputs(), f)), 1e-4);
            }
        }
        try (var files = java.nio.file.Files.list(dir)) {
            assertEquals(Set.of("model.onnx", "model.onnx_data"),
                    files.map(p -> p.getFileName().toString()).collect(java.util.stream.Collectors.toSet()),
                    "no temporary model may be left behind");
        }
    }

    @ParameterizedTest
    @EnumSource(Style.class)
    void textEncoderDynamicAndFused(Style style) {
        TestGraphs.Generated g = TestGraphs.textEncoder(dir, style, false, 8);
        LayerGeometry geometry = TestGraphs.TEXT_MODULES.get(TestGraphs.Q_PROJ);
        LoraAdapter t1 = LoraTestFixtures.adapter(Component.TEXT_ENCODER, LoraTestFixtures.lora(Component.TEXT_ENCODER,
                TestGraphs.TEXT_MODULES, TestGraphs.Q_PROJ, 2, 2f, 41));
        LoraAdapter t2 = LoraTestFixtures.adapter(Component.TEXT_ENCODER, LoraTestFixtures.lora(Component.TEXT_ENCODER,
                TestGraphs.TEXT_MODULES, TestGraphs.Q_PROJ, 3, 6f, 42));
        Map<String, LoraAdapter> adapters = Map.of("t1", t1, "t2", t2);
        EffectiveScales request = scales("t1", t1, 0.9, "t2", t2, -0.4);
        float[] x = LoraTestFixtures.random(new Random(77), new long[] {5, 8});
        Map<String, TensorData> inputs = Map.of("hidden", TensorData.ofFloats(new long[] {5, 8}, x));
        try (OnnxModelHandle handle = ENGINE.open(g.file(), ModelRole.TEXT_ENCODER, TestGraphs.catalog())) {
            assertEquals(Set.of("hidden"), handle.inputNames());
            assertEquals(Set.of(TestGraphs.Q_PROJ), handle.loraTargets().keySet());
            float[] base = handle.run(inputs).get("last_hidden_state").toFloatArray();
            float[] expectedBase = Reference.linear(x, 5, g.weights().get(TestGraphs.Q_PROJ),
                    g.biases().get(TestGraphs.Q_PROJ), 8, 8);
            assertArrayEquals(expectedBase, base, 1e-5f);
            float[] w = LoraTestFixtures.patched(g, Component.TEXT_ENCODER, request, adapters).get(TestGraphs.Q_PROJ);
            float[] expected = Reference.linear(x, 5, w, g.biases().get(TestGraphs.Q_PROJ), 8, 8);
            try (LoraBinding d = handle.bind(LoraMode.DYNAMIC, request, adapters);
                    LoraBinding f = handle.bind(LoraMode.FUSED, request, adapters)) {
                float[] dyn = handle.run(inputs, d).get("last_hidden_state").toFloatArray();
                float[] fus = handle.run(inputs, f).get("last_hidden_state").toFloatArray();
                assertClose(new float[][] {expected}, new float[][] {dyn}, 1e-4);
                assertClose(new float[][] {expected}, new float[][] {fus}, 1e-4);
            }
            assertEquals(geometry, handle.loraTargets().get(TestGraphs.Q_PROJ));
        }
    }

    @Test
    void fullDeltaOnDynamicFallsBackToFused() throws Exception {
        TestGraphs.Generated g = TestGraphs.unet(dir, Style.LEGACY, false, 7);
        LayerGeometry conv = TestGraphs.UNET_MODULES.get(TestGraphs.CONV1);
        float[] delta = LoraTestFixtures.random(new Random(9), conv.weightShape());
        LoraAdapter full = LoraTestFixtures.adapter(Component.UNET, LoraModule.fullDelta(Component.UNET,
                TestGraphs.CONV1, conv, TensorData.ofFloats(conv.weightShape(), delta)));
        Map<String, LoraAdapter> adapters = Map.of("full", full, "a1", a1());
        EffectiveScales request = scales("a1", adapters.get("a1"), 0.5, "full", full, 0.75);
        try (OnnxModelHandle handle = openUnet(g.file())) {
            try (LoraBinding binding = handle.bind(LoraMode.DYNAMIC, request, adapters)) {
                assertEquals(LoraMode.FUSED, binding.mode());
                assertEquals(List.of("a1", "full"), binding.adapterNames());
                assertEquals(2, handle.sessionsCreated());
                assertClose(reference(g, request, adapters), outputs(handle.run(unetInputs(), binding)), 1e-4);
            }
        }
    }

    @Test
    void doraOnDynamicFallsBackToFused() throws Exception {
        TestGraphs.Generated g = TestGraphs.unet(dir, Style.LEGACY, false, 7);
        LayerGeometry toQ = TestGraphs.UNET_MODULES.get(TestGraphs.TO_Q);
        LoraModule plain = LoraTestFixtures.lora(TestGraphs.TO_Q, 2, 2f, 31);
        // magnitude = twice the row norms of W + s·B·A: the DoRA merge is then exactly 2·(W + s·B·A)
        float s = 0.5f * plain.scale();
        float[] w = g.weights().get(TestGraphs.TO_Q);
        float[] a = plain.a().toFloatArray();
        float[] b = plain.b().toFloatArray();
        float[] merged = new float[16 * 16];
        float[] norms = new float[16];
        for (int o = 0; o < 16; o++) {
            double n = 0;
            for (int i = 0; i < 16; i++) {
                double d = 0;
                for (int k = 0; k < 2; k++) {
                    d += (double) b[o * 2 + k] * a[k * 16 + i];
                }
                merged[o * 16 + i] = (float) (w[o * 16 + i] + s * d);
                n += (double) merged[o * 16 + i] * merged[o * 16 + i];
            }
            norms[o] = (float) (2 * Math.sqrt(n));
        }
        LoraAdapter dora = LoraTestFixtures.adapter(Component.UNET, new LoraModule(Component.UNET, TestGraphs.TO_Q, toQ,
                2, 2f, plain.a(), plain.b(), java.util.Optional.empty(),
                java.util.Optional.of(TensorData.ofFloats(new long[] {16}, norms)), java.util.Optional.empty()));
        EffectiveScales request = EffectiveScales.builder().put(Component.UNET, TestGraphs.TO_Q, "dora", s).build();
        Map<String, float[]> weights = new java.util.HashMap<>(g.weights());
        float[] doubled = merged.clone();
        for (int i = 0; i < doubled.length; i++) {
            doubled[i] *= 2;
        }
        weights.put(TestGraphs.TO_Q, doubled);
        try (OnnxModelHandle handle = openUnet(g.file());
                LoraBinding binding = handle.bind(LoraMode.DYNAMIC, request, Map.of("dora", dora))) {
            assertEquals(LoraMode.FUSED, binding.mode());
            assertEquals(List.of("dora"), binding.adapterNames());
            assertEquals(1, binding.layerCount());
            assertClose(LoraTestFixtures.reference(g, weights), outputs(handle.run(unetInputs(), binding)), 1e-4);
        }
    }

    @Test
    void closingAFusedBindingWaitsForItsRuns() throws Exception {
        TestGraphs.Generated g = TestGraphs.unet(dir, Style.LEGACY, false, 3);
        Map<String, LoraAdapter> adapters = Map.of("a1", a1());
        try (OnnxModelHandle handle = openUnet(g.file())) {
            OnnxLoraBinding fused = (OnnxLoraBinding) handle.bind(LoraMode.FUSED, scales("a1", adapters.get("a1"), 1.0),
                    adapters);
            CountDownLatch running = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            Thread runner = new Thread(() -> {
                fused.lock().readLock().lock();
                try {
                    running.countDown();
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                } finally {
                    fused.lock().readLock().unlock();
                }
            });
            runner.start();
            running.await();
            Thread closer = new Thread(fused::close);
            closer.start();
            closer.join(300);
            assertTrue(closer.isAlive(), "closing the binding must wait for its in-flight run");
            assertFalse(fused.isClosed());
            release.countDown();
            closer.join(10_000);
            assertTrue(fused.isClosed());
            runner.join();
            assertThrows(IllegalStateException.class, () -> handle.run(unetInputs(), fused));
            // the handle itself is unaffected
            assertClose(reference(g, EffectiveScales.empty(), adapters), outputs(handle.run(unetInputs())), 1e-4);
        }
    }

    /** Per-layer scales as block weights produce them: different per layer, zero on some, negative on one. */
    @ParameterizedTest
    @EnumSource(Style.class)
    void perLayerScalesMatchReferenceInBothModes(Style style) {
        TestGraphs.Generated g = TestGraphs.unet(dir, style, false, 16);
        Map<String, LoraAdapter> adapters = Map.of("a1", a1(), "a2", a2());
        EffectiveScales.Builder builder = EffectiveScales.builder();
        float[] blockWeights = {0.3f, 0f, 1.7f, -0.4f};
        int i = 0;
        for (LoraModule m : adapters.get("a1").modules(Component.UNET).values()) {
            builder.put(Component.UNET, m.modulePath(), "a1", m.scale() * blockWeights[i++ % blockWeights.length]);
        }
        for (LoraModule m : adapters.get("a2").modules(Component.UNET).values()) {
            builder.put(Component.UNET, m.modulePath(), "a2", m.scale() * (m.modulePath().contains("conv") ? 0.5f : 1f));
        }
        EffectiveScales request = builder.build();
        try (OnnxModelHandle handle = openUnet(g.file());
                LoraBinding dynamic = handle.bind(LoraMode.DYNAMIC, request, adapters);
                LoraBinding fused = handle.bind(LoraMode.FUSED, request, adapters)) {
            float[][] expected = reference(g, request, adapters);
            double tolerance = style == Style.DYNAMO ? 2e-3 : 1e-4;
            assertClose(expected, outputs(handle.run(unetInputs(), dynamic)), 1e-4);
            assertClose(expected, outputs(handle.run(unetInputs(), fused)), tolerance);
        }
    }

    @Test
    void withoutPrepackingSessionsRunOnTheSharedMappedWeightsWithTheSameResults() {
        TestGraphs.Generated g = TestGraphs.unet(dir, Style.LEGACY, true, 17);
        Map<String, LoraAdapter> adapters = Map.of("a1", a1(), "a2", a2());
        EffectiveScales request = scales("a1", adapters.get("a1"), 0.6, "a2", adapters.get("a2"), 1.1);
        OnnxInferenceEngine shared = new OnnxInferenceEngine(io.lorica.ort.impl.OrtRuntimeImpl.standalone(
                new io.lorica.ort.RuntimeSettings(io.lorica.ort.ProviderRequest.CPU, 0, 0L, 1, 0,
                        ai.onnxruntime.OrtSession.SessionOptions.OptLevel.ALL_OPT, true, true, "")), null,
                new OnnxModelHandle.Options(1 << 20, 0, 0, false));
        try (OnnxModelHandle handle = shared.open(g.file(), ModelRole.UNET, TestGraphs.catalog());
                LoraBinding d = handle.bind(LoraMode.DYNAMIC, request, adapters);
                LoraBinding f = handle.bind(LoraMode.FUSED, request, adapters)) {
            assertClose(reference(g, EffectiveScales.empty(), adapters), outputs(handle.run(unetInputs())), 1e-4);
            assertClose(reference(g, request, adapters), outputs(handle.run(unetInputs(), d)), 1e-4);
            assertClose(reference(g, request, adapters), outputs(handle.run(unetInputs(), f)), 1e-4);
        }
    }

    @Test
    void fusedBindingsOfOneConfigurationShareASessionAndTheLastIsKeptForReuse() {
        TestGraphs.Generated g = TestGraphs.unet(dir, Style.LEGACY, false, 14);
        Map<String, LoraAdapter> adapters = Map.of("a1", a1(), "a2", a2());
        EffectiveScales a = scales("a1", adapters.get("a1"), 0.9, "a2", adapters.get("a2"), 0.4);
        EffectiveScales b = scales("a2", adapters.get("a2"), 1.2);
        try (OnnxModelHandle handle = openUnet(g.file())) {
            int sessions = handle.sessionsCreated();
            LoraBinding f1 = handle.bind(LoraMode.FUSED, a, adapters);
            LoraBinding f2 = handle.bind(LoraMode.FUSED, a, adapters);
            assertEquals(sessions + 1, handle.sessionsCreated(), "one session for one configuration");
            assertEquals(handle.run(unetInputs(), f1), handle.run(unetInputs(), f2));
            f1.close();
            assertClose(reference(g, a, adapters), outputs(handle.run(unetInputs(), f2)), 1e-4);
            f2.close();
            try (LoraBinding f3 = handle.bind(LoraMode.FUSED, a, adapters)) {
                assertEquals(sessions + 1, handle.sessionsCreated(), "the idle session was kept");
                assertClose(reference(g, a, adapters), outputs(handle.run(unetInputs(), f3)), 1e-4);
            }
            try (LoraBinding f4 = handle.bind(LoraMode.FUSED, b, adapters)) {
                assertEquals(sessions + 2, handle.sessionsCreated());
                assertClose(reference(g, b, adapters), outputs(handle.run(unetInputs(), f4)), 1e-4);
            }
            // one idle session is kept by default: b's replaced a's
            try (LoraBinding f5 = handle.bind(LoraMode.FUSED, a, adapters)) {
                assertEquals(sessions + 3, handle.sessionsCreated());
                assertClose(reference(g, a, adapters), outputs(handle.run(unetInputs(), f5)), 1e-4);
            }
        }
    }

    @Test
    void concurrentBindsAndRunsWithDifferentMixesMatchSerialRuns() throws Exception {
        TestGraphs.Generated g = TestGraphs.unet(dir, Style.LEGACY, false, 15);
        Map<String, LoraAdapter> adapters = Map.of("a1", a1(), "a2", a2());
        Random random = new Random(3);
        List<EffectiveScales> mixes = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            mixes.add(i % 3 == 0 ? scales("a1", adapters.get("a1"), random.nextFloat() * 2 - 1)
                    : scales("a2", adapters.get("a2"), random.nextFloat() * 2 - 1, "a1", adapters.get("a1"),
                            random.nextFloat()));
        }
        try (OnnxModelHandle handle = openUnet(g.file())) {
            List<Map<String, TensorData>> serial = new ArrayList<>();
            for (EffectiveScales mix : mixes) {
                try (LoraBinding binding = handle.bind(LoraMode.DYNAMIC, mix, adapters)) {
                    serial.add(handle.run(unetInputs(), binding));
                }
                assertClose(reference(g, mix, adapters), outputs(serial.get(serial.size() - 1)), 1e-4);
            }
            int sessions = handle.sessionsCreated();
            concurrently(4, 20, (thread, i) -> {
                int which = (thread * 3 + i) % mixes.size();
                try (LoraBinding binding = handle.bind(LoraMode.DYNAMIC, mixes.get(which), adapters)) {
                    assertEquals(serial.get(which), handle.run(unetInputs(), binding));
                }
            });
            assertEquals(sessions, handle.sessionsCreated());
            assertTrue(handle.factorCacheStats().hits() > 0);
        }
    }

    /** Runs {@code step(thread, i)} for {@code i < iterations} on each of {@code threads} threads at once. */
    static void concurrently(int threads, int iterations, java.util.function.BiConsumer<Integer, Integer> step)
            throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<Integer>> futures = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int thread = t;
                futures.add(pool.submit(() -> {
                    for (int i = 0; i < iterations; i++) {
                        step.accept(thread, i);
                    }
                    return iterations;
                }));
            }
            for (Future<Integer> f : futures) {
                assertEquals(iterations, f.get(60, TimeUnit.SECONDS));
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void concurrentRunsMatchSerialRuns() throws Exception {
        TestGraphs.Generated g = TestGraphs.unet(dir, Style.DYNAMO, false, 12);
        Map<String, LoraAdapter> adapters = Map.of("a1", a1(), "a2", a2());
        try (OnnxModelHandle handle = openUnet(g.file());
                LoraBinding b1 = handle.bind(LoraMode.DYNAMIC, scales("a1", adapters.get("a1"), 1.0), adapters);
                LoraBinding b2 = handle.bind(LoraMode.DYNAMIC,
                        scales("a2", adapters.get("a2"), 0.7, "a1", adapters.get("a1"), -0.3), adapters);
                LoraBinding b3 = handle.bind(LoraMode.FUSED, scales("a2", adapters.get("a2"), 1.2), adapters)) {
            List<LoraBinding> bindings = List.of(handle.base(), b1, b2, b3);
            List<Map<String, TensorData>> serial = new ArrayList<>();
            for (LoraBinding b : bindings) {
                serial.add(handle.run(unetInputs(), b));
            }
            concurrently(4, 25, (thread, i) -> {
                int which = (thread + i) % bindings.size();
                assertEquals(serial.get(which), handle.run(unetInputs(), bindings.get(which)));
            });
            assertEquals(2, handle.sessionsCreated());
        }
    }

    @Test
    void closeWaitsForInFlightRun() throws Exception {
        TestGraphs.Generated g = TestGraphs.unet(dir, Style.LEGACY, false, 3);
        OnnxModelHandle handle = openUnet(g.file());
        CountDownLatch running = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        // hold the handle's read lock as a run does, from another thread
        Thread runner = new Thread(() -> {
            handle.lockForTest().readLock().lock();
            try {
                running.countDown();
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                handle.lockForTest().readLock().unlock();
            }
        });
        runner.start();
        running.await();
        Thread closer = new Thread(handle::close);
        closer.start();
        closer.join(300);
        assertTrue(closer.isAlive(), "close must wait for the in-flight run");
        assertFalse(handle.isClosed());
        release.countDown();
        closer.join(10_000);
        assertFalse(closer.isAlive());
        assertTrue(handle.isClosed());
        runner.join();
        assertThrows(IllegalStateException.class, () -> handle.run(unetInputs()));
        handle.close(); // idempotent
    }

    @Test
    void closeWaitsForRealRuns() throws Exception {
        TestGraphs.Generated g = TestGraphs.unet(dir, Style.LEGACY, false, 3);
        OnnxModelHandle handle = openUnet(g.file());
        float[][] expected = outputs(handle.run(unetInputs()));
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            Future<Integer> runs = pool.submit(() -> {
                int ok = 0;
                try {
                    while (true) {
                        assertArrayEquals(expected[0], outputs(handle.run(unetInputs()))[0]);
                        ok++;
                    }
                } catch (IllegalStateException closed) {
                    assertTrue(closed.getMessage().contains("closed"), closed.getMessage());
                    return ok;
                }
            });
            Thread.sleep(100);
            handle.close();
            assertTrue(runs.get(30, TimeUnit.SECONDS) > 0);
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void errorsNameTheProblem() throws Exception {
        TestGraphs.Generated g = TestGraphs.unet(dir, Style.LEGACY, false, 3);
        Map<String, LoraAdapter> adapters = Map.of("a1", a1());
        OnnxModelHandle handle = openUnet(g.file());
        Map<String, TensorData> good = unetInputs();

        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> handle.run(Map.of("sample", good.get("sample"))));
        assertTrue(missing.getMessage().contains("encoder_hidden_states"), missing.getMessage());

        Map<String, TensorData> unknown = new java.util.HashMap<>(good);
        unknown.put("lora_down::" + TestGraphs.CONV1, TensorData.ofFloats(new long[] {8, 0}));
        IllegalArgumentException hidden = assertThrows(IllegalArgumentException.class, () -> handle.run(unknown));
        assertTrue(hidden.getMessage().contains("lora_down::"), hidden.getMessage());

        Map<String, TensorData> badShape = new java.util.HashMap<>(good);
        badShape.put("sample", TensorData.ofFloats(new long[] {BATCH, 8, 4, 5}, new float[BATCH * 8 * 4 * 5]));
        IllegalArgumentException shape = assertThrows(IllegalArgumentException.class, () -> handle.run(badShape));
        assertTrue(shape.getMessage().contains("'sample'") && shape.getMessage().contains("[2, 8, 4, 5]"),
                shape.getMessage());

        Map<String, TensorData> badBatch = new java.util.HashMap<>(good);
        badBatch.put("sample", TensorData.ofFloats(new long[] {1, 8, 4, 4}, new float[8 * 16]));
        IllegalArgumentException batch = assertThrows(IllegalArgumentException.class, () -> handle.run(badBatch));
        assertTrue(batch.getMessage().contains("batch"), batch.getMessage());

        Map<String, TensorData> badType = new java.util.HashMap<>(good);
        badType.put("sample", TensorData.of(io.lorica.api.DType.F16, new long[] {BATCH, 8, 4, 4},
                new byte[BATCH * 8 * 16 * 2]));
        IllegalArgumentException type = assertThrows(IllegalArgumentException.class, () -> handle.run(badType));
        assertTrue(type.getMessage().contains("'sample'") && type.getMessage().contains("F16"), type.getMessage());

        IllegalArgumentException notLoaded = assertThrows(IllegalArgumentException.class,
                () -> handle.bind(LoraMode.DYNAMIC, scales("a1", a1(), 1.0), Map.of()));
        assertTrue(notLoaded.getMessage().contains("'a1'"), notLoaded.getMessage());
        IllegalArgumentException notTarget = assertThrows(IllegalArgumentException.class, () -> handle.bind(
                LoraMode.DYNAMIC, EffectiveScales.builder().put(Component.UNET, "mid_block.x", "a1", 1f).build(),
                adapters));
        assertTrue(notTarget.getMessage().contains("mid_block.x"), notTarget.getMessage());

        LoraBinding binding = handle.bind(LoraMode.DYNAMIC, scales("a1", adapters.get("a1"), 1.0), adapters);
        LoraBinding fused = handle.bind(LoraMode.FUSED, scales("a1", adapters.get("a1"), 1.0), adapters);
        binding.close();
        binding.close(); // idempotent
        IllegalStateException closedBinding = assertThrows(IllegalStateException.class,
                () -> handle.run(good, binding));
        assertTrue(closedBinding.getMessage().contains("closed"), closedBinding.getMessage());

        try (OnnxModelHandle other = openUnet(g.file())) {
            assertThrows(IllegalArgumentException.class, () -> other.run(good, fused));
            assertThrows(IllegalArgumentException.class, () -> other.run(good, handle.base()));
        }

        handle.close();
        IllegalStateException closedHandle = assertThrows(IllegalStateException.class, () -> handle.run(good));
        assertTrue(closedHandle.getMessage().contains("closed"), closedHandle.getMessage());
        assertThrows(IllegalStateException.class, () -> handle.run(good, fused));
        assertThrows(IllegalStateException.class,
                () -> handle.bind(LoraMode.DYNAMIC, EffectiveScales.empty(), Map.of()));
        fused.close(); // closed with the handle already; idempotent
    }

    @Test
    void openErrors() {
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> ENGINE.open(dir.resolve("nope.onnx"), ModelRole.UNET));
        assertTrue(missing.getMessage().contains("nope.onnx"), missing.getMessage());
    }

    @Test
    void familyDetectionAndNonLoraRoles() {
        TestGraphs.Generated g = TestGraphs.unet(dir, Style.LEGACY, false, 3);
        try (OnnxModelHandle detected = ENGINE.open(g.file(), ModelRole.UNET);
                OnnxModelHandle vae = ENGINE.open(g.file(), ModelRole.VAE_DECODER)) {
            // the tiny graph fits no reference catalog's widths: detection still yields an index (a family)
            assertTrue(detected.index() != null);
            assertArrayEquals(outputs(vae.run(unetInputs()))[0], outputs(detected.run(unetInputs()))[0]);
            assertEquals(Map.of(), vae.loraTargets());
            assertEquals(vae.base(), vae.bind(LoraMode.DYNAMIC, EffectiveScales.empty(), Map.of()));
            assertThrows(IllegalArgumentException.class,
                    () -> vae.bind(LoraMode.FUSED, scales("a1", a1(), 1.0), Map.of("a1", a1())));
        }
    }
}
