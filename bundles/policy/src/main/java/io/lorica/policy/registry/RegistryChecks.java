package io.lorica.policy.registry;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.policy.AdapterSettings;
import io.lorica.api.policy.AdapterWeight;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/** The registry's input checks, with Diffusers' error messages where Diffusers has one. */
final class RegistryChecks {

    private RegistryChecks() {
    }

    /**
     * Diffusers' {@code set_adapters} check: every name must be loaded, else "Adapter name(s) {missing} not in the list
     * of present adapters: {all}." (sets rendered as Python prints them, e.g. {@code {'a', 'b'}}).
     */
    static void requireLoaded(Collection<String> names, Collection<String> present) {
        Set<String> missing = new LinkedHashSet<>();
        for (String name : names) {
            if (!present.contains(name)) {
                missing.add(name);
            }
        }
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException("Adapter name(s) " + pythonSet(missing)
                    + " not in the list of present adapters: " + pythonSet(present) + ".");
        }
    }

    /** A Python-style set literal of names, in the given order: {@code {'a', 'b'}}; {@code {}} when empty. */
    static String pythonSet(Collection<String> names) {
        return names.stream().map(n -> "'" + n + "'").collect(Collectors.joining(", ", "{", "}"));
    }

    /**
     * Checks settings against the loaded adapters and the family: names loaded (Diffusers' message) and every weight
     * fitting the family (see {@link #requireFits(ModelFamily, String, AdapterWeight)}).
     */
    static AdapterSettings requireValid(AdapterSettings settings, Collection<String> present, ModelFamily family) {
        if (settings == null) {
            throw new IllegalArgumentException("adapter settings must not be null");
        }
        requireLoaded(settings.adapters().keySet(), present);
        settings.adapters().forEach((name, weight) -> requireFits(family, name, weight));
        return settings;
    }

    /**
     * Checks that a weight only addresses components of {@code family} and that an A1111 block vector has one of the
     * family's lengths (SD 1.5: 17 or 26, SDXL: 12 or 20). Deviation: Diffusers drops a component key of another
     * pipeline with a warning; Lorica rejects it. Block indices and list lengths are checked when the scale policy
     * expands the weight.
     */
    static void requireFits(ModelFamily family, String adapter, AdapterWeight weight) {
        if (weight instanceof AdapterWeight.Uniform) {
            return;
        }
        if (weight instanceof AdapterWeight.PerComponent perComponent) {
            for (Component component : perComponent.weights().keySet()) {
                requireComponent(family, adapter, component);
            }
        } else if (weight instanceof AdapterWeight.BlockVector vector) {
            List<Integer> lengths = family == ModelFamily.SD15 ? List.of(17, 26) : List.of(12, 20);
            if (!lengths.contains(vector.ratios().size())) {
                throw new IllegalArgumentException("weight of adapter '" + adapter + "' is a block weight vector of "
                        + vector.ratios().size() + " ratios, but " + family.id() + " vectors have "
                        + lengths.get(0) + " or " + lengths.get(1));
            }
        } else if (weight instanceof AdapterWeight.WithOverrides overrides) {
            requireFits(family, adapter, overrides.base());
            for (AdapterWeight.LayerOverride override : overrides.overrides()) {
                override.component().ifPresent(c -> requireComponent(family, adapter, c));
            }
        }
    }

    private static void requireComponent(ModelFamily family, String adapter, Component component) {
        if (!family.has(component)) {
            throw new IllegalArgumentException("weight of adapter '" + adapter + "' names component " + component
                    + ", which is not part of " + family.id() + " (components: " + ids(family.components()) + ")");
        }
    }

    /**
     * Diffusers' {@code fuse_lora}/{@code unfuse_lora} component checks: "`components` cannot be an empty list." and
     * "{c} is not found in self._lora_loadable_modules=[...]."
     */
    static Set<Component> requireComponents(ModelFamily family, Collection<Component> components) {
        if (components == null || components.isEmpty()) {
            throw new IllegalArgumentException("`components` cannot be an empty list.");
        }
        Set<Component> result = new LinkedHashSet<>();
        for (Component component : components) {
            if (component == null || !family.has(component)) {
                throw new IllegalArgumentException(component + " is not found in self._lora_loadable_modules="
                        + family.components().stream().map(c -> "'" + c.id() + "'")
                                .collect(Collectors.joining(", ", "[", "]")) + ".");
            }
            result.add(component);
        }
        return result;
    }

    /** The Diffusers names of {@code components}, e.g. {@code [unet, text_encoder]}. */
    static List<String> ids(Collection<Component> components) {
        List<String> ids = new ArrayList<>();
        components.forEach(c -> ids.add(c.id()));
        return ids;
    }
}
