package io.lorica.api.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.Component;
import io.lorica.api.policy.AdapterWeight.PerBlock;
import io.lorica.api.policy.AdapterWeight.PerComponent;
import io.lorica.api.policy.AdapterWeight.Uniform;
import io.lorica.api.policy.AdapterWeight.UnetBlocks;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class AdapterWeightTest {

    @Test
    void uniform_whenNotFinite_rejects_butAcceptsNegative() {
        assertEquals("weight must be a finite number, got NaN",
                assertThrows(IllegalArgumentException.class, () -> AdapterWeight.of(Double.NaN)).getMessage());
        assertThrows(IllegalArgumentException.class, () -> new Uniform(Double.POSITIVE_INFINITY));
        assertEquals(-0.5, AdapterWeight.of(-0.5).value());
        assertEquals(1.0, AdapterWeight.ONE.value());
    }

    @Test
    void perComponent_whenComponentOmitted_weighsOne() {
        PerComponent weight = new PerComponent(Map.of(Component.UNET, AdapterWeight.of(0.2)));
        assertEquals(AdapterWeight.of(0.2), weight.weightFor(Component.UNET));
        assertEquals(AdapterWeight.ONE, weight.weightFor(Component.TEXT_ENCODER));
    }

    @Test
    void perComponent_whenTextEncoderHasBlockDict_rejectsNamingComponent() {
        UnetBlocks blocks = new UnetBlocks(Optional.empty(), Optional.of(0.5), Optional.empty());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new PerComponent(Map.of(Component.TEXT_ENCODER, blocks)));
        assertEquals("weight for text_encoder must be a number, got a block dict; block weights exist only for unet",
                e.getMessage());
        assertEquals(blocks, new PerComponent(Map.of(Component.UNET, blocks)).weightFor(Component.UNET));
    }

    @Test
    void perComponent_copiesItsMap() {
        Map<Component, AdapterWeight.ComponentWeight> map = new HashMap<>();
        map.put(Component.UNET, AdapterWeight.of(0.3));
        PerComponent weight = new PerComponent(map);
        map.put(Component.TEXT_ENCODER, AdapterWeight.of(0.1));
        assertEquals(1, weight.weights().size());
        assertThrows(UnsupportedOperationException.class, () -> weight.weights().clear());
    }

    @Test
    void unetBlocks_whenMidNotFinite_rejects() {
        assertEquals("mid must be a finite number, got Infinity", assertThrows(IllegalArgumentException.class,
                () -> new UnetBlocks(Optional.empty(), Optional.of(Double.POSITIVE_INFINITY), Optional.empty()))
                .getMessage());
    }

    @Test
    void perBlock_acceptsBlockLists_andLooksThemUpByIndex() {
        Map<String, List<Double>> blocks = new LinkedHashMap<>();
        blocks.put("block_1", List.of(0.1, 0.2));
        blocks.put("block_3", List.of(0.7));
        PerBlock part = new PerBlock(blocks);
        assertEquals(Optional.of(List.of(0.1, 0.2)), part.block(1));
        assertEquals(Optional.empty(), part.block(2));
        List<Double> mutable = new ArrayList<>(List.of(0.4));
        PerBlock copied = new PerBlock(new HashMap<>(Map.of("block_2", mutable)));
        mutable.add(0.6);
        assertEquals(Optional.of(List.of(0.4)), copied.block(2));
        assertThrows(UnsupportedOperationException.class, () -> copied.blocks().get("block_2").add(1.0));
        UnetBlocks unet = new UnetBlocks(Optional.of(part), Optional.of(0.9), Optional.of(AdapterWeight.of(0.5)));
        assertTrue(unet.up().orElseThrow() instanceof Uniform);
    }

    @ParameterizedTest
    @ValueSource(strings = {"block1", "down.block_1", "block_-1", "block_01", "Block_1", "block_"})
    void perBlock_whenKeyIsNotBlockIndex_rejectsNamingKey(String key) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new PerBlock(Map.of(key, List.of(1.0))));
        assertEquals("block key '" + key + "' is invalid, expected block_<i> with i >= 0", e.getMessage());
    }

    @Test
    void perBlock_whenListEmptyOrHasNullOrNaN_rejects() {
        assertEquals("weights of block_1 must be a non-empty list of numbers, got []",
                assertThrows(IllegalArgumentException.class, () -> new PerBlock(Map.of("block_1", List.of())))
                        .getMessage());
        List<Double> withNull = new ArrayList<>();
        withNull.add(null);
        assertThrows(IllegalArgumentException.class, () -> new PerBlock(Map.of("block_1", withNull)));
        assertEquals("block_2 must be a finite number, got NaN", assertThrows(IllegalArgumentException.class,
                () -> new PerBlock(Map.of("block_2", List.of(0.5, Double.NaN)))).getMessage());
    }
}
