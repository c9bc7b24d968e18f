package io.lorica.loader.impl;

import java.util.ArrayList;
import java.util.Hashtable;
import java.util.List;

import io.lorica.api.format.AdapterFormat;
import org.osgi.framework.BundleContext;
import org.osgi.framework.Constants;
import org.osgi.framework.ServiceRegistration;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;

/**
 * Registers the built-in formats as {@link AdapterFormat} services, like any third-party format, so the loader's
 * whiteboard treats all formats alike.
 */
@Component(service = {}, immediate = true)
public final class BuiltInFormatsComponent {

    private final List<ServiceRegistration<AdapterFormat>> registrations = new ArrayList<>();

    @Activate
    void activate(BundleContext context) {
        for (BuiltInFormats.BuiltIn builtIn : BuiltInFormats.all()) {
            Hashtable<String, Object> properties = new Hashtable<>();
            properties.put(Constants.SERVICE_RANKING, builtIn.ranking());
            properties.put("lorica.format", builtIn.format().name());
            properties.put("lorica.format.builtin", Boolean.TRUE);
            registrations.add(context.registerService(AdapterFormat.class, builtIn.format(), properties));
        }
    }

    @Deactivate
    void deactivate() {
        for (ServiceRegistration<AdapterFormat> registration : registrations) {
            try {
                registration.unregister();
            } catch (IllegalStateException alreadyGone) {
                // unregistered by the framework while the bundle stops
            }
        }
        registrations.clear();
    }
}
