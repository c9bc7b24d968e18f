/**
 * The per-pipeline adapter registry as plain Java (no OSGi):
 * {@link io.lorica.policy.registry.DefaultAdapterRegistry}, Diffusers' pipeline-level LoRA operations
 * ({@code load_lora_weights}, {@code set_adapters}, {@code enable_lora}/{@code disable_lora},
 * {@code get_active_adapters}, {@code get_list_adapters}, {@code delete_adapters}, {@code fuse_lora}/{@code unfuse_lora})
 * over one immutable {@link io.lorica.policy.registry.RegistrySnapshot} replaced atomically, and
 * {@link io.lorica.api.registry.FuseBackend}, the engine side of fusing.
 *
 * <p>Not exported yet: the OSGi wiring of the policy bundle decides how the engine reaches
 * {@link io.lorica.api.registry.FuseBackend}.
 */
package io.lorica.policy.registry;

import io.lorica.api.registry.FuseBackend;
