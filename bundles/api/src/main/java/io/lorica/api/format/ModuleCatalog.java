package io.lorica.api.format;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LayerGeometry;

import java.util.Map;
import java.util.Optional;

import org.osgi.annotation.versioning.ProviderType;

/**
 * The LoRA-able layers (Linear and Conv2d) of a concrete model, by component and Diffusers module path, with their
 * geometry: e.g. 282 UNet modules for SD 1.5, 794 for SDXL. Built by the engine from the ONNX
 * graphs, or from a built-in table; {@link #of} wraps a plain map.
 */
@ProviderType
public interface ModuleCatalog {

    /** The family of the model. */
    ModelFamily family();

    /** The modules of {@code component} (path -> geometry) in model order; empty for a component the model lacks. */
    Map<String, LayerGeometry> modules(Component component);

    /** The geometry of {@code component}'s module at {@code modulePath}, if the model has it. */
    default Optional<LayerGeometry> geometry(Component component, String modulePath) {
        return Optional.ofNullable(modules(component).get(modulePath));
    }

    /** Whether the model has that module. */
    default boolean contains(Component component, String modulePath) {
        return modules(component).containsKey(modulePath);
    }

    /**
     * The module path whose dots-to-underscores form equals {@code flatName}, as in kohya's
     * {@code down_blocks_0_attentions_0_proj_in} (prefix such as {@code lora_unet_} already removed).
     *
     * @throws IllegalArgumentException naming both paths when two module paths flatten to the same name
     */
    default Optional<String> resolveFlatName(Component component, String flatName) {
        String found = null;
        for (String path : modules(component).keySet()) {
            if (path.replace('.', '_').equals(flatName)) {
                if (found != null) {
                    throw new IllegalArgumentException("flat name '" + flatName + "' of " + component
                            + " is ambiguous: matches " + found + " and " + path);
                }
                found = path;
            }
        }
        return Optional.ofNullable(found);
    }

    /**
     * An immutable catalog over a copy of {@code modules}.
     *
     * @throws IllegalArgumentException when a component is not part of {@code family} or an entry is null
     */
    static ModuleCatalog of(ModelFamily family, Map<Component, Map<String, LayerGeometry>> modules) {
        return new MapModuleCatalog(family, modules);
    }
}
