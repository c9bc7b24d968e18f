package io.lorica.api.registry;

import io.lorica.api.Component;
import io.lorica.api.adapter.LoraAdapter;

import java.util.Map;
import java.util.Set;

/**
 * What an adapter registry needs from an inference engine to carry out Diffusers' {@code fuse_lora} and
 * {@code unfuse_lora}: baking adapters into component weights and restoring the pristine weights. Implemented by the
 * engine; the registry does the validation and the bookkeeping ({@code fused_loras}) and calls these methods while it
 * holds its mutation lock, so calls never overlap for one registry.
 *
 * <p>The contract is <em>declarative</em> (unlike Diffusers' merge stack, which adds and subtracts in place and so
 * drifts, diffusers#5313/#5000): {@link #fuse} sets the weights of each named component to
 * {@code W' = W_pristine + Σ_a adapterScales[a] · ΔW_a} over exactly the given adapters, replacing whatever was fused
 * there before; {@link #unfuse} sets them back to {@code W_pristine}. Both are all or nothing: when they throw, the
 * weights of every named component must be as before the call. The registry relies on this for its own atomicity.
 */
@org.osgi.annotation.versioning.ConsumerType
public interface FuseBackend {

    /**
     * The backend of a registry with no inference engine attached: every call throws {@link IllegalStateException}.
     * A registry constructed with it reports its own pipeline id in the message ("fusing needs an inference engine;
     * none is attached to pipeline {id}"), and never calls it when there is nothing to fuse or unfuse.
     */
    FuseBackend NONE = none("(unknown)");

    /**
     * A backend that refuses every call with {@link IllegalStateException} ("fusing needs an inference engine; none is
     * attached to pipeline {pipelineId}").
     */
    static FuseBackend none(String pipelineId) {
        String message = "fusing needs an inference engine; none is attached to pipeline " + pipelineId;
        return new FuseBackend() {
            @Override
            public void fuse(Map<String, LoraAdapter> adapters, Set<Component> components,
                    Map<String, Float> adapterScales, boolean safeFusing) {
                throw new IllegalStateException(message);
            }

            @Override
            public void unfuse(Set<Component> components) {
                throw new IllegalStateException(message);
            }

            @Override
            public String toString() {
                return "FuseBackend.none(" + pipelineId + ")";
            }
        };
    }

    /**
     * Bakes {@code adapters} into the weights of {@code components}: afterwards each component's target layers hold
     * {@code W_pristine + Σ_a adapterScales[a] · ΔW_a} (fp32 accumulation, one cast), over exactly these adapters;
     * adapters fused there before and not listed are no longer fused. Modules of other components are ignored.
     *
     * @param adapters      the adapters to fuse, by name, in activation order (every one has modules in at least one
     *                      of {@code components})
     * @param components    the components to patch, not empty, all of the registry's family
     * @param adapterScales per adapter name, Diffusers' {@code lora_scale · w}: the fuse request's {@code loraScale}
     *                      times the adapter's weight (the module's {@code alpha/r} is applied by the backend); same
     *                      keys as {@code adapters}
     * @param safeFusing    whether to check the patched weights for NaN or infinities before committing them
     * @throws IllegalArgumentException when safe fusing finds NaN or infinite weights, in Diffusers' words: "NaNs
     *                                  detected in the merged weights. The adapter {name} seems to be broken"; nothing
     *                                  is committed
     * @throws IllegalStateException    when the engine cannot patch the weights (no model, out of memory, ...);
     *                                  nothing is committed
     */
    void fuse(Map<String, LoraAdapter> adapters, Set<Component> components, Map<String, Float> adapterScales,
            boolean safeFusing);

    /**
     * Restores the pristine weights of {@code components} (Diffusers' {@code unfuse_lora(components)}, without the
     * subtraction and its drift).
     *
     * @param components the components to restore, not empty, all of the registry's family
     * @throws IllegalStateException when the engine cannot restore the weights; nothing is changed
     */
    void unfuse(Set<Component> components);
}
