package io.lorica.api.adapter;

import java.util.List;
import java.util.Objects;

/**
 * What a format conversion did with every key of the source file, and the warnings it raised (Diffusers only logs
 * these; Lorica keeps them with the adapter so the console and shell can show them).
 *
 * @param keys     one entry per source key, in file order
 * @param warnings free-text warnings, e.g. "alpha missing for 12 modules, using alpha = rank"
 */
public record LoadReport(List<KeyReport> keys, List<String> warnings) {

    /** @throws IllegalArgumentException when a list or an element is null or a warning is blank */
    public LoadReport {
        if (keys == null || warnings == null) {
            throw new IllegalArgumentException("keys and warnings must not be null");
        }
        keys = List.copyOf(requireNoNulls(keys, "keys"));
        warnings = List.copyOf(requireNoNulls(warnings, "warnings"));
        for (String warning : warnings) {
            if (warning.isBlank()) {
                throw new IllegalArgumentException("warnings must not contain blank entries");
            }
        }
    }

    /** A report with no keys and no warnings. */
    public static LoadReport empty() {
        return new LoadReport(List.of(), List.of());
    }

    /** The number of keys with the given outcome. */
    public long count(KeyOutcome outcome) {
        return keys.stream().filter(k -> k.outcome() == outcome).count();
    }

    /** The keys that were dropped, in file order. */
    public List<KeyReport> dropped() {
        return keys.stream().filter(k -> k.outcome() == KeyOutcome.DROPPED).toList();
    }

    private static <T> List<T> requireNoNulls(List<T> list, String field) {
        if (list.stream().anyMatch(Objects::isNull)) {
            throw new IllegalArgumentException(field + " must not contain null");
        }
        return list;
    }

    /** The fate of one source key. */
    public enum KeyOutcome {
        /** Taken as is: the key already had canonical (PEFT/Diffusers) naming. */
        USED,
        /** Taken after renaming or reshaping (kohya, legacy Diffusers, LDM block names, 2-D conv LoRA, ...). */
        CONVERTED,
        /** Not used, e.g. a kohya {@code dora_scale}, a module the model does not have, or an unsupported tensor. */
        DROPPED
    }

    /**
     * One source key and what became of it.
     *
     * @param key     the key as stored in the file, e.g. {@code lora_unet_down_blocks_0_..._to_q.lora_down.weight}
     * @param outcome used, converted or dropped
     * @param target  for used/converted keys, what it became: {@code <component>/<module path>.<part>}, e.g.
     *                {@code unet/down_blocks.0.attentions.0.proj_in.lora_A}; empty for dropped keys
     * @param reason  why it was converted or dropped; required for dropped keys, may be empty otherwise
     */
    public record KeyReport(String key, KeyOutcome outcome, String target, String reason) {

        /** @throws IllegalArgumentException when key or outcome is missing, or a required target/reason is blank */
        public KeyReport {
            if (key == null || key.isBlank()) {
                throw new IllegalArgumentException("key must not be blank, got '" + key + "'");
            }
            if (outcome == null) {
                throw new IllegalArgumentException("outcome of key '" + key + "' must not be null");
            }
            target = target == null ? "" : target;
            reason = reason == null ? "" : reason;
            if (outcome != KeyOutcome.DROPPED && target.isBlank()) {
                throw new IllegalArgumentException("key '" + key + "' is " + outcome + " but has no target");
            }
            if (outcome == KeyOutcome.DROPPED && reason.isBlank()) {
                throw new IllegalArgumentException("key '" + key + "' is DROPPED but has no reason");
            }
        }

        /** A key taken as is. */
        public static KeyReport used(String key, String target) {
            return new KeyReport(key, KeyOutcome.USED, target, "");
        }

        /** A key taken after conversion. */
        public static KeyReport converted(String key, String target, String reason) {
            return new KeyReport(key, KeyOutcome.CONVERTED, target, reason);
        }

        /** A key left out, and why. */
        public static KeyReport dropped(String key, String reason) {
            return new KeyReport(key, KeyOutcome.DROPPED, "", reason);
        }
    }
}
