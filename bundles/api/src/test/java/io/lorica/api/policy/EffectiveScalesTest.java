package io.lorica.api.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.Component;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;

class EffectiveScalesTest {

    static final String TO_Q = "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q";

    @Test
    void builder_collectsScales_andLookupsFindThem() {
        EffectiveScales scales = EffectiveScales.builder()
                .put(Component.UNET, TO_Q, "b", 1.4f)
                .put(Component.UNET, TO_Q, "a", 0.15f)
                .put(Component.TEXT_ENCODER, "text_model.encoder.layers.0.mlp.fc1", "a", 0.5f)
                .build();
        assertEquals(0.15f, scales.scale(Component.UNET, TO_Q, "a"));
        assertEquals(0f, scales.scale(Component.UNET, "conv_in", "a"));
        assertEquals(List.of("b", "a"), List.copyOf(scales.adapters(Component.UNET, TO_Q).keySet()));
        assertEquals(Set.of(TO_Q), scales.modules(Component.UNET));
        assertEquals(Set.of(Component.UNET, Component.TEXT_ENCODER), scales.components());
        assertEquals(List.of("b", "a"), scales.adapterNames());
        assertEquals(3, scales.entryCount());
        assertTrue(scales.modules(Component.TEXT_ENCODER_2).isEmpty());
    }

    @Test
    void scales_whenNotFinite_rejectsNamingComponentModuleAndAdapter() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> EffectiveScales.builder().put(Component.UNET, TO_Q, "toy", Float.NaN).build());
        assertEquals("scale of adapter 'toy' on unet/" + TO_Q + " must be a finite number, got NaN", e.getMessage());
    }

    @Test
    void scales_whenAdapterNameInvalid_rejects() {
        assertThrows(IllegalArgumentException.class,
                () -> EffectiveScales.builder().put(Component.UNET, TO_Q, "no such", 1f).build());
    }

    @Test
    void scales_areDeepCopied_andEmptyEntriesDropped() {
        Map<String, Float> perAdapter = new HashMap<>(Map.of("a", 1f));
        Map<String, Map<String, Float>> modules = new HashMap<>(Map.of(TO_Q, perAdapter, "conv_in", Map.of()));
        EffectiveScales scales = new EffectiveScales(Map.of(Component.UNET, modules));
        perAdapter.put("b", 2f);
        assertEquals(Set.of("a"), scales.adapters(Component.UNET, TO_Q).keySet());
        assertEquals(Set.of(TO_Q), scales.modules(Component.UNET));
        assertThrows(UnsupportedOperationException.class, () -> scales.adapters(Component.UNET, TO_Q).put("c", 1f));
        assertTrue(new EffectiveScales(Map.of(Component.UNET, Map.of())).isEmpty());
        assertTrue(EffectiveScales.empty().isEmpty());
    }
}
