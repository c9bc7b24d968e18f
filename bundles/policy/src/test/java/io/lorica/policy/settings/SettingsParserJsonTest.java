package io.lorica.policy.settings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
 * The JSON form of {@link SettingsParser}: Lorica's adapters object, Diffusers' two lists, the Lorica extensions and
 * every rejection with its message.
 */
class SettingsParserJsonTest {

    private final SettingsParser parser = new SettingsParser(BlockWeightPresets.defaults());

    private static Map<String, AdapterWeight> map(Object... nameWeight) {
        Map<String, AdapterWeight> map = new LinkedHashMap<>();
        for (int i = 0; i < nameWeight.length; i += 2) {
            map.put((String) nameWeight[i], (AdapterWeight) nameWeight[i + 1]);
        }
        return map;
    }

    private static PerBlock blocks(Object... keyValues) {
        Map<String, List<Double>> map = new LinkedHashMap<>();
        for (int i = 0; i < keyValues.length; i += 2) {
            @SuppressWarnings("unchecked")
            List<Double> values = (List<Double>) keyValues[i + 1];
            map.put((String) keyValues[i], values);
        }
        return new PerBlock(map);
    }

    private String error(String json) {
        return assertThrows(IllegalArgumentException.class, () -> parser.parseJson(json)).getMessage();
    }

    // ------------------------------------------------------------------------------------------------- accepted

    @Test
    void briefExample_parsesEveryPart() {
        AdapterSettings settings = parser.parseJson("""
                {"adapters": {"toy": 0.5, "pixel": {"text_encoder": 0.5, "unet": {"down": 0.9, "up": {"block_0": 0.6,
                 "block_1": [0.4, 0.8, 1.0]}}}}, "scale": 0.8, "enabled": true}""");
        UnetBlocks unet = new UnetBlocks(Optional.of(AdapterWeight.of(0.9)), Optional.empty(),
                Optional.of(blocks("block_0", List.of(0.6), "block_1", List.of(0.4, 0.8, 1.0))));
        PerComponent pixel = new PerComponent(Map.of(Component.TEXT_ENCODER, AdapterWeight.of(0.5),
                Component.UNET, unet));
        assertEquals(new AdapterSettings(map("toy", AdapterWeight.of(0.5), "pixel", pixel), 0.8, true), settings);
        assertEquals(List.of("toy", "pixel"), settings.names());
    }

    @Test
    void defaults_noAdapters_scaleOne_enabled() {
        assertEquals(AdapterSettings.none(), parser.parseJson("{}"));
        assertEquals(AdapterSettings.none().withCallScale(0.0), parser.parseJson("{\"scale\": 0}"));
        assertEquals(AdapterSettings.none().withEnabled(false), parser.parseJson(" {\"enabled\": false} \n"));
    }

    @Test
    void nullWeight_isOne_andNullComponent_isOne() {
        AdapterSettings settings = parser.parseJson("{\"adapters\": {\"a\": null, \"b\": {\"unet\": null, "
                + "\"text_encoder_2\": null}}}");
        assertSame(AdapterWeight.ONE, settings.weight("a").orElseThrow());
        PerComponent b = (PerComponent) settings.weight("b").orElseThrow();
        assertEquals(Map.of(Component.UNET, AdapterWeight.ONE, Component.TEXT_ENCODER_2, AdapterWeight.ONE),
                b.weights());
    }

    @Test
    void emptyComponentDict_isAllOnes() {
        AdapterWeight weight = parser.parseJsonWeight("{}");
        assertEquals(new PerComponent(Map.of()), weight);
    }

    @Test
    void mid_numberOrOneElementList() {
        assertEquals(new UnetBlocks(Optional.empty(), Optional.of(0.3), Optional.empty()),
                ((PerComponent) parser.parseJsonWeight("{\"unet\": {\"mid\": 0.3}}")).weightFor(Component.UNET));
        assertEquals(new UnetBlocks(Optional.empty(), Optional.of(0.3), Optional.empty()),
                ((PerComponent) parser.parseJsonWeight("{\"unet\": {\"mid\": [0.3]}}")).weightFor(Component.UNET));
    }

    @Test
    void blockIndicesUpTo999_andEmptyBlockDict() {
        UnetBlocks unet = (UnetBlocks) ((PerComponent) parser.parseJsonWeight(
                "{\"unet\": {\"down\": {\"block_999\": -1}, \"up\": {}}}")).weightFor(Component.UNET);
        assertEquals(blocks("block_999", List.of(-1.0)), unet.down().orElseThrow());
        assertEquals(new PerBlock(Map.of()), unet.up().orElseThrow());
    }

    @Test
    void negativeAndExponentNumbers() {
        assertEquals(AdapterWeight.of(-1.5e-3), parser.parseJsonWeight("-1.5E-3"));
        assertEquals(AdapterWeight.of(2.0), parser.parseJsonWeight("2"));
    }

    @Test
    void lbwPreset_withTeAndUnet() {
        BlockVector vector = (BlockVector) parser.parseJsonWeight("{\"lbw\": \"MIDD\", \"te\": 1, \"unet\": 0.7}");
        assertEquals(new BlockVector(1.0, 0.7, BlockWeightPresets.defaults().get("MIDD").orElseThrow(),
                Optional.of("MIDD")), vector);
    }

    @Test
    void lbwLiteral_defaultsTeAndUnetToOne() {
        BlockVector vector = (BlockVector) parser.parseJsonWeight(
                "{\"lbw\": [1,0,0,0,0,0,1,1,1,1,1,1], \"te\": null}");
        assertEquals(new BlockVector(1.0, 1.0, List.of(1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0),
                Optional.empty()), vector);
    }

    @Test
    void lbw_configuredPreset() {
        SettingsParser configured = new SettingsParser(BlockWeightPresets.defaults()
                .withOverrides(Map.of("XL_OUT", "1,0,0,0,0,0,1,1,1,1,1,1")));
        BlockVector vector = (BlockVector) configured.parseJsonWeight("{\"lbw\": \"XL_OUT\"}");
        assertEquals(12, vector.ratios().size());
        assertEquals(Optional.of("XL_OUT"), vector.preset());
    }

    @Test
    void overrides_withBaseAndComponent() {
        WithOverrides weight = (WithOverrides) parser.parseJsonWeight("""
                {"weight": {"unet": 0.8}, "overrides": [
                  {"component": "unet", "regex": "attn2\\\\.to_[kv]", "weight": 0.3},
                  {"regex": "mlp", "weight": null}]}""");
        assertEquals(new WithOverrides(new PerComponent(Map.of(Component.UNET, AdapterWeight.of(0.8))), List.of(
                new LayerOverride(Optional.of(Component.UNET), "attn2\\.to_[kv]", 0.3),
                new LayerOverride(Optional.empty(), "mlp", 1.0))), weight);
    }

    @Test
    void overrides_withoutWeight_baseIsOne_andLbwBase() {
        WithOverrides plain = (WithOverrides) parser.parseJsonWeight(
                "{\"overrides\": [{\"regex\": \"x\", \"weight\": 0}]}");
        assertSame(AdapterWeight.ONE, plain.base());
        WithOverrides lbw = (WithOverrides) parser.parseJsonWeight(
                "{\"weight\": {\"lbw\": \"OUTS\"}, \"overrides\": [{\"regex\": \"x\", \"weight\": 0}]}");
        assertInstanceOf(BlockVector.class, lbw.base());
    }

    @Test
    void unicodeAndEscapesInRegex() {
        WithOverrides weight = (WithOverrides) parser.parseJsonWeight(
                "{\"overrides\": [{\"regex\": \"é\\u00fc\\\"q\\\"\", \"weight\": 1}]}");
        assertEquals("éü\"q\"", weight.overrides().get(0).regex());
    }

    // ----------------------------------------------------------------------------------------- Diffusers' lists

    @Test
    void twoLists_perAdapterWeights() {
        AdapterSettings settings = parser.parseJson("{\"adapter_names\": [\"a\", \"b\"], \"adapter_weights\": "
                + "[0.3, {\"unet\": {\"down\": 0.5}}]}");
        assertEquals(AdapterWeight.of(0.3), settings.weight("a").orElseThrow());
        assertInstanceOf(PerComponent.class, settings.weight("b").orElseThrow());
        assertEquals(List.of("a", "b"), settings.names());
    }

    @Test
    void twoLists_weightsOmittedOrNull_areOnes() {
        AdapterSettings expected = AdapterSettings.of(List.of("a", "b"), (List<AdapterWeight>) null);
        assertEquals(expected, parser.parseJson("{\"adapter_names\": [\"a\", \"b\"]}"));
        assertEquals(expected, parser.parseJson("{\"adapter_names\": [\"a\", \"b\"], \"adapter_weights\": null}"));
        assertEquals(expected, parser.parseJson("{\"adapter_names\": [\"a\", \"b\"], \"adapter_weights\": "
                + "[null, null]}"));
    }

    @Test
    void twoLists_singleName_asString() {
        assertEquals(AdapterSettings.of(List.of("a"), List.of(AdapterWeight.of(0.4))),
                parser.parseJson("{\"adapter_names\": \"a\", \"adapter_weights\": 0.4}"));
        assertEquals(AdapterSettings.of(List.of("a"), List.of(AdapterWeight.of(0.4))),
                parser.parseJson("{\"adapter_names\": \"a\", \"adapter_weights\": [0.4]}"));
    }

    @Test
    void twoLists_singleNumber_isReplicated() {
        AdapterSettings settings = parser.parseJson("{\"adapter_names\": [\"a\", \"b\", \"c\"], "
                + "\"adapter_weights\": 0.7}");
        assertEquals(AdapterSettings.of(List.of("a", "b", "c"), AdapterWeight.of(0.7)), settings);
    }

    /** Lorica deviation: Diffusers applies a shared component dict to the first adapter only (the rest get 1.0). */
    @Test
    void twoLists_sharedComponentDict_appliesToEveryAdapter() {
        AdapterSettings settings = parser.parseJson("{\"adapter_names\": [\"A\", \"B\"], \"adapter_weights\": "
                + "{\"unet\": 0.2, \"text_encoder\": 0.4}}");
        PerComponent expected = new PerComponent(Map.of(Component.UNET, AdapterWeight.of(0.2),
                Component.TEXT_ENCODER, AdapterWeight.of(0.4)));
        assertEquals(expected, settings.weight("A").orElseThrow());
        assertEquals(expected, settings.weight("B").orElseThrow());
    }

    @Test
    void twoLists_withScaleAndEnabled() {
        AdapterSettings settings = parser.parseJson("{\"adapter_names\": [\"a\"], \"scale\": 0.5, "
                + "\"enabled\": false}");
        assertEquals(0.5, settings.callScale());
        assertFalse(settings.enabled());
    }

    @Test
    void twoLists_emptyNames() {
        assertEquals(AdapterSettings.none(), parser.parseJson("{\"adapter_names\": [], \"adapter_weights\": []}"));
    }

    @Test
    void twoLists_lengthMismatch_diffusersWording() {
        assertEquals("$.adapter_weights: Length of adapter names 2 is not equal to the length of the weights 3",
                error("{\"adapter_names\": [\"a\", \"b\"], \"adapter_weights\": [1, 2, 3]}"));
        assertEquals("$.adapter_weights: Length of adapter names 1 is not equal to the length of the weights 0",
                error("{\"adapter_names\": \"a\", \"adapter_weights\": []}"));
    }

    @Test
    void twoLists_errors() {
        assertEquals("$.adapter_weights: adapter_weights without adapter_names, expected both",
                error("{\"adapter_weights\": [1]}"));
        assertEquals("$: both adapters and adapter_names/adapter_weights are given, expected one form",
                error("{\"adapters\": {}, \"adapter_names\": []}"));
        assertEquals("$.adapter_names[1]: adapter name 'a' is listed twice, expected distinct names",
                error("{\"adapter_names\": [\"a\", \"a\"]}"));
        assertEquals("$.adapter_names[0]: expected an adapter name (a string), got a number (1.0)",
                error("{\"adapter_names\": [1]}"));
        assertEquals("$.adapter_names: expected an adapter name or a list of names, got null",
                error("{\"adapter_names\": null}"));
        assertEquals("$.adapter_weights[0]: expected a weight (a number, null or a component dict), got a list of 1",
                error("{\"adapter_names\": [\"a\"], \"adapter_weights\": [[1]]}"));
        assertEquals("$.adapter_names[0]: ' x' is not a valid adapter name, expected 1-128 letters, digits, '_', "
                + "'-' or '.', not starting with '.' or '-'", error("{\"adapter_names\": [\" x\"]}"));
    }

    // ------------------------------------------------------------------------------------------------- rejected

    @Test
    void unknownComponent_isAnError_listingComponents() {
        assertEquals("$.adapters.pixel.vae: unknown component 'vae', expected one of unet, text_encoder, "
                + "text_encoder_2 (Diffusers drops unknown components with a warning; Lorica rejects them)",
                error("{\"adapters\": {\"pixel\": {\"unet\": 1, \"vae\": 0.5}}}"));
    }

    @Test
    void unknownComponent_blockKeyAtTopLevel_hasHint() {
        assertEquals("$.adapters.a.down: unknown component 'down', expected one of unet, text_encoder, "
                + "text_encoder_2 (block weights go inside unet: {\"unet\": {\"down\": …}}) (Diffusers drops unknown "
                + "components with a warning; Lorica rejects them)", error("{\"adapters\": {\"a\": {\"down\": 1}}}"));
    }

    @Test
    void mid_asDict_isRejected() {
        assertEquals("$.adapters.a.unet.mid: expected a number or a one-element list for mid, got an object; the mid "
                + "block has one attention, so it takes no block dict (Diffusers fails on this with a TypeError, "
                + "diffusers#9184)", error("{\"adapters\": {\"a\": {\"unet\": {\"mid\": {\"block_0\": 1}}}}}"));
    }

    @Test
    void mid_listLongerThanOne_diffusersWording() {
        assertEquals("$.adapters.a.unet.mid: Expected 1 scales for mid, got 2.",
                error("{\"adapters\": {\"a\": {\"unet\": {\"mid\": [0.1, 0.2]}}}}"));
        assertEquals("$.adapters.a.unet.mid: Expected 1 scales for mid, got 0.",
                error("{\"adapters\": {\"a\": {\"unet\": {\"mid\": []}}}}"));
    }

    @Test
    void mid_nullOrString_isRejected() {
        assertEquals("$.adapters.a.unet.mid: expected a number or a one-element list for mid, got null",
                error("{\"adapters\": {\"a\": {\"unet\": {\"mid\": null}}}}"));
        assertEquals("$.adapters.a.unet.mid[0]: expected a number, got a string \"1\"",
                error("{\"adapters\": {\"a\": {\"unet\": {\"mid\": [\"1\"]}}}}"));
    }

    @Test
    void unetDict_unknownKey_isRejected() {
        assertEquals("$.adapters.a.unet.middle: unknown key 'middle' in a unet block dict, expected down, mid or up",
                error("{\"adapters\": {\"a\": {\"unet\": {\"middle\": 1}}}}"));
        assertEquals("$.adapters.a.unet['down.block_1.0']: unknown key 'down.block_1.0' in a unet block dict, "
                + "expected down, mid or up", error("{\"adapters\": {\"a\": {\"unet\": {\"down.block_1.0\": 1}}}}"));
    }

    @Test
    void blockKeys_mustBeBlockUnderscoreIndex() {
        for (String key : List.of("block1", "block_", "block_01", "block_-1", "Block_1", "block_1000", "block_1a",
                "blocks_1")) {
            String at = key.contains("-") ? "['" + key + "']" : "." + key;
            assertEquals("$.adapters.a.unet.up" + at + ": '" + key + "' is not a block key, expected block_<i> "
                    + "with i = 0, 1, 2, … (no leading zeros)",
                    error("{\"adapters\": {\"a\": {\"unet\": {\"up\": {\"" + key + "\": 1}}}}}"), key);
        }
    }

    @Test
    void blockValues_mustBeNumbersOrNonEmptyLists() {
        assertEquals("$.adapters.a.unet.up.block_1: empty list, expected one weight per attention of the block, or "
                + "one for all", error("{\"adapters\": {\"a\": {\"unet\": {\"up\": {\"block_1\": []}}}}}"));
        assertEquals("$.adapters.a.unet.up.block_1[1]: expected a number, got null",
                error("{\"adapters\": {\"a\": {\"unet\": {\"up\": {\"block_1\": [1, null]}}}}}"));
        assertEquals("$.adapters.a.unet.up.block_1: expected a number or a list of numbers, got an object",
                error("{\"adapters\": {\"a\": {\"unet\": {\"up\": {\"block_1\": {}}}}}}"));
        assertEquals("$.adapters.a.unet.down: expected a number or a block dict {\"block_<i>\": number | "
                + "[number, …]}, got a list of 1", error("{\"adapters\": {\"a\": {\"unet\": {\"down\": [1]}}}}"));
        assertEquals("$.adapters.a.unet.down: expected a number or a block dict {\"block_<i>\": number | "
                + "[number, …]}, got null", error("{\"adapters\": {\"a\": {\"unet\": {\"down\": null}}}}"));
    }

    @Test
    void textEncoderBlockDict_isRejected() {
        assertEquals("$.adapters.a.text_encoder: expected a number or null for a text encoder, got an object; block "
                + "weights exist only for unet (Diffusers would match a text-encoder dict against layer names and fall"
                + " back to 1.0)", error("{\"adapters\": {\"a\": {\"text_encoder\": {\"down\": 1}}}}"));
        assertEquals("$.adapters.a.text_encoder_2: expected a number or null for a text encoder, got a list of 2; "
                + "block weights exist only for unet (Diffusers would match a text-encoder dict against layer names "
                + "and fall back to 1.0)", error("{\"adapters\": {\"a\": {\"text_encoder_2\": [1, 2]}}}"));
        assertEquals("$.adapters.a.text_encoder: expected a number or null, got a boolean (true)",
                error("{\"adapters\": {\"a\": {\"text_encoder\": true}}}"));
    }

    @Test
    void nonFiniteNumbers_areRejected() {
        String outOfRange = "expected a finite number, got an infinite or out-of-range number";
        assertEquals("$.adapters.a: " + outOfRange, error("{\"adapters\": {\"a\": 1e400}}"));
        assertEquals("$.adapters.a.unet.down.block_1[0]: " + outOfRange,
                error("{\"adapters\": {\"a\": {\"unet\": {\"down\": {\"block_1\": [-1e999]}}}}}"));
        assertEquals("$.scale: " + outOfRange, error("{\"scale\": 1" + "0".repeat(400) + "}"));
        assertEquals("$.adapters.a: expected a finite number, got NaN", error("{\"adapters\": {\"a\": NaN}}"));
        assertEquals("$.adapters.a.text_encoder: " + outOfRange,
                error("{\"adapters\": {\"a\": {\"text_encoder\": -Infinity}}}"));
        assertEquals("$.adapters.a.unet.mid: expected a finite number, got NaN",
                error("{\"adapters\": {\"a\": {\"unet\": {\"mid\": NaN}}}}"));
        assertEquals("$.adapters.a.lbw[0]: " + outOfRange,
                error("{\"adapters\": {\"a\": {\"lbw\": [Infinity,1,1,1,1,1,1,1,1,1,1,1]}}}"));
        assertEquals("$.adapters.a.overrides[0].weight: expected a finite number, got NaN",
                error("{\"adapters\": {\"a\": {\"overrides\": [{\"regex\": \"x\", \"weight\": NaN}]}}}"));
    }

    @Test
    void duplicateKeys_areRejected() {
        assertEquals("$.adapters: duplicate key 'toy', expected each key once",
                error("{\"adapters\": {\"toy\": 0.5, \"toy\": 0.7}}"));
        assertEquals("$.adapters.a.unet: duplicate key 'down', expected each key once",
                error("{\"adapters\": {\"a\": {\"unet\": {\"down\": 1, \"down\": 2}}}}"));
        assertEquals("$: duplicate key 'scale', expected each key once", error("{\"scale\": 1, \"scale\": 2}"));
    }

    @Test
    void trailingGarbage_isRejected() {
        assertEquals("$: unexpected content after the end of the JSON value at line 1, column 4, expected nothing "
                + "more", error("{} {}"));
        assertTrue(error("{\"scale\": 1} xyz").startsWith("$: unexpected content after the end of the JSON value"),
                error("{\"scale\": 1} xyz"));
        assertTrue(error("{}}").startsWith("$: unexpected content after the end of the JSON value"), error("{}}"));
    }

    @Test
    void malformedJson_reportsLineAndColumn() {
        String message = error("{\"adapters\": {\"a\": 1,}}");
        assertTrue(message.startsWith("$: invalid JSON at line 1, column "), message);
        assertTrue(error("{\"adapters\": ").startsWith("$: invalid JSON at line 1"));
        assertTrue(error("{'scale': 1}").startsWith("$: invalid JSON at line 1, column 2"));
        assertTrue(error("{\"scale\": 1 // c\n}").startsWith("$: invalid JSON"));
        assertEquals("$: expected a JSON value, got nothing", error("   "));
    }

    @Test
    void topLevel_mustBeObjectWithKnownKeys() {
        assertEquals("$: expected a settings object like {\"adapters\": {\"name\": 0.8}}, got a list of 0",
                error("[]"));
        assertEquals("$.adapter: unknown key 'adapter', expected adapters, adapter_names, adapter_weights, scale or "
                + "enabled", error("{\"adapter\": {}}"));
        assertEquals("$.adapters: expected an object of adapter name -> weight, got a list of 1",
                error("{\"adapters\": [\"a\"]}"));
        assertEquals("$.scale: expected the per-call scale, a number, got a string \"0.5\"",
                error("{\"scale\": \"0.5\"}"));
        assertEquals("$.enabled: expected true or false, got a string \"yes\"", error("{\"enabled\": \"yes\"}"));
    }

    @Test
    void weights_ofWrongType_areRejected() {
        assertEquals("$.adapters.a: expected a weight: a number, null (= 1.0), a component dict, {\"lbw\": …} or "
                + "{\"weight\": …, \"overrides\": […]}, got a string \"0.5\"", error("{\"adapters\": {\"a\": \"0.5\"}}"));
        assertEquals("$.adapters.a.unet: expected a number, null or a block dict {\"down\": …, \"mid\": …, \"up\": …},"
                + " got a list of 2", error("{\"adapters\": {\"a\": {\"unet\": [1, 2]}}}"));
    }

    @Test
    void invalidAdapterName_isRejected() {
        assertEquals("$.adapters['-x']: '-x' is not a valid adapter name, expected 1-128 letters, digits, '_', '-' or"
                + " '.', not starting with '.' or '-'", error("{\"adapters\": {\"-x\": 1}}"));
        assertEquals("$.adapters['a b']: 'a b' is not a valid adapter name, expected 1-128 letters, digits, '_', '-' "
                + "or '.', not starting with '.' or '-'", error("{\"adapters\": {\"a b\": 1}}"));
    }

    @Test
    void lbw_errors() {
        assertEquals("$.adapters.a.lbw: unknown block-weight preset 'MIDDLE', expected one of NONE, ALL, INS, IND, "
                + "INALL, MIDD, OUTD, OUTS, OUTALL, ALL0.5 or 12, 17, 20 or 26 numbers",
                error("{\"adapters\": {\"a\": {\"lbw\": \"MIDDLE\"}}}"));
        assertEquals("$.adapters.a.lbw: expected 12 (SDXL), 17 (SD 1.5), 20 (SDXL all blocks) or 26 (SD 1.5 all "
                + "blocks) numbers, got 3", error("{\"adapters\": {\"a\": {\"lbw\": [1, 0, 1]}}}"));
        assertEquals("$.adapters.a.lbw: expected a preset name or a list of 12, 17, 20 or 26 numbers, got a string "
                + "\"1,0,0\"", error("{\"adapters\": {\"a\": {\"lbw\": \"1,0,0\"}}}"));
        assertEquals("$.adapters.a.lbw[2]: expected a number, got null",
                error("{\"adapters\": {\"a\": {\"lbw\": [1, 0, null, 1, 1, 1, 1, 1, 1, 1, 1, 1]}}}"));
        assertEquals("$.adapters.a.text_encoder: unknown key 'text_encoder' in a block-weight vector, expected lbw, te "
                + "or unet", error("{\"adapters\": {\"a\": {\"lbw\": \"ALL\", \"text_encoder\": 1}}}"));
        assertEquals("$.adapters.a.te: expected a number or null, got a string \"1\"",
                error("{\"adapters\": {\"a\": {\"lbw\": \"ALL\", \"te\": \"1\"}}}"));
    }

    @Test
    void overrides_errors() {
        assertEquals("$.adapters.a: 'weight' without 'overrides', expected {\"weight\": …, \"overrides\": "
                + "[{\"regex\": …, \"weight\": …}]}", error("{\"adapters\": {\"a\": {\"weight\": 0.5}}}"));
        assertEquals("$.adapters.a.overrides: expected a non-empty list of {\"component\"?: …, \"regex\": …, "
                + "\"weight\": …}, got a list of 0", error("{\"adapters\": {\"a\": {\"overrides\": []}}}"));
        assertEquals("$.adapters.a.overrides[0]: missing 'regex', expected {\"component\"?: …, \"regex\": …, "
                + "\"weight\": …}", error("{\"adapters\": {\"a\": {\"overrides\": [{\"weight\": 1}]}}}"));
        assertEquals("$.adapters.a.overrides[0]: missing 'weight', expected {\"component\"?: …, \"regex\": …, "
                + "\"weight\": …}", error("{\"adapters\": {\"a\": {\"overrides\": [{\"regex\": \"x\"}]}}}"));
        assertEquals("$.adapters.a.overrides[0].component: expected one of unet, text_encoder, text_encoder_2, got a "
                + "string \"vae\"", error("{\"adapters\": {\"a\": {\"overrides\": [{\"component\": \"vae\", "
                + "\"regex\": \"x\", \"weight\": 1}]}}}"));
        assertEquals("$.adapters.a.overrides[0].regex: regex '(' does not compile: Unclosed group",
                error("{\"adapters\": {\"a\": {\"overrides\": [{\"regex\": \"(\", \"weight\": 1}]}}}"));
        assertEquals("$.adapters.a.overrides[0].regex: expected a non-empty regular expression (a string), got a "
                + "string \"\"", error("{\"adapters\": {\"a\": {\"overrides\": [{\"regex\": \"\", \"weight\": 1}]}}}"));
        assertEquals("$.adapters.a.overrides[0].scale: unknown key 'scale' in an override, expected component, regex "
                + "or weight", error("{\"adapters\": {\"a\": {\"overrides\": [{\"regex\": \"x\", \"scale\": 1}]}}}"));
        assertEquals("$.adapters.a.weight: overrides cannot be nested, expected a number, null, a component dict or "
                + "{\"lbw\": …}", error("{\"adapters\": {\"a\": {\"weight\": {\"overrides\": [{\"regex\": \"x\", "
                + "\"weight\": 1}]}, \"overrides\": [{\"regex\": \"y\", \"weight\": 1}]}}}"));
        assertEquals("$.adapters.a.extra: unknown key 'extra' in a weight with overrides, expected weight or overrides",
                error("{\"adapters\": {\"a\": {\"overrides\": [{\"regex\": \"x\", \"weight\": 1}], \"extra\": 1}}}"));
    }

    @Test
    void tooDeep_isRejected() {
        String deep = "[".repeat(40) + "]".repeat(40);
        assertTrue(error("{\"adapters\": {\"a\": " + deep + "}}").contains("JSON nested deeper than 16 levels"));
    }

    @Test
    void tooLong_isRejected() {
        String text = "{\"adapters\": {}}" + " ".repeat(SettingsParser.MAX_LENGTH);
        assertEquals("settings text has " + text.length() + " chars, expected at most " + SettingsParser.MAX_LENGTH,
                error(text));
    }

    @Test
    void parse_detectsJson() {
        assertEquals(AdapterSettings.of(List.of("a"), List.of(AdapterWeight.of(0.5))),
                parser.parse("  {\"adapters\": {\"a\": 0.5}}"));
        assertEquals(AdapterSettings.none(), parser.parse(" \n "));
    }

    @Test
    void manyAdapters_keepOrder() {
        StringBuilder json = new StringBuilder("{\"adapters\": {");
        for (int i = 99; i >= 0; i--) {
            json.append('"').append("a").append(i).append("\": ").append(i / 100.0).append(i > 0 ? ", " : "}}");
        }
        AdapterSettings settings = parser.parseJson(json.toString());
        assertEquals(100, settings.names().size());
        assertEquals("a99", settings.names().get(0));
        assertEquals(Collections.nCopies(1, "a0"), settings.names().subList(99, 100));
    }
}
