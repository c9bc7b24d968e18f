package io.lorica.api.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.TensorData;
import io.lorica.api.TensorInfo;
import io.lorica.api.adapter.LayerGeometry;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import org.junit.jupiter.api.Test;

/** Recognition, ConversionContext, ModuleCatalog, AdapterFormatException and TensorSource defaults. */
class FormatContractsTest {

    static ModuleCatalog sd15Catalog() {
        Map<String, LayerGeometry> unet = new LinkedHashMap<>();
        unet.put("down_blocks.0.attentions.0.proj_in", LayerGeometry.conv(320, 320, 1, 1, 0));
        unet.put("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q", LayerGeometry.linear(320, 320));
        unet.put("conv_in", LayerGeometry.conv(4, 320, 3, 1, 1));
        return ModuleCatalog.of(ModelFamily.SD15, Map.of(Component.UNET, unet));
    }

    @Test
    void recognition_yesAndNo_carryConfidenceAndReason() {
        Recognition yes = Recognition.yes(0.9, "all keys start with lora_unet_");
        assertTrue(yes.recognised());
        Recognition no = Recognition.no("no lora_A keys");
        assertFalse(no.recognised());
        assertEquals(0, no.confidence());
        assertTrue(yes.isBetterThan(no));
        assertTrue(yes.isBetterThan(null));
        assertFalse(no.isBetterThan(null));
        assertFalse(Recognition.yes(0.5, "weak").isBetterThan(yes));
    }

    @Test
    void recognition_whenConfidenceOutOfRangeForVerdict_rejects() {
        assertEquals("confidence of a recognition must be in (0, 1], got 0.0",
                assertThrows(IllegalArgumentException.class, () -> Recognition.yes(0, "x")).getMessage());
        assertThrows(IllegalArgumentException.class, () -> Recognition.yes(1.5, "x"));
        assertThrows(IllegalArgumentException.class, () -> Recognition.yes(Double.NaN, "x"));
        assertEquals("confidence of a rejection must be 0, got 0.3",
                assertThrows(IllegalArgumentException.class, () -> new Recognition(false, 0.3, "x")).getMessage());
        assertThrows(IllegalArgumentException.class, () -> Recognition.no(" "));
    }

    @Test
    void conversionContext_whenCatalogOfOtherFamily_rejectsNamingBoth() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new ConversionContext(ModelFamily.SDXL, sd15Catalog()));
        assertEquals("catalog is for SD15 but the target family is SDXL", e.getMessage());
        assertEquals(ModelFamily.SD15, new ConversionContext(ModelFamily.SD15, sd15Catalog()).family());
    }

    @Test
    void moduleCatalog_looksUpGeometryByComponentAndPath() {
        ModuleCatalog catalog = sd15Catalog();
        assertEquals(Optional.of(LayerGeometry.conv(4, 320, 3, 1, 1)), catalog.geometry(Component.UNET, "conv_in"));
        assertTrue(catalog.contains(Component.UNET, "conv_in"));
        assertFalse(catalog.contains(Component.TEXT_ENCODER, "conv_in"));
        assertEquals(List.of("down_blocks.0.attentions.0.proj_in",
                "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q", "conv_in"),
                List.copyOf(catalog.modules(Component.UNET).keySet()));
    }

    @Test
    void moduleCatalog_resolvesKohyaFlatNames_againstRealModules() {
        ModuleCatalog catalog = sd15Catalog();
        assertEquals(Optional.of("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"),
                catalog.resolveFlatName(Component.UNET, "down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"));
        assertEquals(Optional.empty(), catalog.resolveFlatName(Component.UNET, "down_blocks_9_attentions_0_proj_in"));
    }

    @Test
    void moduleCatalog_whenTwoPathsFlattenAlike_rejectsNamingBoth() {
        ModuleCatalog catalog = ModuleCatalog.of(ModelFamily.SD15, Map.of(Component.UNET,
                new LinkedHashMap<>(Map.of("a.b_c", LayerGeometry.linear(1, 1)))));
        assertTrue(catalog.resolveFlatName(Component.UNET, "a_b_c").isPresent());
        Map<String, LayerGeometry> ambiguous = new LinkedHashMap<>();
        ambiguous.put("a.b_c", LayerGeometry.linear(1, 1));
        ambiguous.put("a_b.c", LayerGeometry.linear(1, 1));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ModuleCatalog.of(ModelFamily.SD15, Map.of(Component.UNET, ambiguous))
                        .resolveFlatName(Component.UNET, "a_b_c"));
        assertEquals("flat name 'a_b_c' of unet is ambiguous: matches a.b_c and a_b.c", e.getMessage());
    }

    @Test
    void moduleCatalogOf_whenComponentNotInFamily_rejects_andCopiesInput() {
        assertThrows(IllegalArgumentException.class, () -> ModuleCatalog.of(ModelFamily.SD15,
                Map.of(Component.TEXT_ENCODER_2, Map.of("text_projection", LayerGeometry.linear(1280, 1280)))));
        Map<String, LayerGeometry> unet = new LinkedHashMap<>(Map.of("conv_in", LayerGeometry.linear(1, 1)));
        ModuleCatalog catalog = ModuleCatalog.of(ModelFamily.SD15, Map.of(Component.UNET, unet));
        unet.put("conv_out", LayerGeometry.linear(1, 1));
        assertFalse(catalog.contains(Component.UNET, "conv_out"));
    }

    @Test
    void adapterFormatException_namesSourceAndKey() {
        AdapterFormatException e = new AdapterFormatException("toy.safetensors", "lora_unet_x.lora_down.weight",
                "lora_up missing");
        assertEquals("LoRA source 'toy.safetensors', key 'lora_unet_x.lora_down.weight': lora_up missing",
                e.getMessage());
        assertEquals(Optional.of("lora_unet_x.lora_down.weight"), e.key());
        AdapterFormatException whole = new AdapterFormatException("toy.safetensors", null, "no module matches");
        assertEquals("LoRA source 'toy.safetensors': no module matches", whole.getMessage());
        assertEquals(Optional.empty(), whole.key());
        assertEquals("toy.safetensors", whole.source());
    }

    @Test
    void tensorSourceContains_usesKeys() {
        TensorSource source = new TensorSource() {
            @Override
            public String name() {
                return "mem";
            }

            @Override
            public Set<String> keys() {
                return Set.of("a");
            }

            @Override
            public TensorInfo info(String key) {
                return tensor(key).info();
            }

            @Override
            public TensorData tensor(String key) {
                return TensorData.ofFloats(new long[] {1}, 1f);
            }

            @Override
            public Map<String, String> metadata() {
                return Map.of();
            }
        };
        assertTrue(source.contains("a"));
        assertFalse(source.contains("b"));
    }
}
