/**
 * Layered configuration for Lorica components.
 *
 * <p>Every Lorica configuration PID {@code io.lorica.<scope>} is read in four layers, highest first:
 * <ol>
 *   <li>environment variables {@code LORICA_<SCOPE>_<KEY>} (key upper-cased, dots as underscores);</li>
 *   <li>system properties {@code lorica.<scope>.<key>};</li>
 *   <li>the Config Admin configuration (usually {@code etc/io.lorica.<scope>.cfg});</li>
 *   <li>the built-in defaults of the component.</li>
 * </ol>
 * Values may use Commons Configuration interpolation such as {@code ${sys:user.home}} or {@code ${env:HOME}}.
 */
@Export
@Version("1.0.0")
package io.lorica.config;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
