package io.lorica.policy.settings;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.lorica.api.Component;
import io.lorica.api.policy.AdapterSettings;
import io.lorica.api.policy.AdapterWeight;
import io.lorica.api.policy.AdapterWeight.BlockVector;
import io.lorica.api.policy.AdapterWeight.LayerOverride;
import io.lorica.api.policy.AdapterWeight.PerBlock;
import io.lorica.api.policy.AdapterWeight.PerComponent;
import io.lorica.api.policy.AdapterWeight.UnetBlocks;
import io.lorica.api.policy.AdapterWeight.WithOverrides;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.junit.jupiter.api.Test;

/**
 * Canonical output of {@link SettingsFormatter}, checked literally.
 */
class SettingsFormatterTest {

    private final BlockWeightPresets presets = BlockWeightPresets.defaults();
    private final SettingsFormatter formatter = new SettingsFormatter(presets);
    private final SettingsParser parser = new SettingsParser(presets);

    private AdapterSettings briefExample() {
        Map<String, List<Double>> up = new LinkedHashMap<>();
        up.put("block_0", List.of(0.6));
        up.put("block_1", List.of(0.4, 0.8, 1.0));
        UnetBlocks unet = new UnetBlocks(Optional.of(AdapterWeight.of(0.9)), Optional.empty(),
                Optional.of(new PerBlock(up)));
        Map<String, AdapterWeight> adapters = new LinkedHashMap<>();
        adapters.put("toy", AdapterWeight.of(0.5));
        adapters.put("pixel", new PerComponent(Map.of(Component.TEXT_ENCODER, AdapterWeight.of(0.5),
                Component.UNET, unet)));
        adapters.put("style", new BlockVector(1, 1, presets.get("MIDD").orElseThrow(), Optional.of("MIDD")));
        return new AdapterSettings(adapters, 0.8, true);
    }

    @Test
    void toJson_briefExample() {
        assertEquals("{\"adapters\":{\"toy\":0.5,\"pixel\":{\"unet\":{\"down\":0.9,\"up\":{\"block_0\":0.6,"
                + "\"block_1\":[0.4,0.8,1]}},\"text_encoder\":0.5},\"style\":{\"lbw\":\"MIDD\"}},\"scale\":0.8,"
                + "\"enabled\":true}", formatter.toJson(briefExample()));
    }

    @Test
    void toCompact_briefExample() {
        assertEquals("toy:0.5,pixel:{\"unet\":{\"down\":0.9,\"up\":{\"block_0\":0.6,\"block_1\":[0.4,0.8,1]}},"
                + "\"text_encoder\":0.5},style:lbw=MIDD;scale=0.8", formatter.toCompact(briefExample()));
    }

    @Test
    void none() {
        assertEquals("{\"adapters\":{},\"scale\":1,\"enabled\":true}", formatter.toJson(AdapterSettings.none()));
        assertEquals("", formatter.toCompact(AdapterSettings.none()));
        assertEquals(";scale=0;enabled=false",
                formatter.toCompact(AdapterSettings.none().withCallScale(0).withEnabled(false)));
    }

    @Test
    void compact_shortForms() {
        Map<String, AdapterWeight> adapters = new LinkedHashMap<>();
        adapters.put("one", AdapterWeight.ONE);
        adapters.put("half", AdapterWeight.of(0.5));
        adapters.put("split", SettingsParser.textEncodersAndUnet(0.25, 1));
        adapters.put("same", new BlockVector(0.7, 0.7, presets.get("IND").orElseThrow(), Optional.of("IND")));
        adapters.put("both", new BlockVector(0.7, 0.2, presets.get("IND").orElseThrow(), Optional.of("IND")));
        adapters.put("lit", new BlockVector(1, 1, Collections.nCopies(12, 0.5), Optional.empty()));
        assertEquals("one,half:0.5,split:0.25:1,same:0.7:lbw=IND,both:0.7:0.2:lbw=IND,"
                + "lit:lbw=0.5 0.5 0.5 0.5 0.5 0.5 0.5 0.5 0.5 0.5 0.5 0.5",
                formatter.toCompact(new AdapterSettings(adapters, 1, true)));
    }

    @Test
    void compact_perComponentNotMatchingShortForm_isJson() {
        PerComponent onlyUnet = new PerComponent(Map.of(Component.UNET, AdapterWeight.of(0.5)));
        PerComponent differentEncoders = new PerComponent(Map.of(Component.TEXT_ENCODER, AdapterWeight.of(0.5),
                Component.TEXT_ENCODER_2, AdapterWeight.of(0.6), Component.UNET, AdapterWeight.of(1)));
        assertEquals("a:{\"unet\":0.5},b:{\"unet\":1,\"text_encoder\":0.5,\"text_encoder_2\":0.6}",
                formatter.toCompact(AdapterSettings.of(List.of("a", "b"), List.of(onlyUnet, differentEncoders))));
    }

    @Test
    void blockVector_presetLabelNotMatchingPresets_isWrittenLiterally() {
        BlockVector mislabelled = new BlockVector(1, 1, Collections.nCopies(17, 0.25), Optional.of("MIDD"));
        BlockVector unknownLabel = new BlockVector(1, 1, Collections.nCopies(17, 0.25), Optional.of("MINE"));
        assertEquals("{\"lbw\":[" + String.join(",", Collections.nCopies(17, "0.25")) + "]}",
                formatter.toJson(mislabelled));
        assertEquals(formatter.toJson(mislabelled), formatter.toJson(unknownLabel));
    }

    @Test
    void blockVector_teAndUnetOnlyWhenNotOne() {
        assertEquals("{\"lbw\":\"ALL\",\"te\":0,\"unet\":-0.0}",
                formatter.toJson(new BlockVector(0, -0.0, presets.get("ALL").orElseThrow(), Optional.of("ALL"))));
    }

    @Test
    void overrides_andEscaping() {
        WithOverrides weight = new WithOverrides(AdapterWeight.of(0.8), List.of(
                new LayerOverride(Optional.of(Component.TEXT_ENCODER_2), "a\"b\\.c\td", 0.5),
                new LayerOverride(Optional.empty(), "é😀", 1)));
        assertEquals("{\"weight\":0.8,\"overrides\":[{\"component\":\"text_encoder_2\",\"regex\":\"a\\\"b\\\\.c\\td\","
                + "\"weight\":0.5},{\"regex\":\"é\\ud83d\\ude00\",\"weight\":1}]}", formatter.toJson(weight));
        assertEquals(weight, parser.parseJsonWeight(formatter.toJson(weight)));
    }

    @Test
    void unetBlocks_partsInOrder_midAsNumber() {
        UnetBlocks blocks = new UnetBlocks(Optional.empty(), Optional.of(0.1), Optional.of(AdapterWeight.of(2)));
        assertEquals("{\"unet\":{\"mid\":0.1,\"up\":2}}",
                formatter.toJson(new PerComponent(Map.of(Component.UNET, blocks))));
        assertEquals("{\"unet\":{}}", formatter.toJson(new PerComponent(Map.of(Component.UNET,
                new UnetBlocks(Optional.empty(), Optional.empty(), Optional.empty())))));
    }

    @Test
    void numbers_exactAndCanonical() {
        AdapterSettings settings = AdapterSettings.of(List.of("a", "b", "c"), List.of(AdapterWeight.of(0.1 + 0.2),
                AdapterWeight.of(1e-7), AdapterWeight.of(-0.0))).withCallScale(1e20);
        assertEquals("a:0.30000000000000004,b:1.0E-7,c:-0.0;scale=1.0E20", formatter.toCompact(settings));
        assertEquals(settings, parser.parse(formatter.toCompact(settings)));
        assertEquals(settings, parser.parse(formatter.toJson(settings)));
    }

    @Test
    void formatIsIdempotentThroughParse() {
        AdapterSettings settings = briefExample().withEnabled(false);
        String json = formatter.toJson(settings);
        String compact = formatter.toCompact(settings);
        assertEquals(json, formatter.toJson(parser.parse(compact)));
        assertEquals(compact, formatter.toCompact(parser.parse(json)));
    }
}
