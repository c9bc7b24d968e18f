package io.lorica.policy.settings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.Component;
import io.lorica.api.policy.AdapterSettings;
import io.lorica.api.policy.AdapterWeight;
import io.lorica.api.policy.AdapterWeight.BlockVector;
import io.lorica.api.policy.AdapterWeight.PerComponent;
import io.lorica.policy.settings.PromptTags.Extraction;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import org.junit.jupiter.api.Test;

/**
 * A1111 prompt tags: every tag form, prompt tidying, escapes, repeats, unknown adapters and malformed tags.
 */
class PromptTagsTest {

    private static final BlockWeightPresets PRESETS = BlockWeightPresets.defaults();

    private static Extraction extract(String prompt) {
        return PromptTags.extract(prompt, PRESETS);
    }

    private static String error(String prompt) {
        return assertThrows(IllegalArgumentException.class, () -> extract(prompt)).getMessage();
    }

    private static List<Double> preset(String name) {
        return PRESETS.get(name).orElseThrow();
    }

    @Test
    void singleTag_weight() {
        Extraction extraction = extract("a cat <lora:toy:0.5> on a mat");
        assertEquals("a cat on a mat", extraction.prompt());
        assertEquals(AdapterSettings.of(List.of("toy"), List.of(AdapterWeight.of(0.5))), extraction.settings());
        assertEquals(List.of(), extraction.warnings());
    }

    @Test
    void nameOnly_isOne() {
        Extraction extraction = extract("<lora:toy> cat");
        assertSame(AdapterWeight.ONE, extraction.settings().weight("toy").orElseThrow());
        assertEquals("cat", extraction.prompt());
    }

    @Test
    void teAndUnet_givePerComponent() {
        PerComponent weight = (PerComponent) extract("<lora:toy:0.4:0.9>").settings().weight("toy").orElseThrow();
        assertEquals(Map.of(Component.TEXT_ENCODER, AdapterWeight.of(0.4), Component.TEXT_ENCODER_2,
                AdapterWeight.of(0.4), Component.UNET, AdapterWeight.of(0.9)), weight.weights());
    }

    @Test
    void namedTeAndUnet() {
        assertEquals(SettingsParser.textEncodersAndUnet(0.2, 0.6),
                extract("<lora:x:unet=0.6:te=0.2>").settings().weight("x").orElseThrow());
        // unet alone: A1111 gives te the same value
        assertEquals(AdapterWeight.of(0.6), extract("<lora:x:unet=0.6>").settings().weight("x").orElseThrow());
        assertEquals(AdapterWeight.of(0.2), extract("<lora:x:te=0.2>").settings().weight("x").orElseThrow());
        assertEquals(SettingsParser.textEncodersAndUnet(0.2, 0.6),
                extract("<lora:x:0.2:unet=0.6>").settings().weight("x").orElseThrow());
    }

    @Test
    void lbwPreset_forms() {
        assertEquals(new BlockVector(1, 1, preset("MIDD"), Optional.of("MIDD")),
                extract("<lora:x:1:lbw=MIDD>").settings().weight("x").orElseThrow());
        assertEquals(new BlockVector(1, 1, preset("MIDD"), Optional.of("MIDD")),
                extract("<lora:x:lbw=MIDD>").settings().weight("x").orElseThrow());
        assertEquals(new BlockVector(0.7, 0.7, preset("OUTALL"), Optional.of("OUTALL")),
                extract("<lora:x:0.7:lbw=OUTALL>").settings().weight("x").orElseThrow());
        assertEquals(new BlockVector(0.7, 0.3, preset("OUTALL"), Optional.of("OUTALL")),
                extract("<lora:x:0.7:0.3:lbw=OUTALL>").settings().weight("x").orElseThrow());
        assertEquals(new BlockVector(0.7, 0.3, preset("OUTALL"), Optional.of("OUTALL")),
                extract("<lora:x:lbw=OUTALL:te=0.7:unet=0.3>").settings().weight("x").orElseThrow());
    }

    @Test
    void lbwPreset_olderPositionalSyntax() {
        assertEquals(new BlockVector(0.8, 0.8, preset("INS"), Optional.of("INS")),
                extract("<lora:x:0.8:INS>").settings().weight("x").orElseThrow());
        BlockVector literal = (BlockVector) extract("<lora:x:1:0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0>").settings()
                .weight("x").orElseThrow();
        assertEquals(17, literal.ratios().size());
        assertEquals(1.0, literal.ratios().get(2));
    }

    @Test
    void lbwLiteral_a1111Commas_orSpaces() {
        BlockVector commas = (BlockVector) extract("<lora:x:1:lbw=1,0,0,0,1,1,1,1,1,1,1,1,0,0,0,0,0>").settings()
                .weight("x").orElseThrow();
        assertEquals(preset("MIDD"), commas.ratios());
        assertEquals(Optional.empty(), commas.preset());
        BlockVector spaces = (BlockVector) extract("<lora:x:lbw=1 0 0 0 0 0 1 1 1 1 1 1>").settings().weight("x")
                .orElseThrow();
        assertEquals(12, spaces.ratios().size());
    }

    @Test
    void configuredPreset() {
        BlockWeightPresets presets = PRESETS.withOverrides(Map.of("XL_OUT", "1,0,0,0,0,0,1,1,1,1,1,1"));
        BlockVector vector = (BlockVector) PromptTags.extract("<lora:x:lbw=XL_OUT>", presets).settings().weight("x")
                .orElseThrow();
        assertEquals(Optional.of("XL_OUT"), vector.preset());
    }

    @Test
    void severalTags_keepOrder_andTidyWhitespace() {
        Extraction extraction = extract("<lora:a:0.1>  masterpiece,  <lora:b:0.2>\tportrait <lora:c>");
        assertEquals("masterpiece, portrait", extraction.prompt());
        assertEquals(List.of("a", "b", "c"), extraction.settings().names());
    }

    @Test
    void tagsOnly_giveEmptyPrompt() {
        Extraction extraction = extract("  <lora:a><lora:b:2>  ");
        assertEquals("", extraction.prompt());
        assertEquals(List.of("a", "b"), extraction.settings().names());
    }

    @Test
    void tagsAtStartAndEnd() {
        assertEquals("x y", extract("<lora:a:1>x y<lora:b:1>").prompt());
        assertEquals("x y", extract("<lora:a:1> x y <lora:b:1>").prompt());
    }

    @Test
    void noTags_promptTidied_noAdapters() {
        Extraction extraction = extract("  a   photo \t of  ");
        assertEquals("a photo of", extraction.prompt());
        assertEquals(AdapterSettings.none(), extraction.settings());
        assertEquals("", extract("").prompt());
    }

    @Test
    void lineBreaks_areKept_spacesAroundThemDropped() {
        assertEquals("line one\nline two", extract("line one <lora:a>  \n  line two").prompt());
    }

    @Test
    void nestedAttentionBrackets_areLeftAlone() {
        Extraction extraction = extract("((best quality:1.2)), [<lora:a:0.5> background], (<lora:b:0.8>:1.1)");
        assertEquals("((best quality:1.2)), [ background], (:1.1)", extraction.prompt());
        assertEquals(List.of("a", "b"), extraction.settings().names());
    }

    @Test
    void otherAngleBrackets_areText() {
        Extraction extraction = extract("a < b > c <hypernet:foo:1> <LORA:x:1> <lora:a>");
        assertEquals("a < b > c <hypernet:foo:1> <LORA:x:1>", extraction.prompt());
        assertEquals(List.of("a"), extraction.settings().names());
    }

    @Test
    void escapedTag_isLiteralText() {
        Extraction extraction = extract("write \\<lora:x:1> literally <lora:y:0.5>");
        assertEquals("write <lora:x:1> literally", extraction.prompt());
        assertEquals(List.of("y"), extraction.settings().names());
    }

    @Test
    void escapedMalformedTag_isNotAnError() {
        assertEquals("<lora:x:1", extract("\\<lora:x:1").prompt());
        assertEquals("\\(not a tag\\) <lora:", extract("\\(not a tag\\) \\<lora:").prompt());
    }

    @Test
    void unicodePrompt_andPositionsInCodePoints() {
        Extraction extraction = extract("猫 😀 <lora:toy:0.5> ドレス");
        assertEquals("猫 😀 ドレス", extraction.prompt());
        // the emoji is two chars but one code point: the tag starts at code point 4
        assertEquals("malformed tag '<lora:toy:x>' at position 4: 'x' is not a number, expected a finite number like "
                + "0.8", error("猫 😀 <lora:toy:x> ドレス"));
    }

    @Test
    void sameAdapterTwice_laterWins_withWarning() {
        Extraction extraction = extract("<lora:a:0.5> <lora:b> x <lora:a:0.8>");
        assertEquals(List.of("b", "a"), extraction.settings().names());
        assertEquals(AdapterWeight.of(0.8), extraction.settings().weight("a").orElseThrow());
        assertEquals(List.of("adapter 'a' is tagged more than once: '<lora:a:0.8>' at position 24 replaces "
                + "'<lora:a:0.5>' at position 0"), extraction.warnings());
        assertEquals("x", extraction.prompt());
    }

    @Test
    void whitespaceInsideTag_isIgnored() {
        assertEquals(SettingsParser.textEncodersAndUnet(0.5, 1),
                extract("<lora: toy : 0.5 : 1 >").settings().weight("toy").orElseThrow());
    }

    // ------------------------------------------------------------------------------------------------ malformed

    @Test
    void unterminatedTag() {
        assertEquals("malformed tag '<lora:x:1 and more' at position 2: no closing '>'", error("a <lora:x:1 and more"));
    }

    @Test
    void nestedTag() {
        assertEquals("malformed tag '<lora:a:' at position 0: a '<' comes before the closing '>'; tags cannot be "
                + "nested", error("<lora:a:<lora:b:1>>"));
        assertEquals("malformed tag '<lora:a:1 ' at position 0: a '<' comes before the closing '>'; tags cannot be "
                + "nested", error("<lora:a:1 <lora:b:1>"));
    }

    @Test
    void emptyOrInvalidName() {
        assertEquals("malformed tag '<lora:>' at position 0: the adapter name is empty", error("<lora:>"));
        assertEquals("malformed tag '<lora::1>' at position 0: the adapter name is empty", error("<lora::1>"));
        assertEquals("malformed tag '<lora:my lora:1>' at position 0: 'my lora' is not a valid adapter name, expected "
                + "1-128 letters, digits, '_', '-' or '.', not starting with '.' or '-'", error("<lora:my lora:1>"));
    }

    @Test
    void badNumbers() {
        assertEquals("malformed tag '<lora:x:abc>' at position 0: 'abc' is not a number, expected a finite number like "
                + "0.8", error("<lora:x:abc>"));
        assertEquals("malformed tag '<lora:x:1e999>' at position 0: '1e999' is out of range, expected a finite number "
                + "like 0.8", error("<lora:x:1e999>"));
        assertEquals("malformed tag '<lora:x:1:0.5x>' at position 0: '0.5x' is not a number, expected a finite number "
                + "like 0.8", error("<lora:x:1:0.5x>"));
        assertEquals("malformed tag '<lora:x:te=nan>' at position 0: 'nan' is not a number, expected a finite number "
                + "like 0.8", error("<lora:x:te=nan>"));
        assertEquals("malformed tag '<lora:x:1:>' at position 0: empty value after ':'", error("<lora:x:1:>"));
    }

    @Test
    void tooManyValues_andUnsupportedOptions() {
        assertEquals("malformed tag '<lora:x:1:1:8>' at position 0: too many values, expected <lora:name>, "
                + "<lora:name:w>, <lora:name:te:unet>, optionally with :lbw=preset-or-vector", error("<lora:x:1:1:8>"));
        assertEquals("malformed tag '<lora:x:1:lbw=ALL:stop=10>' at position 0: unsupported option 'stop=', expected "
                + "te=, unet= or lbw=", error("<lora:x:1:lbw=ALL:stop=10>"));
        assertEquals("malformed tag '<lora:x:1:te=0.5>' at position 0: the text-encoder weight is given twice",
                error("<lora:x:1:te=0.5>"));
        assertEquals("malformed tag '<lora:x:1:2:unet=3>' at position 0: the unet weight is given twice",
                error("<lora:x:1:2:unet=3>"));
        assertEquals("malformed tag '<lora:x:1:MIDD:lbw=ALL>' at position 0: the block weights are given twice",
                error("<lora:x:1:MIDD:lbw=ALL>"));
    }

    @Test
    void unknownPreset_andBadVectors() {
        assertEquals("malformed tag '<lora:x:1:lbw=MIDDLE>' at position 0: unknown block-weight preset 'MIDDLE', "
                + "expected one of NONE, ALL, INS, IND, INALL, MIDD, OUTD, OUTS, OUTALL, ALL0.5 or 12, 17, 20 or 26 "
                + "numbers", error("<lora:x:1:lbw=MIDDLE>"));
        assertEquals("malformed tag '<lora:x:1:lbw=1,0,1>' at position 0: block-weight vector: expected 12 (SDXL), 17 "
                + "(SD 1.5), 20 (SDXL all blocks) or 26 (SD 1.5 all blocks) numbers, got 3",
                error("<lora:x:1:lbw=1,0,1>"));
        assertTrue(error("<lora:x:1:lbw=1,1,1,1,1,1,1,1,R,R,R,R,R,R,R,R,R>").endsWith(
                "value 9 'R' is not a number (A1111's random and dynamic values R, U and X are not supported), "
                        + "expected a finite number"));
    }

    @Test
    void longTag_isQuotedShortened() {
        String name = "n".repeat(100);
        String message = error("<lora:" + name + ":x>");
        assertTrue(message.startsWith("malformed tag '<lora:" + "n".repeat(74) + "…' at position 0: 'x' is not a "
                + "number"), message);
    }

    // ------------------------------------------------------------------------------------------- known adapters

    @Test
    void knownAdapters_pass() {
        Extraction extraction = PromptTags.extract("<lora:a:0.5> x <lora:b>", PRESETS, Set.of("a", "b", "c"));
        assertEquals(List.of("a", "b"), extraction.settings().names());
    }

    @Test
    void unknownAdapters_listedWithTheKnownOnes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PromptTags.extract(
                "<lora:a:0.5> <lora:zz:1> <lora:yy> <lora:zz:0.2>", PRESETS, Set.of("c", "a", "b")));
        assertEquals("unknown adapter(s) in the prompt: 'zz' (tag '<lora:zz:1>' at position 13), 'yy' (tag "
                + "'<lora:yy>' at position 25); known adapters: a, b, c", e.getMessage());
    }

    @Test
    void unknownAdapters_noneKnown() {
        assertEquals("unknown adapter(s) in the prompt: 'a' (tag '<lora:a>' at position 0); known adapters: (none)",
                assertThrows(IllegalArgumentException.class,
                        () -> PromptTags.extract("<lora:a>", PRESETS, Set.of())).getMessage());
    }

    @Test
    void nullArguments_areRejected() {
        assertThrows(IllegalArgumentException.class, () -> PromptTags.extract(null, PRESETS));
        assertThrows(IllegalArgumentException.class, () -> PromptTags.extract("x", null));
    }
}
