package io.lorica.benchmarks;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

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

/**
 * Resident memory of the engine on a {@link SyntheticUnet} of SD 1.5's real widths (192 Linear targets, about 1.1 GB
 * of float32 weights as external data): after opening the model (one dynamic session), after each of four rank-16
 * adapters bound in DYNAMIC mode (the growth per adapter against its own size; the adapters are made before the
 * first measurement), after a FUSED binding (a session with its own patched weights) and after opening the same model
 * a second time. Private (anonymous) and file-backed resident memory from /proc (Linux), plus the Java heap in use;
 * run with a fixed, pre-touched heap so that heap growth does not show as resident growth:
 *
 * <pre>java -Xms3g -Xmx3g -XX:+AlwaysPreTouch -cp benchmarks/target/benchmarks.jar io.lorica.benchmarks.EngineMemory
 *     [prepacking (true|false) [tokens]]</pre>
 */
public final class EngineMemory {

    private EngineMemory() {
    }

    public static void main(String[] args) throws IOException, InterruptedException {
        boolean prepacking = args.length <= 0 || Boolean.parseBoolean(args[0]);
        int tokens = args.length > 1 ? Integer.parseInt(args[1]) : 64;
        Path folder = Files.createTempDirectory("lorica-engine-memory-");
        try {
            SyntheticUnet.Generated unet = SyntheticUnet.write(folder.resolve("unet"), 0, SyntheticUnet.SD15_CONTEXT,
                    tokens, 42);
            long weights = Files.size(unet.file().resolveSibling("model.onnx_data"));
            OnnxInferenceEngine engine = new OnnxInferenceEngine(EngineBenchmark.runtime(2), null,
                    new OnnxModelHandle.Options(OnnxModelHandle.Options.DEFAULTS.factorCacheBytes(),
                            OnnxModelHandle.Options.DEFAULTS.fusedSessionCache(),
                            OnnxModelHandle.Options.DEFAULTS.fuseBufferBytes(), prepacking));
            SplittableRandom random = new SplittableRandom(5);
            Map<String, TensorData> inputs = Map.of("sample", EngineBenchmark.randomTensor(random, 1, tokens,
                    unet.inChannels()), "encoder_hidden_states", EngineBenchmark.randomTensor(random, 1,
                    SyntheticUnet.TEXT_TOKENS, unet.context()));
            Map<String, LoraAdapter> made = new LinkedHashMap<>();
            for (int i = 0; i < 4; i++) {
                made.put("adapter" + i, adapter(unet.modules(), 16, random));
            }
            long[] start = memory();
            System.out.printf("model: %d LoRA targets, %.0f MB of weights (external data); pre-packing %s%n",
                    unet.modules().size(), weights / 1e6, prepacking);
            try (OnnxModelHandle handle = engine.open(unet.file(), ModelRole.UNET, unet.catalog())) {
                handle.run(inputs);
                long[] opened = report("opened (one dynamic session) and run once", start, memory());
                Map<String, LoraAdapter> adapters = new LinkedHashMap<>();
                long[] previous = opened;
                long adapterBytes = 0;
                for (int i = 0; i < 4; i++) {
                    String name = "adapter" + i;
                    LoraAdapter adapter = made.get(name);
                    adapters.put(name, adapter);
                    adapterBytes = bytes(adapter);
                    EffectiveScales.Builder scales = EffectiveScales.builder();
                    unet.modules().keySet().forEach(p -> scales.put(Component.UNET, p, name, 0.8f));
                    try (LoraBinding binding = handle.bind(LoraMode.DYNAMIC, scales.build(), adapters)) {
                        handle.run(inputs, binding);
                    }
                    long[] now = memory();
                    long growth = now[0] - previous[0] + now[2] - previous[2];
                    System.out.printf("  + DYNAMIC adapter %d (%.1f MB of float32 factors): private %+.1f MB, heap "
                            + "%+.1f MB: %.2f x its size%n", i + 1, adapterBytes / 1e6, (now[0] - previous[0]) / 1e6,
                            (now[2] - previous[2]) / 1e6, growth / (double) adapterBytes);
                    previous = now;
                }
                EffectiveScales.Builder all = EffectiveScales.builder();
                unet.modules().keySet().forEach(p -> all.put(Component.UNET, p, "adapter0", 0.5f));
                try (LoraBinding fused = handle.bind(LoraMode.FUSED, all.build(), adapters)) {
                    handle.run(inputs, fused);
                    report("  + FUSED binding (a session with its own patched weights)", previous, memory());
                }
                long[] before = memory();
                try (OnnxModelHandle second = engine.open(unet.file(), ModelRole.UNET, unet.catalog())) {
                    second.run(inputs);
                    report("  + the same model opened again (its external weights mapped from the same file)", before,
                            memory());
                }
            }
        } finally {
            EngineBenchmark.delete(folder);
        }
    }

    private static long bytes(LoraAdapter adapter) {
        long n = 0;
        for (LoraModule m : adapter.modules(Component.UNET).values()) {
            n += m.a().data().remaining() + m.b().data().remaining();
        }
        return n;
    }

    private static LoraAdapter adapter(Map<String, LayerGeometry> modules, int rank, SplittableRandom random) {
        Map<String, LoraModule> map = new LinkedHashMap<>();
        for (Map.Entry<String, LayerGeometry> e : modules.entrySet()) {
            LayerGeometry g = e.getValue();
            map.put(e.getKey(), LoraModule.of(Component.UNET, e.getKey(), g, rank,
                    EngineBenchmark.randomTensor(random, g.aShape(rank)),
                    EngineBenchmark.randomTensor(random, g.bShape(rank))));
        }
        return new LoraAdapter("peft", ModelFamily.SD15, Map.of(Component.UNET, map), Map.of(), LoadReport.empty());
    }

    private static long[] report(String what, long[] before, long[] after) {
        System.out.printf("%s: private %+.1f MB, file-backed %+.1f MB, heap %+.1f MB%n", what,
                (after[0] - before[0]) / 1e6, (after[1] - before[1]) / 1e6, (after[2] - before[2]) / 1e6);
        return after;
    }

    /** {RssAnon, RssFile, heap in use} in bytes, after a GC. */
    private static long[] memory() throws IOException, InterruptedException {
        System.gc();
        Thread.sleep(300);
        long anon = -1;
        long file = -1;
        List<String> lines = Files.readAllLines(Path.of("/proc/self/status"));
        for (String line : lines) {
            if (line.startsWith("RssAnon:")) {
                anon = Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            } else if (line.startsWith("RssFile:")) {
                file = Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        if (anon < 0 || file < 0) {
            throw new IllegalStateException("no RssAnon/RssFile in /proc/self/status: this harness needs Linux");
        }
        Runtime runtime = Runtime.getRuntime();
        return new long[] {anon, file, runtime.totalMemory() - runtime.freeMemory()};
    }
}
