package io.lorica.policy.impl;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import io.lorica.api.Component;
import io.lorica.api.policy.AdapterSettings;
import io.lorica.api.policy.AdapterWeight;
import org.junit.jupiter.api.Test;

class PolicyLimitsTest {

    private static final PolicyLimits LIMITS = new PolicyLimits(2, -2, 2);

    private static AdapterSettings one(AdapterWeight weight) {
        return AdapterSettings.of(List.of("a"), List.of(weight));
    }

    @Test
    void check_withinLimits_passes() {
        assertDoesNotThrow(() -> LIMITS.check(AdapterSettings.of(List.of("a", "b"), List.of(AdapterWeight.of(-2), AdapterWeight.of(2)))));
        assertDoesNotThrow(() -> LIMITS.check(AdapterSettings.none()));
    }

    @Test
    void check_tooManyAdapters_namesThemAndTheKey() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LIMITS.check(
                AdapterSettings.of(List.of("a", "b", "c"), AdapterWeight.ONE)));
        assertEquals("3 active adapters [a, b, c] exceed the configured maximum of 2 (max.active.adapters)", e.getMessage());
    }

    @Test
    void check_everyKindOfWeightIsChecked() {
        assertThrows(IllegalArgumentException.class, () -> LIMITS.check(one(AdapterWeight.of(2.5))));
        AdapterWeight.UnetBlocks blocks = new AdapterWeight.UnetBlocks(Optional.empty(), Optional.of(3.0), Optional.empty());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LIMITS.check(one(
                new AdapterWeight.PerComponent(Map.of(Component.UNET, blocks)))));
        assertEquals("adapter 'a': unet.mid = 3.0 is outside the configured range [-2.0, 2.0] (weight.min, weight.max)", e.getMessage());
        AdapterWeight.PerBlock perBlock = new AdapterWeight.PerBlock(Map.of("block_1", List.of(0.5, -2.5)));
        assertThrows(IllegalArgumentException.class, () -> LIMITS.check(one(new AdapterWeight.PerComponent(Map.of(Component.UNET,
                new AdapterWeight.UnetBlocks(Optional.of(perBlock), Optional.empty(), Optional.empty()))))));
        List<Double> ratios = new java.util.ArrayList<>(Collections.nCopies(17, 1.0));
        ratios.set(9, 5.0);
        assertThrows(IllegalArgumentException.class, () -> LIMITS.check(one(new AdapterWeight.BlockVector(1, 1, ratios, Optional.empty()))));
        assertThrows(IllegalArgumentException.class, () -> LIMITS.check(one(new AdapterWeight.WithOverrides(AdapterWeight.ONE,
                List.of(new AdapterWeight.LayerOverride(Optional.empty(), "attn2", -3))))));
    }

    @Test
    void limits_thatMakeNoSense_areRejected() {
        assertThrows(IllegalArgumentException.class, () -> new PolicyLimits(0, -1, 1));
        assertThrows(IllegalArgumentException.class, () -> new PolicyLimits(1, 2, 1));
        assertThrows(IllegalArgumentException.class, () -> new PolicyLimits(1, Double.NEGATIVE_INFINITY, 1));
    }
}
