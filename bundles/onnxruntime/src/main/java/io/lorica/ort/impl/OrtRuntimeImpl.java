package io.lorica.ort.impl;

import java.nio.FloatBuffer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.providers.OrtCUDAProviderOptions;
import io.lorica.ort.OrtRuntime;
import io.lorica.ort.RuntimeSettings;
import io.lorica.ort.SelfTest;

/**
 * The plain-Java core of the ONNX Runtime service: the environment, the effective settings and the provider
 * selection. Settings changes replace an immutable state snapshot atomically; readers take it once.
 */
public final class OrtRuntimeImpl implements OrtRuntime {

    private record State(RuntimeSettings settings, ProviderSelector.Selection selection) {
    }

    private final OrtEnvironment environment;
    private final String version;
    private final String flavour;
    private final Path nativeDirectory;
    private volatile State state;

    /**
     * Selects the provider for {@code settings} (probing CUDA when the build has it).
     *
     * @throws IllegalStateException when {@code provider=cuda} is configured and CUDA cannot be used
     */
    public OrtRuntimeImpl(OrtEnvironment environment, String version, String flavour, Path nativeDirectory,
                          RuntimeSettings settings) {
        this.environment = Objects.requireNonNull(environment, "environment");
        this.version = Objects.requireNonNull(version, "version");
        this.flavour = Objects.requireNonNull(flavour, "flavour");
        this.nativeDirectory = Objects.requireNonNull(nativeDirectory, "nativeDirectory");
        this.state = select(settings);
    }

    /**
     * A runtime outside an OSGi container (command line, tests, benchmarks): ONNX Runtime loads its natives the way it
     * does on a plain class path, and the provider is selected for {@code settings} as in the container.
     */
    public static OrtRuntimeImpl standalone(RuntimeSettings settings) {
        String flavour = OrtEnvironment.getAvailableProviders().contains(OrtProvider.CUDA) ? "cuda" : "cpu";
        return new OrtRuntimeImpl(OrtEnvironment.getEnvironment(), "standalone", flavour,
                Path.of(System.getProperty("onnxruntime.native.path", "")), settings);
    }

    /**
     * Applies new settings: the provider is selected again, the environment stays.
     *
     * @return the previous fallback reason differs from the new one (callers log the change)
     * @throws IllegalStateException when {@code provider=cuda} is configured and CUDA cannot be used; the old
     *                               settings stay in force
     */
    public boolean update(RuntimeSettings settings) {
        State next = select(settings);
        State previous = state;
        state = next;
        return !previous.selection().fallbackReason().equals(next.selection().fallbackReason());
    }

    private State select(RuntimeSettings settings) {
        Set<OrtProvider> built = OrtEnvironment.getAvailableProviders();
        ProviderSelector.Selection selection = ProviderSelector.select(settings.provider(), built,
                () -> probeCuda(settings));
        return new State(settings, selection);
    }

    private Optional<String> probeCuda(RuntimeSettings settings) {
        try {
            runTinyModel(settings, OrtProvider.CUDA);
            return Optional.empty();
        } catch (OrtException | RuntimeException | LinkageError e) {
            // one line: ONNX Runtime's messages can span several
            String message = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage().strip().replaceAll("\\s+", " ");
            return Optional.of("CUDA device " + settings.cudaDevice() + " did not initialise: " + message);
        }
    }

    @Override
    public OrtEnvironment environment() {
        return environment;
    }

    @Override
    public String version() {
        return version;
    }

    @Override
    public String flavour() {
        return flavour;
    }

    @Override
    public OrtProvider selectedProvider() {
        return state.selection().selected();
    }

    @Override
    public Set<OrtProvider> usableProviders() {
        return state.selection().usable();
    }

    @Override
    public Optional<String> fallbackReason() {
        return state.selection().fallbackReason();
    }

    @Override
    public RuntimeSettings settings() {
        return state.settings();
    }

    @Override
    public Path nativeDirectory() {
        return nativeDirectory;
    }

    @Override
    public OrtSession.SessionOptions newSessionOptions() throws OrtException {
        State current = state;
        return sessionOptions(current.settings(), current.selection().selected());
    }

    private static OrtSession.SessionOptions sessionOptions(RuntimeSettings settings, OrtProvider provider) throws OrtException {
        OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        try {
            options.setOptimizationLevel(settings.optimization());
            if (settings.intraOpThreads() > 0) {
                options.setIntraOpNumThreads(settings.intraOpThreads());
            }
            if (settings.interOpThreads() > 0) {
                options.setInterOpNumThreads(settings.interOpThreads());
            }
            options.setMemoryPatternOptimization(settings.memoryPattern());
            options.setCPUArenaAllocator(settings.cpuArena());
            if (provider == OrtProvider.CUDA) {
                // owned by the session options from here on: SessionOptions.close() closes it
                OrtCUDAProviderOptions cuda = new OrtCUDAProviderOptions(settings.cudaDevice());
                if (settings.gpuMemLimitBytes() > 0) {
                    cuda.add("gpu_mem_limit", Long.toString(settings.gpuMemLimitBytes()));
                }
                options.addCUDA(cuda);
            }
            return options;
        } catch (OrtException | RuntimeException e) {
            options.close();
            throw e;
        }
    }

    @Override
    public SelfTest selfTest() {
        State current = state;
        try {
            return runTinyModel(current.settings(), current.selection().selected());
        } catch (OrtException e) {
            throw new IllegalStateException("ONNX Runtime self-test on " + current.selection().selected()
                    + " failed: " + e.getMessage(), e);
        }
    }

    private SelfTest runTinyModel(RuntimeSettings settings, OrtProvider provider) throws OrtException {
        long start = System.nanoTime();
        try (OrtSession.SessionOptions options = sessionOptions(settings, provider);
             OrtSession session = environment.createSession(TinyModel.bytes(), options)) {
            long created = System.nanoTime();
            FloatBuffer input = ByteBuffer.allocateDirect(TinyModel.INPUT.length * Float.BYTES)
                    .order(ByteOrder.nativeOrder()).asFloatBuffer().put(TinyModel.INPUT).flip();
            try (OnnxTensor x = OnnxTensor.createTensor(environment, input, new long[] {1, TinyModel.INPUT.length});
                 OrtSession.Result result = session.run(Map.of("x", x))) {
                long ran = System.nanoTime();
                float[][] y = (float[][]) result.get(0).getValue();
                float[] expected = TinyModel.expected();
                double maxError = 0;
                for (int j = 0; j < expected.length; j++) {
                    maxError = Math.max(maxError, Math.abs(y[0][j] - expected[j]));
                }
                if (!(maxError <= 1e-5)) {
                    throw new IllegalStateException("ONNX Runtime self-test on " + provider + " computed "
                            + java.util.Arrays.toString(y[0]) + ", expected " + java.util.Arrays.toString(expected));
                }
                return new SelfTest(provider, Duration.ofNanos(created - start), Duration.ofNanos(ran - created), maxError);
            }
        }
    }

    @Override
    public String toString() {
        State current = state;
        return "OrtRuntime[onnxruntime " + version + " (" + flavour + "), provider " + current.selection().selected()
                + ", usable " + current.selection().usable() + "]";
    }
}
