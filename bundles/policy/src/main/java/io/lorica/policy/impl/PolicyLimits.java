package io.lorica.policy.impl;

import java.util.List;
import java.util.Map;

import io.lorica.api.Component;
import io.lorica.api.policy.AdapterSettings;
import io.lorica.api.policy.AdapterWeight;

/**
 * The configured limits of the policy: how many adapters may be active at once and the range every weight (and
 * block ratio and override) must lie in. Checked before anything is expanded, so a request over the limits changes
 * nothing.
 *
 * @param maxActiveAdapters at least 1
 * @param weightMin         lowest weight allowed
 * @param weightMax         highest weight allowed, at least {@code weightMin}
 */
public record PolicyLimits(int maxActiveAdapters, double weightMin, double weightMax) {

    /** @throws IllegalArgumentException when the limits make no sense */
    public PolicyLimits {
        if (maxActiveAdapters < 1) {
            throw new IllegalArgumentException("max.active.adapters must be at least 1, got " + maxActiveAdapters);
        }
        if (!Double.isFinite(weightMin) || !Double.isFinite(weightMax) || weightMin > weightMax) {
            throw new IllegalArgumentException("weight.min and weight.max must be finite with weight.min <= weight.max, got "
                    + weightMin + " and " + weightMax);
        }
    }

    /**
     * Checks {@code settings} against the limits.
     *
     * @throws IllegalArgumentException naming the adapter, the value and the allowed range
     */
    public void check(AdapterSettings settings) {
        if (settings.adapters().size() > maxActiveAdapters) {
            throw new IllegalArgumentException(settings.adapters().size() + " active adapters " + settings.names()
                    + " exceed the configured maximum of " + maxActiveAdapters + " (max.active.adapters)");
        }
        for (Map.Entry<String, AdapterWeight> entry : settings.adapters().entrySet()) {
            check(entry.getKey(), entry.getValue());
        }
    }

    private void check(String adapter, AdapterWeight weight) {
        if (weight instanceof AdapterWeight.Uniform uniform) {
            value(adapter, "weight", uniform.value());
        } else if (weight instanceof AdapterWeight.PerComponent perComponent) {
            for (Map.Entry<Component, AdapterWeight.ComponentWeight> entry : perComponent.weights().entrySet()) {
                String where = entry.getKey().id();
                if (entry.getValue() instanceof AdapterWeight.Uniform uniform) {
                    value(adapter, where, uniform.value());
                } else if (entry.getValue() instanceof AdapterWeight.UnetBlocks blocks) {
                    blocks.mid().ifPresent(mid -> value(adapter, where + ".mid", mid));
                    blocks.down().ifPresent(part -> part(adapter, where + ".down", part));
                    blocks.up().ifPresent(part -> part(adapter, where + ".up", part));
                }
            }
        } else if (weight instanceof AdapterWeight.BlockVector vector) {
            value(adapter, "te weight", vector.teWeight());
            value(adapter, "unet weight", vector.unetWeight());
            List<Double> ratios = vector.ratios();
            for (int i = 0; i < ratios.size(); i++) {
                value(adapter, "block ratio " + i, ratios.get(i));
            }
        } else if (weight instanceof AdapterWeight.WithOverrides overrides) {
            check(adapter, overrides.base());
            for (AdapterWeight.LayerOverride override : overrides.overrides()) {
                value(adapter, "override /" + override.regex() + "/", override.weight());
            }
        }
    }

    private void part(String adapter, String where, AdapterWeight.BlockPart part) {
        if (part instanceof AdapterWeight.Uniform uniform) {
            value(adapter, where, uniform.value());
        } else if (part instanceof AdapterWeight.PerBlock perBlock) {
            perBlock.blocks().forEach((block, values) -> values.forEach(v -> value(adapter, where + "." + block, v)));
        }
    }

    private void value(String adapter, String where, double value) {
        if (value < weightMin || value > weightMax) {
            throw new IllegalArgumentException("adapter '" + adapter + "': " + where + " = " + value
                    + " is outside the configured range [" + weightMin + ", " + weightMax + "] (weight.min, weight.max)");
        }
    }
}
