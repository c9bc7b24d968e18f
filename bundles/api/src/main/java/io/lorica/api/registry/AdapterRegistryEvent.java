package io.lorica.api.registry;

import io.lorica.api.AdapterNames;
import io.lorica.api.policy.AdapterSettings;

import java.util.ArrayList;
import java.util.List;

/**
 * A change of one pipeline's adapter registry, delivered to {@link AdapterRegistryListener}s after it took effect.
 *
 * @param kind         what happened
 * @param pipelineId   the id of the pipeline whose registry changed
 * @param adapterNames the adapters concerned, in order (empty for enable/disable)
 * @param defaults     the registry's default settings after the change
 */
public record AdapterRegistryEvent(Kind kind, String pipelineId, List<String> adapterNames,
        AdapterSettings defaults) {

    /** @throws IllegalArgumentException when a field is null or blank or an adapter name is invalid */
    public AdapterRegistryEvent {
        if (kind == null || defaults == null) {
            throw new IllegalArgumentException("kind and defaults must not be null");
        }
        if (pipelineId == null || pipelineId.isBlank()) {
            throw new IllegalArgumentException("pipelineId must not be blank, got '" + pipelineId + "'");
        }
        if (adapterNames == null) {
            throw new IllegalArgumentException("adapterNames must not be null");
        }
        for (String name : new ArrayList<>(adapterNames)) {
            AdapterNames.require(name, "adapter name in event");
        }
        adapterNames = List.copyOf(adapterNames);
    }

    /** The kind of change. */
    public enum Kind {
        /** An adapter was loaded ({@code load_lora_weights}). */
        LOADED,
        /** Adapters were deleted ({@code delete_adapters}). */
        DELETED,
        /** The default settings changed ({@code set_adapters}, {@code enable_lora}, {@code disable_lora}). */
        SETTINGS_CHANGED,
        /** Adapters were fused ({@code fuse_lora}). */
        FUSED,
        /** Adapters were unfused ({@code unfuse_lora}). */
        UNFUSED
    }
}
