package io.lorica.api.engine;

import io.lorica.api.ExecutionProvider;

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
}
