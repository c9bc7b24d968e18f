package io.lorica.benchmarks;

import java.nio.ByteBuffer;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import io.lorica.api.Component;
import io.lorica.api.DType;
import io.lorica.api.ModelFamily;
import io.lorica.api.TensorData;
import io.lorica.api.adapter.LoadReport;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.adapter.LoraModule;
import io.lorica.api.format.ModuleCatalog;
import io.lorica.api.policy.AdapterSettings;
import io.lorica.api.policy.AdapterWeight;
import io.lorica.api.policy.AdapterWeight.BlockVector;
import io.lorica.api.policy.AdapterWeight.ComponentWeight;
import io.lorica.api.policy.AdapterWeight.LayerOverride;
import io.lorica.api.policy.AdapterWeight.PerBlock;
import io.lorica.api.policy.AdapterWeight.PerComponent;
import io.lorica.api.policy.AdapterWeight.UnetBlocks;
import io.lorica.api.policy.AdapterWeight.WithOverrides;
import io.lorica.api.policy.EffectiveScales;
import io.lorica.models.ReferenceModels;
import io.lorica.policy.expand.ScaleExpander;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Time to expand adapter settings to per-layer scales ({@link ScaleExpander#expand}): 5 active SDXL adapters, each
 * with every LoRA-able module of the UNet and both text encoders (794 + 72 + 193 = 1,059 modules, 5,295 scale
 * entries), with mixed weights: plain numbers, two UNet block dicts, a component dict and one A1111 block-weight
 * vector. Goal: under 1 ms on 2 cores. {@code expandMixedWithOverrides} adds a regex-override weight as the sixth
 * adapter for comparison. Tensors are zero-filled views of one small buffer; only the module structure matters.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 10, time = 1)
@Fork(value = 1, jvmArgs = {"-Xmx2g"})
public class PolicyBenchmark {

    private final ScaleExpander expander = new ScaleExpander();
    private Map<String, LoraAdapter> loaded;
    private AdapterSettings mixed;
    private AdapterSettings mixedWithOverrides;

    @Setup(Level.Trial)
    public void setUp() {
        ModuleCatalog catalog = ReferenceModels.catalog(ModelFamily.SDXL);
        ByteBuffer zeros = ByteBuffer.allocate(4 * 2560 * 9 * 16 * 2);
        loaded = new LinkedHashMap<>();
        int[] ranks = {4, 8, 16, 32, 8};
        float[] alphas = {4, 4, 8, 16, 1};
        for (int i = 0; i < 6; i++) {
            loaded.put("lora" + i, adapter(catalog, ranks[i % 5], alphas[i % 5], zeros));
        }

        Map<String, List<Double>> downBlocks = new LinkedHashMap<>();
        downBlocks.put("block_1", List.of(0.2, 0.4));
        downBlocks.put("block_2", List.of(0.6));
        Map<String, List<Double>> upBlocks = new LinkedHashMap<>();
        upBlocks.put("block_0", List.of(0.1, 0.2, 0.3));
        Map<Component, ComponentWeight> dict1 = new EnumMap<>(Component.class);
        dict1.put(Component.UNET, new UnetBlocks(Optional.of(new PerBlock(downBlocks)), Optional.of(0.9),
                Optional.of(new PerBlock(upBlocks))));
        dict1.put(Component.TEXT_ENCODER, AdapterWeight.of(0.5));
        Map<Component, ComponentWeight> dict2 = new EnumMap<>(Component.class);
        dict2.put(Component.UNET, new UnetBlocks(Optional.of(AdapterWeight.of(0.5)), Optional.empty(),
                Optional.empty()));
        dict2.put(Component.TEXT_ENCODER_2, AdapterWeight.of(0.0));
        BlockVector midd = new BlockVector(1.0, 0.8,
                List.of(1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0), Optional.of("MIDD"));

        Map<String, AdapterWeight> weights = new LinkedHashMap<>();
        weights.put("lora0", AdapterWeight.of(0.8));
        weights.put("lora1", new PerComponent(dict1));
        weights.put("lora2", midd);
        weights.put("lora3", new PerComponent(dict2));
        weights.put("lora4", AdapterWeight.of(-0.3));
        mixed = new AdapterSettings(weights, 0.9, true);

        Map<String, AdapterWeight> withOverrides = new LinkedHashMap<>(weights);
        withOverrides.put("lora5", new WithOverrides(AdapterWeight.of(0.7), List.of(
                new LayerOverride(Optional.of(Component.UNET), "attn2\\.to_[kv]$", 0.0),
                new LayerOverride(Optional.empty(), "mlp\\.fc2", 1.2))));
        mixedWithOverrides = new AdapterSettings(withOverrides, 0.9, true);

        EffectiveScales check = expandMixed();
        if (check.entryCount() != 5 * (794 + 72 + 193)) {
            throw new IllegalStateException("expected 5,295 entries, got " + check.entryCount());
        }
    }

    @Benchmark
    public EffectiveScales expandMixed() {
        return expander.expand(mixed, loaded, ModelFamily.SDXL);
    }

    @Benchmark
    public EffectiveScales expandMixedWithOverrides() {
        return expander.expand(mixedWithOverrides, loaded, ModelFamily.SDXL);
    }

    private static LoraAdapter adapter(ModuleCatalog catalog, int rank, float alpha, ByteBuffer zeros) {
        Map<Component, Map<String, LoraModule>> modules = new EnumMap<>(Component.class);
        for (Component component : catalog.family().components()) {
            Map<String, LoraModule> perPath = new LinkedHashMap<>();
            catalog.modules(component).forEach((path, geometry) -> perPath.put(path,
                    LoraModule.of(component, path, geometry, alpha, zeros(geometry.aShape(rank), zeros),
                            zeros(geometry.bShape(rank), zeros))));
            modules.put(component, perPath);
        }
        return new LoraAdapter("synthetic", catalog.family(), modules, Map.of(), LoadReport.empty());
    }

    private static TensorData zeros(long[] shape, ByteBuffer zeros) {
        long count = 1;
        for (long dim : shape) {
            count *= dim;
        }
        int bytes = Math.toIntExact(count * Float.BYTES);
        return new TensorData(DType.F32, shape, bytes <= zeros.capacity() ? zeros.slice(0, bytes)
                : ByteBuffer.allocate(bytes));
    }
}
