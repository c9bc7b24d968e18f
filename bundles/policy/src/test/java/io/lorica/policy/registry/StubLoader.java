package io.lorica.policy.registry;

import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.format.AdapterFormatException;
import io.lorica.api.format.AdapterLoader;
import io.lorica.api.format.Recognition;
import io.lorica.api.registry.AdapterReference;

import java.util.List;
import java.util.Map;
import java.util.SortedSet;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;

/**
 * An in-test {@link AdapterLoader}: references are {@code dir:<name>}; each name maps to a prebuilt adapter or to a
 * format error. Records every call; an optional hook runs inside {@code load} (to test what happens meanwhile).
 */
final class StubLoader implements AdapterLoader {

    private final Map<String, Function<ModelFamily, LoraAdapter>> adapters = new ConcurrentHashMap<>();
    final List<String> calls = new CopyOnWriteArrayList<>();
    volatile Runnable duringLoad = () -> { };

    /** Registers {@code fileName} as a valid adapter built by {@code factory} for the requested family. */
    StubLoader with(String fileName, Function<ModelFamily, LoraAdapter> factory) {
        adapters.put(fileName, factory);
        return this;
    }

    /** Registers {@code fileName} as a file the format rejects. */
    StubLoader broken(String fileName) {
        adapters.put(fileName, family -> {
            throw new AdapterFormatException(fileName, "lora_unet_foo.lora_mid.weight",
                    "The following keys have not been correctly renamed: \n\n lora_unet_foo.lora_mid.weight");
        });
        return this;
    }

    static AdapterReference ref(String fileName) {
        return new AdapterReference.DirectoryReference(fileName);
    }

    @Override
    public List<String> formats() {
        return List.of("test");
    }

    @Override
    public SortedSet<String> directoryAdapters() {
        return new TreeSet<>(adapters.keySet());
    }

    @Override
    public Map<String, Recognition> recognise(AdapterReference reference) {
        return Map.of();
    }

    @Override
    public LoraAdapter load(AdapterReference reference, ModelFamily family) {
        String name = ((AdapterReference.DirectoryReference) reference).relativeName();
        calls.add(name);
        duringLoad.run();
        Function<ModelFamily, LoraAdapter> factory = adapters.get(name);
        if (factory == null) {
            throw new IllegalArgumentException("no adapter file " + name + " in the adapter folder");
        }
        return factory.apply(family);
    }

    @Override
    public LoraAdapter load(AdapterReference reference, io.lorica.api.format.ModuleCatalog catalog) {
        return load(reference, catalog.family());
    }
}
