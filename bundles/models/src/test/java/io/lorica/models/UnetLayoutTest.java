package io.lorica.models;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.models.UnetLayout.BlockPosition;
import io.lorica.models.UnetLayout.Part;
import io.lorica.models.UnetLayout.Region;

import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

/** UnetLayout: the §3.2 facts, blockOf classification, and the §3.4/§3.5 coverage of block keys. */
class UnetLayoutTest {

    private static final UnetLayout SD15 = UnetLayout.of(ModelFamily.SD15);
    private static final UnetLayout SDXL = UnetLayout.of(ModelFamily.SDXL);

    // ---------------------------------------------------------------- §3.2

    @Test
    void sd15Facts_matchSection32() {
        assertEquals(List.of(0, 1, 2), SD15.downBlocksWithAttention());
        assertEquals(List.of(1, 2, 3), SD15.upBlocksWithAttention());
        assertEquals(2, SD15.attentionsPerDownBlock());
        assertEquals(3, SD15.attentionsPerUpBlock());
        assertEquals(List.of(1, 1, 1, 0), SD15.downTransformerDepths());
        assertEquals(List.of(0, 1, 1, 1), SD15.upTransformerDepths());
        assertEquals(1, SD15.midTransformerDepth());
        assertTrue(SD15.midHasAttention());
        assertEquals(4, SD15.downBlockCount());
        assertEquals(4, SD15.upBlockCount());
    }

    @Test
    void sdxlFacts_matchSection32() {
        assertEquals(List.of(1, 2), SDXL.downBlocksWithAttention());
        assertEquals(List.of(0, 1), SDXL.upBlocksWithAttention());
        assertEquals(2, SDXL.attentionsPerDownBlock());
        assertEquals(3, SDXL.attentionsPerUpBlock());
        assertEquals(List.of(0, 2, 10), SDXL.downTransformerDepths());
        assertEquals(List.of(10, 2, 0), SDXL.upTransformerDepths());
        assertEquals(10, SDXL.midTransformerDepth());
        assertTrue(SDXL.midHasAttention());
        assertEquals(3, SDXL.downBlockCount());
    }

    @Test
    void of_returnsConstants_andRejectsNull() {
        assertSame(SD15, UnetLayout.of(ModelFamily.SD15));
        assertEquals(ModelFamily.SDXL, SDXL.family());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> UnetLayout.of(null));
        assertTrue(e.getMessage().contains("SD15, SDXL"), e.getMessage());
    }

    @Test
    void attentionPaths_are16And11_inDownMidUpOrder() {
        List<String> sd15 = SD15.attentionPaths();
        assertEquals(16, sd15.size());
        assertEquals("down_blocks.0.attentions.0", sd15.get(0));
        assertEquals("mid_block.attentions.0", sd15.get(6));
        assertEquals("up_blocks.3.attentions.2", sd15.get(15));
        List<String> sdxl = SDXL.attentionPaths();
        assertEquals(List.of("down_blocks.1.attentions.0", "down_blocks.1.attentions.1", "down_blocks.2.attentions.0",
                "down_blocks.2.attentions.1", "mid_block.attentions.0", "up_blocks.0.attentions.0",
                "up_blocks.0.attentions.1", "up_blocks.0.attentions.2", "up_blocks.1.attentions.0",
                "up_blocks.1.attentions.1", "up_blocks.1.attentions.2"), sdxl);
        assertThrows(UnsupportedOperationException.class, () -> sdxl.add("x"));
    }

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void attentionPaths_areExactlyTheCatalogsAttentions(ModelFamily family) {
        Set<String> fromCatalog = ReferenceModels.catalog(family).modules(Component.UNET).keySet().stream()
                .filter(p -> p.endsWith(".proj_in"))
                .map(p -> p.substring(0, p.length() - ".proj_in".length()))
                .collect(Collectors.toCollection(TreeSet::new));
        assertEquals(fromCatalog, new TreeSet<>(UnetLayout.of(family).attentionPaths()));
    }

    @Test
    void constructor_validates() {
        assertThrows(IllegalArgumentException.class, () -> new UnetLayout(null, 2, List.of(1), List.of(1), 1));
        assertThrows(IllegalArgumentException.class,
                () -> new UnetLayout(ModelFamily.SD15, 0, List.of(1), List.of(1), 1));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new UnetLayout(ModelFamily.SD15, 2, List.of(1, 0), List.of(1), 1));
        assertTrue(e.getMessage().contains("upTransformerDepths") && e.getMessage().contains("(2)"), e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> new UnetLayout(ModelFamily.SD15, 2, List.of(-1), List.of(1), 1));
        assertThrows(IllegalArgumentException.class,
                () -> new UnetLayout(ModelFamily.SD15, 2, List.of(), List.of(), 1));
        assertThrows(IllegalArgumentException.class,
                () -> new UnetLayout(ModelFamily.SD15, 2, List.of(1), List.of(1), -1));
        UnetLayout noMid = new UnetLayout(ModelFamily.SD15, 1, List.of(1, 0), List.of(0, 1), 0);
        assertFalse(noMid.midHasAttention());
        assertEquals(List.of("down_blocks.0.attentions.0", "up_blocks.1.attentions.0", "up_blocks.1.attentions.1"),
                noMid.attentionPaths());
    }

    // ---------------------------------------------------------------- blockOf

    @ParameterizedTest
    @CsvSource({
        "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q, DOWN, 1, ATTENTION, 0",
        "down_blocks.1.attentions.1, DOWN, 1, ATTENTION, 1",
        "down_blocks.1.resnets.1.conv2, DOWN, 1, RESNET, 1",
        "down_blocks.3.resnets.0.conv1, DOWN, 3, RESNET, 0",
        "down_blocks.0.downsamplers.0.conv, DOWN, 0, SAMPLER, 0",
        "mid_block.attentions.0.proj_out, MID, -1, ATTENTION, 0",
        "mid_block.resnets.1.conv1, MID, -1, RESNET, 1",
        "up_blocks.0.resnets.2.conv_shortcut, UP, 0, RESNET, 2",
        "up_blocks.2.upsamplers.0.conv, UP, 2, SAMPLER, 0",
        "up_blocks.3.attentions.2.transformer_blocks.0.attn2.to_v, UP, 3, ATTENTION, 2",
        "conv_in, OTHER, -1, NONE, -1",
        "time_embedding.linear_2, OTHER, -1, NONE, -1",
    })
    void blockOf_sd15(String path, Region region, int block, Part part, int index) {
        assertEquals(new BlockPosition(region, block, part, index), SD15.blockOf(path));
    }

    @ParameterizedTest
    @CsvSource({
        "down_blocks.2.attentions.1.transformer_blocks.9.ff.net.2, DOWN, 2, ATTENTION, 1",
        "down_blocks.0.resnets.1.time_emb_proj, DOWN, 0, RESNET, 1",
        "down_blocks.1.downsamplers.0.conv, DOWN, 1, SAMPLER, 0",
        "mid_block.attentions.0.transformer_blocks.9.attn2.to_k, MID, -1, ATTENTION, 0",
        "up_blocks.0.attentions.2.proj_in, UP, 0, ATTENTION, 2",
        "up_blocks.2.resnets.2.conv1, UP, 2, RESNET, 2",
        "add_embedding.linear_1, OTHER, -1, NONE, -1",
        "conv_out, OTHER, -1, NONE, -1",
    })
    void blockOf_sdxl(String path, Region region, int block, Part part, int index) {
        assertEquals(new BlockPosition(region, block, part, index), SDXL.blockOf(path));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "SD15 | down_blocks.4.resnets.0.conv1      | a block index 0..3",
        "SD15 | down_blocks.x.resnets.0.conv1      | a block index 0..3",
        "SD15 | down_blocks.01.resnets.0.conv1     | a block index 0..3",
        "SDXL | up_blocks.3.resnets.0.conv1        | a block index 0..2",
        "SD15 | down_blocks.3.attentions.0.proj_in | has no attentions",
        "SDXL | down_blocks.0.attentions.0.proj_in | has no attentions",
        "SDXL | up_blocks.2.attentions.0.proj_in   | has no attentions",
        "SD15 | down_blocks.3.downsamplers.0.conv  | has no downsamplers",
        "SDXL | down_blocks.2.downsamplers.0.conv  | has no downsamplers",
        "SD15 | up_blocks.3.upsamplers.0.conv      | has no upsamplers",
        "SD15 | down_blocks.0.attentions.2.proj_in | an index 0..1",
        "SD15 | up_blocks.1.resnets.3.conv1        | an index 0..2",
        "SD15 | down_blocks.0.downsamplers.1.conv  | an index 0..0",
        "SD15 | mid_block.attentions.1.proj_in     | an index 0..0",
        "SD15 | mid_block.resnets.2.conv1          | an index 0..1",
        "SD15 | down_blocks.0.upsamplers.0.conv    | attentions, resnets or downsamplers",
        "SD15 | mid_block.downsamplers.0.conv      | attentions or resnets",
        "SD15 | down_blocks.0.norm                 | attentions, resnets or downsamplers",
        "SD15 | down_blocks.0                      | attentions, resnets or downsamplers after the block",
        "SD15 | down_blocks.0.resnets              | an index 0..1",
    })
    void blockOf_invalidStructure_namesPathAndExpectation(ModelFamily family, String path, String expected) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> UnetLayout.of(family).blockOf(path));
        assertTrue(e.getMessage().contains("'" + path + "'"), e.getMessage());
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    @Test
    void blockOf_nullOrEmpty_rejected() {
        assertThrows(IllegalArgumentException.class, () -> SD15.blockOf(null));
        assertThrows(IllegalArgumentException.class, () -> SD15.blockOf(""));
        assertEquals(Region.OTHER, SD15.blockOf("down_blocksX").region());
    }

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void blockOf_classifiesEveryCatalogModule(ModelFamily family) {
        UnetLayout layout = UnetLayout.of(family);
        long other = 0;
        for (String path : ReferenceModels.catalog(family).modules(Component.UNET).keySet()) {
            BlockPosition position = layout.blockOf(path);
            if (position.region() == Region.OTHER) {
                other++;
            }
        }
        assertEquals(family == ModelFamily.SD15 ? 4 : 6, other);
    }

    // ---------------------------------------------------------------- §3.4 / §3.5

    /** Diffusers' per-layer lookup, literally: first substring key, else "{p0}.{p1}.attentions.{p3}" if present. */
    private static Optional<String> diffusersLookup(UnetLayout layout, String module) {
        List<String> keys = layout.attentionPaths();
        for (String key : keys) {
            if (module.contains(key)) {
                return Optional.of(key);
            }
        }
        String[] parts = module.split("\\.");
        if (parts.length < 4) {
            return Optional.empty(); // Diffusers: IndexError; documented deviation: scale 1.0
        }
        String fallback = parts[0] + "." + parts[1] + ".attentions." + parts[3];
        return keys.contains(fallback) ? Optional.of(fallback) : Optional.empty();
    }

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void governingAttention_equalsDiffusersResolution_forEveryModule(ModelFamily family) {
        UnetLayout layout = UnetLayout.of(family);
        for (String module : ReferenceModels.catalog(family).modules(Component.UNET).keySet()) {
            assertEquals(diffusersLookup(layout, module), layout.governingAttention(module), module);
        }
    }

    private static Set<String> coveredBy(UnetLayout layout, String attention) {
        return ReferenceModels.catalog(layout.family()).modules(Component.UNET).keySet().stream()
                .filter(p -> layout.governingAttention(p).equals(Optional.of(attention)))
                .collect(Collectors.toCollection(TreeSet::new));
    }

    private static Set<String> under(UnetLayout layout, String... prefixes) {
        return ReferenceModels.catalog(layout.family()).modules(Component.UNET).keySet().stream()
                .filter(p -> {
                    for (String prefix : prefixes) {
                        if (p.startsWith(prefix + ".")) {
                            return true;
                        }
                    }
                    return false;
                })
                .collect(Collectors.toCollection(TreeSet::new));
    }

    @Test
    void downBlock1_sd15_coversAttentionsResnetsAndDownsampler() {
        Set<String> element0 = coveredBy(SD15, "down_blocks.1.attentions.0");
        Set<String> element1 = coveredBy(SD15, "down_blocks.1.attentions.1");
        assertEquals(under(SD15, "down_blocks.1.attentions.0", "down_blocks.1.resnets.0",
                "down_blocks.1.downsamplers.0"), element0);
        assertEquals(under(SD15, "down_blocks.1.attentions.1", "down_blocks.1.resnets.1"), element1);
        assertEquals(12, under(SD15, "down_blocks.1.attentions.0").size());
        assertEquals(12 + 4 + 1, element0.size()); // resnets.0 has a shortcut
        assertEquals(12 + 3, element1.size());
    }

    @Test
    void downBlock1_sdxl_coversTwoTransformerBlocksPerAttention() {
        Set<String> element0 = coveredBy(SDXL, "down_blocks.1.attentions.0");
        assertEquals(under(SDXL, "down_blocks.1.attentions.0", "down_blocks.1.resnets.0",
                "down_blocks.1.downsamplers.0"), element0);
        assertEquals(2 + 2 * 10, under(SDXL, "down_blocks.1.attentions.0").size());
        assertEquals(22 + 4 + 1, element0.size());
        assertEquals(under(SDXL, "down_blocks.1.attentions.1", "down_blocks.1.resnets.1"),
                coveredBy(SDXL, "down_blocks.1.attentions.1"));
    }

    @Test
    void downBlock2_coversAttentionsAndResnets_sdxlWithoutDownsampler() {
        assertEquals(under(SD15, "down_blocks.2.attentions.0", "down_blocks.2.resnets.0",
                "down_blocks.2.downsamplers.0"), coveredBy(SD15, "down_blocks.2.attentions.0"));
        Set<String> sdxl = coveredBy(SDXL, "down_blocks.2.attentions.0");
        assertEquals(under(SDXL, "down_blocks.2.attentions.0", "down_blocks.2.resnets.0"), sdxl);
        assertEquals(2 + 10 * 10, under(SDXL, "down_blocks.2.attentions.0").size());
        assertEquals(under(SDXL, "down_blocks.2"), new TreeSet<>(union(sdxl,
                coveredBy(SDXL, "down_blocks.2.attentions.1"))));
    }

    @Test
    void mid_coversOnlyTheMidAttention() {
        assertEquals(under(SD15, "mid_block.attentions.0"), coveredBy(SD15, "mid_block.attentions.0"));
        assertEquals(12, coveredBy(SD15, "mid_block.attentions.0").size());
        assertEquals(under(SDXL, "mid_block.attentions.0"), coveredBy(SDXL, "mid_block.attentions.0"));
        assertEquals(102, coveredBy(SDXL, "mid_block.attentions.0").size());
        assertEquals(Optional.empty(), SD15.governingAttention("mid_block.resnets.0.conv1"));
        assertEquals(Optional.empty(), SDXL.governingAttention("mid_block.resnets.1.time_emb_proj"));
    }

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void upBlock1_coversAttentionsResnetsAndUpsampler(ModelFamily family) {
        UnetLayout layout = UnetLayout.of(family);
        assertEquals(under(layout, "up_blocks.1.attentions.0", "up_blocks.1.resnets.0", "up_blocks.1.upsamplers.0"),
                coveredBy(layout, "up_blocks.1.attentions.0"));
        assertEquals(under(layout, "up_blocks.1.attentions.1", "up_blocks.1.resnets.1"),
                coveredBy(layout, "up_blocks.1.attentions.1"));
        assertEquals(under(layout, "up_blocks.1.attentions.2", "up_blocks.1.resnets.2"),
                coveredBy(layout, "up_blocks.1.attentions.2"));
        int depth = family == ModelFamily.SD15 ? 1 : 2;
        assertEquals(2 + 10 * depth, under(layout, "up_blocks.1.attentions.2").size());
    }

    @Test
    void upBlock0_ignoredInSd15_coveredInSdxl() {
        for (String module : under(SD15, "up_blocks.0")) {
            assertEquals(Optional.empty(), SD15.governingAttention(module), module);
        }
        assertEquals(under(SDXL, "up_blocks.0.attentions.0", "up_blocks.0.resnets.0", "up_blocks.0.upsamplers.0"),
                coveredBy(SDXL, "up_blocks.0.attentions.0"));
        assertEquals(2 + 10 * 10, under(SDXL, "up_blocks.0.attentions.1").size());
    }

    @Test
    void blocksWithoutAttention_andTopLevel_haveNoGoverningAttention() {
        for (String module : under(SD15, "down_blocks.3")) {
            assertEquals(Optional.empty(), SD15.governingAttention(module), module);
        }
        for (String module : under(SDXL, "down_blocks.0", "up_blocks.2")) {
            assertEquals(Optional.empty(), SDXL.governingAttention(module), module);
        }
        for (String module : List.of("conv_in", "conv_out", "time_embedding.linear_1", "add_embedding.linear_2")) {
            assertEquals(Optional.empty(), SDXL.governingAttention(module), module);
        }
    }

    private static Set<String> union(Set<String> a, Set<String> b) {
        Set<String> all = new TreeSet<>(a);
        all.addAll(b);
        return all;
    }
}
