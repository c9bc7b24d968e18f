package io.lorica.policy.expand;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.policy.AdapterSettings;
import io.lorica.api.policy.AdapterWeight;
import io.lorica.api.policy.AdapterWeight.BlockVector;
import io.lorica.api.policy.EffectiveScales;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** A1111 "LoRA Block Weight" vectors: presets against hand-written block tables, and the block-id mapping. */
class BlockVectorTest {

    private final ScaleExpander expander = new ScaleExpander();

    /**
     * Hand-written LDM block of every Diffusers UNet prefix (lora-semantics §3.6 / §5.4 read backwards); a module
     * belongs to the longest prefix it starts with; no entry means "outside every block" (ratio 1).
     */
    private static final Map<String, String> SD15_BLOCKS = new LinkedHashMap<>();
    private static final Map<String, String> SDXL_BLOCKS = new LinkedHashMap<>();

    static {
        Map<String, String> m = SD15_BLOCKS;
        m.put("conv_in", "IN00");
        m.put("down_blocks.0.resnets.0", "IN01");
        m.put("down_blocks.0.attentions.0", "IN01");
        m.put("down_blocks.0.resnets.1", "IN02");
        m.put("down_blocks.0.attentions.1", "IN02");
        m.put("down_blocks.0.downsamplers.0", "IN03");
        m.put("down_blocks.1.resnets.0", "IN04");
        m.put("down_blocks.1.attentions.0", "IN04");
        m.put("down_blocks.1.resnets.1", "IN05");
        m.put("down_blocks.1.attentions.1", "IN05");
        m.put("down_blocks.1.downsamplers.0", "IN06");
        m.put("down_blocks.2.resnets.0", "IN07");
        m.put("down_blocks.2.attentions.0", "IN07");
        m.put("down_blocks.2.resnets.1", "IN08");
        m.put("down_blocks.2.attentions.1", "IN08");
        m.put("down_blocks.2.downsamplers.0", "IN09");
        m.put("down_blocks.3.resnets.0", "IN10");
        m.put("down_blocks.3.resnets.1", "IN11");
        m.put("mid_block", "M00");
        m.put("up_blocks.0.resnets.0", "OUT00");
        m.put("up_blocks.0.resnets.1", "OUT01");
        m.put("up_blocks.0.resnets.2", "OUT02");
        m.put("up_blocks.0.upsamplers.0", "OUT02");
        m.put("up_blocks.1.resnets.0", "OUT03");
        m.put("up_blocks.1.attentions.0", "OUT03");
        m.put("up_blocks.1.resnets.1", "OUT04");
        m.put("up_blocks.1.attentions.1", "OUT04");
        m.put("up_blocks.1.resnets.2", "OUT05");
        m.put("up_blocks.1.attentions.2", "OUT05");
        m.put("up_blocks.1.upsamplers.0", "OUT05");
        m.put("up_blocks.2.resnets.0", "OUT06");
        m.put("up_blocks.2.attentions.0", "OUT06");
        m.put("up_blocks.2.resnets.1", "OUT07");
        m.put("up_blocks.2.attentions.1", "OUT07");
        m.put("up_blocks.2.resnets.2", "OUT08");
        m.put("up_blocks.2.attentions.2", "OUT08");
        m.put("up_blocks.2.upsamplers.0", "OUT08");
        m.put("up_blocks.3.resnets.0", "OUT09");
        m.put("up_blocks.3.attentions.0", "OUT09");
        m.put("up_blocks.3.resnets.1", "OUT10");
        m.put("up_blocks.3.attentions.1", "OUT10");
        m.put("up_blocks.3.resnets.2", "OUT11");
        m.put("up_blocks.3.attentions.2", "OUT11");

        m = SDXL_BLOCKS;
        m.put("conv_in", "IN00");
        m.put("down_blocks.0.resnets.0", "IN01");
        m.put("down_blocks.0.resnets.1", "IN02");
        m.put("down_blocks.0.downsamplers.0", "IN03");
        m.put("down_blocks.1.resnets.0", "IN04");
        m.put("down_blocks.1.attentions.0", "IN04");
        m.put("down_blocks.1.resnets.1", "IN05");
        m.put("down_blocks.1.attentions.1", "IN05");
        m.put("down_blocks.1.downsamplers.0", "IN06");
        m.put("down_blocks.2.resnets.0", "IN07");
        m.put("down_blocks.2.attentions.0", "IN07");
        m.put("down_blocks.2.resnets.1", "IN08");
        m.put("down_blocks.2.attentions.1", "IN08");
        m.put("mid_block", "M00");
        m.put("up_blocks.0.resnets.0", "OUT00");
        m.put("up_blocks.0.attentions.0", "OUT00");
        m.put("up_blocks.0.resnets.1", "OUT01");
        m.put("up_blocks.0.attentions.1", "OUT01");
        m.put("up_blocks.0.resnets.2", "OUT02");
        m.put("up_blocks.0.attentions.2", "OUT02");
        m.put("up_blocks.0.upsamplers.0", "OUT02");
        m.put("up_blocks.1.resnets.0", "OUT03");
        m.put("up_blocks.1.attentions.0", "OUT03");
        m.put("up_blocks.1.resnets.1", "OUT04");
        m.put("up_blocks.1.attentions.1", "OUT04");
        m.put("up_blocks.1.resnets.2", "OUT05");
        m.put("up_blocks.1.attentions.2", "OUT05");
        m.put("up_blocks.1.upsamplers.0", "OUT05");
        m.put("up_blocks.2.resnets.0", "OUT06");
        m.put("up_blocks.2.resnets.1", "OUT07");
        m.put("up_blocks.2.resnets.2", "OUT08");
    }

    private static String handBlock(ModelFamily family, String path) {
        String best = null;
        int length = -1;
        for (Map.Entry<String, String> e : (family == ModelFamily.SD15 ? SD15_BLOCKS : SDXL_BLOCKS).entrySet()) {
            String prefix = e.getKey();
            if ((path.equals(prefix) || path.startsWith(prefix + ".")) && prefix.length() > length) {
                best = e.getValue();
                length = prefix.length();
            }
        }
        return best;
    }

    private static List<Double> ratios(String csv) {
        return Arrays.stream(csv.split(",")).map(String::trim).map(Double::valueOf).toList();
    }

    /** The hand-expanded ratio of each named block; every block not named is 0 (A1111 to26). */
    private static Map<String, Double> named(List<String> ids, List<Double> ratios) {
        Map<String, Double> map = new HashMap<>();
        for (int i = 0; i < ids.size(); i++) {
            map.put(ids.get(i), ratios.get(i));
        }
        return map;
    }

    /** Checks every module of {@code family} against {@code ratioOf} (block id -> ratio, absent -> 0). */
    private void check(ModelFamily family, BlockVector vector, Map<String, Double> ratioOf) {
        LoraAdapter a = TestAdapters.full(family, 2, 1f); // alpha/r 0.5
        EffectiveScales s = expander.expand(AdapterSettings.of(List.of("a"), List.of(vector)), Map.of("a", a), family);
        int n = 0;
        for (Component c : family.components()) {
            for (String path : TestAdapters.catalog(family).modules(c).keySet()) {
                double expected;
                if (c == Component.UNET) {
                    String block = handBlock(family, path);
                    expected = vector.unetWeight() * (block == null ? 1.0 : ratioOf.getOrDefault(block, 0.0));
                } else {
                    expected = vector.teWeight() * ratioOf.getOrDefault("BASE", 0.0);
                }
                assertEquals((float) (0.5 * expected), s.scale(c, path, "a"), 1e-7f, () -> c + "/" + path);
                n++;
            }
        }
        assertEquals(n, s.entryCount());
    }

    // ----------------------------------------------------------------------------------------------- SD 1.5 presets

    @Test
    void sd15MiddPreset() {
        List<Double> r = ratios("1,0,0,0,1,1,1,1,1,1,1,1,0,0,0,0,0");
        check(ModelFamily.SD15, new BlockVector(1.0, 1.0, r, Optional.of("MIDD")),
                Map.of("BASE", 1.0, "IN05", 1.0, "IN07", 1.0, "IN08", 1.0, "M00", 1.0,
                        "OUT03", 1.0, "OUT04", 1.0, "OUT05", 1.0, "OUT06", 1.0));
    }

    @Test
    void sd15OutdPresetWithTeAndUnetWeights() {
        List<Double> r = ratios("1,0,0,0,0,0,0,0,1,1,1,1,0,0,0,0,0");
        check(ModelFamily.SD15, new BlockVector(0.8, 0.6, r, Optional.of("OUTD")),
                Map.of("BASE", 1.0, "OUT03", 1.0, "OUT04", 1.0, "OUT05", 1.0, "OUT06", 1.0));
    }

    @Test
    void sd15AllHalfPresetZeroesTheBlocksA17VectorDoesNotList() {
        List<Double> r = ratios("0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5");
        Map<String, Double> expected = named(LbwBlocks.IDS_17, r);
        check(ModelFamily.SD15, new BlockVector(1.0, 1.0, r, Optional.of("ALL0.5")), expected);
        // spelled out: unlisted IN00 (conv_in), IN03/IN06/IN09 (downsamplers), IN10/IN11, OUT00-02 are 0; conv_out 1
        LoraAdapter a = TestAdapters.full(ModelFamily.SD15, 2, 2f);
        EffectiveScales s = expander.expand(AdapterSettings.of(List.of("a"),
                List.of(new BlockVector(1.0, 1.0, r, Optional.empty()))), Map.of("a", a), ModelFamily.SD15);
        assertEquals(0f, s.scale(Component.UNET, "conv_in", "a"));
        assertEquals(0f, s.scale(Component.UNET, "down_blocks.0.downsamplers.0.conv", "a"));
        assertEquals(0f, s.scale(Component.UNET, "down_blocks.3.resnets.1.conv2", "a"));
        assertEquals(0f, s.scale(Component.UNET, "up_blocks.0.upsamplers.0.conv", "a"));
        assertEquals(0.5f, s.scale(Component.UNET, "up_blocks.1.upsamplers.0.conv", "a"));
        assertEquals(0.5f, s.scale(Component.UNET, "mid_block.resnets.0.conv1", "a"));
        assertEquals(1f, s.scale(Component.UNET, "conv_out", "a"));
        assertEquals(1f, s.scale(Component.UNET, "time_embedding.linear_2", "a"));
        assertEquals(0.5f, s.scale(Component.TEXT_ENCODER, "text_model.encoder.layers.5.mlp.fc1", "a"));
    }

    @Test
    void sd15Full26VectorScalesResnetsSamplersAndAttentionsIndependently() {
        List<Double> r = new ArrayList<>();
        for (int i = 0; i < 26; i++) {
            r.add((i + 1) / 100.0);
        }
        check(ModelFamily.SD15, new BlockVector(2.0, 3.0, r, Optional.empty()), named(LbwBlocks.IDS_26, r));
        LoraAdapter a = TestAdapters.full(ModelFamily.SD15, 2, 2f);
        EffectiveScales s = expander.expand(AdapterSettings.of(List.of("a"),
                List.of(new BlockVector(1.0, 1.0, r, Optional.empty()))), Map.of("a", a), ModelFamily.SD15);
        // IN04 attention, IN05 resnet, IN06 downsampler: three different values in one Diffusers block
        assertEquals(0.06f, s.scale(Component.UNET, "down_blocks.1.attentions.0.proj_in", "a"), 1e-7f);
        assertEquals(0.07f, s.scale(Component.UNET, "down_blocks.1.resnets.1.conv1", "a"), 1e-7f);
        assertEquals(0.08f, s.scale(Component.UNET, "down_blocks.1.downsamplers.0.conv", "a"), 1e-7f);
        assertEquals(0.14f, s.scale(Component.UNET, "mid_block.resnets.1.conv2", "a"), 1e-7f);
        assertEquals(0.17f, s.scale(Component.UNET, "up_blocks.0.upsamplers.0.conv", "a"), 1e-7f);
        assertEquals(0.23f, s.scale(Component.UNET, "up_blocks.2.upsamplers.0.conv", "a"), 1e-7f);
        assertEquals(0.02f, s.scale(Component.UNET, "conv_in", "a"), 1e-7f);
    }

    // ----------------------------------------------------------------------------------------------- SDXL presets

    @Test
    void sdxlMiddPreset() {
        // 12: BASE, IN04, IN05, IN07, IN08, M00, OUT00..OUT05
        List<Double> r = ratios("1,0,1,1,1,1,1,1,1,0,0,0");
        check(ModelFamily.SDXL, new BlockVector(1.0, 1.0, r, Optional.of("MIDD")),
                Map.of("BASE", 1.0, "IN05", 1.0, "IN07", 1.0, "IN08", 1.0, "M00", 1.0,
                        "OUT00", 1.0, "OUT01", 1.0, "OUT02", 1.0));
    }

    @Test
    void sdxlOutdPresetWithTeAndUnetWeights() {
        List<Double> r = ratios("1,0,0,0,0,0,1,1,1,1,0,0");
        check(ModelFamily.SDXL, new BlockVector(0.7, 1.2, r, Optional.of("OUTD")),
                Map.of("BASE", 1.0, "OUT00", 1.0, "OUT01", 1.0, "OUT02", 1.0, "OUT03", 1.0));
    }

    @Test
    void sdxlAllHalfPreset() {
        List<Double> r = ratios("0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5");
        check(ModelFamily.SDXL, new BlockVector(1.0, 1.0, r, Optional.of("ALL0.5")), named(LbwBlocks.IDS_12, r));
        LoraAdapter a = TestAdapters.full(ModelFamily.SDXL, 2, 2f);
        EffectiveScales s = expander.expand(AdapterSettings.of(List.of("a"),
                List.of(new BlockVector(1.0, 1.0, r, Optional.empty()))), Map.of("a", a), ModelFamily.SDXL);
        assertEquals(0f, s.scale(Component.UNET, "down_blocks.0.resnets.0.conv1", "a")); // IN01 unlisted
        assertEquals(0f, s.scale(Component.UNET, "down_blocks.1.downsamplers.0.conv", "a")); // IN06 unlisted
        assertEquals(0.5f, s.scale(Component.UNET, "up_blocks.1.upsamplers.0.conv", "a")); // OUT05
        assertEquals(0f, s.scale(Component.UNET, "up_blocks.2.resnets.0.conv1", "a")); // OUT06 unlisted
        assertEquals(1f, s.scale(Component.UNET, "add_embedding.linear_1", "a"));
        assertEquals(0.5f, s.scale(Component.TEXT_ENCODER_2, "text_projection", "a"));
        assertEquals(0.5f, s.scale(Component.TEXT_ENCODER, "text_model.encoder.layers.0.self_attn.k_proj", "a"));
    }

    @Test
    void sdxlFull20Vector() {
        List<Double> r = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            r.add(i % 2 == 0 ? -(i + 1) / 10.0 : (i + 1) / 10.0);
        }
        check(ModelFamily.SDXL, new BlockVector(1.0, 0.5, r, Optional.empty()), named(LbwBlocks.IDS_20, r));
    }

    // ----------------------------------------------------------------------------------------------- errors

    @Test
    void vectorLengthMustFitTheFamily() {
        LoraAdapter sd = TestAdapters.full(ModelFamily.SD15, 2, 2f);
        LoraAdapter xl = TestAdapters.full(ModelFamily.SDXL, 2, 2f);
        for (int length : List.of(12, 20)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> expander.expand(
                    AdapterSettings.of(List.of("v"), List.of(vector(length))), Map.of("v", sd), ModelFamily.SD15));
            assertEquals("adapter 'v': a block weight vector of " + length + " ratios does not fit SD15, expected 17"
                    + " or 26 (12 and 20 are for SDXL)", e.getMessage());
        }
        for (int length : List.of(17, 26)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> expander.expand(
                    AdapterSettings.of(List.of("v"), List.of(vector(length))), Map.of("v", xl), ModelFamily.SDXL));
            assertEquals("adapter 'v': a block weight vector of " + length + " ratios does not fit SDXL, expected 12"
                    + " or 20 (17 and 26 are for SD15)", e.getMessage());
        }
    }

    private static BlockVector vector(int length) {
        return new BlockVector(1.0, 1.0, java.util.Collections.nCopies(length, 1.0), Optional.empty());
    }

    // ----------------------------------------------------------------------------------------------- LbwBlocks

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void blockIdOfEveryModuleMatchesTheHandTable(ModelFamily family) {
        for (Component c : family.components()) {
            for (String path : TestAdapters.catalog(family).modules(c).keySet()) {
                Optional<String> expected = c == Component.UNET
                        ? Optional.ofNullable(handBlock(family, path))
                        : Optional.of("BASE");
                assertEquals(expected, LbwBlocks.blockId(family, c, path), path);
            }
        }
    }

    @Test
    void to26ExpandsWithZerosAndKeepsFullVectors() {
        double[] from17 = LbwBlocks.to26(ratios("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17"));
        assertArrayEquals(new double[] {1, 0, 2, 3, 0, 4, 5, 0, 6, 7, 0, 0, 0, 8, 0, 0, 0, 9, 10, 11, 12, 13, 14, 15,
                16, 17}, from17);
        double[] from12 = LbwBlocks.to26(ratios("1,2,3,4,5,6,7,8,9,10,11,12"));
        assertArrayEquals(new double[] {1, 0, 0, 0, 0, 2, 3, 0, 4, 5, 0, 0, 0, 6, 7, 8, 9, 10, 11, 12, 0, 0, 0, 0, 0,
                0}, from12);
        List<Double> twenty = ratios("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20");
        assertArrayEquals(new double[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 0, 0, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
                0, 0, 0}, LbwBlocks.to26(twenty));
        List<Double> all = new ArrayList<>();
        for (int i = 0; i < 26; i++) {
            all.add((double) i);
        }
        assertArrayEquals(all.stream().mapToDouble(Double::doubleValue).toArray(), LbwBlocks.to26(all));
        assertThrows(IllegalArgumentException.class, () -> LbwBlocks.to26(ratios("1,2,3")));
        assertThrows(IllegalArgumentException.class, () -> LbwBlocks.ids(13));
        assertEquals(LbwBlocks.IDS_17, LbwBlocks.ids(17));
        assertTrue(LbwBlocks.fits(ModelFamily.SD15, 26) && !LbwBlocks.fits(ModelFamily.SD15, 12));
        assertTrue(LbwBlocks.fits(ModelFamily.SDXL, 20) && !LbwBlocks.fits(ModelFamily.SDXL, 17));
    }

    @Test
    void blockIdRejectsStructureTheUnetLacks() {
        assertThrows(IllegalArgumentException.class,
                () -> LbwBlocks.blockId(ModelFamily.SDXL, Component.UNET, "down_blocks.3.resnets.0.conv1"));
        assertThrows(IllegalArgumentException.class,
                () -> LbwBlocks.blockId(ModelFamily.SD15, Component.TEXT_ENCODER_2, "text_projection"));
        assertEquals(Optional.empty(), LbwBlocks.blockId(ModelFamily.SD15, Component.UNET, "time_embedding.linear_1"));
    }

    @Test
    void weightOfOtherAdaptersIsIndependent() {
        LoraAdapter a = TestAdapters.full(ModelFamily.SD15, 2, 2f);
        EffectiveScales s = expander.expand(AdapterSettings.of(List.of("v", "u"),
                List.of(new BlockVector(1.0, 1.0, ratios("1,0,0,0,1,1,1,1,1,1,1,1,0,0,0,0,0"), Optional.of("MIDD")),
                        AdapterWeight.of(0.5))), Map.of("v", a, "u", a), ModelFamily.SD15);
        assertEquals(0f, s.scale(Component.UNET, "down_blocks.0.attentions.0.proj_in", "v"));
        assertEquals(0.5f, s.scale(Component.UNET, "down_blocks.0.attentions.0.proj_in", "u"));
    }
}
