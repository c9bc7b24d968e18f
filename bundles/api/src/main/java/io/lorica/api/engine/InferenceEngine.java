package io.lorica.api.engine;

import io.lorica.api.ExecutionProvider;
import io.lorica.api.ModelFamily;

import java.nio.file.Path;

import org.osgi.annotation.versioning.ProviderType;

/**
 * The inference engine service: opens ONNX models on one ONNX Runtime execution provider (CUDA when configured and
 * present, CPU otherwise) with LoRA support.
 */
@ProviderType
public interface InferenceEngine {

    /** The execution provider sessions run on. */
    ExecutionProvider provider();

    /**
     * Opens an ONNX model for a role; the caller owns the handle and closes it.
     *
     * @throws IllegalArgumentException naming the file when it does not exist, is not an ONNX model, or lacks the
     *                                  inputs/outputs its role needs
     * @throws IllegalStateException    when ONNX Runtime fails to create the session, with the cause
     */
    ModelHandle open(Path modelFile, ModelRole role);

    /**
     * Opens an ONNX model of a known family (e.g. from the pipeline's {@code model_index.json}): LoRA targets are the
     * family's Diffusers module paths found in the graph, each with the geometry the graph gives it, so models at
     * other widths or depths than the reference (distilled or test models) are served too; adapters are converted
     * against {@link ModelHandle#loraTargets()}.
     *
     * @throws IllegalArgumentException as {@link #open(Path, ModelRole)}, or when the role's component is not part of
     *                                  the family
     * @throws IllegalStateException    as {@link #open(Path, ModelRole)}
     * @since 1.1
     */
    ModelHandle open(Path modelFile, ModelRole role, ModelFamily family);

    /**
     * The engine side of {@code fuse_lora} / {@code unfuse_lora} for a pipeline whose components are these handles
     * (opened by this engine): fusing patches their base weights from the pristine ones, all or nothing across the
     * components, while dynamic adapters keep acting on top.
     *
     * @param handles the handle of each LoRA-loadable component of the pipeline
     * @throws IllegalArgumentException when the map is empty, holds nulls, or a handle was not opened by this engine
     * @since 1.1
     */
    io.lorica.api.registry.FuseBackend fuseBackend(java.util.Map<io.lorica.api.Component, ModelHandle> handles);
}
