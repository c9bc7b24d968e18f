package io.lorica.api.pipeline;

import io.lorica.api.ModelFamily;

import java.util.Set;

import org.osgi.annotation.versioning.ProviderType;

/**
 * A pipeline implementation, registered as an OSGi service (Lorica's SD 1.5 / SDXL pipelines, or another bundle's):
 * opens {@link Pipeline}s for the model families it supports. Whoever opens a pipeline owns and closes it; when the
 * provider goes away its pipelines are closed after in-flight generations finish.
 */
@ProviderType
public interface PipelineProvider {

    /** A short stable name, e.g. {@code "stable-diffusion"}. */
    String name();

    /** The model families it can open. */
    Set<ModelFamily> families();

    /**
     * Opens the pipeline the descriptor describes: loads tokenizer and models on the engine, with an empty adapter
     * registry.
     *
     * @throws IllegalArgumentException when the family is not supported or the model directory lacks a model or file
     *                                  the family needs (naming it)
     * @throws IllegalStateException    when the engine fails, with the cause
     */
    Pipeline open(PipelineDescriptor descriptor);
}
