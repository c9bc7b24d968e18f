package io.lorica.loader.impl;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;

import io.lorica.api.format.AdapterFormat;

/**
 * The whiteboard of adapter formats: formats come and go (built-in ones and those of other bundles), and readers see an
 * immutable snapshot ordered by service ranking (highest first), then by registration order. Changes rebuild the
 * snapshot under a lock and publish it through a volatile field; readers take the field once.
 */
public final class FormatRegistry {

    /** One registered format. */
    public record Entry(AdapterFormat format, int ranking, long serviceId) {
        public Entry {
            Objects.requireNonNull(format, "format");
        }
    }

    private static final Comparator<Entry> ORDER = Comparator.comparingInt(Entry::ranking).reversed()
            .thenComparingLong(Entry::serviceId);

    private final Object lock = new Object();
    private final List<Entry> entries = new ArrayList<>();
    private volatile List<Entry> snapshot = List.of();

    /** Adds or replaces (same service id) a format. */
    public void add(AdapterFormat format, int ranking, long serviceId) {
        synchronized (lock) {
            entries.removeIf(e -> e.serviceId() == serviceId);
            entries.add(new Entry(format, ranking, serviceId));
            publish();
        }
    }

    /** Removes the format registered under {@code serviceId}; unknown ids are ignored. */
    public void remove(long serviceId) {
        synchronized (lock) {
            if (entries.removeIf(e -> e.serviceId() == serviceId)) {
                publish();
            }
        }
    }

    private void publish() {
        List<Entry> sorted = new ArrayList<>(entries);
        sorted.sort(ORDER);
        snapshot = List.copyOf(sorted);
    }

    /** The current formats in the order they are tried. */
    public List<Entry> snapshot() {
        return snapshot;
    }
}
