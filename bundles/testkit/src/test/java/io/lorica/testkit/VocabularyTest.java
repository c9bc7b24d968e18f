package io.lorica.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.ModelFamily;
import io.lorica.testkit.internal.ClipVocabulary;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/** The tokenizer folders hold a small CLIP vocabulary in the real format and id layout. */
class VocabularyTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void vocabularyHasClipsIdLayout() throws IOException {
        WrittenPipeline pipeline = TinyPipelines.of(ModelFamily.SDXL);
        Path tokenizer = pipeline.directory().resolve("tokenizer");
        JsonNode vocab = JSON.readTree(tokenizer.resolve("vocab.json").toFile());
        List<String> byId = new ArrayList<>();
        for (Map.Entry<String, JsonNode> entry : vocab.properties()) {
            assertEquals(byId.size(), entry.getValue().asInt(), "ids are dense and in file order: " + entry.getKey());
            byId.add(entry.getKey());
        }
        assertEquals(pipeline.vocabularySize(), byId.size());

        // bytes_to_unicode in CLIP's order: ! .. ~, ¡ .. ¬, ® .. ÿ, then the other bytes as U+0100 ..
        List<String> bytes = new ArrayList<>();
        for (int c = '!'; c <= '~'; c++) {
            bytes.add(String.valueOf((char) c));
        }
        for (int c = 0xA1; c <= 0xAC; c++) {
            bytes.add(String.valueOf((char) c));
        }
        for (int c = 0xAE; c <= 0xFF; c++) {
            bytes.add(String.valueOf((char) c));
        }
        for (int n = 0; bytes.size() < 256; n++) {
            bytes.add(String.valueOf((char) (256 + n)));
        }
        assertEquals("!", byId.get(0));
        assertEquals("\u0120", byId.get(bytes.indexOf("\u0120")), "the space byte is U+0120");
        assertEquals(bytes, byId.subList(0, 256));
        for (int i = 0; i < 256; i++) {
            assertEquals(bytes.get(i) + "</w>", byId.get(256 + i));
        }

        List<String> merges = Files.readAllLines(tokenizer.resolve("merges.txt"), StandardCharsets.UTF_8);
        assertEquals("#version: 0.2", merges.get(0));
        assertEquals(PipelineSpec.DEFAULT_MERGES, merges.size() - 1);
        for (int i = 1; i < merges.size(); i++) {
            String[] pair = merges.get(i).split(" ");
            assertEquals(2, pair.length, merges.get(i));
            assertEquals(pair[0] + pair[1], byId.get(511 + i), "merge " + i + " is token " + (511 + i));
            assertTrue(vocab.has(pair[0]) && vocab.has(pair[1]), "merge parts are earlier tokens: " + merges.get(i));
            assertTrue(vocab.get(pair[0]).asInt() < 511 + i && vocab.get(pair[1]).asInt() < 511 + i);
        }
        assertEquals("<|startoftext|>", byId.get(byId.size() - 2));
        assertEquals("<|endoftext|>", byId.get(byId.size() - 1));
        assertEquals(pipeline.bosTokenId(), vocab.get("<|startoftext|>").asInt());
        assertEquals(pipeline.eosTokenId(), vocab.get("<|endoftext|>").asInt());
        assertTrue(vocab.has("photo</w>") && vocab.has("a</w>") && vocab.has("of</w>"), "common words are tokens");

        // tokenizer_2 is identical but pads with "!"
        Path tokenizer2 = pipeline.directory().resolve("tokenizer_2");
        assertEquals(Files.readString(tokenizer.resolve("vocab.json")), Files.readString(tokenizer2.resolve("vocab.json")));
        assertEquals(Files.readString(tokenizer.resolve("merges.txt")), Files.readString(tokenizer2.resolve("merges.txt")));
        JsonNode config = JSON.readTree(tokenizer.resolve("tokenizer_config.json").toFile());
        assertEquals(77, config.get("model_max_length").asInt());
        assertEquals("<|endoftext|>", config.get("pad_token").asText());
        assertEquals("CLIPTokenizer", config.get("tokenizer_class").asText());
        JsonNode special = JSON.readTree(tokenizer.resolve("special_tokens_map.json").toFile());
        assertEquals("<|startoftext|>", special.get("bos_token").asText());
        assertEquals("<|endoftext|>", special.get("eos_token").asText());
        assertEquals("<|endoftext|>", special.get("unk_token").asText());
        assertEquals("<|endoftext|>", special.get("pad_token").asText());
        assertEquals("!", JSON.readTree(tokenizer2.resolve("special_tokens_map.json").toFile()).get("pad_token").asText());
        assertEquals("!", JSON.readTree(tokenizer2.resolve("tokenizer_config.json").toFile()).get("pad_token").asText());
    }

    @Test
    void promptsTokenizeIntoWords() {
        ClipVocabulary vocabulary = ClipVocabulary.train(PipelineSpec.DEFAULT_MERGES);
        assertEquals(List.of(vocabulary.id("a</w>"), vocabulary.id("cat</w>")), vocabulary.encode("a cat"));
        assertEquals(List.of(vocabulary.id("a</w>"), vocabulary.id("cat</w>")), vocabulary.encode("  A   CAT "));
        List<Integer> astronaut = vocabulary.encode("a photo of an astronaut riding a horse on mars");
        assertTrue(astronaut.size() < 20, "merged into few tokens: " + astronaut.size());
        assertEquals(vocabulary.id("photo</w>"), astronaut.get(1));
        List<Integer> hacker = vocabulary.encode("toy_face of a hacker with a hoodie, pixel art");
        assertTrue(hacker.contains(vocabulary.id("_</w>")), "'_' is a word of its own");
        assertTrue(hacker.contains(vocabulary.id(",</w>")), "',' is a word of its own");
        for (int id : hacker) {
            assertTrue(id >= 0 && id < vocabulary.bos(), "every id is a vocabulary token: " + id);
        }
        // unseen characters still encode, byte by byte
        List<Integer> unseen = vocabulary.encode("zq\u00e9");
        assertTrue(unseen.contains(vocabulary.id("\u00a9</w>")), "é is bytes C3 A9, the last with </w>: " + unseen);
        int[] ids = vocabulary.inputIds("a cat", 77, vocabulary.eos());
        assertEquals(vocabulary.bos(), ids[0]);
        assertEquals(vocabulary.id("a</w>"), ids[1]);
        assertEquals(vocabulary.eos(), ids[3]);
        assertEquals(vocabulary.eos(), ids[76]);
    }
}
