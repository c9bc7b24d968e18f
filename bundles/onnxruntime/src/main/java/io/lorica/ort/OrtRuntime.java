package io.lorica.ort;

import java.nio.file.Path;
import java.util.Optional;
import java.util.Set;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;
import org.osgi.annotation.versioning.ProviderType;

/**
 * The process-wide ONNX Runtime of a Lorica container.
 *
 * <p>The service is registered with the properties {@link #PROP_PROVIDER}, {@link #PROP_USABLE_PROVIDERS},
 * {@link #PROP_ORT_VERSION} and {@link #PROP_FLAVOUR}, so that consumers (and the console) can see the chosen
 * execution provider without importing ONNX Runtime. When the configuration changes the registration is updated in
 * place; sessions created before keep the options they were created with.
 */
@ProviderType
public interface OrtRuntime {

    /** Service property: the chosen execution provider, e.g. {@code CPU} or {@code CUDA}. */
    String PROP_PROVIDER = "lorica.execution.provider";
    /** Service property: the usable execution providers, e.g. {@code [CPU]}. */
    String PROP_USABLE_PROVIDERS = "lorica.execution.providers";
    /** Service property: the ONNX Runtime version, e.g. {@code 1.29.0}. */
    String PROP_ORT_VERSION = "lorica.onnxruntime.version";
    /** Service property: which ONNX Runtime build is packaged, {@code cpu} or {@code cuda}. */
    String PROP_FLAVOUR = "lorica.onnxruntime.flavour";

    /** The shared environment. Never close it: it lives as long as the JVM. */
    OrtEnvironment environment();

    /** The ONNX Runtime version, e.g. {@code 1.29.0}. */
    String version();

    /** The packaged ONNX Runtime build: {@code cpu} or {@code cuda}. */
    String flavour();

    /** The execution provider sessions are created for. */
    OrtProvider selectedProvider();

    /** The providers that can be used on this machine (CPU always; CUDA only when it initialised). */
    Set<OrtProvider> usableProviders();

    /** Why a requested or preferred provider was not chosen; empty when the first choice was taken. */
    Optional<String> fallbackReason();

    /** The effective settings. */
    RuntimeSettings settings();

    /** The folder the ONNX Runtime natives were loaded from. */
    Path nativeDirectory();

    /**
     * New session options for the selected provider, with the configured threads and optimisation level.
     * The caller owns them and must close them.
     *
     * @throws OrtException if ONNX Runtime refuses an option
     */
    OrtSession.SessionOptions newSessionOptions() throws OrtException;

    /**
     * Builds a tiny model in memory, runs it once on the selected provider and checks the result: proof that the
     * natives load and the provider executes.
     *
     * @throws IllegalStateException naming what failed
     */
    SelfTest selfTest();
}
