package io.lorica.api.engine;

import io.lorica.api.TensorData;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.policy.EffectiveScales;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.osgi.annotation.versioning.ProviderType;

/**
 * One opened ONNX model (its ONNX Runtime session(s), the parsed graph and the index from Diffusers module paths to
 * weight initializers), owned by whoever opened it. Thread-safe: runs may overlap.
 */
@ProviderType
public interface ModelHandle extends AutoCloseable {

    /** The role it was opened for. */
    ModelRole role();

    /** The ONNX file. */
    Path modelFile();

    /** The graph's input names. */
    Set<String> inputNames();

    /** The graph's output names. */
    Set<String> outputNames();

    /**
     * The graph's inputs (initializers excluded) with their declared element types and shapes, in graph order: what a
     * pipeline reads to feed a model whatever its export chose (int32 or int64 token ids, a scalar or per-batch
     * timestep, float32 or float16).
     *
     * @since 1.1
     */
    Map<String, TensorSpec> inputSpecs();

    /**
     * The graph's outputs with their declared element types and shapes, in graph order.
     *
     * @since 1.1
     */
    Map<String, TensorSpec> outputSpecs();

    /**
     * The layers LoRA can target in this graph: Diffusers module path -> geometry, in graph order; empty for roles
     * without a component. The source of the {@link io.lorica.api.format.ModuleCatalog} adapters are converted against.
     */
    Map<String, LayerGeometry> loraTargets();

    /**
     * Prepares LoRA for this model: for this model's component, every module in {@code scales} with the adapters
     * acting there. A {@code DYNAMIC} request that meets modules the low-rank branches cannot express (DoRA, full
     * deltas, LoRA bias) is served by a {@code FUSED} binding instead, with one warning naming them: never dropped.
     *
     * @param adapters the adapters named in {@code scales}, by name
     * @throws IllegalArgumentException when an adapter named in {@code scales} is missing from {@code adapters}, a
     *                                  module is not a LoRA target of this graph or does not fit its geometry, the
     *                                  or the role has no component but {@code scales} is not empty
     * @throws IllegalStateException    when the engine fails (e.g. building a fused session), with the cause
     */
    LoraBinding bind(LoraMode mode, EffectiveScales scales, Map<String, LoraAdapter> adapters);

    /**
     * The adapters baked into this model's base weights by {@code fuse_lora}, in activation order; empty when the
     * weights are pristine. A generation leaves them out of its dynamic scales on this model: they act already.
     *
     * @since 1.1
     */
    List<String> fusedAdapters();

    /** A binding with no adapters: the pristine base model. Closing it is a no-op. */
    LoraBinding base();

    /**
     * Runs the model.
     *
     * @param inputs  every graph input by name
     * @param binding a binding made by this handle
     * @return every graph output by name, copied out of native memory
     * @throws IllegalArgumentException naming the input when one is missing, unknown or of the wrong type or shape, or
     *                                  when the binding belongs to another handle
     * @throws IllegalStateException    when the binding or handle is closed or ONNX Runtime fails, with the cause
     */
    Map<String, TensorData> run(Map<String, TensorData> inputs, LoraBinding binding);

    /**
     * Runs the model and returns only the outputs asked for (the others are not copied out of native memory; ONNX
     * Runtime may also skip computing them).
     *
     * @param outputs names of graph outputs, at least one
     * @throws IllegalArgumentException as {@link #run(Map, LoraBinding)}, or naming an output the graph does not have
     * @throws IllegalStateException    as {@link #run(Map, LoraBinding)}
     * @since 1.1
     */
    Map<String, TensorData> run(Map<String, TensorData> inputs, LoraBinding binding, Set<String> outputs);

    /** {@code run(inputs, base())}. */
    default Map<String, TensorData> run(Map<String, TensorData> inputs) {
        return run(inputs, base());
    }

    /**
     * Closes the sessions once in-flight runs have finished; later calls throw IllegalStateException. Idempotent.
     */
    @Override
    void close();
}
