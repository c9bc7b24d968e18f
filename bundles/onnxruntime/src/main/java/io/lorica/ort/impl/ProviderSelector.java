package io.lorica.ort.impl;

import java.util.Collections;
import java.util.EnumSet;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.function.Supplier;

import ai.onnxruntime.OrtProvider;
import io.lorica.ort.ProviderRequest;

/** Chooses the execution provider from the configuration, the providers the ONNX Runtime build has, and a CUDA probe. */
final class ProviderSelector {

    /** The outcome of a selection. */
    record Selection(OrtProvider selected, Set<OrtProvider> usable, Optional<String> fallbackReason) {
        Selection {
            Objects.requireNonNull(selected, "selected");
            usable = Collections.unmodifiableSet(EnumSet.copyOf(usable));
            Objects.requireNonNull(fallbackReason, "fallbackReason");
        }
    }

    private ProviderSelector() {
    }

    /**
     * @param request what the configuration asks for
     * @param built the providers compiled into the ONNX Runtime build ({@code OrtEnvironment.getAvailableProviders()},
     *              which lists CUDA for the GPU build even on a machine without a GPU)
     * @param cudaProbe tries to initialise CUDA; returns empty on success, else why it failed
     * @throws IllegalStateException when CUDA is required but cannot be used
     */
    static Selection select(ProviderRequest request, Set<OrtProvider> built, Supplier<Optional<String>> cudaProbe) {
        EnumSet<OrtProvider> usable = EnumSet.of(OrtProvider.CPU);
        Optional<String> cudaProblem;
        if (!built.contains(OrtProvider.CUDA)) {
            cudaProblem = Optional.of("this ONNX Runtime build has no CUDA execution provider (install the lorica-onnxruntime-cuda bundle for GPUs)");
        } else {
            cudaProblem = cudaProbe.get();
        }
        if (cudaProblem.isEmpty()) {
            usable.add(OrtProvider.CUDA);
        }
        return switch (request) {
            case CPU -> new Selection(OrtProvider.CPU, usable, Optional.empty());
            case CUDA -> {
                if (cudaProblem.isPresent()) {
                    throw new IllegalStateException("provider=cuda is configured but CUDA cannot be used: " + cudaProblem.get());
                }
                yield new Selection(OrtProvider.CUDA, usable, Optional.empty());
            }
            case AUTO -> cudaProblem.isEmpty()
                    ? new Selection(OrtProvider.CUDA, usable, Optional.empty())
                    : new Selection(OrtProvider.CPU, usable, Optional.of("CUDA unavailable: " + cudaProblem.get()));
        };
    }
}
