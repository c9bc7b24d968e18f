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
import io.lorica.api.DType;
import io.lorica.api.ModelFamily;
import io.lorica.api.TensorData;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LayerKind;
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
import io.lorica.engine.lora.BufferPool;
import io.lorica.engine.lora.OrtFuseKernel;
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
 * The inference engine on CPU with {@code threads} intra-op threads. Run with
 * {@code java -jar benchmarks/target/benchmarks.jar EngineBenchmark -wi 3 -w 1 -i 5 -r 1 -f 1} (all) or with a
 * method name.
 *
 * <p>On a {@link SyntheticUnet} of SD 1.5's shape with every block at {@code width} (192 Linear LoRA targets,
 * {@code tokens} image tokens — 64 by default so that a step takes tens of ms —, batch 1), and four rank-16 adapters on
 * every target:
 * <ul>
 * <li>{@code switchAdapters}: host work to build a {@link LoraMode#DYNAMIC} binding for the other of two 2-adapter
 * mixes and close the previous one: the mixes alternate, so after the first switch their factors come from the
 * handle's cache.</li>
 * <li>{@code reweightAdapters}: the same with weights never used before on each call (a new mix every time): the
 * scaled factors of every layer are built, the concatenated unscaled ones reused.</li>
 * <li>No session is created by either: the handle's session count is read before and after the trial and must not
 * change (checked in tear-down).</li>
 * <li>{@code baseStep}, {@code dynamicStep}, {@code fusedStep}: one {@code run} of the graph with the base binding, a
 * DYNAMIC binding of a 2-adapter mix, and a FUSED binding of the same mix. Goals: dynamic/base at most 1.15,
 * fused/base at most 1.03.</li>
 * <li>{@code fuseBinding}: a FUSED binding of a new mix (fused weights computed by ONNX Runtime plus a new session), and
 * its close.</li>
 * </ul>
 *
 * <p>{@code fuseSdxl}: {@link WeightFuser#fuse} with the engine's {@link OrtFuseKernel} of a rank-32 adapter on every
 * one of the SDXL UNet's 722 Linear LoRA targets at their real shapes (2.2 G weight elements, stored {@code sdxlType},
 * F16 by default as SDXL exports are; a 4.4 GB graph is written in the set-up): the time from the adapter to the patched
 * weights a session is built from, into buffers from a pool as the engine does (the single warm-up fusion allocates
 * them: fresh memory, page faults included; the measured ones reuse them). {@code sdxlStride} takes every n-th target.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgs = {"-Xmx6g", "-XX:MaxDirectMemorySize=16g"})
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

        /** The handle (for harnesses). */
        public OnnxModelHandle handle() {
            return handle;
        }
        Map<String, TensorData> inputs;
        Map<String, LoraAdapter> adapters;
        Map<String, LayerGeometry> modules;
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
            handle = new OnnxInferenceEngine(runtime(threads)).open(unet.file(), ModelRole.UNET, unet.catalog());
            if (handle.loraTargets().size() != 192) {
                throw new IllegalStateException("expected 192 LoRA targets, the handle has " + handle.loraTargets().size()
                        + "; problems: " + handle.index().problems());
            }
            SplittableRandom random = new SplittableRandom(7);
            inputs = Map.of("sample", randomTensor(random, 1, tokens, width),
                    "encoder_hidden_states", randomTensor(random, 1, SyntheticUnet.TEXT_TOKENS, width));
            modules = unet.modules();
            adapters = new LinkedHashMap<>();
            for (String name : new String[] {"a", "b", "c", "d"}) {
                adapters.put(name, adapter(modules, rank, random));
            }
            mixes = new EffectiveScales[] {scales(modules, "a", 0.8f, "b", 0.5f), scales(modules, "c", 0.7f, "d", 0.6f)};
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
            System.out.printf("%nsessions created: %d after the bindings of the set-up, %d at the end (%d switches); "
                    + "factor cache %s%n", sessionsBefore, after, switches, handle.factorCacheStats());
            if (switching != null) {
                switching.close();
            }
            dynamic.close();
            fused.close();
            handle.close();
            delete(folder);
            // each fuseBinding call builds one session (a new mix every time); dynamic switches build none
            if (after != sessionsBefore + fusions) {
                throw new IllegalStateException((after - sessionsBefore) + " sessions were created for " + fusions
                        + " fused bindings: dynamic switches created sessions");
            }
        }

        int fusions;

        LoraBinding switchTo(EffectiveScales mix) {
            LoraBinding next = handle.bind(LoraMode.DYNAMIC, mix, adapters);
            if (switching != null) {
                switching.close();
            }
            switching = next;
            switches++;
            return next;
        }
    }

    /** Graph, index and rank-32 adapter over the SDXL UNet's Linear LoRA targets at real shapes. */
    @State(Scope.Benchmark)
    public static class Sdxl {

        /** Take every n-th of the 722 SDXL Linear targets (1 = all 722). */
        @Param({"1"})
        public int sdxlStride;

        /** The stored type of the SDXL weights. */
        @Param({"F16"})
        public DType sdxlType;

        @Param({"2"})
        public int threads;

        /** Bound of the pool of fused-weight buffers, MB (the engine's default is 2048; 0: fresh memory per fusion). */
        @Param({"6144"})
        public int sdxlPoolMb;

        /** Diffusers' safe_fusing: also check every merged element for NaN/Inf. */
        @Param({"false"})
        public boolean safe;

        WeightFuser fuser;
        OrtFuseKernel kernel;
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
                if (e.getValue().kind() != LayerKind.LINEAR || !e.getKey().contains(".attentions.")) {
                    continue;
                }
                long n = (long) e.getValue().inFeatures() * e.getValue().outFeatures();
                all += n;
                if (count++ % sdxlStride == 0) {
                    sdxl.put(e.getKey(), e.getValue());
                    used += n;
                }
            }
            Path sdxlFile = SyntheticUnet.linears(folder.resolve("sdxl"), sdxl, sdxlType, 43);
            OnnxModel sdxlModel = OnnxModel.read(sdxlFile);
            ModuleIndex index = ModuleIndex.build(sdxlModel,
                    io.lorica.api.format.ModuleCatalog.of(ModelFamily.SDXL, Map.of(Component.UNET, sdxl)),
                    Component.UNET);
            if (index.bindings().size() != sdxl.size()) {
                throw new IllegalStateException("SDXL graph: " + index.bindings().size() + " of " + sdxl.size()
                        + " bound; " + index.problems());
            }
            io.lorica.ort.OrtRuntime runtime = runtime(threads);
            kernel = new OrtFuseKernel(runtime.environment(), () -> {
                try {
                    return runtime.newSessionOptions();
                } catch (ai.onnxruntime.OrtException e) {
                    throw new IllegalStateException(e);
                }
            });
            fuser = new WeightFuser(sdxlModel, index, kernel, new BufferPool((long) sdxlPoolMb << 20, "fused weights"));
            sdxlAdapter = Map.of("x", adapter(sdxl, 32, random));
            EffectiveScales.Builder b = EffectiveScales.builder();
            sdxl.keySet().forEach(p -> b.put(Component.UNET, p, "x", 0.5f));
            sdxlScales = b.build();
            System.out.printf("%nfuseSdxl: %d of the SDXL UNet's %d Linear attention targets, %.1f M of %.1f M weight "
                    + "elements (fraction %.4f), %s; set-up %.1f s%n", sdxl.size(), count, used / 1e6, all / 1e6,
                    used / (double) all, sdxlType, (System.nanoTime() - start) / 1e9);
        }

        @TearDown(Level.Trial)
        public void tearDown() throws IOException {
            kernel.close();
            delete(folder);
        }
    }

    @Benchmark
    public LoraBinding switchAdapters(Unet u) {
        return u.switchTo(u.mixes[u.switches & 1]);
    }

    @Benchmark
    public LoraBinding reweightAdapters(Unet u) {
        float w = 0.5f + 1e-4f * u.switches;
        return u.switchTo(scales(u.modules, "a", w, "b", 1 - w));
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
    public int fuseBinding(Unet u) {
        float w = 0.25f + 1e-4f * u.fusions++;
        try (LoraBinding b = u.handle.bind(LoraMode.FUSED, scales(u.modules, "c", w, "d", 1 - w), u.adapters)) {
            return b.layerCount();
        }
    }

    @Benchmark
    @BenchmarkMode(Mode.SingleShotTime)
    @Warmup(iterations = 1)
    @Measurement(iterations = 5)
    public int fuseSdxl(Sdxl s) {
        try (WeightFuser.Fused fused = s.fuser.fuseInto(s.sdxlScales, s.sdxlAdapter, s.safe)) {
            return fused.weights().size();
        }
    }

    static io.lorica.ort.OrtRuntime runtime(int threads) {
        return io.lorica.ort.impl.OrtRuntimeImpl.standalone(new io.lorica.ort.RuntimeSettings(
                io.lorica.ort.ProviderRequest.CPU, 0, 0L, threads, 0,
                ai.onnxruntime.OrtSession.SessionOptions.OptLevel.ALL_OPT, true, true, ""));
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

    static TensorData randomTensor(SplittableRandom random, long... shape) {
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
