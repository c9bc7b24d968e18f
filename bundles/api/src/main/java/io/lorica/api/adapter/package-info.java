/**
 * The canonical adapter model every file format converts to: a {@link io.lorica.api.adapter.LoraAdapter} holds, per
 * {@link io.lorica.api.Component component} and per Diffusers module path (e.g.
 * {@code down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q}), one {@link io.lorica.api.adapter.LoraModule}
 * with PEFT's {@code lora_A} / {@code lora_B} tensors, rank and alpha, checked against the target layer's
 * {@link io.lorica.api.adapter.LayerGeometry geometry}; and the {@link io.lorica.api.adapter.LoadReport} saying what
 * happened to every key of the source file.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.0.0")
package io.lorica.api.adapter;
