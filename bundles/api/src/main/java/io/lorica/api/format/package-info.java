/**
 * The pluggable LoRA file-format SPI. A bundle registers an {@link io.lorica.api.format.AdapterFormat} service
 * (whiteboard); the loader offers each file as a {@link io.lorica.api.format.TensorSource}, asks every format to
 * {@link io.lorica.api.format.AdapterFormat#recognise recognise} it from keys and metadata alone, and lets the most
 * confident one {@link io.lorica.api.format.AdapterFormat#convert convert} it to the canonical
 * {@link io.lorica.api.adapter.LoraAdapter}, resolving names against the target model's
 * {@link io.lorica.api.format.ModuleCatalog}. This replaces Diffusers' {@code lora_state_dict} conversion chain
 * ({@code lora_conversion_utils.py}).
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.1.0")
package io.lorica.api.format;
