package io.lorica.ort;

import java.time.Duration;
import java.util.Objects;

import ai.onnxruntime.OrtProvider;

/**
 * The outcome of {@link OrtRuntime#selfTest()}.
 *
 * @param provider the provider the check ran on
 * @param sessionCreation time to create the session
 * @param run time of the single run
 * @param maxAbsError largest absolute difference between the model's output and the expected values
 */
public record SelfTest(OrtProvider provider, Duration sessionCreation, Duration run, double maxAbsError) {
    public SelfTest {
        Objects.requireNonNull(provider, "provider");
        Objects.requireNonNull(sessionCreation, "sessionCreation");
        Objects.requireNonNull(run, "run");
        if (!(maxAbsError >= 0)) {
            throw new IllegalArgumentException("maxAbsError must be a non-negative number, got " + maxAbsError);
        }
    }
}
