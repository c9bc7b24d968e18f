package io.lorica.api.adapter;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * One LoRA file converted to canonical form: per component (in load order: {@code unet}, {@code text_encoder},
 * {@code text_encoder_2}), per Diffusers module path, the {@link LoraModule} to apply. What Diffusers spreads over the
 * components' {@code peft_config} and LoRA layers is one immutable value here; it is not yet named (the registry names
 * it when loading).
 *
 * @param format   the name of the {@code AdapterFormat} that produced it, e.g. {@code "kohya"} or {@code "peft"}
 * @param family   the model family the module paths refer to
 * @param modules  component -> module path -> module, iteration order kept; components without modules are left
 *                 out; each module's component and path must equal its keys
 * @param metadata the safetensors {@code __metadata__} entries of the source (e.g. {@code ss_network_dim})
 * @param report   what happened to every source key
 */
public record LoraAdapter(String format, ModelFamily family, Map<Component, Map<String, LoraModule>> modules,
        Map<String, String> metadata, LoadReport report) {

    /**
     * @throws IllegalArgumentException when a field is null or blank, a component is not part of {@code family}, or a
     *                                  module is filed under a component or path other than its own
     */
    public LoraAdapter {
        if (format == null || format.isBlank()) {
            throw new IllegalArgumentException("format must not be blank, got '" + format + "'");
        }
        if (family == null || modules == null || metadata == null || report == null) {
            throw new IllegalArgumentException("family, modules, metadata and report must not be null");
        }
        Map<Component, Map<String, LoraModule>> copy = new LinkedHashMap<>();
        for (Map.Entry<Component, Map<String, LoraModule>> entry : modules.entrySet()) {
            Component component = entry.getKey();
            if (component == null || entry.getValue() == null) {
                throw new IllegalArgumentException("modules must not contain null components or module maps");
            }
            family.requireComponent(component);
            Map<String, LoraModule> perPath = new LinkedHashMap<>();
            for (Map.Entry<String, LoraModule> module : entry.getValue().entrySet()) {
                LoraModule value = module.getValue();
                if (value == null) {
                    throw new IllegalArgumentException("module " + module.getKey() + " of " + component + " is null");
                }
                if (value.component() != component || !value.modulePath().equals(module.getKey())) {
                    throw new IllegalArgumentException("module " + value.component() + "/" + value.modulePath()
                            + " is filed under " + component + "/" + module.getKey() + ", expected its own component and path");
                }
                perPath.put(module.getKey(), value);
            }
            if (!perPath.isEmpty()) {
                copy.put(component, Collections.unmodifiableMap(perPath));
            }
        }
        modules = Collections.unmodifiableMap(copy);
        for (Map.Entry<String, String> entry : metadata.entrySet()) {
            if (entry.getKey() == null || entry.getValue() == null) {
                throw new IllegalArgumentException("metadata must not contain null keys or values");
            }
        }
        metadata = Collections.unmodifiableMap(new LinkedHashMap<>(metadata));
    }

    /** The components this adapter has modules for, in load order. */
    public Set<Component> components() {
        return modules.keySet();
    }

    /** The modules of {@code component} by module path; empty when it has none. */
    public Map<String, LoraModule> modules(Component component) {
        return modules.getOrDefault(component, Map.of());
    }

    /** The module for {@code component} and {@code modulePath}, if the adapter targets that layer. */
    public Optional<LoraModule> module(Component component, String modulePath) {
        return Optional.ofNullable(modules(component).get(modulePath));
    }

    /** The total number of modules over all components. */
    public int moduleCount() {
        return modules.values().stream().mapToInt(Map::size).sum();
    }

    /** The distinct ranks of the low-rank modules, ascending (full-delta modules have none). */
    public SortedSet<Integer> ranks() {
        SortedSet<Integer> ranks = new TreeSet<>();
        modules.values().forEach(m -> m.values().stream().filter(x -> x.rank() > 0).forEach(x -> ranks.add(x.rank())));
        return Collections.unmodifiableSortedSet(ranks);
    }

    /** Whether any module is DoRA or a full delta, which the dynamic (runtime branch) mode cannot express. */
    public boolean needsFusedMode() {
        return modules.values().stream().flatMap(m -> m.values().stream())
                .anyMatch(m -> m.isDora() || m.isFullDelta());
    }
}
