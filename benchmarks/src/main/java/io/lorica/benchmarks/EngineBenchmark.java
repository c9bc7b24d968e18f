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
 * image tokens, batch 1) on CPU with {@code threads} intra-op threads. Run with
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
 * real shapes (from the SDXL reference catalog) — the time to the patched weights. To keep the set-up small it uses
 * the modules of {@code transformer_blocks.0} plus {@code proj_in/proj_out} of every SDXL attention module
 * ({@code sdxlSubset=true}); the set-up prints the fraction of the 722 targets' weight elements this covers, so the
 * full figure is the measured time divided by that fraction. {@code -p sdxlSubset=false} fuses all 722 (needs about
 * 12 GB of heap; pass {@code -jvmArgsAppend -Xmx16g}).</li>
 * </ul>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgs = {"-Xmx8g"})
public class EngineBenchmark {

    @Param({"320"})
    public int width;

    @Param({"256"})
    public int tokens;

    @Param({"16"})
    public int rank;

    @Param({"2"})
    public int threads;

    @Param({"true"})
    public boolean sdxlSubset;

    private Path folder;
    private OnnxModelHandle handle;
    private Map<String, TensorData> inputs;
    private Map<String, LoraAdapter> adapters;
    private EffectiveScales[] mixes;
    private LoraBinding switching;
    private int switches;
    private LoraBinding dynamic;
    private LoraBinding fused;
    private int sessionsBefore;
    private WeightFuser fuser;
    private EffectiveScales sdxlScales;
    private Map<String, LoraAdapter> sdxlAdapter;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        long start = System.nanoTime();
        folder = Files.createTempDirectory("lorica-bench-engine-");
        SyntheticUnet.Generated unet = SyntheticUnet.write(folder.resolve("unet"), width, width, tokens, 42);
        handle = new OnnxInferenceEngine(new BenchRuntime(threads)).open(unet.file(), ModelRole.UNET,
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

        Map<String, LayerGeometry> sdxl = new LinkedHashMap<>();
        long all = 0;
        long used = 0;
        for (Map.Entry<String, LayerGeometry> e : ReferenceModels.catalog(ModelFamily.SDXL).modules(Component.UNET)
                .entrySet()) {
            String path = e.getKey();
            if (!path.contains(".attentions.")) {
                continue;
            }
            long n = (long) e.getValue().inFeatures() * e.getValue().outFeatures();
            all += n;
            if (!sdxlSubset || !path.contains(".transformer_blocks.") || path.contains(".transformer_blocks.0.")) {
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
        int after = sessions(handle);
        System.out.printf("%nsessions created: %d after the bindings of the set-up, %d at the end (%d switches)%n",
                sessionsBefore, after, switches);
        if (switching != null) {
            switching.close();
        }
        dynamic.close();
        fused.close();
        handle.close();
        try (Stream<Path> files = Files.walk(folder)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
        if (after != sessionsBefore) {
            throw new IllegalStateException("switching dynamic bindings created " + (after - sessionsBefore)
                    + " sessions");
        }
    }

    @Benchmark
    public LoraBinding switchAdapters() {
        LoraBinding next = handle.bind(LoraMode.DYNAMIC, mixes[switches++ & 1], adapters);
        if (switching != null) {
            switching.close();
        }
        switching = next;
        return next;
    }

    @Benchmark
    public Map<String, TensorData> baseStep() {
        return handle.run(inputs, handle.base());
    }

    @Benchmark
    public Map<String, TensorData> dynamicStep() {
        return handle.run(inputs, dynamic);
    }

    @Benchmark
    public Map<String, TensorData> fusedStep() {
        return handle.run(inputs, fused);
    }

    @Benchmark
    public Map<String, TensorData> fuseSdxlSize() {
        return fuser.fuse(sdxlScales, sdxlAdapter, false);
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
