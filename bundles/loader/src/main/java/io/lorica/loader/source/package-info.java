/**
 * Where LoRA files come from, as plain Java (no OSGi): the readable roots every local reference is confined to
 * ({@link io.lorica.loader.source.AdapterRoots}), the watched adapter folder
 * ({@link io.lorica.loader.source.AdapterDirectory}), the Hugging Face style hub cache
 * ({@link io.lorica.loader.source.HubCache}) and the downloader that fills it
 * ({@link io.lorica.loader.source.HubDownloader}).
 *
 * <p>Internal to the loader bundle (not exported): other bundles use {@link io.lorica.api.format.AdapterLoader} and
 * {@link io.lorica.api.registry.AdapterReference}.
 */
package io.lorica.loader.source;
