/**
 * Lorica's built-in LoRA file formats, implementations of {@link io.lorica.api.format.AdapterFormat}:
 * {@link io.lorica.loader.format.DiffusersFormat} (Diffusers/PEFT keys, legacy Diffusers keys, PEFT DoRA),
 * {@link io.lorica.loader.format.KohyaFormat} (kohya/A1111 {@code lora_unet_}/{@code lora_te*_} files, LoCon, LDM block
 * names via {@link io.lorica.loader.format.LdmUnetNames}) and {@link io.lorica.loader.format.LycorisFormat} (LoHa, LoKr,
 * Tucker, full deltas). Plain Java; the loader bundle registers them as services.
 *
 * <p>Common rules: recognition looks at keys and metadata only; every converted module is checked against the target
 * model's {@link io.lorica.api.format.ModuleCatalog} geometry; every source key ends up in the
 * {@link io.lorica.api.adapter.LoadReport} as used, converted or dropped with a reason; NaN/Inf values give a warning;
 * a file that looks like one for another model family is rejected with a message naming that family; conversion is
 * all or nothing. Each format's javadoc lists its deliberate deviations from Diffusers.
 */
package io.lorica.loader.format;
