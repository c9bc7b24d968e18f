package io.lorica.pipelines.component;

import io.lorica.api.ModelFamily;
import io.lorica.api.engine.LoraMode;
import io.lorica.api.pipeline.Pipeline;
import io.lorica.api.pipeline.PipelineDescriptor;
import io.lorica.api.pipeline.PipelineProvider;
import io.lorica.pipelines.sd.ModelDirectory;
import io.lorica.pipelines.sd.StableDiffusionPipeline;

import java.nio.file.Path;
import java.util.Hashtable;
import java.util.Locale;

import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceRegistration;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One configured pipeline (factory PID {@code io.lorica.pipeline}: one {@code etc/io.lorica.pipeline-NAME.cfg} per
 * model folder), opened through the Stable Diffusion provider and registered as a {@link Pipeline} service with the
 * properties {@code lorica.pipeline.id}, {@code lorica.pipeline.family}, {@code lorica.pipeline.model.dir},
 * {@code lorica.pipeline.random.weights} (true for a test-kit model) and {@code lorica.pipeline.embedded} (false).
 * Changing the configuration reopens it; removing it, or the provider going away, closes it after its running
 * generations.
 */
@Component(configurationPid = ConfiguredPipeline.FACTORY_PID, configurationPolicy = ConfigurationPolicy.REQUIRE,
        service = {})
@Designate(ocd = ConfiguredPipeline.Config.class, factory = true)
public final class ConfiguredPipeline {

    /** The factory PID. */
    public static final String FACTORY_PID = "io.lorica.pipeline";

    private static final Logger LOG = LoggerFactory.getLogger(ConfiguredPipeline.class);

    @ObjectClassDefinition(name = "Lorica pipeline",
            description = "A Stable Diffusion 1.5 or SDXL pipeline exported to ONNX (Optimum / Diffusers layout)")
    @interface Config {
        @AttributeDefinition(name = "Id", description = "Pipeline id used in URLs and commands: letters, digits, '.', '_', '-'")
        String id();

        @AttributeDefinition(name = "Model folder", description = "Folder with model_index.json, unet/, text_encoder/, vae_decoder/, ...")
        String model_dir();

        @AttributeDefinition(name = "LoRA mode", description = "dynamic (switch adapters per request without rebuilding) or fused (weights patched per configuration)")
        String lora_mode() default "dynamic";

        @AttributeDefinition(name = "Guidance mode", description = "batched (one UNet run on a batch of two, as Diffusers) or separate (two runs of one: half the activation memory)")
        String guidance_mode() default "batched";

        @AttributeDefinition(name = "Default steps", min = "1", max = "1000")
        int steps() default 30;

        @AttributeDefinition(name = "Default guidance scale", description = "0 to 100; at most 1 disables guidance")
        double guidance() default -1;

        @AttributeDefinition(name = "Default scheduler", description = "euler, euler_a, ddim, dpmpp_2m, dpmpp_2m_karras, pndm, lms, or default (the model's scheduler_config.json)")
        String scheduler() default "default";
    }

    private final Pipeline pipeline;
    private final ServiceRegistration<Pipeline> registration;

    /** Opens and registers the pipeline. */
    @Activate
    public ConfiguredPipeline(BundleContext context, Config config,
            @Reference(target = "(" + StableDiffusionProvider.PROVIDER_PROPERTY + "=" + StableDiffusionProvider.NAME
                    + ")") PipelineProvider provider) {
        if (config.model_dir() == null || config.model_dir().isBlank()) {
            throw new IllegalArgumentException(FACTORY_PID + " '" + config.id() + "': model.dir is required");
        }
        Path folder = Path.of(config.model_dir());
        ModelDirectory directory = ModelDirectory.read(folder);
        PipelineDescriptor descriptor = descriptor(config.id(), directory, config.steps(), config.guidance(),
                config.scheduler());
        StableDiffusionPipeline.Options options = options(config.lora_mode(), config.guidance_mode());
        this.pipeline = provider instanceof StableDiffusionProvider sd ? sd.open(descriptor, options)
                : provider.open(descriptor);
        this.registration = register(context, pipeline, directory, false);
        LOG.info("pipeline '{}' ({}) registered from {}", descriptor.id(), descriptor.family().id(), folder);
    }

    static PipelineDescriptor descriptor(String id, ModelDirectory directory, int steps, double guidance,
            String scheduler) {
        int size = directory.defaultImageSize();
        double g = guidance >= 0 ? guidance : directory.family() == ModelFamily.SDXL ? 5.0 : 7.5;
        return new PipelineDescriptor(id, directory.family(), directory.folder(), size, size, steps, g, scheduler);
    }

    static StableDiffusionPipeline.Options options(String loraMode, String guidanceMode) {
        LoraMode mode;
        try {
            mode = LoraMode.valueOf(loraMode.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("lora.mode '" + loraMode + "' is invalid, expected dynamic or fused", e);
        }
        StableDiffusionPipeline.Guidance guidance;
        try {
            guidance = StableDiffusionPipeline.Guidance.valueOf(guidanceMode.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("guidance.mode '" + guidanceMode
                    + "' is invalid, expected batched or separate", e);
        }
        return new StableDiffusionPipeline.Options(mode, guidance);
    }

    static ServiceRegistration<Pipeline> register(BundleContext context, Pipeline pipeline,
            ModelDirectory directory, boolean embedded) {
        Hashtable<String, Object> properties = new Hashtable<>();
        properties.put("lorica.pipeline.id", pipeline.descriptor().id());
        properties.put("lorica.pipeline.family", pipeline.descriptor().family().id());
        properties.put("lorica.pipeline.model.dir", directory.folder().toString());
        properties.put("lorica.pipeline.random.weights", directory.randomWeights());
        properties.put("lorica.pipeline.embedded", embedded);
        return context.registerService(Pipeline.class, pipeline, properties);
    }

    /** Unregisters the service, then closes the pipeline once its running generations have finished. */
    @Deactivate
    void deactivate() {
        try {
            registration.unregister();
        } catch (IllegalStateException alreadyGone) {
            // the bundle is stopping
        }
        pipeline.close();
        LOG.info("pipeline '{}' closed", pipeline.descriptor().id());
    }
}
