package io.lorica.benchmarks;

import java.nio.file.Path;
import java.util.Optional;
import java.util.Set;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;
import io.lorica.ort.OrtRuntime;
import io.lorica.ort.RuntimeSettings;
import io.lorica.ort.SelfTest;

/**
 * A CPU-only {@link OrtRuntime} for benchmarks (the real implementation's package is not exported; this mirrors the
 * engine tests' runtime): the default environment, sessions with {@code threads} intra-op threads.
 */
final class BenchRuntime implements OrtRuntime {

    private final int threads;

    BenchRuntime(int threads) {
        this.threads = threads;
    }

    @Override
    public OrtEnvironment environment() {
        return OrtEnvironment.getEnvironment();
    }

    @Override
    public String version() {
        return "benchmark";
    }

    @Override
    public String flavour() {
        return "cpu";
    }

    @Override
    public OrtProvider selectedProvider() {
        return OrtProvider.CPU;
    }

    @Override
    public Set<OrtProvider> usableProviders() {
        return Set.of(OrtProvider.CPU);
    }

    @Override
    public Optional<String> fallbackReason() {
        return Optional.empty();
    }

    @Override
    public RuntimeSettings settings() {
        return null;
    }

    @Override
    public Path nativeDirectory() {
        return null;
    }

    @Override
    public OrtSession.SessionOptions newSessionOptions() throws OrtException {
        OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        options.setIntraOpNumThreads(threads);
        options.setInterOpNumThreads(1);
        return options;
    }

    @Override
    public SelfTest selfTest() {
        throw new UnsupportedOperationException();
    }
}
