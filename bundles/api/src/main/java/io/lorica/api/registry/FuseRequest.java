package io.lorica.api.registry;

import io.lorica.api.AdapterNames;
import io.lorica.api.Component;
import io.lorica.api.ModelFamily;

import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * The arguments of Diffusers' {@code fuse_lora(components, lora_scale, safe_fusing, adapter_names)}.
 *
 * <p>Lorica fuses from the pristine base weights in fp32, {@code W' = W + Σ_a loraScale · s_a · ΔW_a}, and deviates
 * from Diffusers by design: {@code loraScale} is not left behind in the adapters' scalings, a safe-fusing failure
 * commits nothing, and active adapters not fused keep applying.
 *
 * @param components  the components to fuse into; not empty (Diffusers: "`components` cannot be an empty list.")
 * @param loraScale   Diffusers' {@code lora_scale}, a finite multiplier of every fused adapter's scale
 * @param safeFusing  whether to check the fused weights for NaN and infinities before committing them
 * @param adapterNames the adapters to fuse, distinct, in order; empty to fuse the active adapters
 */
public record FuseRequest(Set<Component> components, double loraScale, boolean safeFusing, List<String> adapterNames) {

    /** @throws IllegalArgumentException naming the field and the bad value */
    public FuseRequest {
        if (components == null || components.isEmpty() || components.stream().anyMatch(Objects::isNull)) {
            throw new IllegalArgumentException("components must be a non-empty set of components, got " + components);
        }
        components = Collections.unmodifiableSet(EnumSet.copyOf(components));
        if (!Double.isFinite(loraScale)) {
            throw new IllegalArgumentException("loraScale must be a finite number, got " + loraScale);
        }
        if (adapterNames == null) {
            throw new IllegalArgumentException("adapterNames must not be null (use an empty list for the active adapters)");
        }
        Set<String> seen = new HashSet<>();
        for (String name : new ArrayList<>(adapterNames)) {
            AdapterNames.require(name, "adapter name to fuse");
            if (!seen.add(name)) {
                throw new IllegalArgumentException("adapter name to fuse '" + name + "' is listed twice in "
                        + adapterNames);
            }
        }
        adapterNames = List.copyOf(adapterNames);
    }

    /** Diffusers' defaults for {@code family}: all its components, scale 1.0, no safe fusing, the active adapters. */
    public static FuseRequest defaults(ModelFamily family) {
        if (family == null) {
            throw new IllegalArgumentException("family must not be null");
        }
        return new FuseRequest(family.components(), 1.0, false, List.of());
    }

    /** Whether this request fuses the active adapters rather than named ones. */
    public boolean fusesActiveAdapters() {
        return adapterNames.isEmpty();
    }
}
