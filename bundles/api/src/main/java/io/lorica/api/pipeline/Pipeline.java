package io.lorica.api.pipeline;

import io.lorica.api.registry.AdapterRegistry;

import org.osgi.annotation.versioning.ProviderType;

/**
 * An opened text-to-image pipeline (tokenizer, text encoder(s), UNet with scheduler and classifier-free guidance,
 * VAE decoder) with its own adapter registry; the counterpart of a Diffusers pipeline object with LoRA loaded.
 * Thread-safe: concurrent generations each use the adapter settings they started with.
 */
@ProviderType
public interface Pipeline extends AutoCloseable {

    /** What this pipeline serves. */
    PipelineDescriptor descriptor();

    /** The adapters of this pipeline. */
    AdapterRegistry adapters();

    /**
     * Generates the request's images. Honours thread interruption between steps.
     *
     * @throws IllegalArgumentException when the request does not fit this pipeline (unknown scheduler, adapters not
     *                                  loaded, weights not valid for the family)
     * @throws IllegalStateException    when the engine fails, with the cause, or the pipeline is closed
     * @throws java.util.concurrent.CancellationException when the thread was interrupted
     */
    GenerationResult generate(GenerationRequest request, ProgressListener listener);

    /** {@code generate(request, ProgressListener.none())}. */
    default GenerationResult generate(GenerationRequest request) {
        return generate(request, ProgressListener.none());
    }

    /** Releases the models once running generations have finished; idempotent. */
    @Override
    void close();
}
