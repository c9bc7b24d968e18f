package io.lorica.policy.settings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.policy.AdapterWeight.BlockVector;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.junit.jupiter.api.Test;

/**
 * The built-in presets against the source they were taken from, configuration overrides and their validation.
 */
class BlockWeightPresetsTest {

    /**
     * hako-mikan/sd-webui-lora-block-weight, scripts/lora_block_weight.py, {@code DEF_WEIGHT_PRESET} (commit b403cb7,
     * 2025-06-19; unchanged since the first upload 1a3679f, 2023-01-30), FLUXALL left out. Typed in again here on
     * purpose so that a change of the production table has to be made twice.
     */
    private static final String EXTENSION_DEFAULTS = """
            NONE:0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0
            ALL:1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1
            INS:1,1,1,1,0,0,0,0,0,0,0,0,0,0,0,0,0
            IND:1,0,0,0,1,1,1,0,0,0,0,0,0,0,0,0,0
            INALL:1,1,1,1,1,1,1,0,0,0,0,0,0,0,0,0,0
            MIDD:1,0,0,0,1,1,1,1,1,1,1,1,0,0,0,0,0
            OUTD:1,0,0,0,0,0,0,0,1,1,1,1,0,0,0,0,0
            OUTS:1,0,0,0,0,0,0,0,0,0,0,0,1,1,1,1,1
            OUTALL:1,0,0,0,0,0,0,0,1,1,1,1,1,1,1,1,1
            ALL0.5:0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5
            """;

    /** BLOCKID17 of the extension: the slot of each block in a 17-value vector. */
    private static final List<String> BLOCKID17 = List.of("BASE", "IN01", "IN02", "IN04", "IN05", "IN07", "IN08",
            "M00", "OUT03", "OUT04", "OUT05", "OUT06", "OUT07", "OUT08", "OUT09", "OUT10", "OUT11");

    @Test
    void defaults_areTheExtensionsDefWeightPresetInOrder() {
        Map<String, List<Double>> expected = new LinkedHashMap<>();
        for (String line : EXTENSION_DEFAULTS.strip().split("\n")) {
            String[] parts = line.split(":");
            List<Double> values = new ArrayList<>();
            for (String v : parts[1].split(",")) {
                values.add(Double.parseDouble(v));
            }
            expected.put(parts[0], values);
        }
        assertEquals(expected, BlockWeightPresets.defaults().asMap());
        assertEquals(List.copyOf(expected.keySet()), List.copyOf(BlockWeightPresets.defaults().names()));
    }

    @Test
    void defaults_areAll17Values() {
        BlockWeightPresets.defaults().asMap().values().forEach(v -> assertEquals(17, v.size()));
    }

    @Test
    void defaults_midd_coversIn05ToOut06AndBase() {
        List<Double> midd = BlockWeightPresets.defaults().get("MIDD").orElseThrow();
        for (int i = 0; i < BLOCKID17.size(); i++) {
            String block = BLOCKID17.get(i);
            boolean on = List.of("BASE", "IN05", "IN07", "IN08", "M00", "OUT03", "OUT04", "OUT05", "OUT06")
                    .contains(block);
            assertEquals(on ? 1.0 : 0.0, midd.get(i), block);
        }
    }

    @Test
    void defaults_outs_isBaseAndOut07ToOut11() {
        List<Double> outs = BlockWeightPresets.defaults().get("OUTS").orElseThrow();
        for (int i = 0; i < BLOCKID17.size(); i++) {
            String block = BLOCKID17.get(i);
            boolean on = block.equals("BASE") || block.compareTo("OUT07") >= 0 && block.startsWith("OUT");
            assertEquals(on ? 1.0 : 0.0, outs.get(i), block);
        }
    }

    @Test
    void defaults_areImmutable() {
        BlockWeightPresets presets = BlockWeightPresets.defaults();
        assertThrows(UnsupportedOperationException.class, () -> presets.asMap().put("X", List.of()));
        assertThrows(UnsupportedOperationException.class, () -> presets.get("ALL").orElseThrow().set(0, 2.0));
        assertSame(presets, BlockWeightPresets.defaults());
    }

    @Test
    void withOverrides_addsSdxlPresetAndReplacesBuiltIn_keepingOrder() {
        Map<String, String> configured = new LinkedHashMap<>();
        configured.put("XL_OUT", "1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1");
        configured.put("MIDD", "0 0 0 0 1 1 1 1 1 1 1 1 0 0 0 0 0");
        configured.put("A_FULL", String.join(",", Collections.nCopies(26, "0.25")));
        BlockWeightPresets presets = BlockWeightPresets.defaults().withOverrides(configured);

        assertEquals(List.of(1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0),
                presets.get("XL_OUT").orElseThrow());
        assertEquals(0.0, presets.get("MIDD").orElseThrow().get(0));
        assertEquals(26, presets.get("A_FULL").orElseThrow().size());
        List<String> names = List.copyOf(presets.names());
        assertEquals(List.of("NONE", "ALL", "INS", "IND", "INALL", "MIDD", "OUTD", "OUTS", "OUTALL", "ALL0.5",
                "A_FULL", "XL_OUT"), names);
        // the defaults are unchanged
        assertEquals(1.0, BlockWeightPresets.defaults().get("MIDD").orElseThrow().get(0));
    }

    @Test
    void withOverrides_acceptsLength20() {
        BlockWeightPresets presets = BlockWeightPresets.empty()
                .withOverrides(Map.of("XL20", String.join(",", Collections.nCopies(20, "1"))));
        assertEquals(20, presets.get("XL20").orElseThrow().size());
    }

    @Test
    void withOverrides_empty_returnsSame() {
        BlockWeightPresets presets = BlockWeightPresets.defaults();
        assertSame(presets, presets.withOverrides(Map.of()));
    }

    @Test
    void withOverrides_badLength_namesPresetAndLengths() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BlockWeightPresets.defaults()
                .withOverrides(Map.of("XL_BAD", "1,0,0,0,0,0,1,1,1,1,1")));
        assertEquals("block-weight preset 'XL_BAD': expected 12 (SDXL), 17 (SD 1.5), 20 (SDXL all blocks) or 26 "
                + "(SD 1.5 all blocks) numbers, got 11", e.getMessage());
    }

    @Test
    void withOverrides_randomValue_isRejectedWithHint() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BlockWeightPresets.defaults()
                .withOverrides(Map.of("ROUT", "1,1,1,1,1,1,1,1,R,R,R,R,R,R,R,R,R")));
        assertEquals("block-weight preset 'ROUT': value 9 'R' is not a number (A1111's random and dynamic values R, "
                + "U and X are not supported), expected a finite number", e.getMessage());
    }

    @Test
    void withOverrides_overflow_isRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BlockWeightPresets.defaults()
                .withOverrides(Map.of("BIG", "1e999" + ",1".repeat(11))));
        assertEquals("block-weight preset 'BIG': value 1 '1e999' is out of range, expected a finite number",
                e.getMessage());
    }

    @Test
    void withOverrides_emptyValueBetweenCommas_isRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BlockWeightPresets.defaults()
                .withOverrides(Map.of("GAP", "1,,1,1,1,1,1,1,1,1,1,1,1")));
        assertTrue(e.getMessage().startsWith("block-weight preset 'GAP': empty value at position 2"), e.getMessage());
    }

    @Test
    void withOverrides_trailingComma_isRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BlockWeightPresets.defaults()
                .withOverrides(Map.of("T", "1,1,1,1,1,1,1,1,1,1,1,1,")));
        assertTrue(e.getMessage().startsWith("block-weight preset 'T': trailing ','"), e.getMessage());
    }

    @Test
    void withOverrides_blankOrNullValue_isRejected() {
        assertEquals("block-weight preset 'E': expected 12, 17, 20 or 26 numbers, got none",
                assertThrows(IllegalArgumentException.class,
                        () -> BlockWeightPresets.defaults().withOverrides(Map.of("E", "  "))).getMessage());
        Map<String, String> withNull = new LinkedHashMap<>();
        withNull.put("N", null);
        assertEquals("block-weight preset 'N': expected 12, 17, 20 or 26 numbers, got null",
                assertThrows(IllegalArgumentException.class,
                        () -> BlockWeightPresets.defaults().withOverrides(withNull)).getMessage());
    }

    @Test
    void withOverrides_badName_isRejected() {
        for (String name : List.of("1ALL", "", "has space", "x".repeat(65), "_X")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> BlockWeightPresets.defaults().withOverrides(Map.of(name, "1" + ",1".repeat(16))), name);
            assertEquals("block-weight preset name '" + name + "' is invalid, expected a letter followed by up to 63 "
                    + "letters, digits, '_', '.' or '-'", e.getMessage());
        }
    }

    @Test
    void of_validatesListsToo() {
        assertEquals("block-weight preset 'X': expected 12 (SDXL), 17 (SD 1.5), 20 (SDXL all blocks) or 26 (SD 1.5 "
                + "all blocks) numbers, got 2", assertThrows(IllegalArgumentException.class,
                () -> BlockWeightPresets.of(Map.of("X", List.of(1.0, 2.0)))).getMessage());
        List<Double> withNaN = new ArrayList<>(Collections.nCopies(12, 1.0));
        withNaN.set(3, Double.NaN);
        assertEquals("block-weight preset 'X': value 4 must be a finite number, got NaN",
                assertThrows(IllegalArgumentException.class,
                        () -> BlockWeightPresets.of(Map.of("X", withNaN))).getMessage());
    }

    @Test
    void vector_presetName_resolvesWithLabel() {
        BlockVector vector = BlockWeightPresets.defaults().vector("OUTALL", 0.5, 0.8);
        assertEquals(0.5, vector.teWeight());
        assertEquals(0.8, vector.unetWeight());
        assertEquals(Optional.of("OUTALL"), vector.preset());
        assertEquals(BlockWeightPresets.defaults().get("OUTALL").orElseThrow(), vector.ratios());
    }

    @Test
    void vector_literal_commaOrSpaceSeparated() {
        BlockVector a = BlockWeightPresets.defaults().vector("1,0,0,0,0,0,1,1,1,1,1,1", 1, 1);
        BlockVector b = BlockWeightPresets.defaults().vector(" 1 0 0 0 0 0 1 1 1 1 1 1 ", 1, 1);
        BlockVector c = BlockWeightPresets.defaults().vector("1, 0 ,0,0 ,0,0,1,1,1,1,1,1", 1, 1);
        assertEquals(a, b);
        assertEquals(a, c);
        assertEquals(Optional.empty(), a.preset());
    }

    @Test
    void vector_unknownPreset_listsKnownOnes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> BlockWeightPresets.defaults().vector("MIDDLE", 1, 1));
        assertEquals("unknown block-weight preset 'MIDDLE', expected one of NONE, ALL, INS, IND, INALL, MIDD, OUTD, "
                + "OUTS, OUTALL, ALL0.5 or 12, 17, 20 or 26 numbers", e.getMessage());
        assertEquals("unknown block-weight preset 'midd', expected one of (no presets configured) or 12, 17, 20 or 26 "
                + "numbers", assertThrows(IllegalArgumentException.class,
                () -> BlockWeightPresets.empty().vector("midd", 1, 1)).getMessage());
    }

    @Test
    void vector_presetNamesAreCaseSensitive() {
        assertTrue(BlockWeightPresets.defaults().contains("MIDD"));
        assertFalse(BlockWeightPresets.defaults().contains("midd"));
    }

    @Test
    void equalsAndHashCode_byContent() {
        BlockWeightPresets a = BlockWeightPresets.empty().withOverrides(Map.of("X", "1" + ",0".repeat(11)));
        BlockWeightPresets b = BlockWeightPresets.of(Map.of("X", List.of(1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                0.0, 0.0, 0.0)));
        assertEquals(a, b);
        assertEquals(a.hashCode(), b.hashCode());
    }
}
