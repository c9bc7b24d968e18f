package io.lorica.loader.format;

import static io.lorica.loader.format.Fixtures.assertFloats;
import static io.lorica.loader.format.Fixtures.assertOutcome;
import static io.lorica.loader.format.Fixtures.assertRejected;
import static io.lorica.loader.format.Fixtures.assertShape;
import static io.lorica.loader.format.Fixtures.assertWarning;
import static io.lorica.loader.format.Fixtures.convert;
import static io.lorica.loader.format.Fixtures.kohya;
import static io.lorica.loader.format.Fixtures.values;
import static io.lorica.loader.format.MapTensorSource.shape;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.Component;
import io.lorica.api.DType;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LoadReport.KeyOutcome;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.adapter.LoraModule;
import io.lorica.api.format.ModuleCatalog;
import io.lorica.api.format.Recognition;

import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** kohya / A1111 files: names (§5.3, §5.4), alpha, LoCon, DoRA, report and errors. */
class KohyaFormatTest {

    private static final KohyaFormat KOHYA = new KohyaFormat();
    private static final ModuleCatalog SD15 = TinyModels.sd15();
    private static final ModuleCatalog SDXL = TinyModels.sdxl();
    private static final LayerGeometry LINEAR = LayerGeometry.linear(8, 8);
    private static final String TO_Q = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q";
    private static final String TO_Q_KEY = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q";

    @Test
    void name() {
        assertEquals("kohya", KOHYA.name());
    }

    @Test
    void linearModule_abAlphaScaleAndReport() {
        MapTensorSource source = kohya(new MapTensorSource(), TO_Q_KEY, LINEAR, 2, 1f);
        LoraAdapter adapter = convert(KOHYA, source, SD15);

        assertEquals("kohya", adapter.format());
        assertEquals(ModelFamily.SD15, adapter.family());
        assertEquals(1, adapter.moduleCount());
        LoraModule m = adapter.module(Component.UNET, TO_Q).orElseThrow();
        assertEquals(2, m.rank());
        assertEquals(1f, m.alpha());
        assertEquals(0.5f, m.scale());
        assertShape(m.a(), 2, 8);
        assertShape(m.b(), 8, 2);
        assertFloats(values(shape(2, 8), 0.25f), m.a());
        assertFloats(values(shape(8, 2), -1f), m.b());
        assertFalse(m.isDora());
        assertFalse(m.isFullDelta());
        assertOutcome(adapter, TO_Q_KEY + ".lora_down.weight", KeyOutcome.CONVERTED, "unet/" + TO_Q + ".lora_A");
        assertOutcome(adapter, TO_Q_KEY + ".lora_up.weight", KeyOutcome.CONVERTED, "unet/" + TO_Q + ".lora_B");
        assertOutcome(adapter, TO_Q_KEY + ".alpha", KeyOutcome.CONVERTED, "unet/" + TO_Q + ".alpha");
        assertEquals(Map.of(), adapter.metadata());
    }

    /** §5.3 table: kohya stems (SD 1.5) -> Diffusers modules, resolved against the real module list. */
    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "lora_unet_down_blocks_0_attentions_0_proj_in, down_blocks.0.attentions.0.proj_in",
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q, down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q",
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k, down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k",
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_out_0, down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0",
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_ff_net_0_proj, down_blocks.0.attentions.0.transformer_blocks.0.ff.net.0.proj",
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_ff_net_2, down_blocks.0.attentions.0.transformer_blocks.0.ff.net.2",
        "lora_unet_mid_block_attentions_0_proj_out, mid_block.attentions.0.proj_out",
        "lora_unet_up_blocks_3_attentions_2_transformer_blocks_0_attn2_to_v, up_blocks.3.attentions.2.transformer_blocks.0.attn2.to_v",
        "lora_unet_down_blocks_1_resnets_0_conv1, down_blocks.1.resnets.0.conv1",
        "lora_unet_down_blocks_1_resnets_0_conv_shortcut, down_blocks.1.resnets.0.conv_shortcut",
        "lora_unet_down_blocks_1_resnets_0_time_emb_proj, down_blocks.1.resnets.0.time_emb_proj",
        "lora_unet_down_blocks_0_downsamplers_0_conv, down_blocks.0.downsamplers.0.conv",
        "lora_unet_up_blocks_0_upsamplers_0_conv, up_blocks.0.upsamplers.0.conv",
        "lora_unet_conv_in, conv_in",
        "lora_unet_conv_out, conv_out",
        "lora_unet_time_embedding_linear_1, time_embedding.linear_1",
    })
    void sd15NameTable(String stem, String module) {
        LayerGeometry g = SD15.geometry(Component.UNET, module).orElseThrow();
        LoraAdapter adapter = convert(KOHYA, kohya(new MapTensorSource(), stem, g, 2, 1f), SD15);
        LoraModule m = adapter.module(Component.UNET, module).orElseThrow();
        assertEquals(g, m.geometry());
        assertShape(m.a(), g.aShape(2));
        assertShape(m.b(), g.bShape(2));
    }

    /** §5.3 text-encoder table. */
    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "SD15, lora_te_text_model_encoder_layers_1_self_attn_q_proj, text_encoder, text_model.encoder.layers.1.self_attn.q_proj",
        "SD15, lora_te_text_model_encoder_layers_0_self_attn_out_proj, text_encoder, text_model.encoder.layers.0.self_attn.out_proj",
        "SD15, lora_te_text_model_encoder_layers_0_mlp_fc1, text_encoder, text_model.encoder.layers.0.mlp.fc1",
        "SD15, lora_te1_text_model_encoder_layers_0_mlp_fc2, text_encoder, text_model.encoder.layers.0.mlp.fc2",
        "SDXL, lora_te1_text_model_encoder_layers_0_self_attn_k_proj, text_encoder, text_model.encoder.layers.0.self_attn.k_proj",
        "SDXL, lora_te_text_model_encoder_layers_0_self_attn_v_proj, text_encoder, text_model.encoder.layers.0.self_attn.v_proj",
        "SDXL, lora_te2_text_model_encoder_layers_1_self_attn_v_proj, text_encoder_2, text_model.encoder.layers.1.self_attn.v_proj",
        "SDXL, lora_te2_text_model_encoder_layers_1_mlp_fc2, text_encoder_2, text_model.encoder.layers.1.mlp.fc2",
        "SDXL, lora_te2_text_projection, text_encoder_2, text_projection",
    })
    void textEncoderNames(ModelFamily family, String stem, String component, String module) {
        ModuleCatalog catalog = family == ModelFamily.SD15 ? SD15 : SDXL;
        Component c = Component.fromId(component);
        LayerGeometry g = catalog.geometry(c, module).orElseThrow();
        LoraAdapter adapter = convert(KOHYA, kohya(new MapTensorSource(), stem, g, 2, 1f), catalog);
        assertTrue(adapter.module(c, module).isPresent(), adapter.modules().toString());
        assertOutcome(adapter, stem + ".lora_down.weight", KeyOutcome.CONVERTED, component + "/" + module + ".lora_A");
    }

    /** transformers >= 5 catalogs lack the text_model level; kohya stems still resolve. */
    @Test
    void textEncoderWithoutTextModelLevel() {
        ModuleCatalog catalog = ModuleCatalog.of(ModelFamily.SD15, Map.of(Component.TEXT_ENCODER,
                Map.of("encoder.layers.0.self_attn.q_proj", LINEAR)));
        String stem = "lora_te_text_model_encoder_layers_0_self_attn_q_proj";
        LoraAdapter adapter = convert(KOHYA, kohya(new MapTensorSource(), stem, LINEAR, 2, 1f), catalog);
        assertTrue(adapter.module(Component.TEXT_ENCODER, "encoder.layers.0.self_attn.q_proj").isPresent());
    }

    /** SDXL kohya files on the original LDM layout: every row of the §5.4 table in one file. */
    @Test
    void sdxlLdmNames_everyTableRow() {
        String[][] rows = {
            {"input_blocks_0_0", "conv_in"},
            {"input_blocks_1_0_in_layers_2", "down_blocks.0.resnets.0.conv1"},
            {"input_blocks_3_0_op", "down_blocks.0.downsamplers.0.conv"},
            {"input_blocks_4_0_emb_layers_1", "down_blocks.1.resnets.0.time_emb_proj"},
            {"input_blocks_4_1_transformer_blocks_0_attn1_to_q", "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q"},
            {"input_blocks_5_1_proj_in", "down_blocks.1.attentions.1.proj_in"},
            {"input_blocks_6_0_op", "down_blocks.1.downsamplers.0.conv"},
            {"input_blocks_7_0_skip_connection", "down_blocks.2.resnets.0.conv_shortcut"},
            {"input_blocks_8_1_transformer_blocks_9_ff_net_2", "down_blocks.2.attentions.1.transformer_blocks.9.ff.net.2"},
            {"middle_block_0_out_layers_3", "mid_block.resnets.0.conv2"},
            {"middle_block_1_transformer_blocks_9_attn2_to_k", "mid_block.attentions.0.transformer_blocks.9.attn2.to_k"},
            {"middle_block_2_in_layers_2", "mid_block.resnets.1.conv1"},
            {"output_blocks_0_1_proj_out", "up_blocks.0.attentions.0.proj_out"},
            {"output_blocks_2_2_conv", "up_blocks.0.upsamplers.0.conv"},
            {"output_blocks_5_0_skip_connection", "up_blocks.1.resnets.2.conv_shortcut"},
            {"output_blocks_5_2_conv", "up_blocks.1.upsamplers.0.conv"},
            {"output_blocks_8_0_in_layers_2", "up_blocks.2.resnets.2.conv1"},
            {"time_embed_0", "time_embedding.linear_1"},
            {"label_emb_0_2", "add_embedding.linear_2"},
            {"out_2", "conv_out"},
        };
        MapTensorSource source = new MapTensorSource();
        for (String[] row : rows) {
            kohya(source, "lora_unet_" + row[0], SDXL.geometry(Component.UNET, row[1]).orElseThrow(), 2, 1f);
        }
        LoraAdapter adapter = convert(KOHYA, source, SDXL);
        assertEquals(rows.length, adapter.moduleCount());
        for (String[] row : rows) {
            assertTrue(adapter.module(Component.UNET, row[1]).isPresent(), row[1]);
            assertTrue(Fixtures.report(adapter, "lora_unet_" + row[0] + ".lora_down.weight").reason()
                    .contains("LDM block name"), row[0]);
        }
    }

    /** A16: an LDM-named full LoCon maps every UNet module (794 SDXL, 282 SD 1.5; Diffusers cannot load SD 1.5). */
    @ParameterizedTest
    @CsvSource({"SDXL, 794", "SD15, 282"})
    void a16_fullLdmNamedLoCon_mapsEveryModule(ModelFamily family, int expected) {
        ModuleCatalog catalog = family == ModelFamily.SD15 ? SD15 : SDXL;
        MapTensorSource source = new MapTensorSource();
        catalog.modules(Component.UNET).forEach((path, g) ->
                kohya(source, "lora_unet_" + TinyModels.toLdm(family, path).replace('.', '_'), g, 1, 1f));
        LoraAdapter adapter = convert(KOHYA, source, catalog);
        assertEquals(expected, adapter.moduleCount());
        assertEquals(catalog.modules(Component.UNET).keySet(), adapter.modules(Component.UNET).keySet());
        assertEquals(0, adapter.report().count(KeyOutcome.DROPPED));
    }

    @Test
    void mixedLdmAndDiffusersNames_keepBoth() {
        MapTensorSource source = new MapTensorSource();
        kohya(source, "lora_unet_input_blocks_4_1_proj_in", LINEAR, 2, 1f);
        kohya(source, "lora_unet_down_blocks_2_attentions_0_proj_out", LINEAR, 2, 1f);
        LoraAdapter adapter = convert(KOHYA, source, SDXL);
        assertTrue(adapter.module(Component.UNET, "down_blocks.1.attentions.0.proj_in").isPresent());
        assertTrue(adapter.module(Component.UNET, "down_blocks.2.attentions.0.proj_out").isPresent());
    }

    /** A1: kohya rank 2, alpha 1: every layer's scale is 0.5 (UNet and TE). */
    @Test
    void a1_rank2Alpha1_scaleHalfEverywhere() {
        MapTensorSource source = new MapTensorSource();
        kohya(source, TO_Q_KEY, LINEAR, 2, 1f);
        kohya(source, "lora_unet_down_blocks_1_resnets_0_conv1", LayerGeometry.conv(8, 8, 3, 1, 1), 2, 1f);
        kohya(source, "lora_te_text_model_encoder_layers_0_self_attn_q_proj", LINEAR, 2, 1f);
        kohya(source, "lora_te_text_model_encoder_layers_0_mlp_fc1", LayerGeometry.linear(8, 16), 2, 1f);
        LoraAdapter adapter = convert(KOHYA, source, SD15);
        assertEquals(4, adapter.moduleCount());
        adapter.modules().values().forEach(m -> m.values().forEach(x -> assertEquals(0.5f, x.scale(), x.modulePath())));
        assertEquals(java.util.Set.of(Component.UNET, Component.TEXT_ENCODER), adapter.components());
    }

    /** A10 (deviation): per-module alpha exactly as in the file: to_q alpha 3 -> 1.5, others alpha 1 -> 0.5. */
    @Test
    void a10_perModuleAlpha() {
        MapTensorSource source = new MapTensorSource();
        String prefix = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_";
        kohya(source, prefix + "to_q", LINEAR, 2, 3f);
        kohya(source, prefix + "to_k", LINEAR, 2, 1f);
        kohya(source, prefix + "to_v", LINEAR, 2, 1f);
        kohya(source, "lora_unet_down_blocks_0_attentions_0_proj_in", LayerGeometry.conv(8, 8, 1, 1, 0), 2, 1f);
        LoraAdapter adapter = convert(KOHYA, source, SD15);
        String base = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.";
        assertEquals(1.5f, adapter.module(Component.UNET, base + "to_q").orElseThrow().scale());
        assertEquals(0.5f, adapter.module(Component.UNET, base + "to_k").orElseThrow().scale());
        assertEquals(0.5f, adapter.module(Component.UNET, base + "to_v").orElseThrow().scale());
        assertEquals(0.5f, adapter.module(Component.UNET, "down_blocks.0.attentions.0.proj_in").orElseThrow().scale());
    }

    @Test
    void alphaMissingOrZero_meansRank() {
        MapTensorSource source = new MapTensorSource();
        kohya(source, TO_Q_KEY, LINEAR, 4, null);
        kohya(source, "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_k", LINEAR, 2, 0f);
        kohya(source, "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_v", LINEAR, 2, 8f);
        LoraAdapter adapter = convert(KOHYA, source, SD15);
        String base = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.";
        LoraModule q = adapter.module(Component.UNET, base + "to_q").orElseThrow();
        assertEquals(4f, q.alpha());
        assertEquals(1f, q.scale());
        LoraModule k = adapter.module(Component.UNET, base + "to_k").orElseThrow();
        assertEquals(2f, k.alpha());
        assertEquals(1f, k.scale());
        assertEquals(4f, adapter.module(Component.UNET, base + "to_v").orElseThrow().scale());
        assertWarning(adapter, "alpha missing for 1 module");
        assertWarning(adapter, "alpha 0 for 1 module");
    }

    @Test
    void negativeAlpha_foldedIntoB() {
        MapTensorSource source = kohya(new MapTensorSource(), TO_Q_KEY, LINEAR, 2, -1f);
        LoraModule m = convert(KOHYA, source, SD15).module(Component.UNET, TO_Q).orElseThrow();
        assertEquals(0.5f, m.scale());
        float[] negated = values(shape(8, 2), -1f);
        for (int i = 0; i < negated.length; i++) {
            negated[i] = -negated[i];
        }
        assertFloats(negated, m.b());
    }

    @Test
    void loconConv3x3_keepsKernelShapes() {
        LayerGeometry conv = LayerGeometry.conv(8, 8, 3, 1, 1);
        String stem = "lora_unet_down_blocks_1_resnets_1_conv2";
        LoraAdapter adapter = convert(KOHYA, kohya(new MapTensorSource(), stem, conv, 2, 2f), SD15);
        LoraModule m = adapter.module(Component.UNET, "down_blocks.1.resnets.1.conv2").orElseThrow();
        assertShape(m.a(), 2, 8, 3, 3);
        assertShape(m.b(), 8, 2, 1, 1);
        assertEquals(1f, m.scale());
        assertFloats(values(shape(2, 8, 3, 3), 0.25f), m.a());
    }

    @Test
    void twoDimensionalLoraForOneByOneConv_isReshaped() {
        String stem = "lora_unet_down_blocks_0_attentions_0_proj_in";
        MapTensorSource source = new MapTensorSource()
                .f32(stem + ".lora_down.weight", shape(2, 8), values(shape(2, 8), 0f))
                .f32(stem + ".lora_up.weight", shape(8, 2), values(shape(8, 2), 1f));
        LoraAdapter adapter = convert(KOHYA, source, SD15);
        LoraModule m = adapter.module(Component.UNET, "down_blocks.0.attentions.0.proj_in").orElseThrow();
        assertShape(m.a(), 2, 8, 1, 1);
        assertShape(m.b(), 8, 2, 1, 1);
        assertFloats(values(shape(2, 8), 0f), m.a());
    }

    @Test
    void halfAndBfloatTensors_keptInTheirType() {
        String stem = TO_Q_KEY;
        float[] a = values(shape(2, 8), 0.25f);
        float[] b = values(shape(8, 2), -1f);
        MapTensorSource source = new MapTensorSource()
                .f16(stem + ".lora_down.weight", shape(2, 8), a)
                .bf16(stem + ".lora_up.weight", shape(8, 2), b);
        source.f16(stem + ".alpha", shape(), 1f);
        LoraModule m = convert(KOHYA, source, SD15).module(Component.UNET, TO_Q).orElseThrow();
        assertEquals(DType.F16, m.a().dtype());
        assertEquals(DType.BF16, m.b().dtype());
        assertFloats(a, m.a());
        assertFloats(b, m.b());
        assertEquals(0.5f, m.scale());
    }

    // --------------------------------------------------------------------------------------------------- DoRA

    /** A14 (deviation): dora_scale on the output axis is kept as the DoRA magnitude, reshaped to [out]. */
    @Test
    void a14_doraScaleOutputAxis_keptAsMagnitude() {
        MapTensorSource source = kohya(new MapTensorSource(), TO_Q_KEY, LINEAR, 2, 1f);
        float[] magnitude = values(shape(8, 1), 1f);
        source.f32(TO_Q_KEY + ".dora_scale", shape(8, 1), magnitude);
        String conv = "lora_unet_down_blocks_1_resnets_0_conv1";
        kohya(source, conv, LayerGeometry.conv(8, 8, 3, 1, 1), 2, 1f);
        source.f32(conv + ".dora_scale", shape(8, 1, 1, 1), values(shape(8, 1, 1, 1), 2f));

        LoraAdapter adapter = convert(KOHYA, source, SD15);
        LoraModule m = adapter.module(Component.UNET, TO_Q).orElseThrow();
        assertTrue(m.isDora());
        assertShape(m.magnitude().orElseThrow(), 8);
        assertFloats(magnitude, m.magnitude().orElseThrow());
        LoraModule c = adapter.module(Component.UNET, "down_blocks.1.resnets.0.conv1").orElseThrow();
        assertFloats(values(shape(8), 2f), c.magnitude().orElseThrow());
        assertOutcome(adapter, TO_Q_KEY + ".dora_scale", KeyOutcome.CONVERTED,
                "unet/" + TO_Q + ".lora_magnitude_vector");
        assertTrue(adapter.needsFusedMode());
        assertWarning(adapter, "Diffusers drops dora_scale");
    }

    @Test
    void doraScaleInputAxis_droppedWithWarning() {
        LayerGeometry g = LayerGeometry.linear(12, 8);
        String stem = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k";
        MapTensorSource source = kohya(new MapTensorSource(), stem, g, 2, 1f);
        source.f32(stem + ".dora_scale", shape(1, 12), values(shape(1, 12), 1f));
        LoraAdapter adapter = convert(KOHYA, source, SD15);
        LoraModule m = adapter.module(Component.UNET,
                "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k").orElseThrow();
        assertFalse(m.isDora());
        assertOutcome(adapter, stem + ".dora_scale", KeyOutcome.DROPPED, "");
        assertTrue(Fixtures.report(adapter, stem + ".dora_scale").reason().contains("input channel"));
        assertWarning(adapter, "input-axis dora_scale");
    }

    @Test
    void doraScaleOfWrongShape_isRejected() {
        MapTensorSource source = kohya(new MapTensorSource(), TO_Q_KEY, LINEAR, 2, 1f);
        source.f32(TO_Q_KEY + ".dora_scale", shape(3, 1), 1f, 2f, 3f);
        assertRejected(() -> KOHYA.convert(source, TinyModels.context(SD15)), "dora_scale", "[3, 1]", "[8, 1]",
                TO_Q_KEY + ".dora_scale");
    }

    // --------------------------------------------------------------------------------------------------- report

    @Test
    void teTwoKeysOnSd15_droppedWithWarning() {
        MapTensorSource source = kohya(new MapTensorSource(), TO_Q_KEY, LINEAR, 2, 1f);
        kohya(source, "lora_te2_text_model_encoder_layers_0_self_attn_q_proj", LayerGeometry.linear(10, 10), 2, 1f);
        LoraAdapter adapter = convert(KOHYA, source, SD15);
        assertEquals(1, adapter.moduleCount());
        assertOutcome(adapter, "lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight",
                KeyOutcome.DROPPED, "");
        assertEquals(3, adapter.report().count(KeyOutcome.DROPPED));
        assertWarning(adapter, "components that SD 1.5 does not have");
    }

    @Test
    void unknownModuleAmongKnownOnes_droppedWithWarning() {
        MapTensorSource source = kohya(new MapTensorSource(), TO_Q_KEY, LINEAR, 2, 1f);
        kohya(source, "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_z", LINEAR, 2, 1f);
        LoraAdapter adapter = convert(KOHYA, source, SD15);
        assertEquals(1, adapter.moduleCount());
        String dropped = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_z.lora_down.weight";
        assertOutcome(adapter, dropped, KeyOutcome.DROPPED, "");
        assertTrue(Fixtures.report(adapter, dropped).reason().contains("unknown module"));
        assertWarning(adapter, "does not exist in the SD 1.5 model");
    }

    @Test
    void bundledEmbedding_droppedAndRecognisedWithLowerConfidence() {
        MapTensorSource source = kohya(new MapTensorSource(), TO_Q_KEY, LINEAR, 2, 1f);
        source.f32("emb_params", shape(2, 8), values(shape(2, 8), 0f));
        Recognition recognition = KOHYA.recognise(source);
        assertTrue(recognition.recognised());
        assertEquals(0.7, recognition.confidence());
        LoraAdapter adapter = convert(KOHYA, source, SD15);
        assertOutcome(adapter, "emb_params", KeyOutcome.DROPPED, "");
        assertWarning(adapter, "without a kohya module prefix");
    }

    @Test
    void unusedTensorOfModule_dropped() {
        MapTensorSource source = kohya(new MapTensorSource(), TO_Q_KEY, LINEAR, 2, 1f);
        source.f32(TO_Q_KEY + ".lora_up.bias", shape(8), values(shape(8), 0f));
        LoraAdapter adapter = convert(KOHYA, source, SD15);
        assertEquals(1, adapter.moduleCount());
        assertOutcome(adapter, TO_Q_KEY + ".lora_up.bias", KeyOutcome.DROPPED, "");
        assertWarning(adapter, "unsupported tensor 'lora_up.bias'");
    }

    @Test
    void orphanAlpha_dropped() {
        MapTensorSource source = kohya(new MapTensorSource(), TO_Q_KEY, LINEAR, 2, 1f);
        source.scalar("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_k.alpha", 1f);
        LoraAdapter adapter = convert(KOHYA, source, SD15);
        assertOutcome(adapter, "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_k.alpha",
                KeyOutcome.DROPPED, "");
    }

    @Test
    void nanOrInf_warnsButLoads() {
        MapTensorSource source = new MapTensorSource();
        float[] up = values(shape(8, 2), 0f);
        up[3] = Float.NaN;
        up[5] = Float.POSITIVE_INFINITY;
        source.f32(TO_Q_KEY + ".lora_down.weight", shape(2, 8), values(shape(2, 8), 0f));
        source.f32(TO_Q_KEY + ".lora_up.weight", shape(8, 2), up);
        LoraAdapter adapter = convert(KOHYA, source, SD15);
        assertEquals(1, adapter.moduleCount());
        assertWarning(adapter, "'" + TO_Q_KEY + ".lora_up.weight' contains 2 NaN/Inf values");
    }

    // --------------------------------------------------------------------------------------------------- errors

    @Test
    void downWithoutUp_isRejected() {
        MapTensorSource source = new MapTensorSource()
                .f32(TO_Q_KEY + ".lora_down.weight", shape(2, 8), values(shape(2, 8), 0f));
        assertRejected(() -> KOHYA.convert(source, TinyModels.context(SD15)), "lora_up", "test.safetensors",
                TO_Q_KEY + ".lora_down.weight");
    }

    @Test
    void upWithoutDown_isRejected() {
        MapTensorSource source = new MapTensorSource()
                .f32(TO_Q_KEY + ".lora_up.weight", shape(8, 2), values(shape(8, 2), 0f));
        assertRejected(() -> KOHYA.convert(source, TinyModels.context(SD15)), "lora_down");
    }

    @Test
    void ranksDisagree_isRejected() {
        MapTensorSource source = new MapTensorSource()
                .f32(TO_Q_KEY + ".lora_down.weight", shape(2, 8), values(shape(2, 8), 0f))
                .f32(TO_Q_KEY + ".lora_up.weight", shape(8, 4), values(shape(8, 4), 0f));
        assertRejected(() -> KOHYA.convert(source, TinyModels.context(SD15)), "ranks disagree", "rank 2", "rank 4",
                "[8, 4]");
    }

    @Test
    void shapeMismatch_namesFileKeyFoundAndExpected() {
        MapTensorSource source = new MapTensorSource("my-lora.safetensors")
                .f32(TO_Q_KEY + ".lora_down.weight", shape(2, 6), values(shape(2, 6), 0f))
                .f32(TO_Q_KEY + ".lora_up.weight", shape(8, 2), values(shape(8, 2), 0f));
        assertRejected(() -> KOHYA.convert(source, TinyModels.context(SD15)), "my-lora.safetensors",
                TO_Q_KEY + ".lora_down.weight", "found shape [2, 6]", "expected [2, 8]");
    }

    @Test
    void lycorisKeys_rejectedByKohya() {
        MapTensorSource source = new MapTensorSource()
                .f32(TO_Q_KEY + ".hada_w1_a", shape(8, 1), values(shape(8, 1), 0f))
                .f32(TO_Q_KEY + ".hada_w1_b", shape(1, 8), values(shape(1, 8), 0f))
                .f32(TO_Q_KEY + ".hada_w2_a", shape(8, 1), values(shape(8, 1), 0f))
                .f32(TO_Q_KEY + ".hada_w2_b", shape(1, 8), values(shape(1, 8), 0f));
        assertFalse(KOHYA.recognise(source).recognised());
        assertRejected(() -> KOHYA.convert(source, TinyModels.context(SD15)), "LoHa", "lycoris");
    }

    @Test
    void loconTuckerMid_rejectedByKohya() {
        String stem = "lora_unet_down_blocks_1_resnets_0_conv1";
        MapTensorSource source = new MapTensorSource()
                .f32(stem + ".lora_down.weight", shape(2, 8, 1, 1), values(shape(2, 8, 1, 1), 0f))
                .f32(stem + ".lora_mid.weight", shape(2, 2, 3, 3), values(shape(2, 2, 3, 3), 0f))
                .f32(stem + ".lora_up.weight", shape(8, 2, 1, 1), values(shape(8, 2, 1, 1), 0f));
        assertRejected(() -> KOHYA.convert(source, TinyModels.context(SD15)), "lora_mid", "lycoris",
                stem + ".lora_mid.weight");
    }

    @Test
    void noModuleExists_isRejected() {
        MapTensorSource source = kohya(new MapTensorSource(), "lora_unet_foo_bar", LINEAR, 2, 1f);
        assertRejected(() -> KOHYA.convert(source, TinyModels.context(SD15)), "none of the 1 modules", "foo_bar");
    }

    @Test
    void onlyComponentsTheFamilyLacks_isRejected() {
        MapTensorSource source = kohya(new MapTensorSource(), "lora_te2_text_model_encoder_layers_0_mlp_fc1",
                LayerGeometry.linear(10, 20), 2, 1f);
        assertRejected(() -> KOHYA.convert(source, TinyModels.context(SD15)), "no LoRA module for the SD 1.5 model");
    }

    /** An SD 1.5 LoRA on SDXL: down_blocks.0 attentions and up_blocks.3 do not exist there. */
    @Test
    void sd15FileOnSdxl_saysItLooksLikeSd15() {
        MapTensorSource source = new MapTensorSource();
        kohya(source, TO_Q_KEY, LINEAR, 2, 1f);
        kohya(source, "lora_unet_up_blocks_3_attentions_2_transformer_blocks_0_attn2_to_q", LINEAR, 2, 1f);
        kohya(source, "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q", LINEAR, 2, 1f);
        kohya(source, "lora_unet_down_blocks_1_attentions_0_proj_in", LayerGeometry.conv(8, 8, 1, 1, 0), 2, 1f);
        assertRejected(() -> KOHYA.convert(source, TinyModels.context(SDXL)), "looks like a LoRA for SD 1.5",
                "target model is SDXL", "do not exist");
    }

    /** An SDXL LoRA on SD 1.5: transformer_blocks_1.., lora_te2_ and an attention SD 1.5 lacks. */
    @Test
    void sdxlFileOnSd15_saysItLooksLikeSdxl() {
        MapTensorSource source = new MapTensorSource();
        kohya(source, "lora_unet_input_blocks_4_1_transformer_blocks_1_attn1_to_q", LINEAR, 2, 1f);
        kohya(source, "lora_unet_output_blocks_0_1_transformer_blocks_0_attn1_to_q", LINEAR, 2, 1f);
        kohya(source, "lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q", LINEAR, 2, 1f);
        kohya(source, "lora_te2_text_model_encoder_layers_0_self_attn_q_proj", LayerGeometry.linear(10, 10), 2, 1f);
        assertRejected(() -> KOHYA.convert(source, TinyModels.context(SD15)), "looks like a LoRA for SDXL",
                "target model is SD 1.5");
    }

    /** Wrong family detected from shapes: an SD 1.5 conv proj_in on SDXL's linear proj_in. */
    @Test
    void wrongFamilyFromShapes() {
        MapTensorSource source = new MapTensorSource();
        String stem = "lora_unet_down_blocks_1_attentions_0_proj_in";
        source.f32(stem + ".lora_down.weight", shape(2, 8, 3, 3), values(shape(2, 8, 3, 3), 0f));
        source.f32(stem + ".lora_up.weight", shape(8, 2, 1, 1), values(shape(8, 2, 1, 1), 0f));
        kohya(source, "lora_unet_down_blocks_0_attentions_0_proj_out", LayerGeometry.conv(8, 8, 1, 1, 0), 2, 1f);
        assertRejected(() -> KOHYA.convert(source, TinyModels.context(SDXL)), "SD 1.5", "shapes that do not fit");
    }

    @Test
    void ambiguousFlatName_isRejected() {
        ModuleCatalog catalog = ModuleCatalog.of(ModelFamily.SD15, Map.of(Component.UNET,
                Map.of("a.b_c", LINEAR, "a_b.c", LINEAR)));
        MapTensorSource source = kohya(new MapTensorSource(), "lora_unet_a_b_c", LINEAR, 2, 1f);
        assertRejected(() -> KOHYA.convert(source, TinyModels.context(catalog)), "ambiguous", "lora_unet_a_b_c");
    }

    @Test
    void failedConversionLeavesNothing_nextConversionIsUnaffected() {
        MapTensorSource bad = kohya(new MapTensorSource(), TO_Q_KEY, LINEAR, 2, 1f);
        bad.f32("lora_unet_conv_in.lora_down.weight", shape(2, 3, 3, 3), values(shape(2, 3, 3, 3), 0f));
        bad.f32("lora_unet_conv_in.lora_up.weight", shape(8, 2, 1, 1), values(shape(8, 2, 1, 1), 0f));
        assertRejected(() -> KOHYA.convert(bad, TinyModels.context(SD15)), "lora_unet_conv_in.lora_down.weight");
        LoraAdapter good = convert(KOHYA, kohya(new MapTensorSource(), TO_Q_KEY, LINEAR, 2, 1f), SD15);
        assertEquals(1, good.moduleCount());
        assertEquals(3, good.report().keys().size());
    }

    // --------------------------------------------------------------------------------------------------- recognise

    @Test
    void recognition_fromKeysOnly() {
        MapTensorSource source = kohya(new MapTensorSource(), TO_Q_KEY, LINEAR, 2, 1f);
        kohya(source, "lora_te_text_model_encoder_layers_0_mlp_fc1", LayerGeometry.linear(8, 16), 2, 1f);
        Recognition r = KOHYA.recognise(source);
        assertTrue(r.recognised());
        assertEquals(1.0, r.confidence());
        assertEquals(0, source.dataReads());

        MapTensorSource peft = Fixtures.peft(new MapTensorSource(), "unet." + TO_Q, LINEAR, 2);
        assertFalse(KOHYA.recognise(peft).recognised());
        assertFalse(KOHYA.recognise(new MapTensorSource()).recognised());
    }
}
