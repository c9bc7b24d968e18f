package io.lorica.loader.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.format.ModuleCatalog;

import java.util.Optional;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/** The LDM -> Diffusers UNet names of §5.4 (every table row), the SD 1.5 layout, and full round trips. */
class LdmUnetNamesTest {

    /** Every row of the §5.4 table (kohya SDXL stem -> Diffusers module). */
    @ParameterizedTest(name = "SDXL {0} -> {1}")
    @CsvSource({
        "input_blocks_0_0, conv_in",
        "input_blocks_1_0_in_layers_2, down_blocks.0.resnets.0.conv1",
        "input_blocks_3_0_op, down_blocks.0.downsamplers.0.conv",
        "input_blocks_4_0_emb_layers_1, down_blocks.1.resnets.0.time_emb_proj",
        "input_blocks_4_1_transformer_blocks_0_attn1_to_q, down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q",
        "input_blocks_5_1_proj_in, down_blocks.1.attentions.1.proj_in",
        "input_blocks_6_0_op, down_blocks.1.downsamplers.0.conv",
        "input_blocks_7_0_skip_connection, down_blocks.2.resnets.0.conv_shortcut",
        "input_blocks_8_1_transformer_blocks_9_ff_net_2, down_blocks.2.attentions.1.transformer_blocks.9.ff.net.2",
        "middle_block_0_out_layers_3, mid_block.resnets.0.conv2",
        "middle_block_1_transformer_blocks_9_attn2_to_k, mid_block.attentions.0.transformer_blocks.9.attn2.to_k",
        "middle_block_2_in_layers_2, mid_block.resnets.1.conv1",
        "output_blocks_0_1_proj_out, up_blocks.0.attentions.0.proj_out",
        "output_blocks_2_2_conv, up_blocks.0.upsamplers.0.conv",
        "output_blocks_5_0_skip_connection, up_blocks.1.resnets.2.conv_shortcut",
        "output_blocks_5_2_conv, up_blocks.1.upsamplers.0.conv",
        "output_blocks_8_0_in_layers_2, up_blocks.2.resnets.2.conv1",
        "time_embed_0, time_embedding.linear_1",
        "label_emb_0_2, add_embedding.linear_2",
        "out_2, conv_out",
        "time_embed_2, time_embedding.linear_2",
        "label_emb_0_0, add_embedding.linear_1",
    })
    void sdxlTableRows(String kohyaStem, String diffusers) {
        ModuleCatalog sdxl = TinyModels.sdxl();
        // flat form, then resolved against the real module list
        Optional<String> flat = LdmUnetNames.toDiffusersFlat(ModelFamily.SDXL, kohyaStem);
        assertEquals(Optional.of(diffusers.replace('.', '_')), flat);
        assertEquals(Optional.of(diffusers), sdxl.resolveFlatName(Component.UNET, flat.get()));
        // dotted form: the table's stem with the LDM dots restored
        String dotted = TinyModels.toLdm(ModelFamily.SDXL, diffusers);
        assertEquals(Optional.of(diffusers), LdmUnetNames.toDiffusers(ModelFamily.SDXL, dotted));
        assertEquals(kohyaStem, dotted.replace('.', '_'));
    }

    @ParameterizedTest(name = "SD15 {0} -> {1}")
    @CsvSource({
        "input_blocks.0.0, conv_in",
        "input_blocks.1.1.proj_in, down_blocks.0.attentions.0.proj_in",
        "input_blocks.2.1.transformer_blocks.0.attn2.to_k, down_blocks.0.attentions.1.transformer_blocks.0.attn2.to_k",
        "input_blocks.3.0.op, down_blocks.0.downsamplers.0.conv",
        "input_blocks.4.0.skip_connection, down_blocks.1.resnets.0.conv_shortcut",
        "input_blocks.9.0.op, down_blocks.2.downsamplers.0.conv",
        "input_blocks.10.0.in_layers.2, down_blocks.3.resnets.0.conv1",
        "input_blocks.11.0.out_layers.3, down_blocks.3.resnets.1.conv2",
        "middle_block.1.proj_in, mid_block.attentions.0.proj_in",
        "middle_block.2.emb_layers.1, mid_block.resnets.1.time_emb_proj",
        "output_blocks.0.0.skip_connection, up_blocks.0.resnets.0.conv_shortcut",
        "output_blocks.2.1.conv, up_blocks.0.upsamplers.0.conv",
        "output_blocks.3.1.proj_in, up_blocks.1.attentions.0.proj_in",
        "output_blocks.5.2.conv, up_blocks.1.upsamplers.0.conv",
        "output_blocks.8.2.conv, up_blocks.2.upsamplers.0.conv",
        "output_blocks.11.1.transformer_blocks.0.attn2.to_v, up_blocks.3.attentions.2.transformer_blocks.0.attn2.to_v",
        "output_blocks.11.0.in_layers.2, up_blocks.3.resnets.2.conv1",
        "time_embed.2, time_embedding.linear_2",
        "out.2, conv_out",
    })
    void sd15Layout(String ldm, String diffusers) {
        assertEquals(Optional.of(diffusers), LdmUnetNames.toDiffusers(ModelFamily.SD15, ldm));
        assertEquals(Optional.of(diffusers.replace('.', '_')),
                LdmUnetNames.toDiffusersFlat(ModelFamily.SD15, ldm.replace('.', '_')));
    }

    @ParameterizedTest(name = "{0} {1} -> nothing")
    @CsvSource({
        "SD15, label_emb.0.0",
        "SD15, output_blocks.11.2.conv",
        "SD15, output_blocks.2.2.conv",
        "SD15, input_blocks.12.0.in_layers.2",
        "SD15, input_blocks.10.1.proj_in",
        "SD15, input_blocks.11.0.op",
        "SDXL, input_blocks.1.1.proj_in",
        "SDXL, input_blocks.9.0.in_layers.2",
        "SDXL, input_blocks.9.0.op",
        "SDXL, output_blocks.7.1.proj_in",
        "SDXL, output_blocks.8.2.conv",
        "SDXL, output_blocks.9.0.in_layers.2",
        "SDXL, middle_block.3.in_layers.2",
        "SDXL, input_blocks.1.0.in_layers.0",
        "SDXL, input_blocks.1.0",
        "SDXL, input_blocks.3.1.proj_in",
        "SDXL, input_blocks.0.1",
        "SDXL, down_blocks.0.resnets.0.conv1",
        "SDXL, out.0",
    })
    void impossibleNamesMapToNothing(ModelFamily family, String ldm) {
        assertEquals(Optional.empty(), LdmUnetNames.toDiffusers(family, ldm));
        assertEquals(Optional.empty(), LdmUnetNames.toDiffusersFlat(family, ldm.replace('.', '_')));
    }

    @Test
    void nullAndEmptyInputsMapToNothing() {
        assertEquals(Optional.empty(), LdmUnetNames.toDiffusers(null, "input_blocks.0.0"));
        assertEquals(Optional.empty(), LdmUnetNames.toDiffusers(ModelFamily.SDXL, null));
        assertEquals(Optional.empty(), LdmUnetNames.toDiffusers(ModelFamily.SDXL, ""));
    }

    @Test
    void looksLikeLdm() {
        assertTrue(LdmUnetNames.looksLikeLdm("input_blocks_4_1_proj_in"));
        assertTrue(LdmUnetNames.looksLikeLdm("middle_block.1.proj_in"));
        assertTrue(LdmUnetNames.looksLikeLdm("out_2"));
        assertFalse(LdmUnetNames.looksLikeLdm("down_blocks_0_resnets_0_conv1"));
        assertFalse(LdmUnetNames.looksLikeLdm("conv_out"));
    }

    /** Every one of the 794 SDXL and 282 SD 1.5 UNet modules round-trips Diffusers -> LDM -> Diffusers. */
    @ParameterizedTest
    @CsvSource({"SD15, 282", "SDXL, 794"})
    void everyUnetModuleRoundTrips(ModelFamily family, int expectedModules) {
        ModuleCatalog catalog = family == ModelFamily.SD15 ? TinyModels.sd15() : TinyModels.sdxl();
        assertEquals(expectedModules, catalog.modules(Component.UNET).size());
        for (String path : catalog.modules(Component.UNET).keySet()) {
            String ldm = TinyModels.toLdm(family, path);
            assertEquals(Optional.of(path), LdmUnetNames.toDiffusers(family, ldm), ldm);
            Optional<String> flat = LdmUnetNames.toDiffusersFlat(family, ldm.replace('.', '_'));
            assertEquals(Optional.of(path), flat.flatMap(f -> catalog.resolveFlatName(Component.UNET, f)), ldm);
        }
    }
}
