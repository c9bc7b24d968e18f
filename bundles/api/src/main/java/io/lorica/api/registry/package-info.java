/**
 * The per-pipeline adapter registry: Diffusers' pipeline-level LoRA operations ({@code load_lora_weights},
 * {@code set_adapters}, {@code enable_lora}/{@code disable_lora}, {@code get_active_adapters},
 * {@code get_list_adapters}, {@code delete_adapters}, {@code fuse_lora}/{@code unfuse_lora}) under their Diffusers
 * names, with atomic loads and immutable default settings instead of mutable per-layer state; plus where adapters come
 * from ({@link io.lorica.api.registry.AdapterReference}), what is known about a loaded one
 * ({@link io.lorica.api.registry.AdapterInfo}) and change notifications
 * ({@link io.lorica.api.registry.AdapterRegistryListener}).
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.1.0")
package io.lorica.api.registry;
