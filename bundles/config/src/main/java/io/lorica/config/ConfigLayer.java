package io.lorica.config;

/** Where an effective configuration value came from, highest precedence first. */
public enum ConfigLayer {
    /** An environment variable {@code LORICA_<SCOPE>_<KEY>}. */
    ENVIRONMENT,
    /** A system property {@code lorica.<scope>.<key>}. */
    SYSTEM_PROPERTY,
    /** The Config Admin configuration of the PID (for example {@code etc/io.lorica.<scope>.cfg}). */
    CONFIG_ADMIN,
    /** The component's built-in default. */
    DEFAULT
}
