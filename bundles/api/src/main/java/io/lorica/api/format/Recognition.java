package io.lorica.api.format;

/**
 * An {@link AdapterFormat}'s verdict on whether it can convert a source.
 *
 * @param recognised whether the format claims the source
 * @param confidence how sure it is: in {@code (0, 1]} when recognised (1 = unambiguous markers such as
 *                   {@code lora_unet_} prefixes on every key), exactly 0 otherwise
 * @param reason     a short human explanation, e.g. "all 264 keys start with lora_unet_/lora_te_"
 */
public record Recognition(boolean recognised, double confidence, String reason) {

    /** @throws IllegalArgumentException when the confidence is out of range for the verdict or the reason is blank */
    public Recognition {
        if (reason == null || reason.isBlank()) {
            throw new IllegalArgumentException("reason must not be blank, got '" + reason + "'");
        }
        if (recognised && !(confidence > 0 && confidence <= 1)) {
            throw new IllegalArgumentException("confidence of a recognition must be in (0, 1], got " + confidence);
        }
        if (!recognised && confidence != 0) {
            throw new IllegalArgumentException("confidence of a rejection must be 0, got " + confidence);
        }
    }

    /** The source is not of this format. */
    public static Recognition no(String reason) {
        return new Recognition(false, 0, reason);
    }

    /** The source is of this format with the given confidence in {@code (0, 1]}. */
    public static Recognition yes(double confidence, String reason) {
        return new Recognition(true, confidence, reason);
    }

    /** Whether this verdict is a recognition more confident than {@code other}. */
    public boolean isBetterThan(Recognition other) {
        return recognised && (other == null || confidence > other.confidence);
    }
}
