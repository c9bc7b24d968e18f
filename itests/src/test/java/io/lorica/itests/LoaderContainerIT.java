package io.lorica.itests;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;
import static org.ops4j.pax.exam.CoreOptions.systemProperty;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import javax.inject.Inject;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.format.AdapterFormatException;
import io.lorica.api.format.AdapterLoader;
import io.lorica.api.registry.AdapterReference;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.ops4j.pax.exam.Configuration;
import org.ops4j.pax.exam.Option;
import org.ops4j.pax.exam.junit.PaxExam;
import org.ops4j.pax.exam.spi.reactors.ExamReactorStrategy;
import org.ops4j.pax.exam.spi.reactors.PerClass;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceReference;

/**
 * The LoRA loader in the container: built-in formats on the whiteboard, the watched adapter folder, and a third-party
 * bundle contributing a format at run time and taking it away again, with nothing restarted.
 */
@RunWith(PaxExam.class)
@ExamReactorStrategy(PerClass.class)
public class LoaderContainerIT {

    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final String TO_Q = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q";

    @Inject
    private BundleContext context;

    @Configuration
    public Option[] configuration() {
        String toy = System.getProperty("lorica.itest.toyformat");
        return LoricaKaraf.options(systemProperty("lorica.itest.toyformat").value(toy == null ? "" : toy));
    }

    private AdapterLoader loader() {
        ServiceReference<AdapterLoader> reference = context.getServiceReference(AdapterLoader.class);
        assertNotNull("no AdapterLoader service", reference);
        return context.getService(reference);
    }

    private static Path adapterFolder() {
        return Path.of(System.getProperty("karaf.base")).resolve("adapters");
    }

    private static TinySafetensors kohyaSd15(float alpha) {
        String stem = "lora_unet_" + TO_Q.replace('.', '_');
        return new TinySafetensors()
                .filled(stem + ".lora_down.weight", new long[] {2, 320}, 0.01f)
                .filled(stem + ".lora_up.weight", new long[] {320, 2}, 0.02f)
                .tensor(stem + ".alpha", new long[0], alpha);
    }

    @Test
    public void builtInFormats_areOnTheWhiteboard() {
        assertTrue("formats: " + loader().formats(), loader().formats().containsAll(java.util.List.of("diffusers", "kohya", "lycoris")));
    }

    @Test
    public void adapterFolder_filesShowUpAndGoWithoutRestart_andLoadByName() throws Exception {
        Path file = adapterFolder().resolve("itest-kohya.safetensors");
        kohyaSd15(1f).write(file);
        Poll.until(TIMEOUT, "itest-kohya in the adapter folder listing", () -> loader().directoryAdapters().contains("itest-kohya"));
        LoraAdapter adapter = loader().load(new AdapterReference.DirectoryReference("itest-kohya"), ModelFamily.SD15);
        assertEquals("kohya", adapter.format());
        assertEquals(0.5f, adapter.modules(Component.UNET).get(TO_Q).scale(), 1e-6f);
        Files.delete(file);
        Poll.until(TIMEOUT, "itest-kohya gone from the listing", () -> !loader().directoryAdapters().contains("itest-kohya"));
    }

    @Test
    public void referenceOutsideTheRoots_isRefused() {
        Path outside = Path.of(System.getProperty("karaf.base")).resolve("etc").resolve("config.properties");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> loader().load(new AdapterReference.FileReference(outside), ModelFamily.SD15));
        assertTrue(e.getMessage(), e.getMessage().contains(outside.getFileName().toString()));
    }

    @Test
    public void thirdPartyFormatBundle_isUsedAtOnce_andItsDepartureIsHandled() throws Exception {
        String location = System.getProperty("lorica.itest.toyformat");
        assertTrue("toy format bundle not built: " + location, location != null && !location.isEmpty());
        Path file = adapterFolder().resolve("itest-toy.safetensors");
        new TinySafetensors()
                .metadata("format", "toy").metadata("alpha", "4")
                .filled("toy/unet/" + TO_Q + "/down", new long[] {2, 320}, 0.01f)
                .filled("toy/unet/" + TO_Q + "/up", new long[] {320, 2}, 0.02f)
                .write(file);
        AdapterReference reference = new AdapterReference.DirectoryReference("itest-toy");
        Poll.until(TIMEOUT, "itest-toy listed", () -> loader().directoryAdapters().contains("itest-toy"));
        AdapterFormatException before = assertThrows(AdapterFormatException.class, () -> loader().load(reference, ModelFamily.SD15));
        assertTrue(before.getMessage(), before.getMessage().contains("no adapter format recognises"));

        Bundle toy = context.installBundle(location);
        try {
            toy.start();
            Poll.until(TIMEOUT, "toy format offered", () -> loader().formats().contains("toy"));
            assertEquals("ranked above the built-in formats", "toy", loader().formats().get(0));
            LoraAdapter adapter = loader().load(reference, ModelFamily.SD15);
            assertEquals("toy", adapter.format());
            assertEquals(2.0f, adapter.modules(Component.UNET).get(TO_Q).scale(), 1e-6f);
        } finally {
            toy.uninstall();
        }
        Poll.until(TIMEOUT, "toy format withdrawn", () -> !loader().formats().contains("toy"));
        assertThrows(AdapterFormatException.class, () -> loader().load(reference, ModelFamily.SD15));
        assertFalse(loader().formats().isEmpty());
        Files.delete(file);
    }
}
