package io.lorica.api.policy;

import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LoraAdapter;

import java.util.Map;

import org.osgi.annotation.versioning.ProviderType;

/**
 * The adapter-scale policy service: Diffusers' {@code set_adapters} weight expansion
 * ({@code _maybe_expand_lora_scales}, {@code set_weights_and_activate_adapters}) as a pure function, plus the text
 * form of {@link AdapterSettings} used by configuration, console, shell and prompts. Thread-safe and stateless.
 */
@ProviderType
public interface ScalePolicy {

    /**
     * The scale of every active adapter on every layer it targets: {@code module.scale() · w(layer) · callScale},
     * with {@code w} from the adapter's {@link AdapterWeight} expanded for {@code family}'s UNet blocks and assigned
     * to layers as Diffusers does, and these documented deviations: layers outside every
     * block ({@code conv_in}, {@code time_embedding.*}, ...) get 1.0 instead of crashing; {@code block_<i>} keys of
     * blocks without attention are rejected instead of ignored. Disabled or empty settings give
     * {@link EffectiveScales#empty()}.
     *
     * @param settings the settings of this generation
     * @param loaded   the loaded adapters by name
     * @param family   the family of the pipeline
     * @throws IllegalArgumentException when an active adapter is not loaded (Diffusers' "Adapter name(s) {…} not in
     *                                  the list of present adapters: {…}."), a block list has the wrong length for the
     *                                  family (e.g. "Expected 3 scales for up.block_1, got 2."), or a block does not
     *                                  exist in the family's UNet
     */
    EffectiveScales resolve(AdapterSettings settings, Map<String, LoraAdapter> loaded, ModelFamily family);

    /**
     * Parses adapter settings from JSON (e.g. {@code {"adapters": {"toy": 0.8, "style": {"unet": {"down":
     * {"block_1": [0.1, 0.2]}}}}, "scale": 0.9, "enabled": true}}) or compact text (e.g. {@code "toy:0.8,style"}).
     *
     * @throws IllegalArgumentException naming the position and what was expected when the text is malformed
     */
    AdapterSettings parse(String text);

    /** The JSON form of {@code settings}, which {@link #parse(String)} reads back to an equal value. */
    String format(AdapterSettings settings);

    /**
     * Takes A1111-style LoRA tags out of a prompt: {@code <lora:name:weight>}, {@code <lora:name:te_weight:unet_weight>}
     * and {@code <lora:name:weight:lbw=PRESET>} (or a literal block-weight vector); {@code \<lora:...>} stays text.
     *
     * @throws IllegalArgumentException naming a malformed tag and its position, or an unknown preset
     */
    PromptSettings parsePrompt(String prompt);
}
