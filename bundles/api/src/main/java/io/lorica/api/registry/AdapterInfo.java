package io.lorica.api.registry;

import io.lorica.api.AdapterNames;
import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LoadReport;
import io.lorica.api.adapter.LoraAdapter;

import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * What a registry knows about one loaded adapter: the listing behind the console, the shell's {@code lora:list} and
 * Diffusers' {@code get_list_adapters} / {@code get_active_adapters} / {@code fused_loras}.
 *
 * @param name         the adapter name
 * @param format       the format it was converted from
 * @param family       the model family it was converted for
 * @param moduleCounts component -> number of target layers (components without modules left out)
 * @param ranks        the distinct ranks of its low-rank modules, ascending
 * @param active       whether it is in the registry's active adapters ({@code get_active_adapters})
 * @param fused        whether it is fused into the model weights ({@code fused_loras})
 * @param source       where it was loaded from
 * @param report       what happened to each key of the source file
 */
public record AdapterInfo(String name, String format, ModelFamily family, Map<Component, Integer> moduleCounts,
        SortedSet<Integer> ranks, boolean active, boolean fused, AdapterReference source, LoadReport report) {

    /** @throws IllegalArgumentException naming the field and value that is missing or out of range */
    public AdapterInfo {
        AdapterNames.require(name, "name");
        if (format == null || format.isBlank()) {
            throw new IllegalArgumentException("format of adapter '" + name + "' must not be blank");
        }
        if (family == null || moduleCounts == null || ranks == null || source == null || report == null) {
            throw new IllegalArgumentException("family, moduleCounts, ranks, source and report of adapter '" + name
                    + "' must not be null");
        }
        Map<Component, Integer> counts = new EnumMap<>(Component.class);
        moduleCounts.forEach((component, count) -> {
            if (component == null || !family.has(component)) {
                throw new IllegalArgumentException("adapter '" + name + "' counts modules for component " + component
                        + ", expected one of " + family.components());
            }
            if (count == null || count < 1) {
                throw new IllegalArgumentException("module count of adapter '" + name + "' for " + component
                        + " must be >= 1, got " + count);
            }
            counts.put(component, count);
        });
        moduleCounts = Collections.unmodifiableMap(counts);
        SortedSet<Integer> sorted = new TreeSet<>();
        for (Integer rank : ranks) {
            if (rank == null || rank < 1) {
                throw new IllegalArgumentException("ranks of adapter '" + name + "' must be >= 1, got " + rank);
            }
            sorted.add(rank);
        }
        ranks = Collections.unmodifiableSortedSet(sorted);
    }

    /** The info of {@code adapter} loaded as {@code name} from {@code source}. */
    public static AdapterInfo of(String name, LoraAdapter adapter, AdapterReference source, boolean active,
            boolean fused) {
        if (adapter == null) {
            throw new IllegalArgumentException("adapter '" + name + "' must not be null");
        }
        Map<Component, Integer> counts = new EnumMap<>(Component.class);
        adapter.components().forEach(c -> counts.put(c, adapter.modules(c).size()));
        return new AdapterInfo(name, adapter.format(), adapter.family(), counts, adapter.ranks(), active, fused,
                source, adapter.report());
    }

    /** The total number of target layers. */
    public int moduleCount() {
        return moduleCounts.values().stream().mapToInt(Integer::intValue).sum();
    }
}
