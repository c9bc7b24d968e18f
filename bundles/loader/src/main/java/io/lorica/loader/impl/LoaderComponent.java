package io.lorica.loader.impl;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.SortedSet;
import java.util.TreeSet;

import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.format.AdapterFormat;
import io.lorica.api.format.AdapterLoader;
import io.lorica.api.format.Recognition;
import io.lorica.api.registry.AdapterReference;
import io.lorica.config.LayeredConfiguration;
import io.lorica.loader.source.AdapterDirectory;
import io.lorica.loader.source.AdapterRoots;
import io.lorica.loader.source.HubCache;
import io.lorica.loader.source.HubDownloader;
import io.lorica.models.ReferenceModels;
import org.osgi.framework.Constants;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Declarative Services wrapper of the loader: a whiteboard of {@link AdapterFormat} services (dynamic, any bundle),
 * the configured sources (adapter folder, extra roots, hub cache and downloader), and the {@link AdapterLoader}
 * service. A configuration change rebuilds the sources in place; loads in flight finish on the old ones.
 */
@Component(service = AdapterLoader.class, configurationPid = LoaderConfig.PID, immediate = true)
@Designate(ocd = LoaderComponent.Config.class)
public final class LoaderComponent implements AdapterLoader {

    private static final Logger LOG = LoggerFactory.getLogger(LoaderComponent.class);

    @ObjectClassDefinition(name = "Lorica LoRA loader",
            description = "Adapter folder, readable roots and hub cache of the LoRA loader. System properties lorica.loader.<key> "
                    + "and environment variables LORICA_LOADER_<KEY> override these values.")
    @interface Config {
        @AttributeDefinition(name = "Adapter folder", description = "Scanned and watched for *.safetensors adapters")
        String adapter_dir() default "adapters";

        @AttributeDefinition(name = "Extra roots", description = "Further readable folders, comma separated")
        String roots() default "";

        @AttributeDefinition(name = "Hub cache", description = "Local cache laid out like the Hugging Face hub cache")
        String hub_cache_dir() default "${sys:user.home}/.cache/huggingface/hub";

        @AttributeDefinition(name = "Hub endpoint", description = "Where missing hub files are downloaded from")
        String hub_endpoint() default "https://huggingface.co";

        @AttributeDefinition(name = "Offline", description = "Never download; only files already in the cache are used")
        boolean hub_offline() default false;

        @AttributeDefinition(name = "Hub token", description = "Bearer token for private repositories", type = org.osgi.service.metatype.annotations.AttributeType.PASSWORD)
        String hub_token() default "";

        @AttributeDefinition(name = "Connect timeout (ms)")
        long hub_connect_timeout_ms() default 5000L;

        @AttributeDefinition(name = "Read timeout (ms)")
        long hub_read_timeout_ms() default 30000L;

        @AttributeDefinition(name = "Largest download (bytes)")
        long hub_max_bytes() default 4L << 30;
    }

    /** Sources built from one configuration; replaced as a whole. */
    private record Sources(LoaderConfig config, AdapterRoots roots, HubDownloader hub, AdapterDirectory directory)
            implements AutoCloseable {
        Path resolve(AdapterReference reference) {
            if (reference instanceof AdapterReference.HubReference hubReference) {
                return roots.checkReadable(hub.resolve(hubReference));
            }
            return roots.resolve(reference);
        }

        @Override
        public void close() {
            if (directory != null) {
                directory.close();
            }
        }
    }

    private final FormatRegistry formats = new FormatRegistry();
    private final DefaultAdapterLoader loader = new DefaultAdapterLoader(formats, this::resolve, ReferenceModels::catalog);
    private volatile Sources sources;

    @Reference(service = AdapterFormat.class, cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC)
    void addFormat(AdapterFormat format, Map<String, Object> properties) {
        formats.add(format, ranking(properties), (Long) properties.get(Constants.SERVICE_ID));
        LOG.info("adapter format '{}' offered (ranking {})", format.name(), ranking(properties));
    }

    void removeFormat(AdapterFormat format, Map<String, Object> properties) {
        formats.remove((Long) properties.get(Constants.SERVICE_ID));
        LOG.info("adapter format '{}' withdrawn", format.name());
    }

    void updatedFormat(AdapterFormat format, Map<String, Object> properties) {
        addFormat(format, properties);
    }

    private static int ranking(Map<String, Object> properties) {
        return properties.get(Constants.SERVICE_RANKING) instanceof Integer ranking ? ranking : 0;
    }

    @Activate
    void activate(Map<String, Object> properties) {
        sources = build(properties);
    }

    @Modified
    void modified(Map<String, Object> properties) {
        Sources next = build(properties);
        Sources previous = sources;
        sources = next;
        previous.close();
    }

    @Deactivate
    void deactivate() {
        Sources current = sources;
        if (current != null) {
            current.close();
        }
    }

    private static Sources build(Map<String, Object> properties) {
        LayeredConfiguration layered = LayeredConfiguration.of(LoaderConfig.SCOPE, LoaderConfig.DEFAULTS, properties);
        if (!layered.unknownKeys().isEmpty()) {
            LOG.warn("LoRA loader: ignoring unknown configuration keys {} of {}; known keys are {}", layered.unknownKeys(),
                    LoaderConfig.PID, LoaderConfig.DEFAULTS.keySet());
        }
        LoaderConfig config = LoaderConfig.from(layered);
        try {
            Files.createDirectories(config.adapterDirectory());
        } catch (IOException e) {
            throw new UncheckedIOException("LoRA loader: cannot create the adapter folder " + config.adapterDirectory(), e);
        }
        AdapterRoots roots = new AdapterRoots(config.adapterDirectory(), config.hubCache(), config.extraRoots());
        HubDownloader.Builder hub = HubDownloader.builder(new HubCache(config.hubCache()))
                .endpoint(config.hubEndpoint())
                .connectTimeout(config.connectTimeout())
                .readTimeout(config.readTimeout())
                .maxBytes(config.maxBytes())
                .offline(config.hubOffline());
        if (!config.hubToken().isEmpty()) {
            hub.token(config.hubToken());
        }
        AdapterDirectory directory;
        try {
            directory = AdapterDirectory.open(config.adapterDirectory());
        } catch (IOException e) {
            throw new UncheckedIOException("LoRA loader: cannot watch the adapter folder " + config.adapterDirectory(), e);
        }
        directory.addListener(change -> LOG.info("adapter folder: {} {}", change.kind(), change.name()));
        LOG.info("LoRA loader: adapters in {}, hub cache {} ({}), roots {}", config.adapterDirectory(), config.hubCache(),
                config.hubOffline() ? "offline" : config.hubEndpoint(), roots.roots());
        return new Sources(config, roots, hub.build(), directory);
    }

    private Path resolve(AdapterReference reference) {
        return sources.resolve(reference);
    }

    @Override
    public List<String> formats() {
        return loader.formats();
    }

    @Override
    public SortedSet<String> directoryAdapters() {
        return Collections.unmodifiableSortedSet(new TreeSet<>(sources.directory().snapshot().keySet()));
    }

    @Override
    public Map<String, Recognition> recognise(AdapterReference reference) {
        return loader.recognise(reference);
    }

    @Override
    public LoraAdapter load(AdapterReference reference, ModelFamily family) {
        return loader.load(reference, family);
    }

    @Override
    public LoraAdapter load(AdapterReference reference, io.lorica.api.format.ModuleCatalog catalog) {
        return loader.load(reference, catalog);
    }
}
