package io.lorica.api.adapter;

import static io.lorica.api.adapter.LoraModuleTest.zeros;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LoadReport.KeyOutcome;
import io.lorica.api.adapter.LoadReport.KeyReport;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeSet;

import org.junit.jupiter.api.Test;

/** LoraAdapter and LoadReport. */
class LoraAdapterTest {

    static LoraModule module(Component component, String path, int rank) {
        return LoraModule.of(component, path, LayerGeometry.linear(8, 6), 0f, zeros(rank, 8), zeros(6, rank));
    }

    static Map<String, LoraModule> byPath(LoraModule... modules) {
        Map<String, LoraModule> map = new LinkedHashMap<>();
        for (LoraModule m : modules) {
            map.put(m.modulePath(), m);
        }
        return map;
    }

    static LoraAdapter adapter(ModelFamily family, Map<Component, Map<String, LoraModule>> modules) {
        return new LoraAdapter("peft", family, modules, Map.of("ss_network_dim", "4"), LoadReport.empty());
    }

    @Test
    void loraAdapter_keepsLoadOrder_andHelpersCountModulesAndRanks() {
        Map<Component, Map<String, LoraModule>> modules = new LinkedHashMap<>();
        modules.put(Component.UNET, byPath(module(Component.UNET, "mid_block.attentions.0.proj_in", 4),
                module(Component.UNET, "conv_in", 8)));
        modules.put(Component.TEXT_ENCODER, byPath(
                module(Component.TEXT_ENCODER, "text_model.encoder.layers.0.self_attn.q_proj", 4)));
        LoraAdapter adapter = adapter(ModelFamily.SD15, modules);
        assertEquals(List.of(Component.UNET, Component.TEXT_ENCODER), List.copyOf(adapter.components()));
        assertEquals(List.of("mid_block.attentions.0.proj_in", "conv_in"),
                List.copyOf(adapter.modules(Component.UNET).keySet()));
        assertEquals(3, adapter.moduleCount());
        assertEquals(new TreeSet<>(Set.of(4, 8)), adapter.ranks());
        assertTrue(adapter.module(Component.UNET, "conv_in").isPresent());
        assertTrue(adapter.module(Component.UNET, "conv_out").isEmpty());
        assertTrue(adapter.modules(Component.TEXT_ENCODER_2).isEmpty());
        assertFalse(adapter.needsFusedMode());
    }

    @Test
    void loraAdapter_whenComponentNotInFamily_rejectsNamingComponentAndFamily() {
        Map<Component, Map<String, LoraModule>> modules = Map.of(Component.TEXT_ENCODER_2,
                byPath(module(Component.TEXT_ENCODER_2, "text_projection", 4)));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> adapter(ModelFamily.SD15, modules));
        assertEquals("component text_encoder_2 is not part of SD15, expected one of [unet, text_encoder]",
                e.getMessage());
    }

    @Test
    void loraAdapter_whenModuleFiledUnderOtherPathOrComponent_rejects() {
        LoraModule conv = module(Component.UNET, "conv_in", 4);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> adapter(ModelFamily.SD15, Map.of(Component.UNET, Map.of("conv_out", conv))));
        assertEquals("module unet/conv_in is filed under unet/conv_out, expected its own component and path",
                e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> adapter(ModelFamily.SD15, Map.of(Component.TEXT_ENCODER, Map.of("conv_in", conv))));
    }

    @Test
    void loraAdapter_copiesMapsDefensively_andDropsEmptyComponents() {
        Map<String, LoraModule> unet = new HashMap<>(byPath(module(Component.UNET, "conv_in", 4)));
        Map<Component, Map<String, LoraModule>> modules = new LinkedHashMap<>();
        modules.put(Component.UNET, unet);
        modules.put(Component.TEXT_ENCODER, Map.of());
        LoraAdapter adapter = adapter(ModelFamily.SD15, modules);
        unet.put("conv_out", module(Component.UNET, "conv_out", 4));
        assertEquals(1, adapter.moduleCount());
        assertEquals(Set.of(Component.UNET), adapter.components());
        assertThrows(UnsupportedOperationException.class, () -> adapter.modules(Component.UNET).clear());
        assertThrows(UnsupportedOperationException.class, () -> adapter.metadata().put("x", "y"));
    }

    @Test
    void loraAdapter_withFullDeltaModule_needsFusedModeAndHasNoRankForIt() {
        LoraModule delta = LoraModule.fullDelta(Component.UNET, "conv_in", LayerGeometry.linear(8, 6), zeros(6, 8));
        LoraAdapter adapter = adapter(ModelFamily.SDXL, Map.of(Component.UNET, byPath(delta)));
        assertTrue(adapter.needsFusedMode());
        SortedSet<Integer> ranks = adapter.ranks();
        assertTrue(ranks.isEmpty());
    }

    @Test
    void loraAdapter_whenFormatBlank_rejects() {
        assertThrows(IllegalArgumentException.class,
                () -> new LoraAdapter(" ", ModelFamily.SD15, Map.of(), Map.of(), LoadReport.empty()));
    }

    @Test
    void loadReport_countsOutcomes_andListsDroppedKeys() {
        LoadReport report = new LoadReport(List.of(
                KeyReport.used("unet.conv_in.lora_A.weight", "unet/conv_in.lora_A"),
                KeyReport.converted("lora_unet_conv_in.lora_up.weight", "unet/conv_in.lora_B", "kohya name"),
                KeyReport.dropped("lora_unet_conv_in.dora_scale", "kohya DoRA scale is not supported")),
                List.of("alpha missing for 1 module, using alpha = rank"));
        assertEquals(1, report.count(KeyOutcome.USED));
        assertEquals(1, report.count(KeyOutcome.CONVERTED));
        assertEquals(List.of("lora_unet_conv_in.dora_scale"),
                report.dropped().stream().map(KeyReport::key).toList());
    }

    @Test
    void keyReport_whenDroppedWithoutReason_rejectsNamingKey() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> KeyReport.dropped("emb_params", ""));
        assertEquals("key 'emb_params' is DROPPED but has no reason", e.getMessage());
    }

    @Test
    void keyReport_whenUsedWithoutTarget_rejects() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> KeyReport.used("unet.conv_in.lora_A.weight", null));
        assertEquals("key 'unet.conv_in.lora_A.weight' is USED but has no target", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> KeyReport.used(" ", "x"));
    }

    @Test
    void loadReport_whenListHasNullOrBlankWarning_rejects() {
        List<KeyReport> withNull = new java.util.ArrayList<>();
        withNull.add(null);
        assertThrows(IllegalArgumentException.class, () -> new LoadReport(withNull, List.of()));
        assertThrows(IllegalArgumentException.class, () -> new LoadReport(List.of(), List.of("  ")));
    }
}
