package io.lorica.models;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.format.ModuleCatalog;

import java.util.Collections;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * An immutable {@link ModuleCatalog} with O(1) lookups, flat (kohya) names included: every module path's
 * dots-to-underscores form is precomputed and must be unique per component.
 */
final class ReferenceCatalog implements ModuleCatalog {

    private final ModelFamily family;
    private final Map<Component, Map<String, LayerGeometry>> modules;
    private final Map<Component, Map<String, String>> flatNames;

    /**
     * @param modules per component of {@code family}, the modules in model order; copied
     * @throws IllegalStateException when two paths of one component flatten to the same name
     */
    ReferenceCatalog(ModelFamily family, Map<Component, Map<String, LayerGeometry>> modules) {
        this.family = family;
        Map<Component, Map<String, LayerGeometry>> byComponent = new EnumMap<>(Component.class);
        Map<Component, Map<String, String>> flat = new EnumMap<>(Component.class);
        modules.forEach((component, perPath) -> {
            family.requireComponent(component);
            Map<String, String> flatToPath = new HashMap<>(perPath.size() * 2);
            for (String path : perPath.keySet()) {
                String previous = flatToPath.put(path.replace('.', '_'), path);
                if (previous != null) {
                    throw new IllegalStateException("module paths " + previous + " and " + path + " of " + family
                            + " " + component + " flatten to the same name");
                }
            }
            byComponent.put(component, Collections.unmodifiableMap(new LinkedHashMap<>(perPath)));
            flat.put(component, Collections.unmodifiableMap(flatToPath));
        });
        this.modules = Collections.unmodifiableMap(byComponent);
        this.flatNames = Collections.unmodifiableMap(flat);
    }

    @Override
    public ModelFamily family() {
        return family;
    }

    @Override
    public Map<String, LayerGeometry> modules(Component component) {
        Map<String, LayerGeometry> perPath = component == null ? null : modules.get(component);
        return perPath == null ? Map.of() : perPath;
    }

    /** O(1); never ambiguous (checked when built). */
    @Override
    public Optional<String> resolveFlatName(Component component, String flatName) {
        if (flatName == null) {
            throw new IllegalArgumentException("flat name must not be null, expected a module path with '_' for '.'"
                    + ", e.g. down_blocks_0_attentions_0_proj_in");
        }
        Map<String, String> flat = component == null ? null : flatNames.get(component);
        return flat == null ? Optional.empty() : Optional.ofNullable(flat.get(flatName));
    }

    @Override
    public String toString() {
        StringBuilder text = new StringBuilder("ReferenceCatalog[").append(family.id());
        modules.forEach((component, perPath) -> text.append(", ").append(component).append(' ').append(perPath.size()));
        return text.append(']').toString();
    }
}
