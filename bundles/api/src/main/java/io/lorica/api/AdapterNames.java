package io.lorica.api;

import java.util.regex.Pattern;

/**
 * The rule for adapter names, Diffusers' {@code adapter_name}: 1 to 128 characters, letters, digits, {@code _},
 * {@code -} and {@code .}, not starting with {@code .} or {@code -}. The names appear in URLs, shell commands and
 * prompt syntax, so they are stricter than Diffusers' free-form strings.
 */
public final class AdapterNames {

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");

    private AdapterNames() {
    }

    /** Whether {@code name} is a valid adapter name. */
    public static boolean isValid(String name) {
        return name != null && NAME.matcher(name).matches();
    }

    /**
     * Returns {@code name} when it is valid.
     *
     * @param field what the name is, for the message (e.g. {@code "adapterName"})
     * @throws IllegalArgumentException naming the field, the value and the rule otherwise
     */
    public static String require(String name, String field) {
        if (!isValid(name)) {
            throw new IllegalArgumentException(field + " '" + name + "' is not a valid adapter name, expected 1-128 "
                    + "letters, digits, '_', '-' or '.', not starting with '.' or '-'");
        }
        return name;
    }
}
