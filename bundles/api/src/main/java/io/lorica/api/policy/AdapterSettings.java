package io.lorica.api.policy;

import io.lorica.api.AdapterNames;

import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * An immutable snapshot of how adapters apply to a generation: the active adapters with their weights (what
 * {@code set_adapters} sets), whether LoRA is enabled ({@code enable_lora}/{@code disable_lora}) and the per-call
 * scale ({@code cross_attention_kwargs={"scale": c}}). A registry holds one as its defaults and replaces it atomically;
 * a request may carry its own.
 *
 * <p>Deviation from Diffusers, by design: the call scale is applied functionally ({@code alpha/r · w · c}), so a call
 * scale of 0 never wipes the weights and nothing is sticky between calls (Diffusers keeps the last call scale in a sticky property).
 *
 * @param adapters  active adapter name -> weight, in activation order (kept)
 * @param callScale Diffusers' per-call {@code scale}, finite; 1.0 by default
 * @param enabled   whether LoRA applies at all; when false the base model runs and the adapters stay configured
 */
public record AdapterSettings(Map<String, AdapterWeight> adapters, double callScale, boolean enabled) {

    private static final AdapterSettings NONE = new AdapterSettings(Map.of(), 1.0, true);

    /** @throws IllegalArgumentException naming the bad adapter name, weight or call scale */
    public AdapterSettings {
        if (adapters == null) {
            throw new IllegalArgumentException("adapters must not be null");
        }
        Map<String, AdapterWeight> copy = new LinkedHashMap<>();
        for (Map.Entry<String, AdapterWeight> entry : adapters.entrySet()) {
            AdapterNames.require(entry.getKey(), "adapter name");
            if (entry.getValue() == null) {
                throw new IllegalArgumentException("weight of adapter '" + entry.getKey()
                        + "' must not be null (use AdapterWeight.ONE for Diffusers' None)");
            }
            copy.put(entry.getKey(), entry.getValue());
        }
        adapters = Collections.unmodifiableMap(copy);
        if (!Double.isFinite(callScale)) {
            throw new IllegalArgumentException("callScale must be a finite number, got " + callScale);
        }
    }

    /** No active adapters, call scale 1.0, enabled: a pipeline's state before anything is loaded. */
    public static AdapterSettings none() {
        return NONE;
    }

    /**
     * The settings {@code set_adapters(names, weights)} produces, with call scale 1.0 and LoRA enabled.
     *
     * @param weights one weight per name, or null for 1.0 each (Diffusers' {@code adapter_weights=None})
     * @throws IllegalArgumentException when the lengths differ (Diffusers' "Length of adapter names {n} is not equal to
     *                                  the length of the weights {m}"), a name repeats or is invalid, or a weight is null
     */
    public static AdapterSettings of(List<String> names, List<AdapterWeight> weights) {
        if (names == null) {
            throw new IllegalArgumentException("adapter names must not be null");
        }
        if (weights != null && weights.size() != names.size()) {
            throw new IllegalArgumentException("Length of adapter names " + names.size()
                    + " is not equal to the length of the weights " + weights.size());
        }
        Map<String, AdapterWeight> map = new LinkedHashMap<>();
        for (int i = 0; i < names.size(); i++) {
            String name = names.get(i);
            if (map.containsKey(name)) {
                throw new IllegalArgumentException("adapter name '" + name + "' is listed twice in " + names
                        + ", expected distinct names");
            }
            map.put(name, weights == null ? AdapterWeight.ONE : weights.get(i));
        }
        return new AdapterSettings(map, 1.0, true);
    }

    /**
     * The settings {@code set_adapters(names, weight)} produces for one weight shared by every adapter; a shared
     * component dict applies to each adapter (not only the first, as in Diffusers).
     */
    public static AdapterSettings of(List<String> names, AdapterWeight sharedWeight) {
        if (names == null) {
            throw new IllegalArgumentException("adapter names must not be null");
        }
        return of(names, Collections.nCopies(names.size(), sharedWeight));
    }

    /** The active adapter names, in order. */
    public List<String> names() {
        return List.copyOf(adapters.keySet());
    }

    /** The weight of {@code name}, if it is active. */
    public Optional<AdapterWeight> weight(String name) {
        return Optional.ofNullable(adapters.get(name));
    }

    /** Whether LoRA is enabled and at least one adapter is active. */
    public boolean isEffective() {
        return enabled && !adapters.isEmpty();
    }

    /** These settings with another call scale. */
    public AdapterSettings withCallScale(double newCallScale) {
        return new AdapterSettings(adapters, newCallScale, enabled);
    }

    /** These settings with LoRA enabled or disabled. */
    public AdapterSettings withEnabled(boolean newEnabled) {
        return new AdapterSettings(adapters, callScale, newEnabled);
    }

    /** These settings with other active adapters, keeping call scale and enabled flag. */
    public AdapterSettings withAdapters(Map<String, AdapterWeight> newAdapters) {
        return new AdapterSettings(newAdapters, callScale, enabled);
    }

    /** These settings without the given adapters (what deleting them does to the active set). */
    public AdapterSettings without(Collection<String> names) {
        if (names == null) {
            throw new IllegalArgumentException("names must not be null");
        }
        Map<String, AdapterWeight> kept = new LinkedHashMap<>(adapters);
        kept.keySet().removeAll(names);
        return new AdapterSettings(kept, callScale, enabled);
    }
}
