package io.lorica.loader.impl;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;

import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.format.AdapterFormat;
import io.lorica.api.format.AdapterFormatException;
import io.lorica.api.format.AdapterLoader;
import io.lorica.api.format.ConversionContext;
import io.lorica.api.format.ModuleCatalog;
import io.lorica.api.format.Recognition;
import io.lorica.api.format.TensorSource;
import io.lorica.api.registry.AdapterReference;
import io.lorica.loader.safetensors.SafetensorsFile;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The plain-Java loader: resolves a reference to a file inside the allowed roots, reads it as safetensors, asks every
 * offered format (in whiteboard order) whether it recognises the file, and converts it with the most confident one
 * (ties go to the higher-ranked format). A format that throws anything but {@link AdapterFormatException} while
 * recognising is logged and skipped, so a broken third-party format never takes the others down.
 */
public final class DefaultAdapterLoader implements AdapterLoader {

    /** Resolves an adapter reference to a readable local file (roots enforced, hub files fetched). */
    @FunctionalInterface
    public interface SourceResolver {
        Path resolve(AdapterReference reference);
    }

    private static final Logger LOG = LoggerFactory.getLogger(DefaultAdapterLoader.class);

    private final FormatRegistry formats;
    private final SourceResolver resolver;
    private final Function<ModelFamily, ModuleCatalog> catalogs;

    public DefaultAdapterLoader(FormatRegistry formats, SourceResolver resolver, Function<ModelFamily, ModuleCatalog> catalogs) {
        this.formats = Objects.requireNonNull(formats, "formats");
        this.resolver = Objects.requireNonNull(resolver, "resolver");
        this.catalogs = Objects.requireNonNull(catalogs, "catalogs");
    }

    @Override
    public List<String> formats() {
        List<String> names = new ArrayList<>();
        formats.snapshot().forEach(entry -> names.add(entry.format().name()));
        return names;
    }

    /** The plain loader has no adapter folder of its own; {@link LoaderComponent} adds one. */
    @Override
    public java.util.SortedSet<String> directoryAdapters() {
        return java.util.Collections.emptySortedSet();
    }

    @Override
    public Map<String, Recognition> recognise(AdapterReference reference) {
        try (SafetensorsFile file = open(resolver.resolve(reference))) {
            return recognise(file, formats.snapshot());
        }
    }

    private static SafetensorsFile open(Path path) {
        try {
            return SafetensorsFile.open(path);
        } catch (java.io.IOException e) {
            throw new AdapterFormatException(path.toString(), "<file>", "cannot read the file: " + e, e);
        }
    }

    @Override
    public LoraAdapter load(AdapterReference reference, ModelFamily family) {
        Objects.requireNonNull(family, "family");
        Path path = resolver.resolve(reference);
        try (SafetensorsFile file = open(path)) {
            return load(file, family);
        }
    }

    @Override
    public LoraAdapter load(AdapterReference reference, ModuleCatalog catalog) {
        Objects.requireNonNull(catalog, "catalog");
        Path path = resolver.resolve(reference);
        try (SafetensorsFile file = open(path)) {
            return load(file, catalog);
        }
    }

    /** How each offered format judges an already opened source, in the order they are tried. */
    public Map<String, Recognition> recognise(TensorSource source) {
        return recognise(source, formats.snapshot());
    }

    /** Loads an already opened source (the file stays mapped for as long as the adapter's tensors are reachable). */
    public LoraAdapter load(TensorSource source, ModelFamily family) {
        Objects.requireNonNull(family, "family");
        return load(source, catalogs.apply(family));
    }

    /**
     * Loads an already opened source for the model {@code catalog} describes (the file stays mapped for as long as
     * the adapter's tensors are reachable).
     */
    public LoraAdapter load(TensorSource source, ModuleCatalog catalog) {
        Objects.requireNonNull(catalog, "catalog");
        ModelFamily family = catalog.family();
        List<FormatRegistry.Entry> offered = formats.snapshot();
        Map<String, Recognition> verdicts = recognise(source, offered);
        AdapterFormat best = null;
        double bestConfidence = 0;
        for (FormatRegistry.Entry entry : offered) {
            Recognition verdict = verdicts.get(entry.format().name());
            if (verdict != null && verdict.recognised() && verdict.confidence() > bestConfidence) {
                best = entry.format();
                bestConfidence = verdict.confidence();
            }
        }
        if (best == null) {
            throw new AdapterFormatException(source.name(), "<keys>", "no adapter format recognises this file; offered formats said "
                    + describe(verdicts) + (offered.isEmpty() ? " (no format is registered)" : ""));
        }
        ConversionContext context = new ConversionContext(family, catalog);
        try {
            LoraAdapter adapter = best.convert(source, context);
            if (adapter == null) {
                throw new AdapterFormatException(source.name(), "<keys>", "format " + best.name() + " returned no adapter");
            }
            if (adapter.family() != family) {
                throw new AdapterFormatException(source.name(), "<keys>", "format " + best.name() + " converted for "
                        + adapter.family() + " but " + family + " was asked for");
            }
            LOG.debug("{}: {} adapter with {} modules", source.name(), best.name(), adapter.moduleCount());
            return adapter;
        } catch (AdapterFormatException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new AdapterFormatException(source.name(), "<keys>", "format " + best.name() + " failed to convert it: " + e, e);
        }
    }

    private static Map<String, Recognition> recognise(TensorSource source, List<FormatRegistry.Entry> offered) {
        Map<String, Recognition> verdicts = new LinkedHashMap<>();
        for (FormatRegistry.Entry entry : offered) {
            AdapterFormat format = entry.format();
            try {
                Recognition verdict = format.recognise(source);
                verdicts.put(format.name(), verdict == null ? Recognition.no("format returned no verdict") : verdict);
            } catch (AdapterFormatException e) {
                throw e;
            } catch (RuntimeException | LinkageError e) {
                LOG.warn("adapter format '{}' failed to recognise {}; skipping it: {}", format.name(), source.name(), e.toString());
                verdicts.put(format.name(), Recognition.no("format failed: " + e));
            }
        }
        return verdicts;
    }

    private static String describe(Map<String, Recognition> verdicts) {
        List<String> parts = new ArrayList<>();
        verdicts.forEach((name, verdict) -> parts.add(name + ": " + verdict.reason()));
        return parts.toString();
    }
}
