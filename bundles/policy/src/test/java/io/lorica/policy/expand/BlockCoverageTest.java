package io.lorica.policy.expand;

import static io.lorica.policy.expand.ScaleExpanderTest.blocks;
import static io.lorica.policy.expand.ScaleExpanderTest.perBlock;
import static io.lorica.policy.expand.ScaleExpanderTest.unet;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.policy.AdapterSettings;
import io.lorica.api.policy.AdapterWeight;
import io.lorica.api.policy.AdapterWeight.BlockPart;
import io.lorica.api.policy.AdapterWeight.UnetBlocks;
import io.lorica.api.policy.EffectiveScales;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * §3.5 (what each key covers) for both families, the §3.4 per-layer fallback rows, and an exhaustive comparison with a
 * literal transcription of Diffusers' algorithm over every UNet module.
 */
class BlockCoverageTest {

    /** A value no default produces, to see exactly which modules a key reaches. */
    private static final double MARK = 0.37;

    private final ScaleExpander expander = new ScaleExpander();

    /** UNet paths of {@code family} whose scale under {@code dict} differs from 1.0 (alpha/r = 1). */
    private Set<String> covered(ModelFamily family, UnetBlocks dict) {
        LoraAdapter a = TestAdapters.components(family, 2, 2f, Set.of(Component.UNET));
        EffectiveScales s = expander.expand(AdapterSettings.of(List.of("a"), List.of(unet(dict))), Map.of("a", a), family);
        Set<String> hit = new TreeSet<>();
        for (String path : s.modules(Component.UNET)) {
            float v = s.scale(Component.UNET, path, "a");
            if (v != 1f) {
                assertEquals((float) MARK, v, 1e-7f, path);
                hit.add(path);
            }
        }
        return hit;
    }

    /** Catalog paths under the prefixes, as a sorted set. */
    private static Set<String> under(ModelFamily family, String... prefixes) {
        Set<String> paths = new TreeSet<>();
        for (String path : TestAdapters.catalog(family).modules(Component.UNET).keySet()) {
            for (String prefix : prefixes) {
                if (path.startsWith(prefix + ".")) {
                    paths.add(path);
                }
            }
        }
        return paths;
    }

    private static long count(Set<String> paths, String prefix) {
        return paths.stream().filter(p -> p.startsWith(prefix + ".")).count();
    }

    // ----------------------------------------------------------------------------------------------- §3.5

    @Test
    void downBlock1Sd15() {
        ModelFamily f = ModelFamily.SD15;
        Set<String> hit = covered(f, blocks(perBlock("block_1", List.of(MARK, MARK)), null, null));
        assertEquals(under(f, "down_blocks.1.attentions.0", "down_blocks.1.attentions.1", "down_blocks.1.resnets.0",
                "down_blocks.1.resnets.1", "down_blocks.1.downsamplers.0"), hit);
        assertEquals(12, count(hit, "down_blocks.1.attentions.0")); // 1 transformer block: 12 Linear/Conv
        assertEquals(12, count(hit, "down_blocks.1.attentions.1"));
        // downsampler follows element 0 only
        assertEquals(Set.of("down_blocks.1.downsamplers.0.conv"),
                covered(f, blocks(perBlock("block_1", List.of(MARK, 1.0)), null, null)).stream()
                        .filter(p -> p.contains("downsamplers")).collect(java.util.stream.Collectors.toSet()));
        assertEquals(under(f, "down_blocks.1.attentions.1", "down_blocks.1.resnets.1"),
                covered(f, blocks(perBlock("block_1", List.of(1.0, MARK)), null, null)));
    }

    @Test
    void downBlock1Sdxl() {
        ModelFamily f = ModelFamily.SDXL;
        Set<String> hit = covered(f, blocks(perBlock("block_1", List.of(MARK, MARK)), null, null));
        assertEquals(under(f, "down_blocks.1.attentions.0", "down_blocks.1.attentions.1", "down_blocks.1.resnets.0",
                "down_blocks.1.resnets.1", "down_blocks.1.downsamplers.0"), hit);
        assertEquals(22, count(hit, "down_blocks.1.attentions.0")); // 2 transformer blocks each
        assertEquals(4, count(hit, "down_blocks.1.resnets.0")); // conv1, time_emb_proj, conv2, conv_shortcut
        assertEquals(1, count(hit, "down_blocks.1.downsamplers.0"));
    }

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void downBlock2(ModelFamily f) {
        Set<String> hit = covered(f, blocks(perBlock("block_2", MARK), null, null));
        if (f == ModelFamily.SD15) {
            assertEquals(under(f, "down_blocks.2.attentions", "down_blocks.2.resnets", "down_blocks.2.downsamplers"), hit);
            assertEquals(24, count(hit, "down_blocks.2.attentions"));
        } else {
            assertEquals(under(f, "down_blocks.2.attentions", "down_blocks.2.resnets"), hit); // no downsampler
            assertEquals(204, count(hit, "down_blocks.2.attentions")); // 10 transformer blocks each
            assertEquals(0, count(hit, "down_blocks.2.downsamplers"));
        }
    }

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void midCoversOnlyTheMidAttention(ModelFamily f) {
        Set<String> hit = covered(f, blocks(null, MARK, null));
        assertEquals(under(f, "mid_block.attentions.0"), hit);
        assertEquals(f == ModelFamily.SD15 ? 12 : 102, hit.size());
    }

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void upBlock1(ModelFamily f) {
        Set<String> hit = covered(f, blocks(null, null, perBlock("block_1", List.of(MARK, MARK, MARK))));
        assertEquals(under(f, "up_blocks.1.attentions", "up_blocks.1.resnets", "up_blocks.1.upsamplers"), hit);
        assertEquals(f == ModelFamily.SD15 ? 36 : 66, count(hit, "up_blocks.1.attentions"));
        assertEquals(12, count(hit, "up_blocks.1.resnets")); // every up resnet has a conv_shortcut
        // the upsampler follows element 0
        Set<String> first = covered(f, blocks(null, null, perBlock("block_1", List.of(MARK, 1.0, 1.0))));
        assertEquals(under(f, "up_blocks.1.attentions.0", "up_blocks.1.resnets.0", "up_blocks.1.upsamplers.0"), first);
        Set<String> last = covered(f, blocks(null, null, perBlock("block_1", List.of(1.0, 1.0, MARK))));
        assertEquals(under(f, "up_blocks.1.attentions.2", "up_blocks.1.resnets.2"), last);
    }

    @Test
    void upBlock0IsRejectedOnSd15AndCoversTheWholeBlockOnSdxl() {
        ModelFamily f = ModelFamily.SDXL;
        Set<String> hit = covered(f, blocks(null, null, perBlock("block_0", MARK)));
        assertEquals(under(f, "up_blocks.0.attentions", "up_blocks.0.resnets", "up_blocks.0.upsamplers"), hit);
        assertEquals(306, count(hit, "up_blocks.0.attentions"));
        // SD 1.5: Diffusers ignores it, Lorica rejects it (see ScaleExpanderTest.a7...)
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> covered(ModelFamily.SD15, blocks(null, null, perBlock("block_0", MARK))));
    }

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void everyKeyTogetherCoversExactlyTheBlocksWithAttention(ModelFamily f) {
        Set<String> hit = covered(f, blocks(AdapterWeight.of(MARK), MARK, AdapterWeight.of(MARK)));
        Set<String> expected = new TreeSet<>(TestAdapters.catalog(f).modules(Component.UNET).keySet());
        expected.removeAll(under(f, "mid_block.resnets"));
        expected.removeAll(List.of("conv_in", "conv_out", "time_embedding.linear_1", "time_embedding.linear_2",
                "add_embedding.linear_1", "add_embedding.linear_2"));
        if (f == ModelFamily.SD15) {
            expected.removeAll(under(f, "down_blocks.3", "up_blocks.0"));
        } else {
            expected.removeAll(under(f, "down_blocks.0", "up_blocks.2"));
        }
        assertEquals(expected, hit);
    }

    // ----------------------------------------------------------------------------------------------- §3.4 rows

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void perLayerFallbackRows(ModelFamily f) {
        // distinct values per attention, so each row shows which attention a layer follows
        boolean xl = f == ModelFamily.SDXL;
        int down = xl ? 1 : 0;
        int up = xl ? 0 : 1;
        UnetBlocks dict = blocks(perBlock("block_" + down, List.of(0.11, 0.12)), 0.5,
                perBlock("block_" + up, List.of(0.21, 0.22, 0.23)));
        LoraAdapter a = TestAdapters.components(f, 2, 2f, Set.of(Component.UNET));
        EffectiveScales s = expander.expand(AdapterSettings.of(List.of("a"), List.of(unet(dict))), Map.of("a", a), f);
        Map<String, Double> rows = new LinkedHashMap<>();
        rows.put("down_blocks." + down + ".resnets.0.conv1", 0.11);
        rows.put("down_blocks." + down + ".resnets.1.time_emb_proj", 0.12);
        rows.put("down_blocks." + down + ".downsamplers.0.conv", 0.11);
        rows.put("up_blocks." + up + ".resnets.0.conv_shortcut", 0.21);
        rows.put("up_blocks." + up + ".resnets.1.conv2", 0.22);
        rows.put("up_blocks." + up + ".resnets.2.conv1", 0.23);
        rows.put("up_blocks." + up + ".upsamplers.0.conv", 0.21);
        // blocks without attention
        rows.put(xl ? "down_blocks.0.resnets.1.conv2" : "down_blocks.3.resnets.1.conv2", 1.0);
        rows.put(xl ? "down_blocks.0.downsamplers.0.conv" : "up_blocks.0.upsamplers.0.conv", 1.0);
        rows.put(xl ? "up_blocks.2.resnets.2.conv_shortcut" : "up_blocks.0.resnets.2.conv_shortcut", 1.0);
        rows.put("mid_block.resnets.0.conv1", 1.0);
        rows.put("mid_block.resnets.1.time_emb_proj", 1.0);
        rows.put("mid_block.attentions.0.proj_out", 0.5);
        // Diffusers' crash row: 1.0 here
        rows.put("conv_in", 1.0);
        rows.put("conv_out", 1.0);
        rows.put("time_embedding.linear_1", 1.0);
        if (xl) {
            rows.put("add_embedding.linear_2", 1.0);
        }
        rows.forEach((path, expected) -> assertEquals(expected.floatValue(), s.scale(Component.UNET, path, "a"), 1e-7f,
                path));
    }

    // ----------------------------------------------------------------------------------------------- oracle

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void agreesWithDiffusersOnEveryModuleForRandomDicts(ModelFamily f) {
        LoraAdapter a = TestAdapters.components(f, 2, 2f, Set.of(Component.UNET));
        Set<String> paths = TestAdapters.catalog(f).modules(Component.UNET).keySet();
        DiffusersOracle oracle = new DiffusersOracle(f);
        Random random = new Random(42 + f.ordinal());
        for (int round = 0; round < 200; round++) {
            UnetBlocks dict = randomDict(f, random);
            Map<String, Double> expanded = oracle.expand(dict);
            EffectiveScales s = expander.expand(AdapterSettings.of(List.of("a"), List.of(unet(dict))), Map.of("a", a), f);
            for (String path : paths) {
                float expected = (float) DiffusersOracle.lookup(expanded, path);
                assertEquals(expected, s.scale(Component.UNET, path, "a"), 0f, () -> path + " under " + dict);
            }
        }
    }

    private static UnetBlocks randomDict(ModelFamily f, Random random) {
        List<Integer> down = f == ModelFamily.SD15 ? List.of(0, 1, 2) : List.of(1, 2);
        List<Integer> up = f == ModelFamily.SD15 ? List.of(1, 2, 3) : List.of(0, 1);
        return blocks(randomPart(random, down, 2), random.nextBoolean() ? null : value(random),
                randomPart(random, up, 3));
    }

    private static BlockPart randomPart(Random random, List<Integer> blocks, int length) {
        int kind = random.nextInt(3);
        if (kind == 0) {
            return null;
        }
        if (kind == 1) {
            return AdapterWeight.of(value(random));
        }
        List<Object> keyValues = new ArrayList<>();
        for (int i : blocks) {
            int form = random.nextInt(4);
            if (form == 0) {
                continue; // left out -> 1.0
            }
            keyValues.add("block_" + i);
            if (form == 1) {
                keyValues.add(value(random));
            } else if (form == 2) {
                keyValues.add(List.of(value(random)));
            } else {
                List<Double> list = new ArrayList<>();
                for (int j = 0; j < length; j++) {
                    list.add(value(random));
                }
                keyValues.add(list);
            }
        }
        return keyValues.isEmpty() ? AdapterWeight.of(value(random)) : perBlock(keyValues.toArray());
    }

    private static double value(Random random) {
        return Math.round((random.nextDouble() * 3 - 1) * 100) / 100.0;
    }
}
