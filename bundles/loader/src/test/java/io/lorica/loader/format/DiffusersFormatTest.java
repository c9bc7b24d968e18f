package io.lorica.loader.format;

import static io.lorica.loader.format.Fixtures.assertFloats;
import static io.lorica.loader.format.Fixtures.assertOutcome;
import static io.lorica.loader.format.Fixtures.assertRejected;
import static io.lorica.loader.format.Fixtures.assertShape;
import static io.lorica.loader.format.Fixtures.assertWarning;
import static io.lorica.loader.format.Fixtures.convert;
import static io.lorica.loader.format.Fixtures.peft;
import static io.lorica.loader.format.Fixtures.values;
import static io.lorica.loader.format.MapTensorSource.shape;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LoadReport.KeyOutcome;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.adapter.LoraModule;
import io.lorica.api.format.ModuleCatalog;
import io.lorica.api.format.Recognition;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Diffusers / PEFT files: canonical and legacy keys (§5.2), metadata alpha, bias, DoRA, report and errors. */
class DiffusersFormatTest {

    private static final DiffusersFormat DIFFUSERS = new DiffusersFormat();
    private static final ModuleCatalog SD15 = TinyModels.sd15();
    private static final ModuleCatalog SDXL = TinyModels.sdxl();
    private static final LayerGeometry LINEAR = LayerGeometry.linear(8, 8);
    private static final String ATTN1 = "down_blocks.0.attentions.0.transformer_blocks.0.attn1";
    private static final String TO_Q = ATTN1 + ".to_q";

    @Test
    void name() {
        assertEquals("diffusers", DIFFUSERS.name());
    }

    @Test
    void peftKeys_usedAsIs_alphaEqualsRankWithoutMetadata() {
        MapTensorSource source = peft(new MapTensorSource(), "unet." + TO_Q, LINEAR, 2);
        peft(source, "text_encoder.text_model.encoder.layers.1.mlp.fc1", LayerGeometry.linear(8, 16), 4);
        LoraAdapter adapter = convert(DIFFUSERS, source, SD15);

        assertEquals("diffusers", adapter.format());
        assertEquals(2, adapter.moduleCount());
        LoraModule q = adapter.module(Component.UNET, TO_Q).orElseThrow();
        assertEquals(2, q.rank());
        assertEquals(2f, q.alpha());
        assertEquals(1f, q.scale());
        assertFloats(values(shape(2, 8), 0.25f), q.a());
        assertFloats(values(shape(8, 2), -1f), q.b());
        LoraModule fc1 = adapter.module(Component.TEXT_ENCODER, "text_model.encoder.layers.1.mlp.fc1").orElseThrow();
        assertEquals(4, fc1.rank());
        assertEquals(1f, fc1.scale());
        assertOutcome(adapter, "unet." + TO_Q + ".lora_A.weight", KeyOutcome.USED, "unet/" + TO_Q + ".lora_A");
        assertOutcome(adapter, "unet." + TO_Q + ".lora_B.weight", KeyOutcome.USED, "unet/" + TO_Q + ".lora_B");
        assertWarning(adapter, "alpha = rank (scale 1)");
    }

    @Test
    void sdxlComponents() {
        MapTensorSource source = peft(new MapTensorSource(), "unet.down_blocks.1.attentions.0.proj_in", LINEAR, 2);
        peft(source, "text_encoder.text_model.encoder.layers.0.self_attn.q_proj", LINEAR, 2);
        peft(source, "text_encoder_2.text_model.encoder.layers.0.self_attn.q_proj", LayerGeometry.linear(10, 10), 2);
        peft(source, "text_encoder_2.text_projection", LayerGeometry.linear(10, 10), 2);
        LoraAdapter adapter = convert(DIFFUSERS, source, SDXL);
        assertEquals(List.of(Component.UNET, Component.TEXT_ENCODER, Component.TEXT_ENCODER_2),
                List.copyOf(adapter.components()));
        assertTrue(adapter.module(Component.TEXT_ENCODER_2, "text_projection").isPresent());
    }

    /** Metadata r=2, lora_alpha=8 gives scale 4 (verified in Diffusers); alpha_pattern per module; rsLoRA. */
    @Test
    void metadataAlpha_loraAlphaAndAlphaPattern() {
        MapTensorSource source = peft(new MapTensorSource(), "unet." + TO_Q, LINEAR, 2);
        peft(source, "unet." + ATTN1 + ".to_k", LINEAR, 2);
        peft(source, "unet." + ATTN1 + ".to_out.0", LINEAR, 2);
        peft(source, "text_encoder.text_model.encoder.layers.0.self_attn.q_proj", LINEAR, 4);
        source.meta(PeftMetadata.KEY, "{\"unet.r\": 2, \"unet.lora_alpha\": 8, "
                + "\"unet.alpha_pattern\": {\"attn1.to_k\": 1, \"^" + ATTN1.replace(".", "\\\\.") + "\\\\.to_out\\\\.0\": 6},"
                + "\"unet.rank_pattern\": {}, \"unet.use_dora\": false,"
                + "\"text_encoder.r\": 4, \"text_encoder.lora_alpha\": 16, \"text_encoder.use_rslora\": true}");
        LoraAdapter adapter = convert(DIFFUSERS, source, SD15);
        assertEquals(4f, adapter.module(Component.UNET, TO_Q).orElseThrow().scale());
        assertEquals(0.5f, adapter.module(Component.UNET, ATTN1 + ".to_k").orElseThrow().scale());
        assertEquals(3f, adapter.module(Component.UNET, ATTN1 + ".to_out.0").orElseThrow().scale());
        // rsLoRA: alpha / sqrt(r) = 16 / 2 = 8
        assertEquals(8f, adapter.module(Component.TEXT_ENCODER, "text_model.encoder.layers.0.self_attn.q_proj")
                .orElseThrow().scale(), 1e-6);
        assertFalse(Fixtures.anyWarning(adapter, "alpha = rank"));
    }

    @Test
    void metadataNestedForm_andMissingComponentFallsBackToRank() {
        MapTensorSource source = peft(new MapTensorSource(), "unet." + TO_Q, LINEAR, 2);
        peft(source, "text_encoder.text_model.encoder.layers.0.self_attn.q_proj", LINEAR, 2);
        source.meta(PeftMetadata.KEY, "{\"unet\": {\"r\": 2, \"lora_alpha\": 1}}");
        LoraAdapter adapter = convert(DIFFUSERS, source, SD15);
        assertEquals(0.5f, adapter.module(Component.UNET, TO_Q).orElseThrow().scale());
        assertEquals(1f, adapter.module(Component.TEXT_ENCODER, "text_model.encoder.layers.0.self_attn.q_proj")
                .orElseThrow().scale());
    }

    @Test
    void metadataRankDisagreeingWithTensors_warns() {
        MapTensorSource source = peft(new MapTensorSource(), "unet." + TO_Q, LINEAR, 2);
        source.meta(PeftMetadata.KEY, "{\"unet.r\": 4, \"unet.lora_alpha\": 4}");
        LoraAdapter adapter = convert(DIFFUSERS, source, SD15);
        assertEquals(2f, adapter.module(Component.UNET, TO_Q).orElseThrow().scale());
        assertWarning(adapter, "metadata declares rank 4 but the tensors have rank 2");
    }

    @Test
    void metadataAlphaZero_meansRank() {
        MapTensorSource source = peft(new MapTensorSource(), "unet." + TO_Q, LINEAR, 2);
        source.meta(PeftMetadata.KEY, "{\"unet.r\": 2, \"unet.lora_alpha\": 0}");
        LoraAdapter adapter = convert(DIFFUSERS, source, SD15);
        assertEquals(1f, adapter.module(Component.UNET, TO_Q).orElseThrow().scale());
        assertWarning(adapter, "alpha 0 for 1 module");
    }

    @Test
    void invalidMetadata_isRejected() {
        MapTensorSource source = peft(new MapTensorSource(), "unet." + TO_Q, LINEAR, 2);
        source.meta(PeftMetadata.KEY, "{not json");
        assertRejected(() -> DIFFUSERS.convert(source, TinyModels.context(SD15)), "lora_adapter_metadata",
                "not valid JSON");
        MapTensorSource pattern = peft(new MapTensorSource(), "unet." + TO_Q, LINEAR, 2);
        pattern.meta(PeftMetadata.KEY, "{\"unet.alpha_pattern\": {\"to_q\": \"x\"}}");
        assertRejected(() -> DIFFUSERS.convert(pattern, TinyModels.context(SD15)), "alpha_pattern");
    }

    @Test
    void alphaKeys_usedPerModule() {
        MapTensorSource source = peft(new MapTensorSource(), "unet." + TO_Q, LINEAR, 2);
        source.scalar("unet." + TO_Q + ".alpha", 3f);
        LoraAdapter adapter = convert(DIFFUSERS, source, SD15);
        assertEquals(1.5f, adapter.module(Component.UNET, TO_Q).orElseThrow().scale());
        assertOutcome(adapter, "unet." + TO_Q + ".alpha", KeyOutcome.CONVERTED, "unet/" + TO_Q + ".alpha");
    }

    @Test
    void biasAndDoraMagnitude() {
        MapTensorSource source = peft(new MapTensorSource(), "unet." + TO_Q, LINEAR, 2);
        source.f32("unet." + TO_Q + ".lora_B.bias", shape(8), values(shape(8), 3f));
        source.f32("unet." + TO_Q + ".lora_magnitude_vector", shape(8), values(shape(8), 1f));
        String conv = "down_blocks.1.resnets.0.conv1";
        peft(source, "unet." + conv, LayerGeometry.conv(8, 8, 3, 1, 1), 2);
        source.f32("unet." + conv + ".lora_magnitude_vector", shape(1, 8, 1, 1), values(shape(8), 2f));
        LoraAdapter adapter = convert(DIFFUSERS, source, SD15);

        LoraModule q = adapter.module(Component.UNET, TO_Q).orElseThrow();
        assertFloats(values(shape(8), 3f), q.bias().orElseThrow());
        assertFloats(values(shape(8), 1f), q.magnitude().orElseThrow());
        assertTrue(q.isDora());
        assertOutcome(adapter, "unet." + TO_Q + ".lora_B.bias", KeyOutcome.USED, "unet/" + TO_Q + ".lora_B.bias");
        assertOutcome(adapter, "unet." + TO_Q + ".lora_magnitude_vector", KeyOutcome.USED,
                "unet/" + TO_Q + ".lora_magnitude_vector");
        LoraModule c = adapter.module(Component.UNET, conv).orElseThrow();
        assertShape(c.magnitude().orElseThrow(), 8);
        assertFloats(values(shape(8), 2f), c.magnitude().orElseThrow());
        assertOutcome(adapter, "unet." + conv + ".lora_magnitude_vector", KeyOutcome.CONVERTED,
                "unet/" + conv + ".lora_magnitude_vector");
        assertTrue(adapter.needsFusedMode());
    }

    /** Every legacy variant of §5.2, renamed to the canonical module and A/B. */
    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "unet.ATTN1.processor.to_q_lora, down, up, unet, ATTN1.to_q",
        "unet.ATTN1.processor.to_k_lora, down, up, unet, ATTN1.to_k",
        "unet.ATTN1.processor.to_v_lora, down, up, unet, ATTN1.to_v",
        "unet.ATTN1.processor.to_out_lora, down, up, unet, ATTN1.to_out.0",
        "unet.down_blocks.0.attentions.0.proj_in.lora, down, up, unet, down_blocks.0.attentions.0.proj_in",
        "unet.ATTN1.to_q.lora, down, up, unet, ATTN1.to_q",
        "text_encoder.text_model.encoder.layers.0.self_attn.to_q_lora, down, up, text_encoder, text_model.encoder.layers.0.self_attn.q_proj",
        "text_encoder.text_model.encoder.layers.0.self_attn.to_k_lora, down, up, text_encoder, text_model.encoder.layers.0.self_attn.k_proj",
        "text_encoder.text_model.encoder.layers.0.self_attn.to_v_lora, down, up, text_encoder, text_model.encoder.layers.0.self_attn.v_proj",
        "text_encoder.text_model.encoder.layers.1.self_attn.to_out_lora, down, up, text_encoder, text_model.encoder.layers.1.self_attn.out_proj",
        "text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_linear_layer, down, up, text_encoder, text_model.encoder.layers.0.self_attn.q_proj",
        "text_encoder.text_model.encoder.layers.0.mlp.fc1.lora_linear_layer, down, up, text_encoder, text_model.encoder.layers.0.mlp.fc1",
    })
    void legacyVariants(String prefix, String down, String up, String component, String module) {
        prefix = prefix.replace("ATTN1", ATTN1);
        module = module.replace("ATTN1", ATTN1);
        Component c = Component.fromId(component);
        LayerGeometry g = SD15.geometry(c, module).orElseThrow();
        MapTensorSource source = new MapTensorSource()
                .f32(prefix + "." + down + ".weight", g.aShape(2), values(g.aShape(2), 0.25f))
                .f32(prefix + "." + up + ".weight", g.bShape(2), values(g.bShape(2), -1f));
        LoraAdapter adapter = convert(DIFFUSERS, source, SD15);
        LoraModule m = adapter.module(c, module).orElseThrow(() -> new AssertionError(adapter.modules()));
        assertFloats(values(g.aShape(2), 0.25f), m.a());
        assertFloats(values(g.bShape(2), -1f), m.b());
        assertEquals(1f, m.scale());
        assertOutcome(adapter, prefix + "." + down + ".weight", KeyOutcome.CONVERTED, component + "/" + module + ".lora_A");
        assertOutcome(adapter, prefix + "." + up + ".weight", KeyOutcome.CONVERTED, component + "/" + module + ".lora_B");
        assertTrue(Fixtures.report(adapter, prefix + "." + down + ".weight").reason().contains("legacy"));
    }

    @Test
    void renameTable() {
        assertEquals("a.attn1.to_q.lora_A.weight", DiffusersFormat.rename(Component.UNET,
                "a.attn1.processor.to_q_lora.down.weight"));
        assertEquals("a.attn2.to_out.0.lora_B.weight", DiffusersFormat.rename(Component.UNET,
                "a.attn2.processor.to_out_lora.up.weight"));
        assertEquals("x.proj_out.lora_B.weight", DiffusersFormat.rename(Component.UNET, "x.proj_out.lora.up.weight"));
        assertEquals("l.self_attn.out_proj.lora_A.weight", DiffusersFormat.rename(Component.TEXT_ENCODER,
                "l.self_attn.to_out_lora.down.weight"));
        assertEquals("l.mlp.fc2.lora_B.weight", DiffusersFormat.rename(Component.TEXT_ENCODER_2,
                "l.mlp.fc2.lora_linear_layer.up.weight"));
        assertEquals("u.to_q.lora_A.weight", DiffusersFormat.rename(Component.UNET, "u.to_q.lora_A.weight"));
    }

    @Test
    void twoDimensionalLoraForOneByOneConv_isReshapedAndConverted() {
        String proj = "down_blocks.0.attentions.0.proj_in";
        MapTensorSource source = peft(new MapTensorSource(), "unet." + proj, LINEAR, 2);
        LoraAdapter adapter = convert(DIFFUSERS, source, SD15);
        assertShape(adapter.module(Component.UNET, proj).orElseThrow().a(), 2, 8, 1, 1);
        assertOutcome(adapter, "unet." + proj + ".lora_A.weight", KeyOutcome.CONVERTED, "unet/" + proj + ".lora_A");
    }

    @Test
    void textEncoder2OnSd15_droppedWithWarning() {
        MapTensorSource source = peft(new MapTensorSource(), "unet." + TO_Q, LINEAR, 2);
        peft(source, "text_encoder_2.text_model.encoder.layers.0.self_attn.q_proj", LayerGeometry.linear(10, 10), 2);
        LoraAdapter adapter = convert(DIFFUSERS, source, SD15);
        assertEquals(1, adapter.moduleCount());
        assertOutcome(adapter, "text_encoder_2.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight",
                KeyOutcome.DROPPED, "");
        assertWarning(adapter, "components that SD 1.5 does not have");
    }

    @Test
    void textEncoderPathWithoutTextModelLevel() {
        ModuleCatalog catalog = ModuleCatalog.of(ModelFamily.SD15, Map.of(Component.TEXT_ENCODER,
                Map.of("encoder.layers.0.mlp.fc1", LayerGeometry.linear(8, 16))));
        MapTensorSource source = peft(new MapTensorSource(), "text_encoder.text_model.encoder.layers.0.mlp.fc1",
                LayerGeometry.linear(8, 16), 2);
        LoraAdapter adapter = convert(DIFFUSERS, source, catalog);
        assertTrue(adapter.module(Component.TEXT_ENCODER, "encoder.layers.0.mlp.fc1").isPresent());
        assertOutcome(adapter, "text_encoder.text_model.encoder.layers.0.mlp.fc1.lora_A.weight", KeyOutcome.CONVERTED,
                "text_encoder/encoder.layers.0.mlp.fc1.lora_A");
    }

    /** A15: unprefixed PEFT keys: nothing would load in Diffusers; Lorica fails with a clear message. */
    @Test
    void a15_unprefixedPeftKeys_clearError() {
        MapTensorSource source = peft(new MapTensorSource(), TO_Q, LINEAR, 2);
        Recognition recognition = DIFFUSERS.recognise(source);
        assertTrue(recognition.recognised());
        assertEquals(0.1, recognition.confidence());
        assertRejected(() -> DIFFUSERS.convert(source, TinyModels.context(SD15)), "no component prefix",
                "Diffusers loads nothing", TO_Q + ".lora_A.weight");
    }

    @Test
    void someUnprefixedKeys_droppedWithWarning() {
        MapTensorSource source = peft(new MapTensorSource(), "unet." + TO_Q, LINEAR, 2);
        peft(source, ATTN1 + ".to_k", LINEAR, 2);
        source.f32("emb_params", shape(2), 1f, 2f);
        assertEquals(0.8, DIFFUSERS.recognise(source).confidence());
        LoraAdapter adapter = convert(DIFFUSERS, source, SD15);
        assertEquals(1, adapter.moduleCount());
        assertOutcome(adapter, ATTN1 + ".to_k.lora_A.weight", KeyOutcome.DROPPED, "");
        assertOutcome(adapter, "emb_params", KeyOutcome.DROPPED, "");
        assertWarning(adapter, "without a component prefix");
    }

    @Test
    void unknownTensorName_dropped() {
        MapTensorSource source = peft(new MapTensorSource(), "unet." + TO_Q, LINEAR, 2);
        source.f32("unet." + TO_Q + ".lora_embedding_A", shape(2), 1f, 2f);
        LoraAdapter adapter = convert(DIFFUSERS, source, SD15);
        assertOutcome(adapter, "unet." + TO_Q + ".lora_embedding_A", KeyOutcome.DROPPED, "");
    }

    @Test
    void unknownModule_droppedWithWarning() {
        MapTensorSource source = peft(new MapTensorSource(), "unet." + TO_Q, LINEAR, 2);
        peft(source, "unet." + ATTN1 + ".to_x", LINEAR, 2);
        LoraAdapter adapter = convert(DIFFUSERS, source, SD15);
        assertEquals(1, adapter.moduleCount());
        assertOutcome(adapter, "unet." + ATTN1 + ".to_x.lora_B.weight", KeyOutcome.DROPPED, "");
        assertWarning(adapter, "does not exist in the SD 1.5 model");
    }

    @Test
    void aWithoutB_isRejected() {
        MapTensorSource source = new MapTensorSource()
                .f32("unet." + TO_Q + ".lora_A.weight", shape(2, 8), values(shape(2, 8), 0f));
        assertRejected(() -> DIFFUSERS.convert(source, TinyModels.context(SD15)), "lora_A but no lora_B",
                "unet." + TO_Q + ".lora_A.weight");
        MapTensorSource magnitudeOnly = new MapTensorSource()
                .f32("unet." + TO_Q + ".lora_magnitude_vector", shape(8), values(shape(8), 0f));
        assertRejected(() -> DIFFUSERS.convert(magnitudeOnly, TinyModels.context(SD15)), "no lora_A/lora_B");
    }

    @Test
    void duplicateLegacyAndCanonicalKey_isRejected() {
        MapTensorSource source = peft(new MapTensorSource(), "unet." + TO_Q, LINEAR, 2);
        source.f32("unet." + ATTN1 + ".processor.to_q_lora.down.weight", shape(2, 8), values(shape(2, 8), 0f));
        assertRejected(() -> DIFFUSERS.convert(source, TinyModels.context(SD15)), "a second lora_A");
    }

    @Test
    void shapeMismatch_isRejected() {
        MapTensorSource source = new MapTensorSource("peft.safetensors")
                .f32("unet." + TO_Q + ".lora_A.weight", shape(2, 8), values(shape(2, 8), 0f))
                .f32("unet." + TO_Q + ".lora_B.weight", shape(6, 2), values(shape(6, 2), 0f));
        assertRejected(() -> DIFFUSERS.convert(source, TinyModels.context(SD15)), "peft.safetensors",
                "unet." + TO_Q + ".lora_B.weight", "found shape [6, 2]", "expected [8, 2]");
        MapTensorSource bias = peft(new MapTensorSource(), "unet." + TO_Q, LINEAR, 2)
                .f32("unet." + TO_Q + ".lora_B.bias", shape(4), 1f, 2f, 3f, 4f);
        assertRejected(() -> DIFFUSERS.convert(bias, TinyModels.context(SD15)), "lora_B.bias", "[4]", "[8]");
        MapTensorSource magnitude = peft(new MapTensorSource(), "unet." + TO_Q, LINEAR, 2)
                .f32("unet." + TO_Q + ".lora_magnitude_vector", shape(2, 4), values(shape(2, 4), 0f));
        assertRejected(() -> DIFFUSERS.convert(magnitude, TinyModels.context(SD15)), "lora_magnitude_vector",
                "[2, 4]");
    }

    @Test
    void ranksDisagree_isRejected() {
        MapTensorSource source = new MapTensorSource()
                .f32("unet." + TO_Q + ".lora_A.weight", shape(2, 8), values(shape(2, 8), 0f))
                .f32("unet." + TO_Q + ".lora_B.weight", shape(8, 3), values(shape(8, 3), 0f));
        assertRejected(() -> DIFFUSERS.convert(source, TinyModels.context(SD15)), "ranks disagree");
    }

    @Test
    void sdxlFileOnSd15_saysItLooksLikeSdxl() {
        MapTensorSource source = peft(new MapTensorSource(),
                "unet.down_blocks.1.attentions.0.transformer_blocks.1.attn1.to_q", LINEAR, 2);
        peft(source, "unet.up_blocks.0.attentions.0.proj_in", LINEAR, 2);
        peft(source, "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q", LINEAR, 2);
        assertRejected(() -> DIFFUSERS.convert(source, TinyModels.context(SD15)), "looks like a LoRA for SDXL");
    }

    @Test
    void nanWarning() {
        MapTensorSource source = new MapTensorSource()
                .f32("unet." + TO_Q + ".lora_A.weight", shape(2, 8), values(shape(2, 8), 0f))
                .f32("unet." + TO_Q + ".lora_B.weight", shape(8, 2), Float.NaN, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                        0, 0, Float.NEGATIVE_INFINITY);
        LoraAdapter adapter = convert(DIFFUSERS, source, SD15);
        assertEquals(1, adapter.moduleCount());
        assertWarning(adapter, "contains 2 NaN/Inf values");
    }

    @Test
    void metadataIsCarriedOver() {
        MapTensorSource source = peft(new MapTensorSource(), "unet." + TO_Q, LINEAR, 2).meta("ss_network_dim", "2");
        assertEquals(Map.of("ss_network_dim", "2"), convert(DIFFUSERS, source, SD15).metadata());
    }

    @Test
    void recognition_fromKeysOnly() {
        MapTensorSource source = peft(new MapTensorSource(), "unet." + TO_Q, LINEAR, 2);
        Recognition r = DIFFUSERS.recognise(source);
        assertTrue(r.recognised());
        assertEquals(1.0, r.confidence());
        assertEquals(0, source.dataReads());
        MapTensorSource kohya = Fixtures.kohya(new MapTensorSource(),
                "lora_unet_down_blocks_0_attentions_0_proj_in", LINEAR, 2, 1f);
        assertFalse(DIFFUSERS.recognise(kohya).recognised());
        assertFalse(DIFFUSERS.recognise(new MapTensorSource().f32("emb_params", shape(1), 1f)).recognised());
    }

    @Test
    void patternKey_likePeft() {
        List<String> keys = List.of("to_k", "attn1.to_q", "^down_blocks\\.0\\..*\\.to_v");
        assertEquals("attn1.to_q", PeftMetadata.patternKey(keys, "down_blocks.0.attn1.to_q").orElseThrow());
        assertEquals("to_k", PeftMetadata.patternKey(keys, "x.attn2.to_k").orElseThrow());
        assertEquals("^down_blocks\\.0\\..*\\.to_v", PeftMetadata.patternKey(keys, "down_blocks.0.a.to_v").orElseThrow());
        assertTrue(PeftMetadata.patternKey(keys, "up_blocks.0.a.to_v").isEmpty());
        assertTrue(PeftMetadata.patternKey(keys, "x.xto_k").isEmpty());
        assertEquals("a[", PeftMetadata.patternKey(List.of("a["), "m.a[").orElseThrow());
    }
}
