package io.lorica.policy.expand;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LoadReport;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.adapter.LoraModule;
import io.lorica.api.policy.AdapterSettings;
import io.lorica.api.policy.AdapterWeight;
import io.lorica.api.policy.AdapterWeight.BlockPart;
import io.lorica.api.policy.AdapterWeight.PerBlock;
import io.lorica.api.policy.AdapterWeight.PerComponent;
import io.lorica.api.policy.AdapterWeight.UnetBlocks;
import io.lorica.api.policy.EffectiveScales;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Acceptance cases A1, A3, A5, A6, A7, the §3.3 examples, the deviations and the general contract. */
class ScaleExpanderTest {

    private static final float EPS = 1e-6f;

    private final ScaleExpander expander = new ScaleExpander();

    // ------------------------------------------------------------------------------------------------ helpers

    static UnetBlocks blocks(BlockPart down, Double mid, BlockPart up) {
        return new UnetBlocks(Optional.ofNullable(down), Optional.ofNullable(mid), Optional.ofNullable(up));
    }

    static PerBlock perBlock(Object... keyAndValues) {
        Map<String, List<Double>> map = new LinkedHashMap<>();
        for (int i = 0; i < keyAndValues.length; i += 2) {
            Object value = keyAndValues[i + 1];
            map.put((String) keyAndValues[i], value instanceof List<?> list
                    ? list.stream().map(v -> ((Number) v).doubleValue()).toList()
                    : List.of(((Number) value).doubleValue()));
        }
        return new PerBlock(map);
    }

    static PerComponent unet(AdapterWeight.ComponentWeight unet) {
        Map<Component, AdapterWeight.ComponentWeight> map = new EnumMap<>(Component.class);
        map.put(Component.UNET, unet);
        return new PerComponent(map);
    }

    EffectiveScales expand(ModelFamily family, Map<String, LoraAdapter> loaded, Map<String, AdapterWeight> weights) {
        return expander.expand(new AdapterSettings(weights, 1.0, true), loaded, family);
    }

    static void assertScale(double expected, EffectiveScales scales, Component c, String path, String adapter) {
        assertTrue(scales.adapters(c, path).containsKey(adapter), () -> adapter + " missing on " + c + "/" + path);
        assertEquals((float) expected, scales.scale(c, path, adapter), EPS, () -> c + "/" + path + " " + adapter);
    }

    /** Every UNet module of the catalog whose path starts with one of the prefixes gets {@code expected}. */
    static int assertUnder(double expected, EffectiveScales scales, ModelFamily family, String adapter,
            String... prefixes) {
        int n = 0;
        for (String path : TestAdapters.catalog(family).modules(Component.UNET).keySet()) {
            for (String prefix : prefixes) {
                if (path.equals(prefix) || path.startsWith(prefix + ".")) {
                    assertScale(expected, scales, Component.UNET, path, adapter);
                    n++;
                }
            }
        }
        assertTrue(n > 0, "no module under " + List.of(prefixes));
        return n;
    }

    // ------------------------------------------------------------------------------------------------ A1, A3

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void a1KohyaRank2Alpha1IsHalfEverywhere(ModelFamily family) {
        LoraAdapter a = TestAdapters.full(family, 2, 1f);
        EffectiveScales scales = expand(family, Map.of("a", a), Map.of("a", AdapterWeight.ONE));
        int entries = 0;
        for (Component c : family.components()) {
            for (String path : TestAdapters.catalog(family).modules(c).keySet()) {
                assertEquals(0.5f, scales.scale(c, path, "a"), 0f, path);
                entries++;
            }
            assertEquals(TestAdapters.catalog(family).modules(c).keySet(), scales.modules(c));
        }
        assertEquals(entries, scales.entryCount());
        assertEquals(family == ModelFamily.SDXL ? 794 + 72 + 193 : 282 + 72, entries);
    }

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void a3TwoAdaptersAreAdditiveWithTheirOwnAlphaOverRank(ModelFamily family) {
        LoraAdapter a = TestAdapters.full(family, 2, 1f); // alpha/r 0.5
        LoraAdapter b = TestAdapters.full(family, 4, 8f); // alpha/r 2.0
        AdapterSettings settings = AdapterSettings.of(List.of("A", "B"),
                List.of(AdapterWeight.of(0.3), AdapterWeight.of(0.7)));
        EffectiveScales scales = expander.expand(settings, Map.of("A", a, "B", b), family);
        for (Component c : family.components()) {
            for (String path : TestAdapters.catalog(family).modules(c).keySet()) {
                Map<String, Float> perAdapter = scales.adapters(c, path);
                assertEquals(List.of("A", "B"), List.copyOf(perAdapter.keySet()), "activation order on " + path);
                assertEquals(0.15f, perAdapter.get("A"), EPS);
                assertEquals(1.4f, perAdapter.get("B"), EPS);
            }
        }
        // reversed activation order is kept per module
        EffectiveScales reversed = expander.expand(AdapterSettings.of(List.of("B", "A"),
                List.of(AdapterWeight.of(0.7), AdapterWeight.of(0.3))), Map.of("A", a, "B", b), family);
        assertEquals(List.of("B", "A"), List.copyOf(reversed.adapters(Component.UNET, "conv_in").keySet()));
    }

    @Test
    void scaleUsesEachModulesOwnAlphaAndRankAndFullDeltaIsOne() {
        String toQ = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q";
        LoraAdapter a = TestAdapters.select(ModelFamily.SD15, 2, (c, p) -> p.endsWith("attn1.to_q") ? 3f : 1f,
                (c, p) -> c == Component.UNET && p.startsWith("down_blocks.0.attentions.0."));
        // add a full-delta module
        Map<String, LoraModule> unet = new LinkedHashMap<>(a.modules(Component.UNET));
        unet.put("conv_in", TestAdapters.fullDelta(Component.UNET, "conv_in",
                TestAdapters.catalog(ModelFamily.SD15).geometry(Component.UNET, "conv_in").orElseThrow()));
        a = new LoraAdapter("test", ModelFamily.SD15, Map.of(Component.UNET, unet), Map.of(), LoadReport.empty());
        EffectiveScales scales = expand(ModelFamily.SD15, Map.of("a", a), Map.of("a", AdapterWeight.of(0.8)));
        assertEquals(1.5f * 0.8f, scales.scale(Component.UNET, toQ, "a"), EPS);
        assertEquals(0.5f * 0.8f, scales.scale(Component.UNET,
                "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_k", "a"), EPS);
        assertEquals(0.8f, scales.scale(Component.UNET, "conv_in", "a"), EPS);
        assertEquals(13, scales.entryCount());
    }

    // ------------------------------------------------------------------------------------------------ A5

    @Test
    void a5MultipliersOnSd15WithLoCon() {
        LoraAdapter locon = TestAdapters.components(ModelFamily.SD15, 2, 2f, Set.of(Component.UNET)); // alpha/r 1
        UnetBlocks dict = blocks(perBlock("block_1", List.of(0.1, 0.2)), 0.9, perBlock("block_1", List.of(0.3, 0.4, 0.5)));
        EffectiveScales s = expand(ModelFamily.SD15, Map.of("a", locon), Map.of("a", unet(dict)));
        ModelFamily f = ModelFamily.SD15;
        assertUnder(0.1, s, f, "a", "down_blocks.1.attentions.0");
        assertUnder(0.1, s, f, "a", "down_blocks.1.resnets.0");
        assertUnder(0.2, s, f, "a", "down_blocks.1.resnets.1");
        assertUnder(0.1, s, f, "a", "down_blocks.1.downsamplers.0");
        assertUnder(1.0, s, f, "a", "down_blocks.3.resnets");
        assertUnder(0.9, s, f, "a", "mid_block.attentions.0");
        assertUnder(1.0, s, f, "a", "mid_block.resnets");
        assertUnder(1.0, s, f, "a", "up_blocks.0");
        assertUnder(0.3, s, f, "a", "up_blocks.1.resnets.0");
        assertUnder(0.5, s, f, "a", "up_blocks.1.resnets.2");
        assertUnder(0.3, s, f, "a", "up_blocks.1.upsamplers.0");
        // the rest of the A5 row, implied: attention 1 and resnet 1 of up block 1
        assertUnder(0.4, s, f, "a", "up_blocks.1.attentions.1", "up_blocks.1.resnets.1");
        assertEquals(282, s.entryCount());
    }

    // ------------------------------------------------------------------------------------------------ A6, A7

    @Test
    void a6WrongListLengthsUseDiffusersMessage() {
        LoraAdapter a = TestAdapters.full(ModelFamily.SD15, 2, 2f);
        IllegalArgumentException down = assertThrows(IllegalArgumentException.class,
                () -> expand(ModelFamily.SD15, Map.of("a", a),
                        Map.of("a", unet(blocks(perBlock("block_1", List.of(1, 2, 3)), null, null)))));
        assertEquals("Expected 2 scales for down.block_1, got 3. (adapter 'a')", down.getMessage());
        IllegalArgumentException up = assertThrows(IllegalArgumentException.class,
                () -> expand(ModelFamily.SDXL, Map.of("x", TestAdapters.full(ModelFamily.SDXL, 2, 2f)),
                        Map.of("x", unet(blocks(null, null, perBlock("block_0", List.of(1, 2)))))));
        assertTrue(up.getMessage().startsWith("Expected 3 scales for up.block_0, got 2."), up.getMessage());
    }

    @Test
    void a6TheOtherThreeDiffusersErrors() {
        // {"mid": [1, 2]}: the typed weight holds one mid number; the list form is reduced (or rejected with
        // "Expected 1 scales for mid, got 2.") by the settings parser before an UnetBlocks exists.
        // {"foo": 1}: there is no free key in UnetBlocks; as a block key it is rejected structurally:
        IllegalArgumentException foo = assertThrows(IllegalArgumentException.class, () -> perBlock("foo", 1));
        assertTrue(foo.getMessage().contains("'foo'"), foo.getMessage());
        // {"down.block_9.0": 1}: "Can't set lora scale for layer down.block_9.0..." in Diffusers; Lorica's form of that
        // key is down.block_9, rejected naming adapter, key and the valid blocks:
        LoraAdapter a = TestAdapters.full(ModelFamily.SD15, 2, 2f);
        IllegalArgumentException nine = assertThrows(IllegalArgumentException.class,
                () -> expand(ModelFamily.SD15, Map.of("a", a), Map.of("a", unet(blocks(perBlock("block_9", 1), null, null)))));
        assertEquals("adapter 'a': unet weight key down.block_9 names no down block with attentions in the SD15 UNet;"
                + " valid keys for down are block_0, block_1, block_2 (Diffusers silently ignores such keys, Lorica"
                + " rejects them)", nine.getMessage());
    }

    @Test
    void a7BlocksWithoutAttentionAreAnErrorInLorica() {
        LoraAdapter sd = TestAdapters.full(ModelFamily.SD15, 2, 2f);
        IllegalArgumentException sd15 = assertThrows(IllegalArgumentException.class,
                () -> expand(ModelFamily.SD15, Map.of("style", sd),
                        Map.of("style", unet(blocks(perBlock("block_3", 0.5), null, null)))));
        assertEquals("adapter 'style': unet weight key down.block_3 names no down block with attentions in the SD15"
                + " UNet; valid keys for down are block_0, block_1, block_2 (Diffusers silently ignores such keys,"
                + " Lorica rejects them)", sd15.getMessage());
        LoraAdapter xl = TestAdapters.full(ModelFamily.SDXL, 2, 2f);
        IllegalArgumentException sdxl = assertThrows(IllegalArgumentException.class,
                () -> expand(ModelFamily.SDXL, Map.of("style", xl),
                        Map.of("style", unet(blocks(perBlock("block_0", 0.5), null, null)))));
        assertEquals("adapter 'style': unet weight key down.block_0 names no down block with attentions in the SDXL"
                + " UNet; valid keys for down are block_1, block_2 (Diffusers silently ignores such keys, Lorica"
                + " rejects them)", sdxl.getMessage());
        // up blocks without attention and out-of-range blocks too
        IllegalArgumentException up0 = assertThrows(IllegalArgumentException.class,
                () -> expand(ModelFamily.SD15, Map.of("a", sd), Map.of("a", unet(blocks(null, null, perBlock("block_0", 1))))));
        assertTrue(up0.getMessage().contains("up.block_0") && up0.getMessage().contains("block_1, block_2, block_3"),
                up0.getMessage());
        IllegalArgumentException up2 = assertThrows(IllegalArgumentException.class,
                () -> expand(ModelFamily.SDXL, Map.of("a", xl), Map.of("a", unet(blocks(null, null, perBlock("block_2", 1))))));
        assertTrue(up2.getMessage().contains("up.block_2") && up2.getMessage().contains("block_0, block_1"),
                up2.getMessage());
        IllegalArgumentException seven = assertThrows(IllegalArgumentException.class,
                () -> expand(ModelFamily.SD15, Map.of("a", sd), Map.of("a", unet(blocks(perBlock("block_7", 1), null, null)))));
        assertTrue(seven.getMessage().contains("down.block_7"), seven.getMessage());
    }

    @Test
    void blockDictIsValidatedEvenWhenTheAdapterHasNoUnetModules() {
        LoraAdapter teOnly = TestAdapters.components(ModelFamily.SD15, 2, 2f, Set.of(Component.TEXT_ENCODER));
        assertThrows(IllegalArgumentException.class, () -> expand(ModelFamily.SD15, Map.of("a", teOnly),
                Map.of("a", unet(blocks(perBlock("block_3", 1), null, null)))));
    }

    // ------------------------------------------------------------------------------------------------ §3.3 examples

    @Test
    void section33ExampleSd15() {
        LoraAdapter a = TestAdapters.full(ModelFamily.SD15, 4, 4f);
        UnetBlocks dict = blocks(perBlock("block_1", List.of(0.1, 0.2)), null, perBlock("block_3", 0.7));
        EffectiveScales s = expand(ModelFamily.SD15, Map.of("a", a), Map.of("a", unet(dict)));
        ModelFamily f = ModelFamily.SD15;
        assertUnder(1.0, s, f, "a", "down_blocks.0.attentions.0", "down_blocks.0.attentions.1");
        assertUnder(0.1, s, f, "a", "down_blocks.1.attentions.0");
        assertUnder(0.2, s, f, "a", "down_blocks.1.attentions.1");
        assertUnder(1.0, s, f, "a", "down_blocks.2", "mid_block", "up_blocks.1", "up_blocks.2");
        assertUnder(0.7, s, f, "a", "up_blocks.3.attentions.0", "up_blocks.3.attentions.1", "up_blocks.3.attentions.2",
                "up_blocks.3.resnets");
        // text encoder: the component dict leaves it out -> 1.0
        for (String path : TestAdapters.catalog(f).modules(Component.TEXT_ENCODER).keySet()) {
            assertScale(1.0, s, Component.TEXT_ENCODER, path, "a");
        }
    }

    @Test
    void section33ExampleSdxl() {
        ModelFamily f = ModelFamily.SDXL;
        LoraAdapter a = TestAdapters.full(f, 4, 4f);
        EffectiveScales s = expand(f, Map.of("a", a), Map.of("a", unet(blocks(AdapterWeight.of(0.5), null, null))));
        int attention = assertUnder(0.5, s, f, "a", "down_blocks.1.attentions", "down_blocks.2.attentions");
        assertEquals(2 * 22 + 2 * 102, attention); // 2 and 10 transformer blocks per attention
        // per-layer resolution: resnets and the sampler of those blocks follow their attention
        assertUnder(0.5, s, f, "a", "down_blocks.1.resnets", "down_blocks.1.downsamplers", "down_blocks.2.resnets");
        assertUnder(1.0, s, f, "a", "down_blocks.0", "mid_block", "up_blocks", "conv_in", "conv_out",
                "time_embedding", "add_embedding");
    }

    // ------------------------------------------------------------------------------------------------ deviations

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void layersOutsideEveryBlockGetOneUnderABlockDict(ModelFamily family) {
        LoraAdapter a = TestAdapters.full(family, 2, 1f);
        EffectiveScales s = expand(family, Map.of("a", a),
                Map.of("a", unet(blocks(AdapterWeight.of(0.0), 0.0, AdapterWeight.of(0.0)))));
        List<String> outside = new ArrayList<>(List.of("conv_in", "conv_out", "time_embedding.linear_1",
                "time_embedding.linear_2"));
        if (family == ModelFamily.SDXL) {
            outside.addAll(List.of("add_embedding.linear_1", "add_embedding.linear_2"));
        }
        for (String path : outside) {
            assertScale(0.5, s, Component.UNET, path, "a");
        }
        assertScale(0.0, s, Component.UNET, "mid_block.attentions.0.proj_in", "a");
        assertScale(0.5, s, Component.UNET, "mid_block.resnets.0.conv1", "a");
    }

    @Test
    void sharedComponentDictAppliesToEveryAdapter() {
        ModelFamily f = ModelFamily.SD15;
        Map<Component, AdapterWeight.ComponentWeight> dict = new EnumMap<>(Component.class);
        dict.put(Component.UNET, AdapterWeight.of(0.2));
        dict.put(Component.TEXT_ENCODER, AdapterWeight.of(0.4));
        AdapterSettings settings = AdapterSettings.of(List.of("A", "B"), new PerComponent(dict));
        EffectiveScales s = expander.expand(settings,
                Map.of("A", TestAdapters.full(f, 2, 2f), "B", TestAdapters.full(f, 2, 4f)), f);
        assertScale(0.2, s, Component.UNET, "conv_in", "A");
        assertScale(0.4, s, Component.UNET, "conv_in", "B");
        assertScale(0.4, s, Component.TEXT_ENCODER, "text_model.encoder.layers.0.self_attn.q_proj", "A");
        assertScale(0.8, s, Component.TEXT_ENCODER, "text_model.encoder.layers.0.self_attn.q_proj", "B");
    }

    @Test
    void componentLeftOutOfDictGetsOne() {
        ModelFamily f = ModelFamily.SDXL;
        Map<Component, AdapterWeight.ComponentWeight> dict = new EnumMap<>(Component.class);
        dict.put(Component.TEXT_ENCODER_2, AdapterWeight.of(0.25));
        EffectiveScales s = expand(f, Map.of("a", TestAdapters.full(f, 2, 2f)), Map.of("a", new PerComponent(dict)));
        assertScale(1.0, s, Component.UNET, "conv_in", "a");
        assertScale(1.0, s, Component.TEXT_ENCODER, "text_model.encoder.layers.11.mlp.fc2", "a");
        assertScale(0.25, s, Component.TEXT_ENCODER_2, "text_projection", "a");
    }

    @Test
    void callScaleZeroGivesZerosAndWipesNothing() {
        ModelFamily f = ModelFamily.SD15;
        Map<String, LoraAdapter> loaded = Map.of("A", TestAdapters.full(f, 2, 1f), "B", TestAdapters.full(f, 4, 8f));
        AdapterSettings settings = AdapterSettings.of(List.of("A", "B"),
                List.of(AdapterWeight.of(0.3), AdapterWeight.of(0.7)));
        EffectiveScales before = expander.expand(settings, loaded, f);
        EffectiveScales zero = expander.expand(settings.withCallScale(0.0), loaded, f);
        assertEquals(before.entryCount(), zero.entryCount());
        for (Component c : zero.components()) {
            for (String path : zero.modules(c)) {
                zero.adapters(c, path).forEach((name, value) -> assertEquals(0f, value, 0f));
                // exactly +0.0 even for negative products
                zero.adapters(c, path).forEach((name, value) -> assertEquals(0, Float.compare(value, 0f)));
            }
        }
        EffectiveScales after = expander.expand(settings, loaded, f);
        assertEquals(before, after);
        assertEquals(0.15f, after.scale(Component.UNET, "conv_in", "A"), EPS); // Diffusers would show 0.5
        assertEquals(1.4f, after.scale(Component.UNET, "conv_in", "B"), EPS); // Diffusers would show 2.0
        EffectiveScales negativeZero = expander.expand(AdapterSettings.of(List.of("A"),
                List.of(AdapterWeight.of(-0.5))).withCallScale(0.0), loaded, f);
        assertEquals(0, Float.compare(negativeZero.scale(Component.UNET, "conv_in", "A"), 0f));
    }

    @Test
    void callScaleMultipliesEveryComponent() {
        ModelFamily f = ModelFamily.SDXL;
        EffectiveScales s = expander.expand(AdapterSettings.of(List.of("a"), List.of(AdapterWeight.of(0.5)))
                .withCallScale(1.5), Map.of("a", TestAdapters.full(f, 2, 1f)), f);
        assertScale(0.5 * 0.5 * 1.5, s, Component.UNET, "down_blocks.2.attentions.1.transformer_blocks.9.ff.net.2", "a");
        assertScale(0.5 * 0.5 * 1.5, s, Component.TEXT_ENCODER_2, "text_projection", "a");
    }

    @Test
    void negativeWeightsAndNegativeCallScale() {
        ModelFamily f = ModelFamily.SD15;
        LoraAdapter a = TestAdapters.full(f, 2, 1f);
        UnetBlocks dict = blocks(perBlock("block_0", List.of(-1.0, 2.0)), -0.5, AdapterWeight.of(-0.25));
        EffectiveScales s = expander.expand(new AdapterSettings(Map.of("a", unet(dict)), -2.0, true), Map.of("a", a), f);
        assertUnder(0.5 * -1.0 * -2.0, s, f, "a", "down_blocks.0.attentions.0", "down_blocks.0.resnets.0",
                "down_blocks.0.downsamplers.0");
        assertUnder(0.5 * 2.0 * -2.0, s, f, "a", "down_blocks.0.attentions.1", "down_blocks.0.resnets.1");
        assertUnder(0.5 * -0.5 * -2.0, s, f, "a", "mid_block.attentions.0");
        assertUnder(0.5 * -0.25 * -2.0, s, f, "a", "up_blocks.1", "up_blocks.2", "up_blocks.3");
        assertUnder(0.5 * 1.0 * -2.0, s, f, "a", "up_blocks.0", "mid_block.resnets", "conv_in");
        assertScale(0.5 * -2.0, s, Component.TEXT_ENCODER, "text_model.encoder.layers.0.mlp.fc1", "a");
        EffectiveScales uniform = expander.expand(AdapterSettings.of(List.of("a"), List.of(AdapterWeight.of(-1.0))),
                Map.of("a", a), f);
        assertScale(-0.5, uniform, Component.UNET, "conv_in", "a");
    }

    @Test
    void zeroWeightsKeepTheirEntries() {
        ModelFamily f = ModelFamily.SD15;
        EffectiveScales s = expand(f, Map.of("a", TestAdapters.full(f, 2, 1f)), Map.of("a", AdapterWeight.of(0)));
        assertEquals(282 + 72, s.entryCount());
        assertEquals(0f, s.scale(Component.UNET, "conv_in", "a"), 0f);
    }

    // ------------------------------------------------------------------------------------------------ contract

    @Test
    void disabledOrEmptySettingsGiveEmpty() {
        ModelFamily f = ModelFamily.SD15;
        Map<String, LoraAdapter> loaded = Map.of("a", TestAdapters.full(f, 2, 1f));
        AdapterSettings settings = AdapterSettings.of(List.of("a"), (List<AdapterWeight>) null);
        assertFalse(expander.expand(settings, loaded, f).isEmpty());
        assertSame(EffectiveScales.empty(), expander.expand(settings.withEnabled(false), loaded, f));
        assertSame(EffectiveScales.empty(), expander.expand(AdapterSettings.none(), loaded, f));
        // disabled settings are not validated (the adapter need not be loaded)
        assertSame(EffectiveScales.empty(), expander.expand(settings.withEnabled(false), Map.of(), f));
    }

    @Test
    void unknownAdapterUsesDiffusersMessage() {
        ModelFamily f = ModelFamily.SD15;
        Map<String, LoraAdapter> loaded = new LinkedHashMap<>();
        loaded.put("a", TestAdapters.full(f, 2, 1f));
        loaded.put("b", TestAdapters.full(f, 2, 1f));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> expander.expand(
                AdapterSettings.of(List.of("a", "x", "y"), (List<AdapterWeight>) null), loaded, f));
        assertEquals("Adapter name(s) {'x', 'y'} not in the list of present adapters: {'a', 'b'}.", e.getMessage());
    }

    @Test
    void adapterOfAnotherFamilyIsRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> expand(ModelFamily.SDXL,
                Map.of("a", TestAdapters.full(ModelFamily.SD15, 2, 1f)), Map.of("a", AdapterWeight.ONE)));
        assertTrue(e.getMessage().contains("'a'") && e.getMessage().contains("SD15"), e.getMessage());
    }

    @Test
    void nullArgumentsAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> expander.expand(null, Map.of(), ModelFamily.SD15));
        assertThrows(IllegalArgumentException.class, () -> expander.expand(AdapterSettings.none(), null, ModelFamily.SD15));
        assertThrows(IllegalArgumentException.class, () -> expander.expand(AdapterSettings.none(), Map.of(), null));
    }

    @Test
    void onlyModulesTheAdapterHasGetEntriesAndInactiveLoadedAdaptersNone() {
        ModelFamily f = ModelFamily.SD15;
        LoraAdapter partial = TestAdapters.select(f, 2, (c, p) -> 2f,
                (c, p) -> c == Component.UNET && p.startsWith("up_blocks.3.attentions.2."));
        EffectiveScales s = expand(f, Map.of("p", partial, "other", TestAdapters.full(f, 2, 2f)),
                Map.of("p", AdapterWeight.of(0.5)));
        assertEquals(12, s.entryCount());
        assertEquals(List.of("p"), s.adapterNames());
        assertEquals(Set.of(Component.UNET), s.components());
    }

    @Test
    void moduleOrderFollowsTheAdaptersAndUnknownPathsResolveStructurally() {
        ModelFamily f = ModelFamily.SD15;
        // a module path the reference catalog lacks but whose block structure is valid: resolved on the fly
        var geometry = TestAdapters.catalog(f).geometry(Component.UNET, "down_blocks.1.resnets.1.conv1").orElseThrow();
        Map<String, LoraModule> unet = new LinkedHashMap<>();
        unet.put("down_blocks.1.resnets.1.extra_conv", TestAdapters.module(Component.UNET,
                "down_blocks.1.resnets.1.extra_conv", geometry, 2, 2f));
        unet.put("conv_in", TestAdapters.module(Component.UNET, "conv_in",
                TestAdapters.catalog(f).geometry(Component.UNET, "conv_in").orElseThrow(), 2, 2f));
        LoraAdapter odd = new LoraAdapter("test", f, Map.of(Component.UNET, unet), Map.of(), LoadReport.empty());
        EffectiveScales s = expand(f, Map.of("a", odd),
                Map.of("a", unet(blocks(perBlock("block_1", List.of(0.1, 0.2)), null, null))));
        assertEquals(List.of("down_blocks.1.resnets.1.extra_conv", "conv_in"), List.copyOf(s.modules(Component.UNET)));
        assertScale(0.2, s, Component.UNET, "down_blocks.1.resnets.1.extra_conv", "a");
        assertScale(1.0, s, Component.UNET, "conv_in", "a");
    }
}
