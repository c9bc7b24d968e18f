package io.lorica.engine.impl;

import io.lorica.api.Component;
import io.lorica.api.ExecutionProvider;
import io.lorica.api.ModelFamily;
import io.lorica.api.engine.InferenceEngine;
import io.lorica.api.engine.ModelHandle;
import io.lorica.api.engine.ModelRole;
import io.lorica.api.format.ModuleCatalog;
import io.lorica.engine.index.ModuleIndex;
import io.lorica.engine.onnx.OnnxModel;
import io.lorica.models.ReferenceModels;
import io.lorica.ort.OrtRuntime;

import java.nio.file.Path;
import java.util.Optional;

/**
 * {@link InferenceEngine} on ONNX Runtime: sessions use the environment and session options (execution provider,
 * threads, optimisation level) of an {@link OrtRuntime}.
 *
 * <p><b>Family detection.</b> For a LoRA-loadable role, {@link #open(Path, ModelRole)} indexes the graph against the
 * reference catalog ({@link ReferenceModels#catalog}) of every family that has the role's component and keeps the one
 * with the fewest unbound modules ({@link ModuleIndex#problems()}); ties go to the family with more bound modules,
 * then to the first family in declaration order. When the family is known (e.g. from {@code model_index.json}), pass
 * it to {@link #open(Path, ModelRole, ModelFamily)}, or a whole catalog to
 * {@link #open(Path, ModelRole, ModuleCatalog)}; a family can also be fixed for every call at construction
 * ({@link #OnnxInferenceEngine(OrtRuntime, ModelFamily)}).
 */
public final class OnnxInferenceEngine implements InferenceEngine {

    private final OrtRuntime runtime;
    private final ModelFamily family;
    private final OnnxModelHandle.Options options;

    /** An engine detecting the family of each model it opens. */
    public OnnxInferenceEngine(OrtRuntime runtime) {
        this(runtime, null);
    }

    /**
     * An engine that indexes every LoRA-loadable model against {@code family}'s reference catalog.
     *
     * @param family the family, or null to detect it per model
     */
    public OnnxInferenceEngine(OrtRuntime runtime, ModelFamily family) {
        this(runtime, family, OnnxModelHandle.Options.DEFAULTS);
    }

    /**
     * An engine whose handles use {@code options} (caches and buffer pools).
     *
     * @param family the family, or null to detect it per model
     */
    public OnnxInferenceEngine(OrtRuntime runtime, ModelFamily family, OnnxModelHandle.Options options) {
        if (runtime == null || options == null) {
            throw new IllegalArgumentException("runtime and options must not be null");
        }
        this.runtime = runtime;
        this.family = family;
        this.options = options;
    }

    /** The options of the handles this engine opens. */
    public OnnxModelHandle.Options options() {
        return options;
    }

    @Override
    public ExecutionProvider provider() {
        return runtime.selectedProvider() == ai.onnxruntime.OrtProvider.CUDA ? ExecutionProvider.CUDA
                : ExecutionProvider.CPU;
    }

    @Override
    public OnnxModelHandle open(Path modelFile, ModelRole role) {
        return family != null ? openWith(modelFile, role, ReferenceModels.catalog(family), ModuleIndex.Geometry.CATALOG)
                : openWith(modelFile, role, null, ModuleIndex.Geometry.CATALOG);
    }

    /**
     * Opens a model whose family is known: its LoRA targets are the family's module paths found in the graph, with the
     * graph's geometry ({@link ModuleIndex.Geometry#GRAPH}).
     *
     * @throws IllegalArgumentException as {@link #open(Path, ModelRole)}, or when the role's component is not part of
     *                                  the family
     * @throws IllegalStateException    as {@link #open(Path, ModelRole)}
     */
    @Override
    public OnnxModelHandle open(Path modelFile, ModelRole role, ModelFamily family) {
        if (family == null) {
            throw new IllegalArgumentException("family must not be null");
        }
        return openWith(modelFile, role, ReferenceModels.catalog(family), ModuleIndex.Geometry.GRAPH);
    }

    /**
     * Opens a model indexed against an explicit catalog (e.g. a fine-tune with extra layers, or a test graph).
     *
     * @throws IllegalArgumentException as {@link #open(Path, ModelRole)}
     * @throws IllegalStateException    as {@link #open(Path, ModelRole)}
     */
    public OnnxModelHandle open(Path modelFile, ModelRole role, ModuleCatalog catalog) {
        if (catalog == null) {
            throw new IllegalArgumentException("catalog must not be null");
        }
        return openWith(modelFile, role, catalog, ModuleIndex.Geometry.CATALOG);
    }

    private OnnxModelHandle openWith(Path modelFile, ModelRole role, ModuleCatalog catalog,
            ModuleIndex.Geometry geometry) {
        if (modelFile == null || role == null) {
            throw new IllegalArgumentException("model file and role must not be null");
        }
        OnnxModel model = OnnxModel.read(modelFile);
        Optional<Component> component = role.component();
        ModuleIndex index = null;
        if (component.isPresent()) {
            index = catalog != null ? ModuleIndex.build(model, catalog, component.get(), geometry)
                    : detect(model, component.get());
        }
        return new OnnxModelHandle(runtime, modelFile, role, model, index, options);
    }

    /** The index of the family whose reference catalog fits {@code model} best (see the class comment). */
    static ModuleIndex detect(OnnxModel model, Component component) {
        ModuleIndex best = null;
        for (ModelFamily candidate : ModelFamily.values()) {
            if (!candidate.components().contains(component)) {
                continue;
            }
            ModuleIndex index = ModuleIndex.build(model, candidate, component);
            if (best == null || index.problems().size() < best.problems().size()
                    || index.problems().size() == best.problems().size()
                            && index.bindings().size() > best.bindings().size()) {
                best = index;
            }
        }
        if (best == null) {
            throw new IllegalArgumentException("no model family has component " + component);
        }
        return best;
    }

    @Override
    public EngineFuseBackend fuseBackend(java.util.Map<Component, io.lorica.api.engine.ModelHandle> handles) {
        if (handles == null || handles.isEmpty()) {
            throw new IllegalArgumentException("handles must name at least one component");
        }
        java.util.Map<Component, OnnxModelHandle> own = new java.util.EnumMap<>(Component.class);
        handles.forEach((component, handle) -> {
            if (!(handle instanceof OnnxModelHandle onnx)) {
                throw new IllegalArgumentException("the handle of " + component + " (" + handle
                        + ") was not opened by an ONNX Runtime engine");
            }
            own.put(component, onnx);
        });
        return new EngineFuseBackend(own);
    }
}
