/**
 * Adapter weights and the scale policy: {@link io.lorica.api.policy.AdapterWeight} models Diffusers'
 * {@code set_adapters} weight grammar (numbers, per-component dicts, UNet block dicts),
 * {@link io.lorica.api.policy.AdapterSettings} is an immutable snapshot of which adapters are active with which weights
 * and the per-call {@code cross_attention_kwargs["scale"]}, and a {@link io.lorica.api.policy.ScalePolicy} turns
 * settings plus loaded adapters into {@link io.lorica.api.policy.EffectiveScales}: per component, per target layer,
 * per adapter, {@code alpha/r · w(block) · callScale}, computed functionally without mutating any stored state.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.0.0")
package io.lorica.api.policy;
