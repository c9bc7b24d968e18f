package io.lorica.testkit;

import io.lorica.api.Component;

import java.nio.file.Path;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * A LoRA file written by {@link LoraFiles}.
 *
 * @param file    the safetensors file
 * @param spec    what was written
 * @param modules the adapted module paths per component, in catalog order
 * @param tensors the number of tensors (A and B per module, plus {@code .alpha} in kohya files)
 * @param bytes   the file size
 */
public record LoraFile(Path file, LoraSpec spec, Map<Component, List<String>> modules, int tensors, long bytes) {

    /** Copies the map. @throws IllegalArgumentException when a reference is null */
    public LoraFile {
        if (file == null || spec == null || modules == null) {
            throw new IllegalArgumentException("file, spec and modules must not be null");
        }
        Map<Component, List<String>> copy = new EnumMap<>(Component.class);
        modules.forEach((component, paths) -> copy.put(component, List.copyOf(paths)));
        modules = Collections.unmodifiableMap(copy);
    }

    /** The number of adapted modules over all components. */
    public int moduleCount() {
        return modules.values().stream().mapToInt(List::size).sum();
    }
}
