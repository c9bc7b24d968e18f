package io.lorica.models;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LayerKind;
import io.lorica.api.format.ModuleCatalog;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

/** ReferenceModels: counts, lora-semantics §5.3/§5.4 tables, geometry (§6), flat names. */
class ReferenceModelsTest {

    private static final ModuleCatalog SD15 = ReferenceModels.catalog(ModelFamily.SD15);
    private static final ModuleCatalog SDXL = ReferenceModels.catalog(ModelFamily.SDXL);

    // ---------------------------------------------------------------- totals

    @Test
    void unetTotals_matchVerifiedEnumeration() {
        assertEquals(282, SD15.modules(Component.UNET).size());
        assertEquals(794, SDXL.modules(Component.UNET).size());
    }

    @Test
    void textEncoderTotals_are72ForClipL_and193ForBigG() {
        assertEquals(72, SD15.modules(Component.TEXT_ENCODER).size());
        assertEquals(72, SDXL.modules(Component.TEXT_ENCODER).size());
        assertEquals(192 + 1, SDXL.modules(Component.TEXT_ENCODER_2).size());
        assertTrue(SD15.modules(Component.TEXT_ENCODER_2).isEmpty());
        assertEquals(SD15.modules(Component.TEXT_ENCODER), SDXL.modules(Component.TEXT_ENCODER));
    }

    @Test
    void kohyaDefaultTargets_areTheModulesInsideAttentions_192And722() {
        assertEquals(192, countInsideAttentions(ModelFamily.SD15));
        assertEquals(722, countInsideAttentions(ModelFamily.SDXL));
    }

    private static long countInsideAttentions(ModelFamily family) {
        UnetLayout layout = UnetLayout.of(family);
        return ReferenceModels.catalog(family).modules(Component.UNET).keySet().stream()
                .filter(path -> layout.blockOf(path).part() == UnetLayout.Part.ATTENTION)
                .count();
    }

    @Test
    void unetKinds_countPerFamily() {
        // SD1.5: 16 attentions x 10 linears + 22 time_emb_proj + 2 time embedding = 184 linear;
        // conv: 32 proj + 44 resnet 3x3 + 14 shortcuts + 6 samplers + conv_in/out = 98
        assertEquals(184, count(SD15, LayerKind.LINEAR));
        assertEquals(98, count(SD15, LayerKind.CONV));
        // SDXL: 700 + 22 proj + 17 time_emb_proj + 4 embeddings = 743 linear; 34 + 11 + 4 + 2 = 51 conv
        assertEquals(743, count(SDXL, LayerKind.LINEAR));
        assertEquals(51, count(SDXL, LayerKind.CONV));
    }

    private static long count(ModuleCatalog catalog, LayerKind kind) {
        return catalog.modules(Component.UNET).values().stream().filter(g -> g.kind() == kind).count();
    }

    // ---------------------------------------------------------------- §5.3 (SD1.5 kohya stems)

    @ParameterizedTest
    @CsvSource({
        "lora_unet_down_blocks_0_attentions_0_proj_in, down_blocks.0.attentions.0.proj_in, CONV",
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q, down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q, LINEAR",
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k, down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k, LINEAR",
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_out_0, down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0, LINEAR",
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_ff_net_0_proj, down_blocks.0.attentions.0.transformer_blocks.0.ff.net.0.proj, LINEAR",
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_ff_net_2, down_blocks.0.attentions.0.transformer_blocks.0.ff.net.2, LINEAR",
        "lora_unet_mid_block_attentions_0_proj_out, mid_block.attentions.0.proj_out, CONV",
        "lora_unet_up_blocks_3_attentions_2_transformer_blocks_0_attn2_to_v, up_blocks.3.attentions.2.transformer_blocks.0.attn2.to_v, LINEAR",
        "lora_unet_down_blocks_1_resnets_0_conv1, down_blocks.1.resnets.0.conv1, CONV",
        "lora_unet_down_blocks_1_resnets_0_conv_shortcut, down_blocks.1.resnets.0.conv_shortcut, CONV",
        "lora_unet_down_blocks_1_resnets_0_time_emb_proj, down_blocks.1.resnets.0.time_emb_proj, LINEAR",
        "lora_unet_down_blocks_0_downsamplers_0_conv, down_blocks.0.downsamplers.0.conv, CONV",
        "lora_unet_up_blocks_0_upsamplers_0_conv, up_blocks.0.upsamplers.0.conv, CONV",
        "lora_unet_conv_in, conv_in, CONV",
        "lora_unet_conv_out, conv_out, CONV",
        "lora_unet_time_embedding_linear_1, time_embedding.linear_1, LINEAR",
    })
    void sd15KohyaStems_resolveToDiffusersModules(String stem, String module, LayerKind kind) {
        String flat = stem.substring("lora_unet_".length());
        assertEquals(Optional.of(module), ReferenceModels.resolveFlat(ModelFamily.SD15, Component.UNET, flat));
        assertEquals(kind, SD15.geometry(Component.UNET, module).orElseThrow().kind());
    }

    @Test
    void sd15Table_geometryDetails() {
        assertEquals(LayerGeometry.conv(320, 320, 1, 1, 0), unet(SD15, "down_blocks.0.attentions.0.proj_in"));
        assertEquals(LayerGeometry.conv(320, 640, 3, 1, 1), unet(SD15, "down_blocks.1.resnets.0.conv1"));
        assertEquals(LayerGeometry.conv(320, 640, 1, 1, 0), unet(SD15, "down_blocks.1.resnets.0.conv_shortcut"));
        assertEquals(LayerGeometry.linear(1280, 640), unet(SD15, "down_blocks.1.resnets.0.time_emb_proj"));
        assertEquals(LayerGeometry.linear(768, 320),
                unet(SD15, "up_blocks.3.attentions.2.transformer_blocks.0.attn2.to_v"));
        assertEquals(LayerGeometry.conv(1280, 1280, 3, 1, 1), unet(SD15, "up_blocks.0.upsamplers.0.conv"));
        assertEquals(LayerGeometry.conv(1280, 1280, 1, 1, 0), unet(SD15, "mid_block.attentions.0.proj_out"));
    }

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void textEncoderStems_resolveForEveryLayer(ModelFamily family) {
        for (int i = 0; i < 12; i++) {
            for (String proj : List.of("q", "k", "v", "out")) {
                String module = "text_model.encoder.layers." + i + ".self_attn." + proj + "_proj";
                assertEquals(Optional.of(module), ReferenceModels.resolveFlat(family, Component.TEXT_ENCODER,
                        "text_model_encoder_layers_" + i + "_self_attn_" + proj + "_proj"));
                assertEquals(LayerGeometry.linear(768, 768),
                        ReferenceModels.catalog(family).geometry(Component.TEXT_ENCODER, module).orElseThrow());
            }
            assertEquals(Optional.of("text_model.encoder.layers." + i + ".mlp.fc1"), ReferenceModels.resolveFlat(
                    family, Component.TEXT_ENCODER, "text_model_encoder_layers_" + i + "_mlp_fc1"));
            assertEquals(Optional.of("text_model.encoder.layers." + i + ".mlp.fc2"), ReferenceModels.resolveFlat(
                    family, Component.TEXT_ENCODER, "text_model_encoder_layers_" + i + "_mlp_fc2"));
        }
        assertEquals(Optional.empty(), ReferenceModels.resolveFlat(family, Component.TEXT_ENCODER,
                "text_model_encoder_layers_12_mlp_fc1"));
    }

    @Test
    void textEncoder2Stems_resolveBelow32_andTextProjection() {
        for (int i = 0; i < 32; i++) {
            for (String module : List.of("self_attn_q_proj", "self_attn_k_proj", "self_attn_v_proj",
                    "self_attn_out_proj", "mlp_fc1", "mlp_fc2")) {
                assertTrue(ReferenceModels.resolveFlat(ModelFamily.SDXL, Component.TEXT_ENCODER_2,
                        "text_model_encoder_layers_" + i + "_" + module).isPresent(), i + " " + module);
            }
        }
        assertEquals(Optional.empty(), ReferenceModels.resolveFlat(ModelFamily.SDXL, Component.TEXT_ENCODER_2,
                "text_model_encoder_layers_32_mlp_fc1"));
        assertEquals(Optional.of("text_projection"),
                ReferenceModels.resolveFlat(ModelFamily.SDXL, Component.TEXT_ENCODER_2, "text_projection"));
        assertEquals(Optional.empty(),
                ReferenceModels.resolveFlat(ModelFamily.SDXL, Component.TEXT_ENCODER, "text_projection"));
    }

    @Test
    void textEncoderGeometry_exact() {
        Map<String, LayerGeometry> clip = SD15.modules(Component.TEXT_ENCODER);
        assertEquals(LayerGeometry.linear(768, 3072), clip.get("text_model.encoder.layers.11.mlp.fc1"));
        assertEquals(LayerGeometry.linear(3072, 768), clip.get("text_model.encoder.layers.11.mlp.fc2"));
        Map<String, LayerGeometry> bigG = SDXL.modules(Component.TEXT_ENCODER_2);
        assertEquals(LayerGeometry.linear(1280, 1280), bigG.get("text_model.encoder.layers.31.self_attn.out_proj"));
        assertEquals(LayerGeometry.linear(1280, 5120), bigG.get("text_model.encoder.layers.31.mlp.fc1"));
        assertEquals(LayerGeometry.linear(5120, 1280), bigG.get("text_model.encoder.layers.0.mlp.fc2"));
        assertEquals(LayerGeometry.linear(1280, 1280), bigG.get("text_projection"));
        assertEquals("text_projection", List.copyOf(bigG.keySet()).get(192));
        assertTrue(clip.values().stream().allMatch(g -> g.kind() == LayerKind.LINEAR));
        assertTrue(bigG.values().stream().allMatch(g -> g.kind() == LayerKind.LINEAR));
    }

    // ---------------------------------------------------------------- §5.4 (SDXL, right-hand column)

    @ParameterizedTest
    @CsvSource({
        "conv_in, CONV",
        "down_blocks.0.resnets.0.conv1, CONV",
        "down_blocks.0.downsamplers.0.conv, CONV",
        "down_blocks.1.resnets.0.time_emb_proj, LINEAR",
        "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q, LINEAR",
        "down_blocks.1.attentions.1.proj_in, LINEAR",
        "down_blocks.1.downsamplers.0.conv, CONV",
        "down_blocks.2.resnets.0.conv_shortcut, CONV",
        "down_blocks.2.attentions.1.transformer_blocks.9.ff.net.2, LINEAR",
        "mid_block.resnets.0.conv2, CONV",
        "mid_block.attentions.0.transformer_blocks.9.attn2.to_k, LINEAR",
        "mid_block.resnets.1.conv1, CONV",
        "up_blocks.0.attentions.0.proj_out, LINEAR",
        "up_blocks.0.upsamplers.0.conv, CONV",
        "up_blocks.1.resnets.2.conv_shortcut, CONV",
        "up_blocks.1.upsamplers.0.conv, CONV",
        "up_blocks.2.resnets.2.conv1, CONV",
        "time_embedding.linear_1, LINEAR",
        "add_embedding.linear_2, LINEAR",
        "conv_out, CONV",
    })
    void sdxlLdmTable_diffusersModulesExistWithKind(String module, LayerKind kind) {
        assertEquals(kind, SDXL.geometry(Component.UNET, module).orElseThrow(() -> new AssertionError(module)).kind());
        // SDXL files with diffusers-style kohya names are accepted unchanged
        assertEquals(Optional.of(module),
                ReferenceModels.resolveFlat(ModelFamily.SDXL, Component.UNET, module.replace('.', '_')));
    }

    @Test
    void sdxlTable_geometryDetails() {
        assertEquals(LayerGeometry.conv(4, 320, 3, 1, 1), unet(SDXL, "conv_in"));
        assertEquals(LayerGeometry.conv(320, 320, 3, 1, 1), unet(SDXL, "down_blocks.0.resnets.0.conv1"));
        assertEquals(LayerGeometry.conv(320, 320, 3, 2, 1), unet(SDXL, "down_blocks.0.downsamplers.0.conv"));
        assertEquals(LayerGeometry.linear(1280, 640), unet(SDXL, "down_blocks.1.resnets.0.time_emb_proj"));
        assertEquals(LayerGeometry.linear(640, 640), unet(SDXL, "down_blocks.1.attentions.1.proj_in"));
        assertEquals(LayerGeometry.conv(640, 640, 3, 2, 1), unet(SDXL, "down_blocks.1.downsamplers.0.conv"));
        assertEquals(LayerGeometry.conv(640, 1280, 1, 1, 0), unet(SDXL, "down_blocks.2.resnets.0.conv_shortcut"));
        assertEquals(LayerGeometry.linear(5120, 1280),
                unet(SDXL, "down_blocks.2.attentions.1.transformer_blocks.9.ff.net.2"));
        assertEquals(LayerGeometry.linear(2048, 1280),
                unet(SDXL, "mid_block.attentions.0.transformer_blocks.9.attn2.to_k"));
        assertEquals(LayerGeometry.conv(960, 640, 1, 1, 0), unet(SDXL, "up_blocks.1.resnets.2.conv_shortcut"));
        assertEquals(LayerGeometry.conv(640, 320, 3, 1, 1), unet(SDXL, "up_blocks.2.resnets.2.conv1"));
        assertEquals(LayerGeometry.conv(640, 640, 3, 1, 1), unet(SDXL, "up_blocks.1.upsamplers.0.conv"));
        assertEquals(LayerGeometry.linear(320, 1280), unet(SDXL, "time_embedding.linear_1"));
        assertEquals(LayerGeometry.linear(1280, 1280), unet(SDXL, "time_embedding.linear_2"));
        assertEquals(LayerGeometry.linear(2816, 1280), unet(SDXL, "add_embedding.linear_1"));
        assertEquals(LayerGeometry.linear(1280, 1280), unet(SDXL, "add_embedding.linear_2"));
        assertEquals(LayerGeometry.conv(320, 4, 3, 1, 1), unet(SDXL, "conv_out"));
    }

    // ---------------------------------------------------------------- geometry spot checks (§6)

    @Test
    void geometry_spotChecksFromBrief() {
        assertEquals(LayerGeometry.linear(768, 320),
                unet(SD15, "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k"));
        assertEquals(LayerGeometry.linear(1280, 10240),
                unet(SDXL, "down_blocks.2.attentions.1.transformer_blocks.9.ff.net.0.proj"));
        LayerGeometry sd15ProjIn = unet(SD15, "down_blocks.0.attentions.0.proj_in");
        assertEquals(LayerKind.CONV, sd15ProjIn.kind());
        assertEquals(1, sd15ProjIn.kernelHeight());
        assertEquals(1, sd15ProjIn.kernelWidth());
        assertEquals(LayerKind.LINEAR, unet(SDXL, "down_blocks.1.attentions.0.proj_in").kind());
        LayerGeometry down = unet(SD15, "down_blocks.0.downsamplers.0.conv");
        assertEquals(2, down.stride());
        assertEquals(1, down.padding());
        assertEquals(3, down.kernelHeight());
    }

    @Test
    void attentionGeometry_followsBlockWidth() {
        assertEquals(LayerGeometry.linear(640, 640),
                unet(SD15, "down_blocks.1.attentions.1.transformer_blocks.0.attn1.to_out.0"));
        assertEquals(LayerGeometry.linear(1280, 10240),
                unet(SD15, "up_blocks.1.attentions.2.transformer_blocks.0.ff.net.0.proj"));
        assertEquals(LayerGeometry.linear(1280, 320),
                unet(SD15, "up_blocks.3.attentions.0.transformer_blocks.0.ff.net.2"));
        assertEquals(LayerGeometry.linear(640, 640),
                unet(SDXL, "up_blocks.1.attentions.2.transformer_blocks.1.attn2.to_q"));
        assertEquals(LayerGeometry.linear(2048, 640),
                unet(SDXL, "up_blocks.1.attentions.2.transformer_blocks.1.attn2.to_v"));
        assertFalse(SDXL.contains(Component.UNET, "up_blocks.1.attentions.2.transformer_blocks.2.attn2.to_v"));
        assertFalse(SDXL.contains(Component.UNET, "down_blocks.0.attentions.0.proj_in"));
        assertFalse(SD15.contains(Component.UNET, "down_blocks.3.downsamplers.0.conv"));
        assertFalse(SD15.contains(Component.UNET, "add_embedding.linear_1"));
    }

    @Test
    void upBlockResnetInputs_matchDocumentedChannels() {
        assertEquals(List.of(2560, 2560, 2560, 2560, 2560, 1920, 1920, 1280, 960, 960, 640, 640),
                upResnetInputs(SD15, 4));
        assertEquals(List.of(2560, 2560, 1920, 1920, 1280, 960, 960, 640, 640), upResnetInputs(SDXL, 3));
    }

    private static List<Integer> upResnetInputs(ModuleCatalog catalog, int blocks) {
        List<Integer> inputs = new ArrayList<>();
        for (int i = 0; i < blocks; i++) {
            for (int j = 0; j < 3; j++) {
                String resnet = "up_blocks." + i + ".resnets." + j;
                int in = unet(catalog, resnet + ".conv1").inFeatures();
                assertEquals(in, unet(catalog, resnet + ".conv_shortcut").inFeatures(), resnet);
                inputs.add(in);
            }
        }
        return inputs;
    }

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void shortcuts_existExactlyWhereChannelsChange(ModelFamily family) {
        Map<String, LayerGeometry> unet = ReferenceModels.catalog(family).modules(Component.UNET);
        for (Map.Entry<String, LayerGeometry> e : unet.entrySet()) {
            if (e.getKey().endsWith(".conv1")) {
                String resnet = e.getKey().substring(0, e.getKey().length() - ".conv1".length());
                LayerGeometry conv1 = e.getValue();
                assertEquals(conv1.inFeatures() != conv1.outFeatures(), unet.containsKey(resnet + ".conv_shortcut"),
                        resnet);
                assertEquals(LayerGeometry.linear(1280, conv1.outFeatures()), unet.get(resnet + ".time_emb_proj"));
                assertEquals(LayerGeometry.conv(conv1.outFeatures(), conv1.outFeatures(), 3, 1, 1),
                        unet.get(resnet + ".conv2"));
            }
        }
        long downShortcuts = unet.keySet().stream()
                .filter(p -> p.startsWith("down_blocks.") && p.endsWith("conv_shortcut")).count();
        assertEquals(2, downShortcuts);
    }

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void convolutions_areSame3x3_orPointwise_strideTwoOnlyForDownsamplers(ModelFamily family) {
        ReferenceModels.catalog(family).modules(Component.UNET).forEach((path, g) -> {
            if (g.kind() == LayerKind.CONV) {
                boolean pointwise = g.kernelHeight() == 1;
                assertEquals(g.kernelHeight(), g.kernelWidth(), path);
                assertEquals(pointwise ? 0 : 1, g.padding(), path);
                assertTrue(pointwise || g.kernelHeight() == 3, path);
                assertEquals(path.contains(".downsamplers.") ? 2 : 1, g.stride(), path);
            }
        });
    }

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void unetOrder_followsNamedModules(ModelFamily family) {
        List<String> paths = List.copyOf(ReferenceModels.catalog(family).modules(Component.UNET).keySet());
        assertEquals("conv_in", paths.get(0));
        assertEquals("time_embedding.linear_1", paths.get(1));
        assertEquals("conv_out", paths.get(paths.size() - 1));
        int firstUp = indexOfFirst(paths, "up_blocks.");
        int firstMid = indexOfFirst(paths, "mid_block.");
        assertTrue(indexOfFirst(paths, "down_blocks.") < firstUp && firstUp < firstMid);
        // within a block: attentions, then resnets, then the sampler
        assertTrue(paths.indexOf("down_blocks.1.attentions.1.proj_out") < paths.indexOf("down_blocks.1.resnets.0.conv1"));
        assertTrue(paths.indexOf("down_blocks.1.resnets.1.conv2") < paths.indexOf("down_blocks.1.downsamplers.0.conv"));
    }

    private static int indexOfFirst(List<String> paths, String prefix) {
        for (int i = 0; i < paths.size(); i++) {
            if (paths.get(i).startsWith(prefix)) {
                return i;
            }
        }
        return -1;
    }

    // ---------------------------------------------------------------- flat names

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void flatNames_areUnambiguous_andResolveToTheirPath(ModelFamily family) {
        ModuleCatalog catalog = ReferenceModels.catalog(family);
        for (Component component : family.components()) {
            Map<String, LayerGeometry> modules = catalog.modules(component);
            Set<String> flat = new HashSet<>();
            for (String path : modules.keySet()) {
                String name = path.replace('.', '_');
                assertTrue(flat.add(name), "ambiguous flat name " + name);
                assertEquals(Optional.of(path), ReferenceModels.resolveFlat(family, component, name));
                assertEquals(Optional.of(path), catalog.resolveFlatName(component, name));
            }
            // the API's linear scan over a plain copy agrees and finds no ambiguity either
            ModuleCatalog plain = ModuleCatalog.of(family, Map.of(component, modules));
            for (String name : flat) {
                assertEquals(catalog.resolveFlatName(component, name), plain.resolveFlatName(component, name));
            }
        }
    }

    @Test
    void resolveFlat_unknownName_isEmpty() {
        assertEquals(Optional.empty(), ReferenceModels.resolveFlat(ModelFamily.SD15, Component.UNET, "proj_in"));
        assertEquals(Optional.empty(), ReferenceModels.resolveFlat(ModelFamily.SD15, Component.UNET,
                "down_blocks.0.attentions.0.proj_in"));
        assertEquals(Optional.empty(), ReferenceModels.resolveFlat(ModelFamily.SD15, Component.UNET, ""));
        // LDM names are not module paths: conversion (§5.4) comes first
        assertEquals(Optional.empty(), ReferenceModels.resolveFlat(ModelFamily.SDXL, Component.UNET,
                "input_blocks_4_1_proj_in"));
    }

    @Test
    void resolveFlat_badArguments_rejectedNamingExpectation() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ReferenceModels.resolveFlat(ModelFamily.SD15, Component.TEXT_ENCODER_2, "text_projection"));
        assertTrue(e.getMessage().contains("text_encoder_2") && e.getMessage().contains("SD15"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> ReferenceModels.resolveFlat(null, Component.UNET, "conv_in"));
        assertTrue(e.getMessage().contains("SD15, SDXL"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> ReferenceModels.resolveFlat(ModelFamily.SDXL, null, "conv_in"));
        assertTrue(e.getMessage().contains("unet"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> ReferenceModels.resolveFlat(ModelFamily.SDXL, Component.UNET, null));
        assertTrue(e.getMessage().contains("flat name"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ReferenceModels.catalog(null));
    }

    // ---------------------------------------------------------------- lifecycle

    @Test
    void catalog_isSingleImmutableInstance() {
        assertSame(SD15, ReferenceModels.catalog(ModelFamily.SD15));
        assertSame(SDXL, ReferenceModels.catalog(ModelFamily.SDXL));
        assertEquals(ModelFamily.SDXL, SDXL.family());
        Map<String, LayerGeometry> unet = SD15.modules(Component.UNET);
        assertThrows(UnsupportedOperationException.class, () -> unet.put("x", LayerGeometry.linear(1, 1)));
        assertThrows(UnsupportedOperationException.class, () -> unet.remove("conv_in"));
        assertEquals(Map.of(), SD15.modules(null));
        assertEquals("ReferenceCatalog[sd15, unet 282, text_encoder 72]", SD15.toString());
    }

    @Test
    void catalog_concurrentCalls_yieldOneInstance() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Callable<ModuleCatalog>> calls = new ArrayList<>();
            for (int i = 0; i < 32; i++) {
                ModelFamily family = i % 2 == 0 ? ModelFamily.SD15 : ModelFamily.SDXL;
                calls.add(() -> ReferenceModels.catalog(family));
            }
            List<Future<ModuleCatalog>> results = pool.invokeAll(calls);
            for (int i = 0; i < results.size(); i++) {
                assertSame(i % 2 == 0 ? SD15 : SDXL, results.get(i).get());
            }
        } finally {
            pool.shutdownNow();
        }
    }

    private static LayerGeometry unet(ModuleCatalog catalog, String path) {
        return catalog.geometry(Component.UNET, path).orElseThrow(() -> new AssertionError("missing " + path));
    }
}
