package io.lorica.benchmarks;

import java.io.IOException;
import java.lang.reflect.Field;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

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
import io.lorica.engine.impl.OnnxInferenceEngine;
import io.lorica.engine.impl.OnnxModelHandle;
import io.lorica.engine.index.ModuleIndex;
import io.lorica.engine.lora.WeightFuser;
import io.lorica.engine.onnx.OnnxModel;
import io.lorica.models.ReferenceModels;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The inference engine on a {@link SyntheticUnet} (192 Linear LoRA targets, every block at {@code width}, {@code tokens}
 * image tokens — 64 by default so that a step takes tens to a hundred ms —, batch 1) on CPU with {@code threads} intra-op threads. Run with
 * {@code java -jar benchmarks/target/benchmarks.jar EngineBenchmark -wi 3 -w 1 -i 5 -r 1 -f 1}.
 *
 * <ul>
 * <li>{@code switchAdapters}: host work to build a new {@link LoraMode#DYNAMIC} binding for the other of two 2-adapter
 * mixes (rank 16 on all 192 targets; the scales are precomputed) and close the previous one. No session is created:
 * the handle's session count is read before and after the trial and must not change (checked in tear-down).</li>
 * <li>{@code baseStep}, {@code dynamicStep}, {@code fusedStep}: one {@code run} of the graph with the base binding, a
 * DYNAMIC binding of the 2-adapter rank-16 mix, and a FUSED binding of the same mix. Goals: dynamic/base at most 1.15,
 * fused/base at most 1.03.</li>
 * <li>{@code fuseSdxlSize}: {@link WeightFuser#fuse} of a rank-32 adapter over the SDXL UNet attention targets at their
 * real shapes (from the SDXL reference catalog, 722 targets, 2.2 G weight elements) — the time to the patched
 * weights. The fuser's cost is linear in the weight elements (out x in x rank), and all 722 take minutes per call, so
 * by default every {@code sdxlStride}-th target (48: 16 targets of mixed shapes) is fused; the set-up prints the
 * fraction of the weight elements this covers, and the full-size figure is the measured time divided by it
 * ({@code -p sdxlStride=1} fuses all 722; pass {@code -jvmArgsAppend -Xmx20g}).</li>
 * </ul>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgs = {"-Xmx8g"})
public class EngineBenchmark {

    /** The synthetic SD 1.5-like UNet, its handle and bindings. */
    @State(Scope.Benchmark)
    public static class Unet {

        @Param({"320"})
        public int width;

        @Param({"64"})
        public int tokens;

        @Param({"16"})
        public int rank;

        @Param({"2"})
        public int threads;

        Path folder;
        OnnxModelHandle handle;
        Map<String, TensorData> inputs;
        Map<String, LoraAdapter> adapters;
        EffectiveScales[] mixes;
        LoraBinding switching;
        int switches;
        LoraBinding dynamic;
        LoraBinding fused;
        int sessionsBefore;

        @Setup(Level.Trial)
        public void setUp() throws IOException {
            long start = System.nanoTime();
            folder = Files.createTempDirectory("lorica-bench-engine-");
            SyntheticUnet.Generated unet = SyntheticUnet.write(folder.resolve("unet"), width, width, tokens, 42);
            handle = new OnnxInferenceEngine(io.lorica.ort.impl.OrtRuntimeImpl.standalone(
                    new io.lorica.ort.RuntimeSettings(io.lorica.ort.ProviderRequest.CPU, 0, 0L, threads, 0,
                            ai.onnxruntime.OrtSession.SessionOptions.OptLevel.ALL_OPT, true, true, ""))).open(unet.file(), ModelRole.UNET,
                    unet.catalog());
            if (handle.loraTargets().size() != 192) {
                throw new IllegalStateException("expected 192 LoRA targets, the handle has " + handle.loraTargets().size()
                        + "; problems: " + handle.index().problems());
            }
            SplittableRandom random = new SplittableRandom(7);
            inputs = Map.of("sample", randomTensor(random, 1, tokens, width),
                    "encoder_hidden_states", randomTensor(random, 1, SyntheticUnet.TEXT_TOKENS, width));
            adapters = new LinkedHashMap<>();
            for (String name : new String[] {"a", "b", "c", "d"}) {
                adapters.put(name, adapter(unet.modules(), rank, random));
            }
            mixes = new EffectiveScales[] {scales(unet.modules(), "a", 0.8f, "b", 0.5f),
                scales(unet.modules(), "c", 0.7f, "d", 0.6f)};
            dynamic = handle.bind(LoraMode.DYNAMIC, mixes[0], adapters);
            fused = handle.bind(LoraMode.FUSED, mixes[0], adapters);
            sessionsBefore = sessions(handle);
            float[] base = handle.run(inputs, handle.base()).get("out_sample").toFloatArray();
            float[] dyn = handle.run(inputs, dynamic).get("out_sample").toFloatArray();
            float[] fus = handle.run(inputs, fused).get("out_sample").toFloatArray();
            System.out.printf("%nsynthetic UNet: width %d, tokens %d, %d targets; max|dynamic-fused| %.3g, "
                    + "max|dynamic-base| %.3g; set-up (UNet) %.1f s%n", width, tokens, handle.loraTargets().size(),
                    maxDiff(dyn, fus), maxDiff(dyn, base), (System.nanoTime() - start) / 1e9);

        }

        @TearDown(Level.Trial)
        public void tearDown() throws IOException {
            int after = sessions(handle);
            System.out.printf("%nsessions created: %d after the bindings of the set-up, %d at the end (%d switches)%n",
                    sessionsBefore, after, switches);
            if (switching != null) {
                switching.close();
            }
            dynamic.close();
            fused.close();
            handle.close();
            delete(folder);
            if (after != sessionsBefore) {
                throw new IllegalStateException("switching dynamic bindings created " + (after - sessionsBefore)
                        + " sessions");
            }
        }

}

    /** Graph, index and rank-32 adapter over SDXL UNet attention targets at real shapes. */
    @State(Scope.Benchmark)
    public static class Sdxl {

        /** Take every n-th of the 722 SDXL attention targets (1 = all 722; needs about 16 GB heap). */
        @Param({"48"})
        public int sdxlStride;

        WeightFuser fuser;
        EffectiveScales sdxlScales;
        Map<String, LoraAdapter> sdxlAdapter;
        Path folder;

        @Setup(Level.Trial)
        public void setUp() throws IOException {
            long start = System.nanoTime();
            folder = Files.createTempDirectory("lorica-bench-fuse-");
            SplittableRandom random = new SplittableRandom(8);
            Map<String, LayerGeometry> sdxl = new LinkedHashMap<>();
            long all = 0;
            long used = 0;
            int count = 0;
            for (Map.Entry<String, LayerGeometry> e : ReferenceModels.catalog(ModelFamily.SDXL).modules(Component.UNET)
                    .entrySet()) {
                String path = e.getKey();
                if (!path.contains(".attentions.")) {
                    continue;
                }
                long n = (long) e.getValue().inFeatures() * e.getValue().outFeatures();
                all += n;
                if (count++ % sdxlStride == 0) {
                    sdxl.put(path, e.getValue());
                    used += n;
                }
            }
            Path sdxlFile = SyntheticUnet.linears(folder.resolve("sdxl"), sdxl, 43);
            OnnxModel sdxlModel = OnnxModel.read(sdxlFile);
            ModuleIndex index = ModuleIndex.build(sdxlModel,
                    io.lorica.api.format.ModuleCatalog.of(ModelFamily.SDXL, Map.of(Component.UNET, sdxl)),
                    Component.UNET);
            if (index.bindings().size() != sdxl.size()) {
                throw new IllegalStateException("SDXL graph: " + index.bindings().size() + " of " + sdxl.size()
                        + " bound; " + index.problems());
            }
            fuser = new WeightFuser(sdxlModel, index);
            sdxlAdapter = Map.of("x", adapter(sdxl, 32, random));
            EffectiveScales.Builder b = EffectiveScales.builder();
            sdxl.keySet().forEach(p -> b.put(Component.UNET, p, "x", 0.5f));
            sdxlScales = b.build();
            System.out.printf("fuseSdxlSize: %d of the SDXL UNet's attention targets, %.1f M of %.1f M weight elements "
                    + "(fraction %.4f); set-up total %.1f s%n", sdxl.size(), used / 1e6, all / 1e6, used / (double) all,
                    (System.nanoTime() - start) / 1e9);
        }


        @TearDown(Level.Trial)
        public void tearDown() throws IOException {
            delete(folder);
        }
    }

    @Benchmark
    public LoraBinding switchAdapters(Unet u) {
        LoraBinding next = u.handle.bind(LoraMode.DYNAMIC, u.mixes[u.switches++ & 1], u.adapters);
        if (u.switching != null) {
            u.switching.close();
        }
        u.switching = next;
        return next;
    }

    @Benchmark
    public Map<String, TensorData> baseStep(Unet u) {
        return u.handle.run(u.inputs, u.handle.base());
    }

    @Benchmark
    public Map<String, TensorData> dynamicStep(Unet u) {
        return u.handle.run(u.inputs, u.dynamic);
    }

    @Benchmark
    public Map<String, TensorData> fusedStep(Unet u) {
        return u.handle.run(u.inputs, u.fused);
    }

    @Benchmark
    public Map<String, TensorData> fuseSdxlSize(Sdxl s) {
        return s.fuser.fuse(s.sdxlScales, s.sdxlAdapter, false);
    }

    static void delete(Path folder) throws IOException {
        try (Stream<Path> files = Files.walk(folder)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    /** The handle's session count (package-private in the engine, read reflectively; -1 when not readable). */
    static int sessions(OnnxModelHandle handle) {
        try {
            Field f = OnnxModelHandle.class.getDeclaredField("sessionsCreated");
            f.setAccessible(true);
            return ((AtomicInteger) f.get(handle)).get();
        } catch (ReflectiveOperationException | RuntimeException e) {
            return -1;
        }
    }

    private static LoraAdapter adapter(Map<String, LayerGeometry> modules, int rank, SplittableRandom random) {
        Map<String, LoraModule> map = new LinkedHashMap<>();
        for (Map.Entry<String, LayerGeometry> e : modules.entrySet()) {
            LayerGeometry g = e.getValue();
            map.put(e.getKey(), LoraModule.of(Component.UNET, e.getKey(), g, rank,
                    randomTensor(random, g.aShape(rank)), randomTensor(random, g.bShape(rank))));
        }
        return new LoraAdapter("peft", ModelFamily.SD15, Map.of(Component.UNET, map), Map.of(), LoadReport.empty());
    }

    private static EffectiveScales scales(Map<String, LayerGeometry> modules, String a, float wa, String b, float wb) {
        EffectiveScales.Builder builder = EffectiveScales.builder();
        for (String path : modules.keySet()) {
            builder.put(Component.UNET, path, a, wa);
            builder.put(Component.UNET, path, b, wb);
        }
        return builder.build();
    }

    private static TensorData randomTensor(SplittableRandom random, long... shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        float[] v = new float[Math.toIntExact(n)];
        double scale = 1 / Math.sqrt(shape[shape.length - 1]);
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (random.nextDouble(-1, 1) * scale);
        }
        return TensorData.ofFloats(shape, v);
    }

    private static double maxDiff(float[] x, float[] y) {
        double m = 0;
        for (int i = 0; i < x.length; i++) {
            m = Math.max(m, Math.abs(x[i] - y[i]));
        }
        return m;
    }
}
