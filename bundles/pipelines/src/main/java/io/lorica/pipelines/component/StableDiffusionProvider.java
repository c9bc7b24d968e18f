package io.lorica.pipelines.component;

import io.lorica.api.ModelFamily;
import io.lorica.api.engine.InferenceEngine;
import io.lorica.api.pipeline.Pipeline;
import io.lorica.api.pipeline.PipelineDescriptor;
import io.lorica.api.pipeline.PipelineProvider;
import io.lorica.api.policy.ScalePolicy;
import io.lorica.api.registry.AdapterRegistries;
import io.lorica.pipelines.sd.StableDiffusionPipeline;

import java.util.EnumSet;
import java.util.Set;

import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/**
 * Lorica's Stable Diffusion 1.5 / SDXL {@link PipelineProvider} service ({@code lorica.pipeline.provider =
 * stable-diffusion}): opens {@link StableDiffusionPipeline}s on the container's inference engine, adapter registries
 * and scale policy. When one of those goes away the provider is deactivated, and the configured pipelines that use it
 * are closed after their running generations.
 */
@Component(service = PipelineProvider.class,
        property = StableDiffusionProvider.PROVIDER_PROPERTY + "=" + StableDiffusionProvider.NAME)
public final class StableDiffusionProvider implements PipelineProvider {

    /** The service property naming a provider. */
    public static final String PROVIDER_PROPERTY = "lorica.pipeline.provider";
    /** This provider's name. */
    public static final String NAME = "stable-diffusion";

    private final InferenceEngine engine;
    private final AdapterRegistries registries;
    private final ScalePolicy policy;

    /** Constructor injection of the mandatory services. */
    @org.osgi.service.component.annotations.Activate
    public StableDiffusionProvider(@Reference InferenceEngine engine, @Reference AdapterRegistries registries,
            @Reference ScalePolicy policy) {
        this.engine = engine;
        this.registries = registries;
        this.policy = policy;
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public Set<ModelFamily> families() {
        return EnumSet.of(ModelFamily.SD15, ModelFamily.SDXL);
    }

    @Override
    public Pipeline open(PipelineDescriptor descriptor) {
        return open(descriptor, StableDiffusionPipeline.Options.DEFAULTS);
    }

    /** Opens a pipeline with explicit options (LoRA mode, guidance strategy). */
    public StableDiffusionPipeline open(PipelineDescriptor descriptor, StableDiffusionPipeline.Options options) {
        return StableDiffusionPipeline.open(descriptor, engine, registries, policy, options);
    }
}
