package io.lorica.ort;

import java.util.Objects;

import ai.onnxruntime.OrtSession.SessionOptions.OptLevel;

/**
 * Effective settings of the ONNX Runtime service (configuration PID {@code io.lorica.onnxruntime}).
 *
 * @param provider which execution provider to use
 * @param cudaDevice the CUDA device ordinal
 * @param gpuMemLimitBytes the CUDA arena limit in bytes, 0 for no limit
 * @param intraOpThreads threads inside one operator, 0 for ONNX Runtime's choice
 * @param interOpThreads threads across operators, 0 for ONNX Runtime's choice
 * @param optimization the graph optimisation level
 * @param memoryPattern whether ONNX Runtime pre-plans memory for fixed shapes
 * @param cpuArena whether the CPU memory arena is used
 * @param nativeDirectory where the natives are unpacked; empty for the bundle's data area
 */
public record RuntimeSettings(ProviderRequest provider, int cudaDevice, long gpuMemLimitBytes, int intraOpThreads,
                              int interOpThreads, OptLevel optimization, boolean memoryPattern, boolean cpuArena,
                              String nativeDirectory) {
    public RuntimeSettings {
        Objects.requireNonNull(provider, "provider");
        Objects.requireNonNull(optimization, "optimization");
        Objects.requireNonNull(nativeDirectory, "nativeDirectory");
        if (cudaDevice < 0) {
            throw new IllegalArgumentException("cuda.device must be >= 0, got " + cudaDevice);
        }
        if (gpuMemLimitBytes < 0) {
            throw new IllegalArgumentException("gpu.mem.limit must be >= 0 (0 = no limit), got " + gpuMemLimitBytes);
        }
        if (intraOpThreads < 0 || intraOpThreads > 1024) {
            throw new IllegalArgumentException("intra.op.threads must be in [0, 1024] (0 = ONNX Runtime's choice), got " + intraOpThreads);
        }
        if (interOpThreads < 0 || interOpThreads > 1024) {
            throw new IllegalArgumentException("inter.op.threads must be in [0, 1024] (0 = ONNX Runtime's choice), got " + interOpThreads);
        }
    }
}
