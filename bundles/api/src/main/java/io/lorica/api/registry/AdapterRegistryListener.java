package io.lorica.api.registry;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * Notified of adapter registry changes; registered as an OSGi service (whiteboard) by the console, shell or anyone
 * else. Events of one registry arrive in order, after the change is visible, on a registry thread that must not be
 * blocked long; an exception thrown here is logged and does not affect the registry or other listeners.
 */
@ConsumerType
@FunctionalInterface
public interface AdapterRegistryListener {

    /** Called once per change. */
    void adapterRegistryChanged(AdapterRegistryEvent event);
}
