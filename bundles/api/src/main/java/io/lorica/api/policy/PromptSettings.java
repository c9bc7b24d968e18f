package io.lorica.api.policy;

import java.util.List;
import java.util.Objects;

/**
 * What {@link ScalePolicy#parsePrompt(String)} takes out of a prompt written with A1111-style LoRA tags
 * ({@code <lora:name:weight>}, {@code <lora:name:te:unet>}, {@code <lora:name:1:lbw=MIDD>}).
 *
 * @param prompt   the prompt without the tags, whitespace tidied
 * @param settings the adapters the tags name, in tag order, with their weights
 * @param warnings notes such as an adapter tagged twice (the later tag wins)
 */
public record PromptSettings(String prompt, AdapterSettings settings, List<String> warnings) {

    /** @throws NullPointerException when a field is null */
    public PromptSettings {
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(settings, "settings");
        warnings = List.copyOf(warnings);
    }
}
