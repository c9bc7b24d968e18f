/**
 * Adapter settings as text: {@link io.lorica.policy.settings.SettingsParser} reads
 * {@link io.lorica.api.policy.AdapterSettings} from JSON (Lorica's {@code adapters} object or Diffusers'
 * {@code adapter_names}/{@code adapter_weights} lists) and from a compact one-line form,
 * {@link io.lorica.policy.settings.SettingsFormatter} writes both canonically,
 * {@link io.lorica.policy.settings.PromptTags} takes A1111 {@code <lora:name:…>} tags out of a prompt, and
 * {@link io.lorica.policy.settings.BlockWeightPresets} holds the named A1111 "LoRA Block Weight" vectors. Plain Java,
 * no OSGi; the policy service wires the presets from configuration.
 */
package io.lorica.policy.settings;
