package io.lorica.testkit;

import java.nio.file.Path;
import java.util.Optional;

/**
 * One ONNX model written by the test kit.
 *
 * @param folder       its folder in the pipeline ({@code unet}, {@code text_encoder}, {@code text_encoder_2},
 *                     {@code vae_decoder})
 * @param model        its {@code model.onnx}
 * @param externalData its {@code model.onnx_data}, when the weights are stored externally
 * @param bytes        the size of both files together
 * @param parameters   the number of learnable values (weights, biases, norm scales, embeddings)
 * @param nodes        the number of graph nodes
 */
public record ModelFile(String folder, Path model, Optional<Path> externalData, long bytes, long parameters,
        int nodes) {

    /** @throws IllegalArgumentException when a reference is null or a count negative */
    public ModelFile {
        if (folder == null || model == null || externalData == null) {
            throw new IllegalArgumentException("folder, model and externalData must not be null");
        }
        if (bytes < 0 || parameters < 0 || nodes < 0) {
            throw new IllegalArgumentException("sizes must be >= 0, got " + bytes + " bytes, " + parameters
                    + " parameters, " + nodes + " nodes");
        }
    }
}
