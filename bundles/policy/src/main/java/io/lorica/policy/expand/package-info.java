/**
 * Expansion of adapter weights to per-layer scales: {@link io.lorica.policy.expand.ScaleExpander} turns
 * {@link io.lorica.api.policy.AdapterSettings} and the loaded adapters into
 * {@link io.lorica.api.policy.EffectiveScales} with Diffusers' {@code set_adapters} semantics (block dicts, per-layer
 * resolution) plus A1111 block-weight vectors ({@link io.lorica.policy.expand.LbwBlocks}) and per-layer overrides.
 * Plain Java, no OSGi.
 */
package io.lorica.policy.expand;
