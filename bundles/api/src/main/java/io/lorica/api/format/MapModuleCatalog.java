package io.lorica.api.format;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LayerGeometry;

import java.util.Collections;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Map;

/** The map-backed {@link ModuleCatalog} behind {@link ModuleCatalog#of}. */
record MapModuleCatalog(ModelFamily family, Map<Component, Map<String, LayerGeometry>> catalog)
        implements ModuleCatalog {

    MapModuleCatalog {
        if (family == null || catalog == null) {
            throw new IllegalArgumentException("family and modules must not be null");
        }
        Map<Component, Map<String, LayerGeometry>> copy = new EnumMap<>(Component.class);
        for (Map.Entry<Component, Map<String, LayerGeometry>> entry : catalog.entrySet()) {
            Component component = entry.getKey();
            if (component == null || entry.getValue() == null) {
                throw new IllegalArgumentException("modules must not contain null components or module maps");
            }
            family.requireComponent(component);
            Map<String, LayerGeometry> perPath = new LinkedHashMap<>();
            entry.getValue().forEach((path, geometry) -> {
                if (path == null || geometry == null) {
                    throw new IllegalArgumentException("module catalog of " + component
                            + " must not contain null paths or geometries");
                }
                perPath.put(path, geometry);
            });
            copy.put(component, Collections.unmodifiableMap(perPath));
        }
        catalog = Collections.unmodifiableMap(copy);
    }

    @Override
    public Map<String, LayerGeometry> modules(Component component) {
        return catalog.getOrDefault(component, Map.of());
    }
}
