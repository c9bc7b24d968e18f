package io.lorica.api.registry;

import io.lorica.api.ModelFamily;
import org.osgi.annotation.versioning.ProviderType;

/**
 * Creates the adapter registry of a pipeline instance: Diffusers keeps LoRA state per pipeline, and so does Lorica.
 * The registry loads through the container's {@link io.lorica.api.format.AdapterLoader} and fuses through the
 * pipeline engine's {@link FuseBackend}.
 */
@ProviderType
public interface AdapterRegistries {

    /**
     * A new, empty registry.
     *
     * @param pipelineId the pipeline instance, for messages and events
     * @param family     the model family adapters are loaded for
     * @param backend    the engine side of {@code fuse_lora}; {@link FuseBackend#none(String)} when the pipeline has no
     *                   engine (fusing is then refused with a clear message)
     */
    AdapterRegistry create(String pipelineId, ModelFamily family, FuseBackend backend);

    /**
     * A new, empty registry whose adapters are converted against {@code catalog} (the pipeline's models as opened)
     * instead of the family's reference model.
     *
     * @param catalog the module paths and geometries of the pipeline's models; its family is the registry's
     * @since 1.1
     */
    AdapterRegistry create(String pipelineId, io.lorica.api.format.ModuleCatalog catalog, FuseBackend backend);
}
