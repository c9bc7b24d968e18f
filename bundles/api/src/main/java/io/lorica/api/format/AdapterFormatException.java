package io.lorica.api.format;

import java.util.Optional;

/**
 * A LoRA source that a format cannot convert: malformed, unsupported, or not matching the target model. The message
 * names the source and, where one is to blame, the key.
 */
public class AdapterFormatException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final String source;
    private final String key;

    /**
     * @param source  the {@link TensorSource#name()} of the file
     * @param key     the offending key, or null when the problem is not tied to one key
     * @param message what was found and what was expected
     */
    public AdapterFormatException(String source, String key, String message) {
        this(source, key, message, null);
    }

    /** As {@link #AdapterFormatException(String, String, String)}, with a cause. */
    public AdapterFormatException(String source, String key, String message, Throwable cause) {
        super(compose(source, key, message), cause);
        this.source = source;
        this.key = key;
    }

    /** The name of the source that failed. */
    public String source() {
        return source;
    }

    /** The offending key, if the problem is tied to one. */
    public Optional<String> key() {
        return Optional.ofNullable(key);
    }

    private static String compose(String source, String key, String message) {
        return "LoRA source '" + source + "'" + (key == null ? "" : ", key '" + key + "'") + ": " + message;
    }
}
