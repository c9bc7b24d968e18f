package io.lorica.api.pipeline;

import java.util.Optional;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * Receives the progress of a generation (Diffusers' {@code callback_on_step_end}), e.g. to stream it to the console.
 * Called on the generating thread after each denoising step; it should return quickly. An exception thrown here
 * aborts the generation.
 */
@ConsumerType
@FunctionalInterface
public interface ProgressListener {

    /**
     * One step done.
     *
     * @param step       steps done so far over the whole request, from 1 to {@code totalSteps}
     * @param totalSteps {@code steps × batchCount} of the request
     * @param previewPng a small PNG preview of the current latents, when the pipeline produces one
     */
    void onStep(int step, int totalSteps, Optional<byte[]> previewPng);

    /** A listener that ignores progress. */
    static ProgressListener none() {
        return (step, totalSteps, previewPng) -> {
        };
    }
}
