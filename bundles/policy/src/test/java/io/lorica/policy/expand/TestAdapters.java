package io.lorica.policy.expand;

import io.lorica.api.Component;
import io.lorica.api.DType;
import io.lorica.api.ModelFamily;
import io.lorica.api.TensorData;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LoadReport;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.adapter.LoraModule;
import io.lorica.api.format.ModuleCatalog;
import io.lorica.models.ReferenceModels;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.BiPredicate;
import java.util.function.ToDoubleBiFunction;

/**
 * LoRA adapters for tests: the real module paths and geometries of {@link ReferenceModels}, tiny rank, and tensors
 * that are zero-filled views of one shared buffer (so a full SDXL adapter costs almost no memory).
 */
final class TestAdapters {

    /** Big enough for the largest rank-4 tensor of SDXL (conv 3x3 with 2560 inputs: 4*2560*9 floats). */
    private static final ByteBuffer ZEROS = ByteBuffer.allocate(4 * 2560 * 9 * 4 * 2);

    private TestAdapters() {
    }

    /** The reference catalog of {@code family}. */
    static ModuleCatalog catalog(ModelFamily family) {
        return ReferenceModels.catalog(family);
    }

    /** An adapter with every module of every component of {@code family}, one rank and alpha. */
    static LoraAdapter full(ModelFamily family, int rank, float alpha) {
        return select(family, rank, (c, p) -> alpha, (c, p) -> true);
    }

    /** An adapter with every module of the given components. */
    static LoraAdapter components(ModelFamily family, int rank, float alpha, Set<Component> components) {
        return select(family, rank, (c, p) -> alpha, (c, p) -> components.contains(c));
    }

    /** An adapter with the modules {@code include} accepts; alpha per module. */
    static LoraAdapter select(ModelFamily family, int rank, ToDoubleBiFunction<Component, String> alpha,
            BiPredicate<Component, String> include) {
        ModuleCatalog catalog = catalog(family);
        Map<Component, Map<String, LoraModule>> modules = new EnumMap<>(Component.class);
        for (Component component : family.components()) {
            Map<String, LoraModule> perPath = new LinkedHashMap<>();
            catalog.modules(component).forEach((path, geometry) -> {
                if (include.test(component, path)) {
                    perPath.put(path, module(component, path, geometry, rank,
                            (float) alpha.applyAsDouble(component, path)));
                }
            });
            if (!perPath.isEmpty()) {
                modules.put(component, perPath);
            }
        }
        return new LoraAdapter("test", family, modules, Map.of(), LoadReport.empty());
    }

    /** One low-rank module with zero tensors of the right shapes. */
    static LoraModule module(Component component, String path, LayerGeometry geometry, int rank, float alpha) {
        return LoraModule.of(component, path, geometry, alpha, zeros(geometry.aShape(rank)),
                zeros(geometry.bShape(rank)));
    }

    /** A full-delta module (scale 1). */
    static LoraModule fullDelta(Component component, String path, LayerGeometry geometry) {
        return LoraModule.fullDelta(component, path, geometry, zeros(geometry.weightShape()));
    }

    private static TensorData zeros(long[] shape) {
        long count = Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        int bytes = Math.toIntExact(count * 4);
        ByteBuffer data = bytes <= ZEROS.capacity() ? ZEROS.slice(0, bytes) : ByteBuffer.allocate(bytes);
        return new TensorData(DType.F32, shape, data);
    }
}
