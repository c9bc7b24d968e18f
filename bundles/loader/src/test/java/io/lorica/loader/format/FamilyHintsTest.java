package io.lorica.loader.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;

import java.util.List;
import java.util.Optional;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The family guess used to explain LoRAs for the wrong model. */
class FamilyHintsTest {

    private static FamilyHints.Evidence unet(String name) {
        return new FamilyHints.Evidence(Component.UNET, name, name, 0, -1);
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource({
        "down_blocks.1.attentions.0.transformer_blocks.3.attn1.to_q, SDXL",
        "add_embedding.linear_1, SDXL",
        "label_emb_0_0, SDXL",
        "up_blocks.0.attentions.1.proj_in, SDXL",
        "output_blocks_1_1_proj_in, SDXL",
        "down_blocks.0.attentions.0.proj_in, SD15",
        "up_blocks.3.resnets.0.conv1, SD15",
        "down_blocks_3_resnets_1_conv2, SD15",
        "up_blocks.2.attentions.1.proj_out, SD15",
        "down_blocks.2.downsamplers.0.conv, SD15",
        "input_blocks_1_1_proj_in, SD15",
        "output_blocks_10_0_in_layers_2, SD15",
        "output_blocks_2_1_conv, SD15",
    })
    void namesPointToAFamily(String name, ModelFamily family) {
        assertEquals(family, FamilyHints.guess(List.of(unet(name))).orElseThrow().family());
    }

    @Test
    void sharedNamesPointNowhere() {
        assertTrue(FamilyHints.guess(List.of(unet("down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q"),
                unet("mid_block.attentions.0.proj_out"), unet("conv_in"))).isEmpty());
        assertTrue(FamilyHints.guess(List.of()).isEmpty());
    }

    @Test
    void crossAttentionWidthAndProjectionRank() {
        String toK = "mid_block.attentions.0.transformer_blocks.0.attn2.to_k";
        assertEquals(Optional.of(ModelFamily.SDXL), FamilyHints.guess(List.of(
                new FamilyHints.Evidence(Component.UNET, toK, toK, 2, 2048))).map(FamilyHints.Guess::family));
        assertEquals(Optional.of(ModelFamily.SD15), FamilyHints.guess(List.of(
                new FamilyHints.Evidence(Component.UNET, toK, toK, 2, 768))).map(FamilyHints.Guess::family));
        String proj = "mid_block.attentions.0.proj_in";
        assertEquals(Optional.of(ModelFamily.SD15), FamilyHints.guess(List.of(
                new FamilyHints.Evidence(Component.UNET, proj, proj, 4, 1280))).map(FamilyHints.Guess::family));
    }

    @Test
    void secondTextEncoderMeansSdxl_andMajorityWins() {
        FamilyHints.Evidence te2 = new FamilyHints.Evidence(Component.TEXT_ENCODER_2, "text_projection",
                "lora_te2_text_projection", 0, -1);
        assertEquals(ModelFamily.SDXL, FamilyHints.guess(List.of(te2)).orElseThrow().family());
        FamilyHints.Guess guess = FamilyHints.guess(List.of(te2, unet("up_blocks.3.resnets.0.conv1"),
                unet("down_blocks.0.attentions.0.proj_in"))).orElseThrow();
        assertEquals(ModelFamily.SD15, guess.family());
        assertEquals(List.of("up_blocks.3.resnets.0.conv1", "down_blocks.0.attentions.0.proj_in"), guess.examples());
        assertTrue(FamilyHints.guess(List.of(te2, unet("up_blocks.3.resnets.0.conv1"))).isEmpty());
    }
}
