package io.lorica.itests;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;

import io.lorica.api.ModelFamily;
import io.lorica.api.pipeline.GenerationRequest;
import io.lorica.api.pipeline.GenerationResult;
import io.lorica.api.pipeline.Pipeline;
import io.lorica.api.pipeline.PipelineProvider;
import io.lorica.api.registry.AdapterReference;
import io.lorica.api.registry.AdapterRegistry;
import io.lorica.testkit.LoraFiles;
import io.lorica.testkit.LoraSpec;
import io.lorica.testkit.PipelineSpec;
import io.lorica.testkit.PipelineWriter;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Collection;
import java.util.Dictionary;
import java.util.Hashtable;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import javax.inject.Inject;

import org.junit.Test;
import org.junit.runner.RunWith;
import org.ops4j.pax.exam.Configuration;
import org.ops4j.pax.exam.Option;
import org.ops4j.pax.exam.junit.PaxExam;
import org.ops4j.pax.exam.spi.reactors.ExamReactorStrategy;
import org.ops4j.pax.exam.spi.reactors.PerClass;
import org.osgi.framework.BundleContext;
import org.osgi.framework.InvalidSyntaxException;
import org.osgi.framework.ServiceReference;
import org.osgi.service.cm.ConfigurationAdmin;

/**
 * The pipelines as services in the container: the embedded default (a test-kit SD 1.5 pipeline with random weights)
 * generates images and takes LoRA adapters from the adapter folder through its registry; a pipeline configured through
 * Config Admin (factory PID {@code io.lorica.pipeline}) replaces it while it exists, and its removal brings the default
 * back.
 */
@RunWith(PaxExam.class)
@ExamReactorStrategy(PerClass.class)
public class PipelineContainerIT {

    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    @Inject
    private BundleContext context;

    @Inject
    private ConfigurationAdmin configurationAdmin;

    @Configuration
    public Option[] configuration() {
        return LoricaKaraf.options();
    }

    private Collection<ServiceReference<Pipeline>> pipelines(String id) {
        try {
            return context.getServiceReferences(Pipeline.class, "(lorica.pipeline.id=" + id + ")");
        } catch (InvalidSyntaxException e) {
            throw new AssertionError(e);
        }
    }

    private ServiceReference<Pipeline> awaitPipeline(String id) {
        Poll.until(TIMEOUT, "pipeline service " + id, () -> !pipelines(id).isEmpty());
        return pipelines(id).iterator().next();
    }

    private static GenerationRequest request(Pipeline pipeline, long seed) {
        return GenerationRequest.of(pipeline.descriptor(), "toy_face of a hacker with a hoodie, pixel art", seed);
    }

    /** The RGB pixels of the first image (the PNG text chunks name the adapter settings, so the bytes differ). */
    private static int[] pixels(GenerationResult result) throws java.io.IOException {
        java.awt.image.BufferedImage image = javax.imageio.ImageIO.read(new java.io.ByteArrayInputStream(
                result.image(0)));
        return image.getRGB(0, 0, image.getWidth(), image.getHeight(), null, 0, image.getWidth());
    }

    @Test
    public void theEmbeddedDefaultGeneratesAndTakesAdapters() throws Exception {
        ServiceReference<PipelineProvider> providerRef = context.getServiceReference(PipelineProvider.class);
        assertNotNull("no PipelineProvider service", providerRef);
        assertEquals("stable-diffusion", context.getService(providerRef).name());

        ServiceReference<Pipeline> reference = awaitPipeline("tiny-sd15");
        assertEquals(Boolean.TRUE, reference.getProperty("lorica.pipeline.random.weights"));
        assertEquals(Boolean.TRUE, reference.getProperty("lorica.pipeline.embedded"));
        assertEquals("sd15", reference.getProperty("lorica.pipeline.family"));
        Pipeline pipeline = context.getService(reference);
        try {
            AtomicInteger steps = new AtomicInteger();
            GenerationRequest request = request(pipeline, 1);
            GenerationResult base = pipeline.generate(request, (step, total, preview) -> steps.incrementAndGet());
            assertEquals(1, base.imageCount());
            assertTrue("progress per step", steps.get() >= request.steps());

            // a LoRA file for this model, written into the adapter folder and loaded by name through the registry
            Path modelDir = Path.of((String) reference.getProperty("lorica.pipeline.model.dir"));
            Path adapters = Path.of(System.getProperty("karaf.base"), "adapters");
            Files.createDirectories(adapters);
            LoraFiles.write(modelDir, adapters.resolve("itest-pixel.safetensors"),
                    LoraSpec.defaults().withSeed(5).withStrength(0.5f));
            AdapterRegistry registry = pipeline.adapters();
            registry.load(new AdapterReference.DirectoryReference("itest-pixel"), "pixel");
            assertEquals(List.of("pixel"), registry.getActiveAdapters());
            GenerationResult withLora = pipeline.generate(request);
            assertFalse("the adapter changes the image", Arrays.equals(pixels(base), pixels(withLora)));
            registry.disableLora();
            assertArrayEquals("disabled LoRA is the base model", pixels(base), pixels(pipeline.generate(request)));
            registry.enableLora();
            registry.deleteAdapters(List.of("pixel"));
            assertArrayEquals("deleted: the base model again", pixels(base), pixels(pipeline.generate(request)));
        } finally {
            context.ungetService(reference);
        }
    }

    @Test
    public void aConfiguredPipelineReplacesTheDefaultWhileItExists() throws Exception {
        awaitPipeline("tiny-sd15");
        Path folder = Path.of(System.getProperty("karaf.data"), "itest-models", "xl");
        if (!Files.exists(folder.resolve("model_index.json"))) {
            PipelineWriter.write(folder, PipelineSpec.tiny(ModelFamily.SDXL), 3);
        }
        org.osgi.service.cm.Configuration configuration = configurationAdmin
                .createFactoryConfiguration("io.lorica.pipeline", "?");
        Dictionary<String, Object> properties = new Hashtable<>();
        properties.put("id", "itest-xl");
        properties.put("model.dir", folder.toString());
        properties.put("steps", 4);
        configuration.update(properties);
        try {
            ServiceReference<Pipeline> reference = awaitPipeline("itest-xl");
            assertEquals("sdxl", reference.getProperty("lorica.pipeline.family"));
            assertEquals(Boolean.FALSE, reference.getProperty("lorica.pipeline.embedded"));
            Poll.until(TIMEOUT, "the embedded default to be withdrawn", () -> pipelines("tiny-sd15").isEmpty());
            Pipeline pipeline = context.getService(reference);
            try {
                assertEquals(4, pipeline.descriptor().defaultSteps());
                GenerationResult result = pipeline.generate(request(pipeline, 2));
                assertEquals(1, result.imageCount());
                assertTrue("an SDXL UNet ran every step", result.timings().get("denoise").toNanos() > 0);
            } finally {
                context.ungetService(reference);
            }
        } finally {
            configuration.delete();
        }
        Poll.until(TIMEOUT, "the configured pipeline to go", () -> pipelines("itest-xl").isEmpty());
        ServiceReference<Pipeline> back = awaitPipeline("tiny-sd15");
        assertEquals(Boolean.TRUE, back.getProperty("lorica.pipeline.embedded"));
    }
}
