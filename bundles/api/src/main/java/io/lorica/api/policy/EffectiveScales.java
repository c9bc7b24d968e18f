package io.lorica.api.policy;

import io.lorica.api.AdapterNames;
import io.lorica.api.Component;

import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The resolved multiplier of every adapter on every target layer for one generation: per component, per Diffusers
 * module path, per adapter name, {@code s = alpha/r · w(layer) · callScale}. The engine
 * applies {@code s · B·A} for each entry; a layer or adapter that is absent contributes nothing. Immutable.
 *
 * @param scales component -> module path -> adapter name -> scale (finite); adapter order within a module is
 *               activation order, which matters for the rank concatenation and for DoRA
 */
public record EffectiveScales(Map<Component, Map<String, Map<String, Float>>> scales) {

    private static final EffectiveScales EMPTY = new EffectiveScales(Map.of());

    /** @throws IllegalArgumentException naming the component, module and adapter of a null or non-finite entry */
    public EffectiveScales {
        if (scales == null) {
            throw new IllegalArgumentException("scales must not be null");
        }
        Map<Component, Map<String, Map<String, Float>>> copy = new EnumMap<>(Component.class);
        // each distinct adapter name is checked once, and messages are built only on failure: this runs per request
        java.util.Set<String> checkedNames = new java.util.HashSet<>();
        for (Map.Entry<Component, Map<String, Map<String, Float>>> component : scales.entrySet()) {
            if (component.getKey() == null || component.getValue() == null) {
                throw new IllegalArgumentException("scales must not contain null components or module maps");
            }
            Map<String, Map<String, Float>> modules = new LinkedHashMap<>(component.getValue().size() * 2);
            for (Map.Entry<String, Map<String, Float>> module : component.getValue().entrySet()) {
                if (module.getKey() == null || module.getKey().isBlank() || module.getValue() == null) {
                    throw new IllegalArgumentException("scales of " + component.getKey() + "/" + module.getKey()
                            + " must have a module path and a map");
                }
                Map<String, Float> perAdapter = new LinkedHashMap<>(module.getValue().size() * 2);
                for (Map.Entry<String, Float> adapter : module.getValue().entrySet()) {
                    String name = adapter.getKey();
                    if (name == null || !checkedNames.contains(name)) {
                        AdapterNames.require(name, "adapter name in scales of " + component.getKey() + "/" + module.getKey());
                        checkedNames.add(name);
                    }
                    Float value = adapter.getValue();
                    if (value == null || !Float.isFinite(value)) {
                        throw new IllegalArgumentException("scale of adapter '" + name + "' on " + component.getKey() + "/"
                                + module.getKey() + " must be a finite number, got " + value);
                    }
                    perAdapter.put(name, value);
                }
                if (!perAdapter.isEmpty()) {
                    modules.put(module.getKey(), Collections.unmodifiableMap(perAdapter));
                }
            }
            if (!modules.isEmpty()) {
                copy.put(component.getKey(), Collections.unmodifiableMap(modules));
            }
        }
        scales = Collections.unmodifiableMap(copy);
    }

    /** No adapter acts anywhere: what a disabled or empty {@link AdapterSettings} resolves to. */
    public static EffectiveScales empty() {
        return EMPTY;
    }

    /** A builder collecting entries in order. */
    public static Builder builder() {
        return new Builder();
    }

    /** Whether no adapter acts on any layer. */
    public boolean isEmpty() {
        return scales.isEmpty();
    }

    /** The components with at least one scaled layer. */
    public Set<Component> components() {
        return scales.keySet();
    }

    /** The module paths of {@code component} with at least one adapter acting, in order. */
    public Set<String> modules(Component component) {
        return scales.getOrDefault(component, Map.of()).keySet();
    }

    /** Adapter name -> scale on one layer, in activation order; empty when none acts there. */
    public Map<String, Float> adapters(Component component, String modulePath) {
        return scales.getOrDefault(component, Map.of()).getOrDefault(modulePath, Map.of());
    }

    /** The scale of {@code adapter} on one layer; 0 when it does not act there. */
    public float scale(Component component, String modulePath, String adapter) {
        return adapters(component, modulePath).getOrDefault(adapter, 0f);
    }

    /** Every adapter acting somewhere, in first-seen order. */
    public List<String> adapterNames() {
        Set<String> names = new LinkedHashSet<>();
        scales.values().forEach(m -> m.values().forEach(a -> names.addAll(a.keySet())));
        return List.copyOf(new ArrayList<>(names));
    }

    /** The number of (layer, adapter) entries over all components. */
    public int entryCount() {
        return scales.values().stream().flatMap(m -> m.values().stream()).mapToInt(Map::size).sum();
    }

    /** Collects scales; {@link #build()} validates them. Not thread-safe. */
    public static final class Builder {

        private final Map<Component, Map<String, Map<String, Float>>> scales = new EnumMap<>(Component.class);

        private Builder() {
        }

        /** Sets the scale of {@code adapter} on one layer (replacing an earlier value for the same triple). */
        public Builder put(Component component, String modulePath, String adapter, float scale) {
            scales.computeIfAbsent(component, c -> new LinkedHashMap<>())
                    .computeIfAbsent(modulePath, m -> new LinkedHashMap<>())
                    .put(adapter, scale);
            return this;
        }

        /**
         * The collected scales.
         *
         * @throws IllegalArgumentException as {@link EffectiveScales#EffectiveScales(Map)}
         */
        public EffectiveScales build() {
            return new EffectiveScales(scales);
        }
    }
}
