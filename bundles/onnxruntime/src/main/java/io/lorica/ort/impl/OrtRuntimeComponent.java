package io.lorica.ort.impl;

import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Dictionary;
import java.util.Enumeration;
import java.util.Hashtable;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeSet;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtLoggingLevel;
import ai.onnxruntime.OrtProvider;
import io.lorica.config.LayeredConfiguration;
import io.lorica.ort.OrtRuntime;
import io.lorica.ort.RuntimeSettings;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceRegistration;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;
import org.osgi.service.metatype.annotations.Option;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Declarative Services wrapper of {@link OrtRuntimeImpl}: unpacks the natives once, initialises the environment,
 * registers the {@link OrtRuntime} service with its provider as service properties, and applies configuration
 * changes without a restart.
 *
 * <p>The service is registered by hand rather than by DS so that its properties can carry the selected provider,
 * which is computed, not configured.
 */
@Component(service = {}, immediate = true, configurationPid = OrtConfig.PID)
@Designate(ocd = OrtRuntimeComponent.Config.class)
public final class OrtRuntimeComponent {

    /** System property ONNX Runtime reads its native folder from. */
    static final String NATIVE_PATH_PROPERTY = "onnxruntime.native.path";
    /** System property recording the folder this bundle set, to tell it from one the user set. */
    static final String INSTALLED_PATH_PROPERTY = "lorica.internal.onnxruntime.natives";

    private static final Logger LOG = LoggerFactory.getLogger(OrtRuntimeComponent.class);

    /** The native folder this class loader loaded ONNX Runtime from; natives load once per class loader. */
    private static volatile Path loadedFrom;

    @ObjectClassDefinition(name = "Lorica ONNX Runtime",
            description = "Execution provider, threads and native libraries of the shared ONNX Runtime. "
                    + "System properties lorica.onnxruntime.<key> and environment variables LORICA_ONNXRUNTIME_<KEY> override these values.")
    @interface Config {
        @AttributeDefinition(name = "Execution provider",
                description = "auto: CUDA when it initialises, otherwise CPU with a warning; cpu; cuda: fail without CUDA",
                options = {@Option(label = "auto", value = "auto"), @Option(label = "cpu", value = "cpu"),
                        @Option(label = "cuda", value = "cuda")})
        String provider() default "auto";

        @AttributeDefinition(name = "CUDA device", description = "CUDA device ordinal", min = "0")
        int cuda_device() default 0;

        @AttributeDefinition(name = "GPU memory limit", description = "CUDA arena limit in bytes; 0 for no limit", min = "0")
        long gpu_mem_limit() default 0L;

        @AttributeDefinition(name = "Intra-op threads", description = "Threads inside one operator; 0 lets ONNX Runtime choose", min = "0")
        int intra_op_threads() default 0;

        @AttributeDefinition(name = "Inter-op threads", description = "Threads across operators; 0 lets ONNX Runtime choose", min = "0")
        int inter_op_threads() default 0;

        @AttributeDefinition(name = "Graph optimisation", description = "none, basic, extended or all",
                options = {@Option(label = "none", value = "none"), @Option(label = "basic", value = "basic"),
                        @Option(label = "extended", value = "extended"), @Option(label = "all", value = "all")})
        String optimization() default "all";

        @AttributeDefinition(name = "Memory pattern", description = "Pre-plan memory for fixed input shapes")
        boolean memory_pattern() default true;

        @AttributeDefinition(name = "CPU arena", description = "Use ONNX Runtime's CPU memory arena")
        boolean cpu_arena() default true;

        @AttributeDefinition(name = "Native folder",
                description = "Where the ONNX Runtime natives are unpacked once; empty for the bundle's data area. Takes effect at the next JVM start.")
        String native_dir() default "";
    }

    private OrtRuntimeImpl runtime;
    private ServiceRegistration<OrtRuntime> registration;

    @Activate
    void activate(BundleContext context, Map<String, Object> properties) {
        LayeredConfiguration config = layered(properties);
        RuntimeSettings settings = OrtConfig.settings(config);
        Bundle bundle = context.getBundle();
        String version = header(bundle, "Lorica-OnnxRuntime-Version");
        String flavour = header(bundle, "Lorica-OnnxRuntime-Flavour");

        Path nativeDirectory = prepareNatives(context, settings, version, flavour);
        OrtEnvironment environment;
        try {
            environment = OrtEnvironment.getEnvironment(OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING, "lorica");
        } catch (LinkageError | RuntimeException e) {
            throw new IllegalStateException("ONNX Runtime " + version + " natives in " + nativeDirectory
                    + " could not be loaded: " + e, e);
        }
        runtime = new OrtRuntimeImpl(environment, version, flavour, nativeDirectory, settings);
        runtime.fallbackReason().ifPresent(reason -> LOG.warn("ONNX Runtime: {}; using the CPU execution provider", reason));
        LOG.info("ONNX Runtime {} ({} build) ready: execution provider {}, usable {}", version, flavour,
                runtime.selectedProvider(), runtime.usableProviders());
        registration = context.registerService(OrtRuntime.class, runtime, serviceProperties(runtime));
    }

    @Modified
    void modified(Map<String, Object> properties) {
        LayeredConfiguration config = layered(properties);
        RuntimeSettings settings = OrtConfig.settings(config);
        if (!settings.nativeDirectory().equals(runtime.settings().nativeDirectory())) {
            LOG.warn("ONNX Runtime: native.dir changed to '{}'; natives are loaded once per JVM, so this takes effect at the next start",
                    settings.nativeDirectory());
        }
        OrtProvider before = runtime.selectedProvider();
        boolean reasonChanged = runtime.update(settings);
        // one WARN line per fall-back: again only when the provider actually changed to CPU
        if (reasonChanged && runtime.fallbackReason().isPresent()) {
            if (before != runtime.selectedProvider()) {
                LOG.warn("ONNX Runtime: {}; using the CPU execution provider", runtime.fallbackReason().get());
            } else {
                LOG.debug("ONNX Runtime: still on CPU: {}", runtime.fallbackReason().get());
            }
        }
        LOG.info("ONNX Runtime reconfigured: execution provider {}, settings {}", runtime.selectedProvider(), settings);
        registration.setProperties(serviceProperties(runtime));
    }

    @Deactivate
    void deactivate() {
        if (registration != null) {
            try {
                registration.unregister();
            } catch (IllegalStateException alreadyGone) {
                // the framework unregisters services of a stopping bundle itself
            }
            registration = null;
        }
        // the OrtEnvironment is process-wide and is never closed: a later activation reuses it
        runtime = null;
    }

    private static LayeredConfiguration layered(Map<String, Object> properties) {
        LayeredConfiguration config = LayeredConfiguration.of(OrtConfig.SCOPE, OrtConfig.DEFAULTS, properties);
        if (!config.unknownKeys().isEmpty()) {
            LOG.warn("ONNX Runtime: ignoring unknown configuration keys {} of {}; known keys are {}",
                    config.unknownKeys(), OrtConfig.PID, OrtConfig.DEFAULTS.keySet());
        }
        return config;
    }

    private static Dictionary<String, Object> serviceProperties(OrtRuntimeImpl runtime) {
        Hashtable<String, Object> properties = new Hashtable<>();
        properties.put(OrtRuntime.PROP_PROVIDER, runtime.selectedProvider().name());
        List<String> usable = new ArrayList<>();
        for (OrtProvider provider : runtime.usableProviders()) {
            usable.add(provider.name());
        }
        properties.put(OrtRuntime.PROP_USABLE_PROVIDERS, usable.toArray(new String[0]));
        properties.put(OrtRuntime.PROP_ORT_VERSION, runtime.version());
        properties.put(OrtRuntime.PROP_FLAVOUR, runtime.flavour());
        properties.put("intra.op.threads", runtime.settings().intraOpThreads());
        properties.put("inter.op.threads", runtime.settings().interOpThreads());
        properties.put("optimization", runtime.settings().optimization().name());
        return properties;
    }

    private static String header(Bundle bundle, String name) {
        String value = bundle.getHeaders("").get(name);
        if (value == null || value.isBlank()) {
            throw new IllegalStateException("bundle " + bundle.getSymbolicName() + " has no " + name + " header");
        }
        return value.trim();
    }

    /**
     * Unpacks the natives for this platform (once) and points ONNX Runtime at them. A folder the user set through
     * {@code -Donnxruntime.native.path} is used as given.
     */
    private static synchronized Path prepareNatives(BundleContext context, RuntimeSettings settings, String version,
                                                    String flavour) {
        if (loadedFrom != null) {
            return loadedFrom;
        }
        String preset = System.getProperty(NATIVE_PATH_PROPERTY);
        // a folder set by an earlier revision of this bundle (e.g. the CPU build before an update to the CUDA build)
        // is not the user's choice: unpack this revision's natives
        if (preset != null && !preset.isBlank() && !preset.equals(System.getProperty(INSTALLED_PATH_PROPERTY))) {
            LOG.info("ONNX Runtime natives: using {}={}", NATIVE_PATH_PROPERTY, preset);
            loadedFrom = Path.of(preset);
            return loadedFrom;
        }
        String platform = NativePlatform.current();
        List<NativeLibraryInstaller.NativeFile> files = nativeFiles(context.getBundle(), platform);
        Path base = settings.nativeDirectory().isEmpty()
                ? Objects.requireNonNull(context.getDataFile("natives"), "the framework gives this bundle no data area; set native.dir").toPath()
                : Path.of(settings.nativeDirectory());
        Path target = base.resolve(version + "-" + flavour).resolve(platform).toAbsolutePath();
        NativeLibraryInstaller.install(target, "onnxruntime " + version + " " + flavour + " " + platform, files);
        System.setProperty(NATIVE_PATH_PROPERTY, target.toString());
        System.setProperty(INSTALLED_PATH_PROPERTY, target.toString());
        loadedFrom = target;
        return target;
    }

    private static List<NativeLibraryInstaller.NativeFile> nativeFiles(Bundle bundle, String platform) {
        String folder = "ai/onnxruntime/native/" + platform;
        Enumeration<URL> entries = bundle.findEntries(folder, "*", false);
        List<NativeLibraryInstaller.NativeFile> files = new ArrayList<>();
        if (entries != null) {
            for (URL url : Collections.list(entries)) {
                String path = url.getPath();
                if (path.endsWith("/")) {
                    continue;
                }
                String name = path.substring(path.lastIndexOf('/') + 1);
                long size;
                try {
                    size = url.openConnection().getContentLengthLong();
                } catch (IOException e) {
                    throw new IllegalStateException("cannot read native entry " + path + " of " + bundle.getSymbolicName(), e);
                }
                files.add(new NativeLibraryInstaller.NativeFile() {
                    @Override
                    public String name() {
                        return name;
                    }

                    @Override
                    public long size() {
                        return size;
                    }

                    @Override
                    public InputStream open() throws IOException {
                        return url.openStream();
                    }
                });
            }
        }
        if (files.isEmpty()) {
            TreeSet<String> carried = new TreeSet<>();
            Enumeration<String> platforms = bundle.getEntryPaths("ai/onnxruntime/native/");
            if (platforms != null) {
                Collections.list(platforms).forEach(p -> carried.add(p.replaceAll(".*/native/|/$", "")));
            }
            throw new IllegalStateException("bundle " + bundle.getSymbolicName() + " carries no ONNX Runtime natives for "
                    + platform + "; it carries " + carried);
        }
        return files;
    }
}
