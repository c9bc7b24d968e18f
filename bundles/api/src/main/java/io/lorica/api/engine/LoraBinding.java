package io.lorica.api.engine;

import java.util.List;

import org.osgi.annotation.versioning.ProviderType;

/**
 * LoRA prepared for one model and one adapter configuration, made by {@link ModelHandle#bind} and passed to
 * {@link ModelHandle#run}: in {@link LoraMode#DYNAMIC} mode the branch inputs to feed, in {@link LoraMode#FUSED} mode a
 * reference to a session with patched weights. Immutable and usable by several threads; a generation binds once and
 * runs every denoising step with it. Closing releases what it holds (a fused session is closed when its last binding
 * is closed and no run uses it).
 */
@ProviderType
public interface LoraBinding extends AutoCloseable {

    /** The mode this binding was made for. */
    LoraMode mode();

    /** The adapters that act through this binding, in activation order; empty for the base model. */
    List<String> adapterNames();

    /** The number of target layers with at least one adapter acting. */
    int layerCount();

    /** Releases what this binding holds; idempotent. Running with a closed binding throws IllegalStateException. */
    @Override
    void close();
}
