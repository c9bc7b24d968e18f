package io.lorica.policy.impl;

import java.util.List;
import java.util.Map;
import java.util.SortedSet;

import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.format.AdapterLoader;
import io.lorica.api.format.Recognition;
import io.lorica.api.registry.AdapterReference;
import io.lorica.api.registry.AdapterRegistries;
import io.lorica.api.registry.AdapterRegistry;
import io.lorica.api.registry.FuseBackend;
import io.lorica.policy.registry.DefaultAdapterRegistry;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;

/**
 * Publishes {@link AdapterRegistries}. The registries it creates load through whichever {@link AdapterLoader} service
 * is present at the time of each load (the reference is dynamic: the loader bundle can be updated under running
 * pipelines); without one, a load fails with a clear message and the registry is unchanged.
 */
@Component(service = AdapterRegistries.class)
public final class AdapterRegistriesComponent implements AdapterRegistries {

    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC)
    private volatile AdapterLoader loader;

    /** Loads through the current loader service. */
    private final AdapterLoader current = new AdapterLoader() {
        private AdapterLoader loader() {
            AdapterLoader present = loader;
            if (present == null) {
                throw new IllegalStateException("no LoRA loader service is available (is the lorica-loader feature installed?)");
            }
            return present;
        }

        @Override
        public List<String> formats() {
            return loader().formats();
        }

        @Override
        public SortedSet<String> directoryAdapters() {
            return loader().directoryAdapters();
        }

        @Override
        public Map<String, Recognition> recognise(AdapterReference reference) {
            return loader().recognise(reference);
        }

        @Override
        public LoraAdapter load(AdapterReference reference, ModelFamily family) {
            return loader().load(reference, family);
        }

        @Override
        public LoraAdapter load(AdapterReference reference, io.lorica.api.format.ModuleCatalog catalog) {
            return loader().load(reference, catalog);
        }
    };

    @Override
    public AdapterRegistry create(String pipelineId, ModelFamily family, FuseBackend backend) {
        return new DefaultAdapterRegistry(pipelineId, family, current, backend);
    }

    @Override
    public AdapterRegistry create(String pipelineId, io.lorica.api.format.ModuleCatalog catalog,
            FuseBackend backend) {
        if (catalog == null) {
            throw new IllegalArgumentException("catalog of pipeline " + pipelineId + " must not be null");
        }
        return DefaultAdapterRegistry.forCatalog(pipelineId, catalog, current, backend);
    }
}
