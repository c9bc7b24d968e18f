package io.lorica.policy.registry;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.policy.AdapterSettings;
import io.lorica.api.registry.AdapterReference;

import java.util.Collections;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * One consistent, immutable state of a {@link DefaultAdapterRegistry}: the loaded adapters, the default settings and
 * what is fused where, all from the same moment. A generation takes one snapshot (a single volatile read, no lock),
 * resolves its settings with {@link #effective(Optional)} and uses {@link #adapters()} and {@link #fused()} of the
 * same snapshot, so a concurrent {@code set_adapters}, load or delete can never give it a torn view (an active
 * adapter that is not loaded, a fused adapter without tensors, half of a settings change).
 *
 * <p>Invariants, checked on construction: every active adapter of {@link #defaults()} is loaded; every fused adapter
 * is loaded and has modules in the component it is recorded for.
 *
 * <p>State model (Diffusers' per-layer state, §1 of the LoRA semantics reference, reduced to values): per component,
 * {@code W_component = W_pristine + Σ_{a ∈ fused(component)} fusedScale[a] · ΔW_a} is what the engine's weights hold;
 * on top of it the adapters of the generation's settings that are <em>not</em> fused in that component act
 * dynamically with {@code alpha/r · w(layer) · callScale}. A fused adapter keeps acting whether or not it is still in
 * the active set and ignores the call scale, as in Diffusers; unlike Diffusers, active adapters that are not fused keep
 * acting in fused layers (Diffusers skips the whole LoRA branch of a merged layer).
 */
public final class RegistrySnapshot {

    private final ModelFamily family;
    private final long version;
    private final Map<String, LoraAdapter> adapters;
    private final Map<String, AdapterReference> sources;
    private final AdapterSettings defaults;
    private final Map<Component, Map<String, Float>> fused;
    private final Set<String> fusedAdapters;

    RegistrySnapshot(ModelFamily family, long version, Map<String, LoraAdapter> adapters,
            Map<String, AdapterReference> sources, AdapterSettings defaults, Map<Component, Map<String, Float>> fused) {
        this.family = family;
        this.version = version;
        this.adapters = Collections.unmodifiableMap(new LinkedHashMap<>(adapters));
        this.sources = Collections.unmodifiableMap(new LinkedHashMap<>(sources));
        this.defaults = defaults;
        Map<Component, Map<String, Float>> fusedCopy = new EnumMap<>(Component.class);
        fused.forEach((component, scales) -> {
            if (!scales.isEmpty()) {
                fusedCopy.put(component, Collections.unmodifiableMap(new LinkedHashMap<>(scales)));
            }
        });
        this.fused = Collections.unmodifiableMap(fusedCopy);
        Set<String> names = new LinkedHashSet<>();
        for (String name : this.adapters.keySet()) {
            if (this.fused.values().stream().anyMatch(m -> m.containsKey(name))) {
                names.add(name);
            }
        }
        this.fusedAdapters = Collections.unmodifiableSet(names);
        checkInvariants();
    }

    /** The state of a registry with nothing loaded. */
    static RegistrySnapshot empty(ModelFamily family) {
        return new RegistrySnapshot(family, 0, Map.of(), Map.of(), AdapterSettings.none(), Map.of());
    }

    private void checkInvariants() {
        if (!sources.keySet().equals(adapters.keySet())) {
            throw new IllegalStateException("sources " + sources.keySet() + " do not match adapters "
                    + adapters.keySet());
        }
        for (String active : defaults.adapters().keySet()) {
            if (!adapters.containsKey(active)) {
                throw new IllegalStateException("active adapter '" + active + "' is not loaded");
            }
        }
        fused.forEach((component, scales) -> scales.keySet().forEach(name -> {
            LoraAdapter adapter = adapters.get(name);
            if (adapter == null || adapter.modules(component).isEmpty()) {
                throw new IllegalStateException("adapter '" + name + "' is recorded as fused into " + component
                        + " but has no modules there");
            }
        }));
    }

    /** The model family of the registry. */
    public ModelFamily family() {
        return family;
    }

    /** A number that grows with every change of the registry (0 for a new one); equal versions mean equal state. */
    public long version() {
        return version;
    }

    /** The loaded adapters by name, in load order; immutable. */
    public Map<String, LoraAdapter> adapters() {
        return adapters;
    }

    /** Where each loaded adapter came from, by name, in load order; immutable. */
    public Map<String, AdapterReference> sources() {
        return sources;
    }

    /** The registry's default settings ({@code set_adapters}, {@code enable_lora}/{@code disable_lora}). */
    public AdapterSettings defaults() {
        return defaults;
    }

    /**
     * Per component, the adapters fused into its weights with the scale they were fused with
     * ({@code lora_scale · w}), in fuse order; components with nothing fused are left out; immutable.
     */
    public Map<Component, Map<String, Float>> fused() {
        return fused;
    }

    /** The adapters fused into at least one component, in load order: Diffusers' {@code fused_loras}. */
    public Set<String> fusedAdapters() {
        return fusedAdapters;
    }

    /** The adapters fused into {@code component} with their fused scales; empty when none is. */
    public Map<String, Float> fusedIn(Component component) {
        return fused.getOrDefault(component, Map.of());
    }

    /**
     * The adapters that act dynamically on {@code component} under {@code settings}: the active ones (in activation
     * order) that have modules in it and are not fused into it; empty when {@code settings} is disabled.
     */
    public List<String> dynamicAdapters(Component component, AdapterSettings settings) {
        if (!settings.enabled()) {
            return List.of();
        }
        Map<String, Float> fusedHere = fusedIn(component);
        return settings.adapters().keySet().stream()
                .filter(name -> !fusedHere.containsKey(name))
                .filter(name -> adapters.containsKey(name) && !adapters.get(name).modules(component).isEmpty())
                .toList();
    }

    /**
     * The settings a generation runs with: the request's own settings when it brings some, else {@link #defaults()}.
     * Request settings are checked against this snapshot only; they never change the registry, so concurrent requests
     * never see each other's settings.
     *
     * @param requestOverride the request's settings, or empty for the defaults
     * @throws IllegalArgumentException when an adapter of the override is not loaded (Diffusers' "Adapter name(s) {…}
     *                                  not in the list of present adapters: {…}.") or a weight names a component or
     *                                  block-vector length outside the family
     */
    public AdapterSettings effective(Optional<AdapterSettings> requestOverride) {
        if (requestOverride == null) {
            throw new IllegalArgumentException("requestOverride must be an Optional, not null");
        }
        if (requestOverride.isEmpty()) {
            return defaults;
        }
        return RegistryChecks.requireValid(requestOverride.get(), adapters.keySet(), family);
    }

    @Override
    public String toString() {
        return "RegistrySnapshot[version=" + version + ", adapters=" + adapters.keySet() + ", defaults=" + defaults
                + ", fused=" + fused + "]";
    }
}
