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
import io.lorica.api.policy.AdapterWeight.BlockVector;
import io.lorica.api.policy.AdapterWeight.LayerOverride;
import io.lorica.api.policy.AdapterWeight.WithOverrides;
import io.lorica.api.policy.EffectiveScales;

import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.junit.jupiter.api.Test;

/** Per-layer regex overrides: first match wins, component filters, base weight elsewhere. */
class OverridesTest {

    private final ScaleExpander expander = new ScaleExpander();

    private EffectiveScales expand(ModelFamily family, AdapterWeight weight, double callScale) {
        LoraAdapter a = TestAdapters.full(family, 2, 1f); // alpha/r 0.5
        return expander.expand(new AdapterSettings(Map.of("a", weight), callScale, true), Map.of("a", a), family);
    }

    private static LayerOverride any(String regex, double weight) {
        return new LayerOverride(Optional.empty(), regex, weight);
    }

    @Test
    void firstMatchingOverrideWinsOverLaterOnesAndTheBase() {
        WithOverrides weight = new WithOverrides(AdapterWeight.of(0.8), List.of(
                any("attn2\\.to_k$", 0.1),
                any("attn2", 0.2),
                any("transformer_blocks", 0.3)));
        EffectiveScales s = expand(ModelFamily.SD15, weight, 1.0);
        String tb = "down_blocks.0.attentions.0.transformer_blocks.0.";
        assertEquals(0.05f, s.scale(Component.UNET, tb + "attn2.to_k", "a"), 1e-7f);
        assertEquals(0.1f, s.scale(Component.UNET, tb + "attn2.to_v", "a"), 1e-7f);
        assertEquals(0.15f, s.scale(Component.UNET, tb + "attn1.to_q", "a"), 1e-7f);
        assertEquals(0.4f, s.scale(Component.UNET, "down_blocks.0.attentions.0.proj_in", "a"), 1e-7f);
        assertEquals(0.4f, s.scale(Component.TEXT_ENCODER, "text_model.encoder.layers.0.mlp.fc1", "a"), 1e-7f);
        // the order of the list decides, not the specificity
        WithOverrides reversed = new WithOverrides(AdapterWeight.of(0.8), List.of(
                any("transformer_blocks", 0.3), any("attn2", 0.2), any("attn2\\.to_k$", 0.1)));
        assertEquals(0.15f, expand(ModelFamily.SD15, reversed, 1.0).scale(Component.UNET, tb + "attn2.to_k", "a"), 1e-7f);
    }

    @Test
    void componentFilterRestrictsAnOverride() {
        WithOverrides weight = new WithOverrides(AdapterWeight.ONE, List.of(
                new LayerOverride(Optional.of(Component.TEXT_ENCODER_2), "self_attn", 0.0),
                new LayerOverride(Optional.of(Component.UNET), "^conv_", -1.0),
                any("mlp\\.fc1", 2.0)));
        EffectiveScales s = expand(ModelFamily.SDXL, weight, 1.0);
        assertEquals(0f, s.scale(Component.TEXT_ENCODER_2, "text_model.encoder.layers.3.self_attn.q_proj", "a"));
        assertEquals(0.5f, s.scale(Component.TEXT_ENCODER, "text_model.encoder.layers.3.self_attn.q_proj", "a"));
        assertEquals(1f, s.scale(Component.TEXT_ENCODER, "text_model.encoder.layers.3.mlp.fc1", "a"));
        assertEquals(1f, s.scale(Component.TEXT_ENCODER_2, "text_model.encoder.layers.3.mlp.fc1", "a"));
        assertEquals(-0.5f, s.scale(Component.UNET, "conv_in", "a"));
        assertEquals(-0.5f, s.scale(Component.UNET, "conv_out", "a"));
        assertEquals(0.5f, s.scale(Component.UNET, "down_blocks.0.resnets.0.conv1", "a")); // not ^conv_
    }

    @Test
    void overridesOnABlockDictAndTheCallScale() {
        WithOverrides weight = new WithOverrides(unet(blocks(perBlock("block_1", List.of(0.2, 0.4)), null, null)),
                List.of(any("down_blocks\\.1\\.resnets\\.1\\.", 3.0)));
        EffectiveScales s = expand(ModelFamily.SDXL, weight, 0.5);
        assertEquals(0.5f * 3f * 0.5f, s.scale(Component.UNET, "down_blocks.1.resnets.1.conv2", "a"), 1e-7f);
        assertEquals(0.5f * 0.4f * 0.5f, s.scale(Component.UNET, "down_blocks.1.attentions.1.proj_out", "a"), 1e-7f);
        assertEquals(0.5f * 0.2f * 0.5f, s.scale(Component.UNET, "down_blocks.1.downsamplers.0.conv", "a"), 1e-7f);
        assertEquals(0.25f, s.scale(Component.UNET, "conv_in", "a"), 1e-7f);
    }

    @Test
    void overridesOnABlockVector() {
        BlockVector middle = new BlockVector(1.0, 1.0,
                Arrays12.of("0,0,0,0,0,1,0,0,0,0,0,0"), Optional.of("M00 only"));
        WithOverrides weight = new WithOverrides(middle, List.of(any("^mid_block\\.resnets", 0.25)));
        EffectiveScales s = expand(ModelFamily.SDXL, weight, 1.0);
        assertEquals(0.125f, s.scale(Component.UNET, "mid_block.resnets.0.conv1", "a"), 1e-7f);
        assertEquals(0.5f, s.scale(Component.UNET, "mid_block.attentions.0.proj_in", "a"), 1e-7f);
        assertEquals(0f, s.scale(Component.UNET, "up_blocks.0.attentions.0.proj_in", "a"));
        assertEquals(0f, s.scale(Component.TEXT_ENCODER, "text_model.encoder.layers.0.mlp.fc1", "a"));
    }

    @Test
    void manyDistinctPatternsStayCorrectPastTheCacheLimit() {
        // more distinct expressions than the pattern cache keeps: results must not change
        for (int i = 0; i < 1100; i++) {
            WithOverrides weight = new WithOverrides(AdapterWeight.ONE,
                    List.of(any("layers\\." + i + "\\.|^conv_in$", 0.0)));
            LoraAdapter a = TestAdapters.select(ModelFamily.SD15, 2, (c, p) -> 2f,
                    (c, p) -> p.equals("conv_in") || p.equals("conv_out"));
            EffectiveScales s = expander.expand(AdapterSettings.of(List.of("a"), List.of(weight)), Map.of("a", a),
                    ModelFamily.SD15);
            assertEquals(0f, s.scale(Component.UNET, "conv_in", "a"));
            assertEquals(1f, s.scale(Component.UNET, "conv_out", "a"));
        }
    }

    /** Tiny helper for 12-ratio vectors. */
    private static final class Arrays12 {
        static List<Double> of(String csv) {
            List<Double> list = java.util.Arrays.stream(csv.split(",")).map(Double::valueOf).toList();
            return Collections.unmodifiableList(list);
        }
    }
}
