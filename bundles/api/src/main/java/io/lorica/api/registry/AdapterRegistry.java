package io.lorica.api.registry;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.policy.AdapterSettings;
import io.lorica.api.policy.AdapterWeight;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import org.osgi.annotation.versioning.ProviderType;

/**
 * The LoRA adapters of one pipeline instance, with Diffusers' pipeline-level operations under their Diffusers names
 *. Thread-safe. Every operation is atomic: on failure it throws and leaves the registry unchanged.
 * The default settings are an immutable {@link AdapterSettings} snapshot replaced atomically; a generation reads it
 * once (or uses its request's own), so changes never affect a generation already running.
 *
 * <p>Errors: caller mistakes (unknown or invalid names, bad weights, unreadable or unconvertible files) throw
 * {@link IllegalArgumentException} (or {@link io.lorica.api.format.AdapterFormatException}) naming the value; engine
 * failures throw {@link IllegalStateException} with the cause.
 */
@ProviderType
public interface AdapterRegistry {

    /** The id of the pipeline this registry belongs to. */
    String pipelineId();

    /** The model family of the pipeline; adapters are converted for it. */
    ModelFamily family();

    /**
     * {@code load_lora_weights}: reads, converts and stores the adapter in every component it targets, all or
     * nothing. Afterwards it is the only active adapter, with weight 1.0 (as in Diffusers); the call scale and the
     * enabled flag are kept.
     *
     * @param adapterName the name, or null to generate a fresh one ({@code default_<n>} from a registry-wide counter,
     *                    never reusing a name: a deliberate deviation from Diffusers' per-component naming)
     * @throws IllegalArgumentException when the name is taken or invalid, the reference cannot be resolved, or nothing
     *                                  in the file targets this model
     */
    AdapterInfo load(AdapterReference reference, String adapterName);

    /** {@code load(reference, null)}. */
    default AdapterInfo load(AdapterReference reference) {
        return load(reference, null);
    }

    /** The loaded adapters, in load order. */
    List<AdapterInfo> adapters();

    /** The adapter with that name, if loaded. */
    Optional<AdapterInfo> adapter(String name);

    /** An immutable view of the loaded adapters by name, in load order, for the scale policy and the engine. */
    Map<String, LoraAdapter> loadedAdapters();

    /**
     * {@code set_adapters(adapter_names, adapter_weights)}: makes exactly these adapters active with these weights
     * (absolute, not cumulative); keeps the call scale and the enabled flag.
     *
     * @param weights one per name, or null for 1.0 each
     * @throws IllegalArgumentException when a name is not loaded ("Adapter name(s) {…} not in the list of present
     *                                  adapters: {…}."), the lengths differ, or a weight does not fit the family
     */
    void setAdapters(List<String> names, List<AdapterWeight> weights);

    /** {@code setAdapters(names, null)}: every listed adapter with weight 1.0. */
    default void setAdapters(List<String> names) {
        setAdapters(names, null);
    }

    /**
     * Replaces the default settings as a whole (adapters, weights, call scale, enabled flag), e.g. with a preset.
     *
     * @throws IllegalArgumentException as {@link #setAdapters(List, List)}
     */
    void setDefaults(AdapterSettings settings);

    /** The current default settings: what {@code set_adapters}, {@code enable_lora} and {@code disable_lora} set. */
    AdapterSettings defaults();

    /** {@code enable_lora()}: LoRA applies again, with the active adapters and weights unchanged. */
    void enableLora();

    /** {@code disable_lora()}: generations run the base model; adapters, weights and fused state are kept. */
    void disableLora();

    /** {@code get_active_adapters()}: the active adapter names, in order. */
    List<String> getActiveAdapters();

    /**
     * {@code get_list_adapters()}: per component, the adapters with modules there, in load order; components without
     * adapters are left out.
     */
    Map<Component, List<String>> getListAdapters();

    /**
     * {@code delete_adapters(adapter_names)}: frees the adapters, all or nothing. Unknown names are an error (a
     * deviation: Diffusers ignores them). A fused adapter is unfused first (Diffusers would leave its delta in the
     * weights), and deleted adapters leave the active set; the remaining active ones stay active. When deleted adapters
     * were active and none remains active, the alphabetically first remaining adapter becomes active (Diffusers' rule,
     * which Diffusers applies per layer).
     *
     * @throws IllegalArgumentException when a name is not loaded ("Adapter name(s) {…} not in the list of present
     *                                  adapters: {…}.")
     */
    void deleteAdapters(List<String> names);

    /**
     * {@code fuse_lora(...)}: bakes adapters into the component weights (see {@link FuseRequest}). Fused adapters
     * ignore the call scale; they are recorded in {@link #getFusedAdapters()}.
     *
     * @throws IllegalArgumentException when a component is not part of the family, a named adapter is not loaded, or
     *                                  safe fusing finds NaN/infinite weights ("NaNs detected in the merged weights.
     *                                  The adapter {name} seems to be broken")
     */
    void fuseLora(FuseRequest request);

    /**
     * {@code unfuse_lora(components)}: restores the pristine weights of these components (nothing is subtracted, so
     * nothing drifts).
     *
     * @throws IllegalArgumentException when {@code components} is empty or names a component outside the family
     */
    void unfuseLora(Set<Component> components);

    /** {@code unfuse_lora()} for every component of the family. */
    default void unfuseLora() {
        unfuseLora(family().components());
    }

    /** Diffusers' {@code fused_loras}: the adapters fused into at least one component. */
    Set<String> getFusedAdapters();
}
