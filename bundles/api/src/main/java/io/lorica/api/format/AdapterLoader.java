package io.lorica.api.format;

import java.util.List;
import java.util.Map;

import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.registry.AdapterReference;
import org.osgi.annotation.versioning.ProviderType;

/**
 * Reads LoRA adapter files: resolves a reference (file, adapter folder, hub-style id) inside the configured roots,
 * reads the safetensors file, picks the {@link AdapterFormat} that recognises it (registered formats, highest ranking
 * first; a format registered by another bundle is used at once) and converts it to the canonical {@link LoraAdapter}
 * for a model family. Corresponds to Diffusers' {@code lora_state_dict} plus its key conversion.
 *
 * <p>Loading is all or nothing: a rejected file throws and leaves nothing behind.
 */
@ProviderType
public interface AdapterLoader {

    /** The names of the formats currently offered, in the order they are tried. */
    List<String> formats();

    /**
     * The adapters in the configured adapter folder, by name (file name without {@code .safetensors}; files in a
     * sub-folder as {@code folder/name}), as the folder is now: files added, changed or removed show up without a
     * restart. Each name loads through {@link io.lorica.api.registry.AdapterReference.DirectoryReference}.
     */
    java.util.SortedSet<String> directoryAdapters();

    /**
     * How each offered format judges the file, in the order they are tried.
     *
     * @throws AdapterFormatException when the file cannot be read or is not a valid safetensors file
     */
    Map<String, Recognition> recognise(AdapterReference reference);

    /**
     * Loads the adapter for {@code family}.
     *
     * @throws AdapterFormatException naming the file, the key and what was wrong, when the file is malformed, no format
     *                                recognises it, or it does not fit the family
     * @throws IllegalArgumentException when the reference escapes the configured roots
     */
    LoraAdapter load(AdapterReference reference, ModelFamily family);

    /**
     * Loads the adapter for the model described by {@code catalog} (its family, module paths and layer geometries),
     * e.g. a pipeline's models as opened ({@link io.lorica.api.engine.ModelHandle#loraTargets()}), which may differ in
     * width from the family's reference model.
     *
     * @throws AdapterFormatException as {@link #load(AdapterReference, ModelFamily)}, judged against the catalog
     * @throws IllegalArgumentException when the reference escapes the configured roots
     * @since 1.1
     */
    LoraAdapter load(AdapterReference reference, ModuleCatalog catalog);
}
