package io.lorica.pipelines.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Checks {@link ClipTokenizer} against ids produced by Hugging Face transformers on the real CLIP vocabulary
 * ({@code src/test/resources/clip-tokenizer/cases.json}).
 */
class ClipTokenizerTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int BOS = 49406;
    private static final int EOS = 49407;

    private static Path resources;
    /** SD 1.5 / SDXL first tokenizer: pad token {@code <|endoftext|>}. */
    private static ClipTokenizer clip;
    /** SDXL second tokenizer: pad token {@code !}, loaded from a Diffusers-style folder. */
    private static ClipTokenizer sdxlSecond;

    private static ClipTokenizer bangInMemory;

    @TempDir
    static Path sdxlFolder;

    @BeforeAll
    static void loadTokenizers() throws IOException, URISyntaxException {
        resources = Path.of(ClipTokenizerTest.class.getResource("/clip-tokenizer/vocab.json").toURI()).getParent();
        clip = ClipTokenizer.load(resources);

        Files.copy(resources.resolve("vocab.json"), sdxlFolder.resolve("vocab.json"));
        Files.copy(resources.resolve("merges.txt"), sdxlFolder.resolve("merges.txt"));
        String token = "{\"content\": \"%s\", \"lstrip\": false, \"normalized\": true, \"rstrip\": false, \"single_word\": false}";
        Files.writeString(sdxlFolder.resolve("tokenizer_config.json"), "{\n"
                + "  \"add_prefix_space\": false,\n"
                + "  \"bos_token\": {\"__type\": \"AddedToken\", \"content\": \"<|startoftext|>\", \"lstrip\": false, \"normalized\": true, \"rstrip\": false, \"single_word\": false},\n"
                + "  \"clean_up_tokenization_spaces\": true,\n"
                + "  \"do_lower_case\": true,\n"
                + "  \"eos_token\": {\"__type\": \"AddedToken\", \"content\": \"<|endoftext|>\", \"lstrip\": false, \"normalized\": true, \"rstrip\": false, \"single_word\": false},\n"
                + "  \"errors\": \"replace\",\n"
                + "  \"model_max_length\": 77,\n"
                + "  \"pad_token\": \"!\",\n"
                + "  \"tokenizer_class\": \"CLIPTokenizer\",\n"
                + "  \"unk_token\": {\"__type\": \"AddedToken\", \"content\": \"<|endoftext|>\", \"lstrip\": false, \"normalized\": true, \"rstrip\": false, \"single_word\": false}\n"
                + "}\n");
        Files.writeString(sdxlFolder.resolve("special_tokens_map.json"), "{\n"
                + "  \"bos_token\": " + token.formatted("<|startoftext|>") + ",\n"
                + "  \"eos_token\": " + token.formatted("<|endoftext|>") + ",\n"
                + "  \"pad_token\": \"!\",\n"
                + "  \"unk_token\": " + token.formatted("<|endoftext|>") + "\n"
                + "}\n");
        sdxlSecond = ClipTokenizer.load(sdxlFolder);
    }

    static Stream<Arguments> cases() throws IOException, URISyntaxException {
        Path file = Path.of(ClipTokenizerTest.class.getResource("/clip-tokenizer/cases.json").toURI());
        JsonNode root = JSON.readTree(file.toFile());
        List<Arguments> cases = new ArrayList<>();
        for (JsonNode c : root.get("cases")) {
            cases.add(Arguments.of(c.get("prompt").textValue(), ints(c.get("ids")), ints(c.get("padded_eos_77")),
                    ints(c.get("padded_bang_77"))));
        }
        return cases.stream();
    }

    /** SDXL's second tokenizer through {@link ClipTokenizer#of} with the real vocabulary, as a generator builds it. */
    private static ClipTokenizer sdxlSecondInMemory() throws IOException {
        synchronized (ClipTokenizerTest.class) {
            if (bangInMemory == null) {
                Map<String, Integer> vocab = JSON.readValue(resources.resolve("vocab.json").toFile(),
                        new TypeReference<Map<String, Integer>>() { });
                List<String> lines = Files.readAllLines(resources.resolve("merges.txt"), StandardCharsets.UTF_8);
                bangInMemory = ClipTokenizer.of(vocab, lines.subList(1, lines.size()), 77, "!");
            }
            return bangInMemory;
        }
    }

    private static int[] ints(JsonNode array) {
        return JSON.convertValue(array, int[].class);
    }

    @ParameterizedTest(name = "[{index}] {0}")
    @MethodSource("cases")
    void encode_matchesTransformers(String prompt, int[] ids, int[] paddedEos, int[] paddedBang) {
        assertArrayEquals(ids, clip.encode(prompt));
    }

    @ParameterizedTest(name = "[{index}] {0}")
    @MethodSource("cases")
    void encodePadded_eosPadding_matchesTransformers(String prompt, int[] ids, int[] paddedEos, int[] paddedBang) {
        assertArrayEquals(paddedEos, clip.encodePadded(prompt));
    }

    @ParameterizedTest(name = "[{index}] {0}")
    @MethodSource("cases")
    void encodePadded_bangPaddingFromDiffusersFolder_matchesTransformers(String prompt, int[] ids, int[] paddedEos,
            int[] paddedBang) {
        assertArrayEquals(paddedBang, sdxlSecond.encodePadded(prompt));
    }

    @ParameterizedTest(name = "[{index}] {0}")
    @MethodSource("cases")
    void encodePadded_bangPaddingFromOf_matchesTransformers(String prompt, int[] ids, int[] paddedEos, int[] paddedBang)
            throws IOException {
        assertArrayEquals(paddedBang, sdxlSecondInMemory().encodePadded(prompt));
    }

    @ParameterizedTest(name = "[{index}] {0}")
    @MethodSource("cases")
    void encodePadded_eosPosition_isTheFirstEos(String prompt, int[] ids, int[] paddedEos, int[] paddedBang) {
        assertEquals(firstIndexOf(EOS, paddedEos), clip.eosPosition(clip.encodePadded(prompt)));
        assertEquals(firstIndexOf(EOS, paddedBang), sdxlSecond.eosPosition(sdxlSecond.encodePadded(prompt)));
    }

    private static int firstIndexOf(int id, int[] ids) {
        return IntStream.range(0, ids.length).filter(i -> ids[i] == id).findFirst().orElseThrow();
    }

    @Test
    void load_realVocabulary_hasClipSpecialIds() {
        assertEquals(BOS, clip.bosId());
        assertEquals(EOS, clip.eosId());
        assertEquals(EOS, clip.padId());
        assertEquals(EOS, clip.unkId());
        assertEquals(77, clip.maxLength());
        assertEquals(49408, clip.vocabSize());
        assertEquals(0, sdxlSecond.padId());
        assertEquals(EOS, sdxlSecond.eosId());
    }

    @Test
    void encodePadded_longPrompt_truncatesToExactly77EndingWithEos() {
        String prompt = "a highly detailed photograph of " + "a red cat and a blue dog, ".repeat(30);
        int[] full = clip.encode(prompt);
        assertTrue(full.length > 77, "the prompt must be longer than the model length");

        int[] padded = clip.encodePadded(prompt);
        assertEquals(77, padded.length);
        assertEquals(BOS, padded[0]);
        assertEquals(EOS, padded[76]);
        assertArrayEquals(Arrays.copyOfRange(full, 0, 76), Arrays.copyOfRange(padded, 0, 76));
        assertEquals(76, clip.eosPosition(padded));
        assertEquals(full.length - 2, clip.tokenCount(prompt));
    }

    @Test
    void encodePadded_exactly75Tokens_fitsWithoutTruncation() {
        String prompt = "cat ".repeat(75);
        int[] padded = clip.encodePadded(prompt);
        assertArrayEquals(clip.encode(prompt), padded);
        assertEquals(76, clip.eosPosition(padded));
    }

    @Test
    void tokenize_promptWeightSyntax_isPlainText() {
        // cases.json pins "(ultra-detailed:1.2)" against transformers; these pin the pieces of the same syntax.
        assertEquals(List.of("(</w>", "cat</w>", ":</w>", "1</w>", ".</w>", "2</w>", ")</w>"), clip.tokenize("(cat:1.2)"));
        assertEquals(List.of("<</w>", "lor", "a</w>", ":</w>", "x</w>", ":</w>", "0</w>", ".</w>", "5</w>", "></w>"),
                clip.tokenize("<lora:x:0.5>"));
        for (String prompt : List.of("(cat:1.2)", "<lora:x:0.5>", "((masterpiece)), [bad:0.8], <lora:pixel_art:0.75>")) {
            int[] ids = clip.encode(prompt);
            assertTrue(ids.length > 2, prompt);
            for (int i = 1; i < ids.length - 1; i++) {
                assertTrue(ids[i] != clip.unkId(), () -> prompt + " has an unknown token");
            }
        }
    }

    @Test
    void decode_thenEncode_givesTheSameIds() throws IOException, URISyntaxException {
        List<String> prompts = new ArrayList<>(List.of("(cat:1.2)", "<lora:x:0.5>", "a photo of an astronaut riding a horse"));
        cases().map(a -> (String) a.get()[0]).filter(p -> !p.contains("<|")).forEach(prompts::add); // decode skips specials
        for (String prompt : prompts) {
            int[] ids = clip.encode(prompt);
            String decoded = clip.decode(ids);
            assertArrayEquals(ids, clip.encode(decoded), () -> prompt + " -> " + decoded);
        }
        assertEquals("a photo of an astronaut", clip.decode(clip.encodePadded("A photo of an   astronaut")));
        assertEquals("( cat : 1 . 2 )", clip.decode(clip.encode("(cat:1.2)")));
    }

    @Test
    void tokenize_padTokenBang_isSplitOutAsSpecialToken() {
        assertEquals(List.of("!!!</w>"), clip.tokenize("!!!"));
        assertEquals(List.of("!", "!", "!"), sdxlSecond.tokenize("!!!"));
        assertArrayEquals(new int[] {BOS, 0, 0, 0, EOS}, sdxlSecond.encode("!!!"));
    }

    @Test
    void tokenize_specialTokensInText_mapToTheirIds() {
        assertArrayEquals(new int[] {BOS, BOS, 320, EOS, EOS}, clip.encode("<|startoftext|>a<|endoftext|>"));
        assertEquals(List.of("<|endoftext|>", "cat</w>"), clip.tokenize("<|endoftext|> cat"));
    }

    @Test
    void tokenize_caseAndWhitespace_areNormalised() {
        assertArrayEquals(clip.encode("a photo of a cat"), clip.encode("  A\tPHOTO\n\nof a\u00a0Cat \u3000"));
        assertEquals(List.of(), clip.tokenize(" \t\n "));
        assertArrayEquals(new int[] {BOS, EOS}, clip.encode(""));
    }

    @Test
    void tokenize_unpairedSurrogate_isReadAsReplacementCharacter() {
        assertEquals(clip.tokenize("a \uFFFD b"), clip.tokenize("a \uD800 b"));
    }

    @Test
    void encode_concurrentCallers_getTheSameIds() throws IOException, URISyntaxException {
        List<String> prompts = new ArrayList<>();
        cases().forEach(a -> prompts.add((String) a.get()[0]));
        List<int[]> expected = prompts.stream().map(clip::encode).toList();
        ClipTokenizer fresh = ClipTokenizer.load(resources);
        IntStream.range(0, 2000).parallel().forEach(i -> {
            int k = i % prompts.size();
            assertArrayEquals(expected.get(k), fresh.encode(prompts.get(k)));
        });
    }

    @Test
    void of_toyVocabulary_mergesByRankAndMapsUnknownToUnk() {
        Map<String, Integer> vocab = Map.ofEntries(Map.entry("a", 0), Map.entry("b", 1), Map.entry("c", 2),
                Map.entry("a</w>", 3), Map.entry("b</w>", 4), Map.entry("c</w>", 5), Map.entry("bc</w>", 6),
                Map.entry("ab", 7), Map.entry("abc</w>", 8), Map.entry("<|startoftext|>", 9),
                Map.entry("<|endoftext|>", 10));
        ClipTokenizer toy = ClipTokenizer.of(vocab, List.of("b c</w>", "a b", "a bc</w>"), 8, "<|endoftext|>");

        assertEquals(List.of("abc</w>"), toy.tokenize("ABC"));
        assertEquals(List.of("ab", "d</w>"), toy.tokenize("abd"));
        assertArrayEquals(new int[] {9, 8, 7, 10, 5, 10}, toy.encode("abc abd c"));
        assertArrayEquals(new int[] {9, 8, 8, 8, 8, 8, 8, 10}, toy.encodePadded("abc abc abc abc abc abc abc"));
        assertArrayEquals(new int[] {9, 8, 10, 10, 10, 10, 10, 10}, toy.encodePadded("abc"));
        assertEquals(11, toy.vocabSize());
        assertEquals(10, toy.unkId());
    }

    @Test
    void of_padTokenNotInVocabulary_namesIt() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ClipTokenizer.of(Map.of("<|startoftext|>", 0, "<|endoftext|>", 1), List.of(), 77, "<pad>"));
        assertTrue(e.getMessage().contains("pad_token '<pad>' is not in the vocabulary"), e.getMessage());
    }

    @Test
    void of_malformedMerge_namesIt() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ClipTokenizer.of(Map.of("<|startoftext|>", 0, "<|endoftext|>", 1), List.of("a b", "abc"), 77, "<|endoftext|>"));
        assertTrue(e.getMessage().contains("merge 1 'abc'"), e.getMessage());
    }

    @Test
    void of_maxLengthBelowTwo_isRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ClipTokenizer.of(Map.of("<|startoftext|>", 0, "<|endoftext|>", 1), List.of(), 1, "<|endoftext|>"));
        assertTrue(e.getMessage().contains("model_max_length 1"), e.getMessage());
    }

    @Test
    void load_missingVocab_namesTheFile(@TempDir Path folder) throws IOException {
        Files.copy(resources.resolve("merges.txt"), folder.resolve("merges.txt"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ClipTokenizer.load(folder));
        assertTrue(e.getMessage().contains("vocab.json"), e.getMessage());
    }

    @Test
    void load_missingMerges_namesTheFile(@TempDir Path folder) throws IOException {
        Files.copy(resources.resolve("vocab.json"), folder.resolve("vocab.json"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ClipTokenizer.load(folder));
        assertTrue(e.getMessage().contains("merges.txt"), e.getMessage());
    }

    @Test
    void load_missingFolder_namesIt(@TempDir Path parent) {
        Path folder = parent.resolve("tokenizer");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ClipTokenizer.load(folder));
        assertTrue(e.getMessage().contains(folder.toString()) && e.getMessage().contains("not a directory"), e.getMessage());
    }

    @Test
    void load_invalidVocabJson_namesTheFile(@TempDir Path folder) throws IOException {
        Files.writeString(folder.resolve("vocab.json"), "{\"a\": 1,");
        Files.writeString(folder.resolve("merges.txt"), "#version: 0.2\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ClipTokenizer.load(folder));
        assertTrue(e.getMessage().contains("vocab.json") && e.getMessage().contains("not valid JSON"), e.getMessage());
    }

    @Test
    void load_vocabIdNotAnInteger_namesTokenAndFile(@TempDir Path folder) throws IOException {
        Files.writeString(folder.resolve("vocab.json"), "{\"a\": \"one\"}");
        Files.writeString(folder.resolve("merges.txt"), "#version: 0.2\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ClipTokenizer.load(folder));
        assertTrue(e.getMessage().contains("vocab.json") && e.getMessage().contains("token 'a'"), e.getMessage());
    }

    @Test
    void load_mergesWithoutHeader_namesTheFile(@TempDir Path folder) throws IOException {
        Files.copy(resources.resolve("vocab.json"), folder.resolve("vocab.json"));
        Files.writeString(folder.resolve("merges.txt"), "i n\nt h\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ClipTokenizer.load(folder));
        assertTrue(e.getMessage().contains("merges.txt") && e.getMessage().contains("#version"), e.getMessage());
    }

    @Test
    void load_invalidModelMaxLength_namesTheConfigFile(@TempDir Path folder) throws IOException {
        Files.copy(resources.resolve("vocab.json"), folder.resolve("vocab.json"));
        Files.copy(resources.resolve("merges.txt"), folder.resolve("merges.txt"));
        Files.writeString(folder.resolve("tokenizer_config.json"), "{\"model_max_length\": 1000000000000000019884624838656}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ClipTokenizer.load(folder));
        assertTrue(e.getMessage().contains("tokenizer_config.json") && e.getMessage().contains("model_max_length"),
                e.getMessage());
    }

    @Test
    void load_configWithAddedTokensDecoderAndOtherLength_isHonoured(@TempDir Path folder) throws IOException {
        Files.copy(resources.resolve("vocab.json"), folder.resolve("vocab.json"));
        Files.copy(resources.resolve("merges.txt"), folder.resolve("merges.txt"));
        Files.writeString(folder.resolve("tokenizer_config.json"), "{\n"
                + "  \"added_tokens_decoder\": {\n"
                + "    \"49406\": {\"content\": \"<|startoftext|>\", \"lstrip\": false, \"normalized\": true, \"rstrip\": false, \"single_word\": false, \"special\": true},\n"
                + "    \"49407\": {\"content\": \"<|endoftext|>\", \"lstrip\": false, \"normalized\": true, \"rstrip\": false, \"single_word\": false, \"special\": true}\n"
                + "  },\n"
                + "  \"bos_token\": \"<|startoftext|>\", \"eos_token\": \"<|endoftext|>\", \"unk_token\": \"<|endoftext|>\",\n"
                + "  \"pad_token\": \"<|endoftext|>\", \"model_max_length\": 10\n"
                + "}\n");
        ClipTokenizer tokenizer = ClipTokenizer.load(folder);
        assertEquals(10, tokenizer.maxLength());
        assertArrayEquals(new int[] {BOS, 320, 2368, EOS, EOS, EOS, EOS, EOS, EOS, EOS}, tokenizer.encodePadded("a cat"));
        // normalized special tokens are matched after lower-casing
        assertEquals(List.of("<|endoftext|>"), tokenizer.tokenize("<|ENDOFTEXT|>"));
    }
}
