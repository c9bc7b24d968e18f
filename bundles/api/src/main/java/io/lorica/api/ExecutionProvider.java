package io.lorica.api;

import java.util.Arrays;
import java.util.stream.Collectors;

/** An ONNX Runtime execution provider an inference engine runs its sessions on. */
public enum ExecutionProvider {
    /** The default CPU provider ({@code CPUExecutionProvider}). */
    CPU("cpu", "CPUExecutionProvider"),
    /** NVIDIA CUDA ({@code CUDAExecutionProvider}), available with the {@code onnxruntime_gpu} build. */
    CUDA("cuda", "CUDAExecutionProvider");

    private final String id;
    private final String ortName;

    ExecutionProvider(String id, String ortName) {
        this.id = id;
        this.ortName = ortName;
    }

    /** The configuration name, e.g. {@code "cuda"}. */
    public String id() {
        return id;
    }

    /** The name ONNX Runtime reports for this provider, e.g. {@code "CUDAExecutionProvider"}. */
    public String ortName() {
        return ortName;
    }

    /**
     * The provider with the given configuration name.
     *
     * @throws IllegalArgumentException naming the value and the expected names when {@code id} is not one of them
     */
    public static ExecutionProvider fromId(String id) {
        for (ExecutionProvider provider : values()) {
            if (provider.id.equals(id)) {
                return provider;
            }
        }
        throw new IllegalArgumentException("unknown execution provider '" + id + "', expected one of "
                + Arrays.stream(values()).map(ExecutionProvider::id).collect(Collectors.joining(", ")));
    }
}
