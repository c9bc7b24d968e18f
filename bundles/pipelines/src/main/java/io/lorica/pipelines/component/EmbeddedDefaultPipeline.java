package io.lorica.pipelines.component;

import io.lorica.api.ModelFamily;
import io.lorica.api.pipeline.Pipeline;
import io.lorica.api.pipeline.PipelineProvider;
import io.lorica.pipelines.sd.ModelDirectory;
import io.lorica.testkit.PipelineSpec;
import io.lorica.testkit.PipelineWriter;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.osgi.framework.BundleContext;
import org.osgi.framework.InvalidSyntaxException;
import org.osgi.framework.ServiceRegistration;
import org.osgi.service.cm.ConfigurationAdmin;
import org.osgi.service.cm.ConfigurationEvent;
import org.osgi.service.cm.ConfigurationListener;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The embedded default pipeline (PID {@code io.lorica.pipelines}): while no pipeline is configured (no
 * {@code io.lorica.pipeline-*.cfg}), a tiny SD 1.5 (or SDXL) pipeline written by the Lorica test kit into the bundle's
 * data area is served as {@code tiny-sd15} (or {@code tiny-sdxl}), so that the console, REST API and shell work out of
 * the box. Its weights are random: it makes noise-like images, not pictures; the service says so with
 * {@code lorica.pipeline.random.weights = true}. Adding a configured pipeline withdraws it, removing the last one
 * brings it back.
 */
@Component(configurationPid = EmbeddedDefaultPipeline.PID, service = ConfigurationListener.class)
@Designate(ocd = EmbeddedDefaultPipeline.Config.class)
public final class EmbeddedDefaultPipeline implements ConfigurationListener {

    /** The configuration PID. */
    public static final String PID = "io.lorica.pipelines";

    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedDefaultPipeline.class);

    @ObjectClassDefinition(name = "Lorica pipelines",
            description = "The embedded default pipeline served while no io.lorica.pipeline configuration exists")
    @interface Config {
        @AttributeDefinition(name = "Embedded default", description = "Serve a tiny test-kit pipeline with RANDOM weights while no pipeline is configured")
        boolean embedded_default() default true;

        @AttributeDefinition(name = "Family", description = "sd15 or sdxl")
        String embedded_family() default "sd15";

        @AttributeDefinition(name = "Seed", description = "Seed of the random weights")
        long embedded_seed() default 0;
    }

    private final BundleContext context;
    private final ConfigurationAdmin configurationAdmin;
    private final PipelineProvider provider;
    private final boolean enabled;
    private final ModelFamily family;
    private final long seed;
    private final ExecutorService worker = Executors.newSingleThreadExecutor(r -> {
        Thread thread = new Thread(r, "lorica-embedded-pipeline");
        thread.setDaemon(true);
        return thread;
    });

    /** Guarded by {@code this}. */
    private Pipeline pipeline;
    private ServiceRegistration<Pipeline> registration;
    private boolean stopped;

    /** Checks the configuration and serves the default pipeline in the background when nothing else is configured. */
    @Activate
    public EmbeddedDefaultPipeline(BundleContext context, Config config, @Reference ConfigurationAdmin configurationAdmin,
            @Reference(target = "(" + StableDiffusionProvider.PROVIDER_PROPERTY + "=" + StableDiffusionProvider.NAME
                    + ")") PipelineProvider provider) {
        this.context = context;
        this.configurationAdmin = configurationAdmin;
        this.provider = provider;
        this.enabled = config.embedded_default();
        this.family = ModelFamily.fromId(config.embedded_family().trim());
        this.seed = config.embedded_seed();
        worker.execute(this::reconcile);
    }

    @Override
    public void configurationEvent(ConfigurationEvent event) {
        if (ConfiguredPipeline.FACTORY_PID.equals(event.getFactoryPid())) {
            worker.execute(this::reconcile);
        }
    }

    /** Serves or withdraws the default pipeline to match the configuration. */
    private synchronized void reconcile() {
        if (stopped) {
            return;
        }
        boolean wanted = enabled && !pipelinesConfigured();
        try {
            if (wanted && pipeline == null) {
                start();
            } else if (!wanted && pipeline != null) {
                LOG.info("embedded default pipeline withdrawn: a pipeline is configured");
                stop();
            }
        } catch (RuntimeException e) {
            LOG.error("embedded default pipeline: {}", e.toString(), e);
        }
    }

    private boolean pipelinesConfigured() {
        try {
            return configurationAdmin.listConfigurations("(service.factoryPid=" + ConfiguredPipeline.FACTORY_PID
                    + ")") != null;
        } catch (IOException | InvalidSyntaxException e) {
            throw new IllegalStateException("cannot list the pipeline configurations: " + e, e);
        }
    }

    private void start() {
        String id = "tiny-" + family.id();
        Path folder = context.getDataFile("models/" + id + "-seed-" + seed).toPath();
        if (!Files.isRegularFile(folder.resolve("model_index.json"))) {
            write(folder);
        }
        ModelDirectory directory = ModelDirectory.read(folder);
        Pipeline opened = provider.open(ConfiguredPipeline.descriptor(id, directory, 20, -1, "default"));
        pipeline = opened;
        registration = ConfiguredPipeline.register(context, opened, directory, true);
        LOG.warn("serving the embedded default pipeline '{}' from {}: its weights are RANDOM (Lorica test kit), it makes"
                + " noise, not pictures; configure a real model in etc/io.lorica.pipeline-NAME.cfg", id, folder);
    }

    /** Writes the pipeline into a sibling folder, then moves it in place: never a half-written model. */
    private void write(Path folder) {
        Path partial = folder.resolveSibling(folder.getFileName() + ".partial");
        try {
            deleteTree(partial);
            deleteTree(folder);
            Files.createDirectories(partial.getParent());
            PipelineWriter.write(partial, PipelineSpec.tiny(family), seed);
            Files.move(partial, folder, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the embedded default pipeline to " + folder, e);
        }
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path p : (Iterable<Path>) paths.sorted(Comparator.reverseOrder())::iterator) {
                Files.delete(p);
            }
        }
    }

    private void stop() {
        if (registration != null) {
            try {
                registration.unregister();
            } catch (IllegalStateException alreadyGone) {
                // the bundle is stopping
            }
            registration = null;
        }
        if (pipeline != null) {
            pipeline.close();
            pipeline = null;
        }
    }

    /** Withdraws and closes the default pipeline (after its running generations). */
    @Deactivate
    void deactivate() {
        worker.shutdown();
        try {
            worker.awaitTermination(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (this) {
            stopped = true;
            stop();
        }
    }
}
