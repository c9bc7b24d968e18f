package io.lorica.config;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

import org.apache.commons.configuration2.CompositeConfiguration;
import org.apache.commons.configuration2.Configuration;
import org.apache.commons.configuration2.MapConfiguration;
import org.apache.commons.configuration2.ex.ConversionException;

/**
 * The effective configuration of one Lorica scope: built-in defaults &lt; Config Admin &lt; system properties &lt;
 * environment, merged with Apache Commons Configuration 2.
 *
 * <p>Instances are immutable snapshots: a Config Admin update produces a new instance. Only keys that have a built-in
 * default are known; a key in any other layer that is not known is reported by {@link #unknownKeys()} (a typo in a
 * {@code .cfg} file should not pass silently), and the framework's own properties ({@code service.pid},
 * {@code component.name}, {@code felix.fileinstall.filename}, ...) are ignored.
 *
 * <p>Keys are lower-case words separated by dots, e.g. {@code intra.op.threads}; the matching system property of scope
 * {@code onnxruntime} is {@code lorica.onnxruntime.intra.op.threads} and the environment variable
 * {@code LORICA_ONNXRUNTIME_INTRA_OP_THREADS}.
 */
public final class LayeredConfiguration {

    private static final Pattern SCOPE = Pattern.compile("[a-z][a-z0-9]*");
    private static final Pattern KEY = Pattern.compile("[a-z][a-z0-9]*(\\.[a-z][a-z0-9]*)*");
    private static final Set<String> FRAMEWORK_PREFIXES = Set.of("service.", "component.", "felix.", "osgi.", "objectClass");

    private final String scope;
    private final Map<String, Object> defaults;
    private final Map<ConfigLayer, Map<String, Object>> layers;
    private final CompositeConfiguration merged;
    private final Set<String> unknownKeys;

    private LayeredConfiguration(String scope, Map<String, Object> defaults, Map<ConfigLayer, Map<String, Object>> layers,
                                 Set<String> unknownKeys) {
        this.scope = scope;
        this.defaults = defaults;
        this.layers = layers;
        this.unknownKeys = unknownKeys;
        this.merged = new CompositeConfiguration();
        // CompositeConfiguration answers from the first configuration that has a key: highest precedence first
        for (ConfigLayer layer : ConfigLayer.values()) {
            merged.addConfiguration(readOnly(layers.get(layer)));
        }
    }

    /**
     * Builds the effective configuration of {@code scope} from the JVM's system properties and environment.
     *
     * @param scope the scope, e.g. {@code onnxruntime} for the PID {@code io.lorica.onnxruntime}
     * @param defaults every known key with its built-in default (values: String, Number, Boolean)
     * @param configAdmin the properties Config Admin passed to the component (may be empty, never null)
     */
    public static LayeredConfiguration of(String scope, Map<String, ?> defaults, Map<String, ?> configAdmin) {
        return of(scope, defaults, configAdmin, System.getProperties(), System.getenv());
    }

    /** As {@link #of(String, Map, Map)} with explicit system properties and environment (for tests and tools). */
    public static LayeredConfiguration of(String scope, Map<String, ?> defaults, Map<String, ?> configAdmin,
                                          Properties systemProperties, Map<String, String> environment) {
        Objects.requireNonNull(scope, "scope");
        if (!SCOPE.matcher(scope).matches()) {
            throw new IllegalArgumentException("configuration scope '" + scope + "' is not valid: expected lower-case letters and digits, e.g. 'onnxruntime'");
        }
        Map<String, Object> known = new LinkedHashMap<>();
        defaults.forEach((key, value) -> {
            if (!KEY.matcher(key).matches()) {
                throw new IllegalArgumentException("configuration key '" + key + "' of scope '" + scope
                        + "' is not valid: expected lower-case words separated by dots, e.g. 'intra.op.threads'");
            }
            known.put(key, Objects.requireNonNull(value, () -> "default of '" + key + "' is null"));
        });

        Set<String> unknown = new TreeSet<>();
        Map<ConfigLayer, Map<String, Object>> layers = new java.util.EnumMap<>(ConfigLayer.class);

        Map<String, Object> env = new LinkedHashMap<>();
        String envPrefix = "LORICA_" + scope.toUpperCase(Locale.ROOT) + "_";
        for (String key : known.keySet()) {
            String value = environment.get(envPrefix + key.toUpperCase(Locale.ROOT).replace('.', '_'));
            if (value != null) {
                env.put(key, value);
            }
        }
        layers.put(ConfigLayer.ENVIRONMENT, env);

        Map<String, Object> sys = new LinkedHashMap<>();
        String sysPrefix = "lorica." + scope + ".";
        for (String name : systemProperties.stringPropertyNames()) {
            if (name.startsWith(sysPrefix)) {
                String key = name.substring(sysPrefix.length());
                if (known.containsKey(key)) {
                    sys.put(key, systemProperties.getProperty(name));
                } else {
                    unknown.add(name);
                }
            }
        }
        layers.put(ConfigLayer.SYSTEM_PROPERTY, sys);

        Map<String, Object> admin = new LinkedHashMap<>();
        configAdmin.forEach((key, value) -> {
            if (isFrameworkProperty(key) || value == null) {
                return;
            }
            if (known.containsKey(key)) {
                admin.put(key, value);
            } else {
                unknown.add(key);
            }
        });
        layers.put(ConfigLayer.CONFIG_ADMIN, admin);
        layers.put(ConfigLayer.DEFAULT, known);

        layers.replaceAll((layer, map) -> Collections.unmodifiableMap(map));
        return new LayeredConfiguration(scope, Collections.unmodifiableMap(known), layers,
                Collections.unmodifiableSet(unknown));
    }

    private static boolean isFrameworkProperty(String key) {
        for (String prefix : FRAMEWORK_PREFIXES) {
            if (key.startsWith(prefix)) {
                return true;
            }
        }
        return false;
    }

    private static Configuration readOnly(Map<String, Object> map) {
        MapConfiguration configuration = new MapConfiguration(map);
        // a comma in a value (e.g. a list of providers) is kept as is; callers split lists themselves
        configuration.setListDelimiterHandler(org.apache.commons.configuration2.convert.DisabledListDelimiterHandler.INSTANCE);
        return configuration;
    }

    /** The scope, e.g. {@code onnxruntime}. */
    public String scope() {
        return scope;
    }

    /** The PID this scope is configured under, e.g. {@code io.lorica.onnxruntime}. */
    public String pid() {
        return "io.lorica." + scope;
    }

    /** Keys found in Config Admin or system properties that no default declares (likely typos). */
    public Set<String> unknownKeys() {
        return unknownKeys;
    }

    /** The layer the effective value of {@code key} comes from. */
    public ConfigLayer sourceOf(String key) {
        requireKnown(key);
        for (ConfigLayer layer : ConfigLayer.values()) {
            if (layers.get(layer).containsKey(key)) {
                return layer;
            }
        }
        throw new AssertionError("known key without a default: " + key);
    }

    /** The effective value of {@code key} as a string, interpolated. */
    public String getString(String key) {
        requireKnown(key);
        try {
            return merged.getString(key);
        } catch (RuntimeException e) {
            throw invalid(key, "a string", e);
        }
    }

    /** The effective value of {@code key} as an int. */
    public int getInt(String key) {
        return get(key, "an integer", Configuration::getInt);
    }

    /** The effective value of {@code key} as a long. */
    public long getLong(String key) {
        return get(key, "an integer", Configuration::getLong);
    }

    /** The effective value of {@code key} as a double. */
    public double getDouble(String key) {
        return get(key, "a number", Configuration::getDouble);
    }

    /** The effective value of {@code key} as a boolean ({@code true}/{@code false}, {@code yes}/{@code no}, {@code on}/{@code off}). */
    public boolean getBoolean(String key) {
        return get(key, "true or false", Configuration::getBoolean);
    }

    private <T> T get(String key, String expected, java.util.function.BiFunction<Configuration, String, T> getter) {
        requireKnown(key);
        try {
            return getter.apply(merged, key);
        } catch (ConversionException e) {
            throw invalid(key, expected, e);
        }
    }

    /** The effective value of {@code key} as a constant of {@code type}, matched case-insensitively by name. */
    public <E extends Enum<E>> E getEnum(String key, Class<E> type) {
        String value = getString(key).trim();
        for (E constant : type.getEnumConstants()) {
            if (constant.name().equalsIgnoreCase(value)) {
                return constant;
            }
        }
        Set<String> expected = new TreeSet<>();
        for (E constant : type.getEnumConstants()) {
            expected.add(constant.name().toLowerCase(Locale.ROOT));
        }
        throw invalid(key, "one of " + expected, null);
    }

    /** Every known key with its effective (interpolated) value, as strings, in declaration order. */
    public Map<String, String> effective() {
        Map<String, String> result = new LinkedHashMap<>();
        for (String key : defaults.keySet()) {
            result.put(key, getString(key));
        }
        return Collections.unmodifiableMap(result);
    }

    private void requireKnown(String key) {
        if (!defaults.containsKey(key)) {
            throw new IllegalArgumentException("configuration key '" + key + "' is not defined for " + pid()
                    + "; known keys: " + defaults.keySet());
        }
    }

    private IllegalArgumentException invalid(String key, String expected, Exception cause) {
        ConfigLayer layer = sourceOf(key);
        Object raw = layers.get(layer).get(key);
        return new IllegalArgumentException("configuration " + pid() + " key '" + key + "' = '" + raw + "' (from "
                + describe(layer, key) + ") is not valid: expected " + expected, cause);
    }

    private String describe(ConfigLayer layer, String key) {
        return switch (layer) {
            case ENVIRONMENT -> "environment variable LORICA_" + scope.toUpperCase(Locale.ROOT) + "_"
                    + key.toUpperCase(Locale.ROOT).replace('.', '_');
            case SYSTEM_PROPERTY -> "system property lorica." + scope + "." + key;
            case CONFIG_ADMIN -> "configuration " + pid();
            case DEFAULT -> "built-in default";
        };
    }

    @Override
    public String toString() {
        return pid() + effective();
    }
}
