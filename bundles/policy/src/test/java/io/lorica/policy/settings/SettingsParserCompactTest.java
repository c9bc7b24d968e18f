package io.lorica.policy.settings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.Component;
import io.lorica.api.policy.AdapterSettings;
import io.lorica.api.policy.AdapterWeight;
import io.lorica.api.policy.AdapterWeight.BlockVector;
import io.lorica.api.policy.AdapterWeight.PerComponent;
import io.lorica.api.policy.AdapterWeight.UnetBlocks;
import io.lorica.api.policy.AdapterWeight.WithOverrides;

import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.junit.jupiter.api.Test;

/**
 * The compact text form of {@link SettingsParser}: every grammar form and every rejection with its message.
 */
class SettingsParserCompactTest {

    private final SettingsParser parser = new SettingsParser(BlockWeightPresets.defaults());

    private String error(String text) {
        return assertThrows(IllegalArgumentException.class, () -> parser.parseCompact(text)).getMessage();
    }

    private static List<Double> preset(String name) {
        return BlockWeightPresets.defaults().get(name).orElseThrow();
    }

    @Test
    void briefExample() {
        AdapterSettings settings = parser.parseCompact(
                "toy:0.5,pixel:{\"unet\":{\"down\":0.9}},style:lbw=MIDD;scale=0.8;enabled=false");
        assertEquals(List.of("toy", "pixel", "style"), settings.names());
        assertEquals(AdapterWeight.of(0.5), settings.weight("toy").orElseThrow());
        assertEquals(new PerComponent(Map.of(Component.UNET, new UnetBlocks(Optional.of(AdapterWeight.of(0.9)),
                Optional.empty(), Optional.empty()))), settings.weight("pixel").orElseThrow());
        assertEquals(new BlockVector(1, 1, preset("MIDD"), Optional.of("MIDD")), settings.weight("style").orElseThrow());
        assertEquals(0.8, settings.callScale());
        assertFalse(settings.enabled());
    }

    @Test
    void nameAlone_isOne() {
        AdapterSettings settings = parser.parseCompact("a,b.v1_x-2");
        assertSame(AdapterWeight.ONE, settings.weight("a").orElseThrow());
        assertSame(AdapterWeight.ONE, settings.weight("b.v1_x-2").orElseThrow());
    }

    @Test
    void twoNumbers_areTextEncodersAndUnet() {
        PerComponent weight = (PerComponent) parser.parseCompact("a:0.3:0.9").weight("a").orElseThrow();
        assertEquals(Map.of(Component.TEXT_ENCODER, AdapterWeight.of(0.3), Component.TEXT_ENCODER_2,
                AdapterWeight.of(0.3), Component.UNET, AdapterWeight.of(0.9)), weight.weights());
    }

    @Test
    void lbw_withWeights() {
        assertEquals(new BlockVector(0.5, 0.5, preset("OUTS"), Optional.of("OUTS")),
                parser.parseCompact("a:0.5:lbw=OUTS").weight("a").orElseThrow());
        assertEquals(new BlockVector(0.5, 0.8, preset("OUTS"), Optional.of("OUTS")),
                parser.parseCompact("a:0.5:0.8:lbw=OUTS").weight("a").orElseThrow());
        assertEquals(new BlockVector(0.5, 0.8, preset("ALL0.5"), Optional.of("ALL0.5")),
                parser.parseCompact("a : 0.5 : 0.8 : lbw = ALL0.5").weight("a").orElseThrow());
    }

    @Test
    void lbw_literalVector_spaceSeparated() {
        BlockVector vector = (BlockVector) parser.parseCompact("a:lbw=1 0 0 0 0 0 1 1 1 1 1 1").weight("a")
                .orElseThrow();
        assertEquals(List.of(1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0), vector.ratios());
        assertEquals(Optional.empty(), vector.preset());
    }

    @Test
    void json_withCommasSemicolonsAndBracesInStrings() {
        AdapterSettings settings = parser.parseCompact("a:{\"overrides\":[{\"regex\":\"x{2},y;z\\\"}\",\"weight\":0.1}]},"
                + "b:2;scale=0.5");
        assertEquals(List.of("a", "b"), settings.names());
        assertEquals("x{2},y;z\"}", ((WithOverrides) settings.weight("a").orElseThrow()).overrides().get(0).regex());
        assertEquals(0.5, settings.callScale());
    }

    @Test
    void json_lbwAndTwoListsStyleDictInEntry() {
        assertEquals(new BlockVector(1, 0.5, preset("INS"), Optional.of("INS")),
                parser.parseCompact("a:{\"lbw\":\"INS\",\"unet\":0.5}").weight("a").orElseThrow());
    }

    @Test
    void whitespace_isIgnoredAroundTokens() {
        AdapterSettings settings = parser.parseCompact("  a : 0.5 ,  b ,c:{ \"unet\" : 1 } ; scale = 2 ; enabled = "
                + "true ");
        assertEquals(List.of("a", "b", "c"), settings.names());
        assertEquals(2.0, settings.callScale());
        assertTrue(settings.enabled());
    }

    @Test
    void emptyAndOptionsOnly() {
        assertEquals(AdapterSettings.none(), parser.parseCompact(""));
        assertEquals(AdapterSettings.none(), parser.parseCompact("   "));
        assertEquals(AdapterSettings.none().withCallScale(0.5), parser.parseCompact(";scale=0.5"));
        assertEquals(AdapterSettings.none().withEnabled(false), parser.parseCompact(" ; enabled=false"));
    }

    @Test
    void numberForms() {
        assertEquals(AdapterWeight.of(0.5), parser.parseCompact("a:.5").weight("a").orElseThrow());
        assertEquals(AdapterWeight.of(-1.0), parser.parseCompact("a:-1").weight("a").orElseThrow());
        assertEquals(AdapterWeight.of(1e-3), parser.parseCompact("a:1E-3").weight("a").orElseThrow());
        assertEquals(AdapterWeight.of(2.0), parser.parseCompact("a:+2.").weight("a").orElseThrow());
    }

    @Test
    void parse_detectsCompact() {
        assertEquals(AdapterSettings.of(List.of("a"), List.of(AdapterWeight.of(0.5))), parser.parse("a:0.5"));
    }

    @Test
    void longestValidName() {
        String name = "n" + "x".repeat(127);
        assertEquals(List.of(name), parser.parseCompact(name + ":1").names());
    }

    // ------------------------------------------------------------------------------------------------- rejected

    @Test
    void emptyEntries_areRejected() {
        assertEquals("compact settings: entry 2 is empty, expected name or name:weight", error("a,,b"));
        assertEquals("compact settings: entry 2 is empty, expected name or name:weight", error("a,"));
        assertEquals("compact settings: entry 1 is empty, expected name or name:weight", error(",a"));
        assertEquals("compact settings: entry 2 is empty, expected name or name:weight", error("a, ;scale=1"));
    }

    @Test
    void invalidNames_areRejected() {
        for (String name : List.of("-a", ".a", "a b", "a/b", "é", "x".repeat(129))) {
            assertEquals("compact settings: entry 1: '" + name + "' is not a valid adapter name, expected 1-128 "
                    + "letters, digits, '_', '-' or '.', not starting with '.' or '-'", error(name + ":1"), name);
        }
    }

    @Test
    void duplicateNames_areRejected() {
        assertEquals("compact settings: entry 3 'a': adapter 'a' is given twice, expected each adapter once",
                error("a:1,b,a:0.5"));
    }

    @Test
    void badNumbers_areRejected() {
        assertEquals("compact settings: entry 1 'a': 'abc' is not a number, expected a finite number (e.g. 0.5), "
                + "number:number, [te[:unet]:]lbw=vector or {json}", error("a:abc"));
        assertEquals("compact settings: entry 1 'a': 'NaN' is not a number, expected a finite number (e.g. 0.5), "
                + "number:number, [te[:unet]:]lbw=vector or {json}", error("a:NaN"));
        assertEquals("compact settings: entry 1 'a': '1e999' is out of range, expected a finite number (e.g. 0.5), "
                + "number:number, [te[:unet]:]lbw=vector or {json}", error("a:1e999"));
        assertEquals("compact settings: entry 1 'a': 'x' is not a number, expected a finite number (e.g. 0.5), "
                + "number:number, [te[:unet]:]lbw=vector or {json}", error("a:0.5:x"));
    }

    @Test
    void badShapes_areRejected() {
        assertEquals("compact settings: entry 1 'a': nothing after ':', expected a weight", error("a:"));
        assertEquals("compact settings: entry 1 'a': empty part, expected a number or lbw=…", error("a:1:"));
        assertEquals("compact settings: entry 1 'a': too many parts, expected number, number:number, "
                + "[te[:unet]:]lbw=vector or {json}", error("a:1:2:3"));
        assertEquals("compact settings: entry 1 'a': 'lbw=' must be the last part, expected [te[:unet]:]lbw=vector",
                error("a:lbw=ALL:1"));
    }

    @Test
    void lbw_errors() {
        assertEquals("compact settings: entry 1 'a': unknown block-weight preset 'MID', expected one of NONE, ALL, "
                + "INS, IND, INALL, MIDD, OUTD, OUTS, OUTALL, ALL0.5 or 12, 17, 20 or 26 numbers", error("a:lbw=MID"));
        assertEquals("compact settings: entry 1 'a': block-weight vector: expected 12 (SDXL), 17 (SD 1.5), 20 (SDXL "
                + "all blocks) or 26 (SD 1.5 all blocks) numbers, got 1 (in the compact form the numbers of a vector "
                + "are separated by spaces; ',' separates entries)", error("a:lbw=1,0,0,0,0,0,1,1,1,1,1,1"));
        assertTrue(error("a:lbw=").startsWith("compact settings: entry 1 'a': empty block-weight value, expected a "
                + "preset name (NONE, ALL,"), error("a:lbw="));
    }

    @Test
    void json_errorsCarryEntryAndPath() {
        assertEquals("compact settings: entry 2 'b': $.unet.mid: Expected 1 scales for mid, got 2.",
                error("a,b:{\"unet\":{\"mid\":[1,2]}}"));
        assertEquals("compact settings: entry 1 'a': $.foo: unknown component 'foo', expected one of unet, "
                + "text_encoder, text_encoder_2 (Diffusers drops unknown components with a warning; Lorica rejects "
                + "them)", error("a:{\"foo\":1}"));
        assertTrue(error("a:{\"unet\":1}x").startsWith("compact settings: entry 1 'a': $: unexpected content after the"
                + " end of the JSON value"), error("a:{\"unet\":1}x"));
        assertEquals("compact settings: entry 1 'a': $: duplicate key 'unet', expected each key once",
                error("a:{\"unet\":1,\"unet\":2}"));
    }

    @Test
    void unbalancedJson_isRejected() {
        assertEquals("compact settings: unterminated JSON in entry 1, expected a closing '}'", error("a:{\"unet\":1"));
        assertEquals("compact settings: unterminated JSON in entry 2, expected a closing '\"'",
                error("b,a:{\"unet"));
        assertEquals("compact settings: unbalanced '}' at offset 3", error("a:1},b"));
    }

    @Test
    void options_errors() {
        assertEquals("compact settings: empty option after ';', expected scale=number or enabled=true|false",
                error("a;"));
        assertEquals("compact settings: empty option after ';', expected scale=number or enabled=true|false",
                error("a;scale=1;;enabled=true"));
        assertEquals("compact settings: unknown option 'weight', expected scale or enabled", error("a;weight=1"));
        assertEquals("compact settings: option 'scale' has no '=', expected scale=number or enabled=true|false",
                error("a;scale"));
        assertEquals("compact settings: option 'scale' is given twice", error("a;scale=1;scale=2"));
        assertEquals("compact settings: option 'enabled' is given twice", error("a;enabled=true;enabled=false"));
        assertEquals("compact settings: option enabled: 'yes' is not a boolean, expected true or false",
                error("a;enabled=yes"));
        assertEquals("compact settings: option scale: 'x' is not a number, expected e.g. 0.5, -1, 1e-3",
                error("a;scale=x"));
        assertEquals("compact settings: option scale: '1e400' is out of range, expected a finite number",
                error("a;scale=1e400"));
        assertEquals("compact settings: entry 1: 'scale=1' is not a valid adapter name, expected 1-128 letters, "
                + "digits, '_', '-' or '.', not starting with '.' or '-'", error("scale=1"));
    }

    @Test
    void manyEntries() {
        String text = String.join(",", Collections.nCopies(1, "a")) + ",b:0.1,c:0.2:0.3,d:lbw=NONE";
        assertEquals(4, parser.parseCompact(text).names().size());
    }
}
