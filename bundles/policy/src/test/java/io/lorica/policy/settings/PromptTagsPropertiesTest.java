package io.lorica.policy.settings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import io.lorica.api.policy.AdapterSettings;
import io.lorica.api.policy.AdapterWeight;
import io.lorica.api.policy.AdapterWeight.BlockVector;
import io.lorica.policy.settings.PromptTags.Extraction;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.Tuple.Tuple2;

import org.junit.jupiter.api.Test;

/**
 * Generated prompts: text pieces (unicode, brackets, stray angle brackets, runs of whitespace) interleaved with tags of
 * every form must give back exactly the adapters of the tags and the text without them, tidied. Also linear time on
 * large inputs.
 */
class PromptTagsPropertiesTest {

    private static final BlockWeightPresets PRESETS = BlockWeightPresets.defaults();
    private static final SettingsParser PARSER = new SettingsParser(PRESETS);

    /** A tag's text and the weight it stands for. */
    private record Tag(String name, String text, AdapterWeight weight) {
    }

    @Property(tries = 500)
    void tagsAndText_areSeparated(@ForAll("pieces") List<Tuple2<String, Tag>> pieces) {
        StringBuilder prompt = new StringBuilder();
        StringBuilder textOnly = new StringBuilder();
        Map<String, AdapterWeight> expected = new LinkedHashMap<>();
        for (Tuple2<String, Tag> piece : pieces) {
            prompt.append(piece.get1()).append(piece.get2().text());
            textOnly.append(piece.get1());
            expected.remove(piece.get2().name());
            expected.put(piece.get2().name(), piece.get2().weight());
        }
        Extraction extraction = PromptTags.extract(prompt.toString(), PRESETS);
        assertEquals(new AdapterSettings(expected, 1, true), extraction.settings());
        assertEquals(List.copyOf(expected.keySet()), extraction.settings().names());
        assertEquals(PromptTags.extract(textOnly.toString(), PRESETS).prompt(), extraction.prompt());
        assertFalse(extraction.prompt().contains("  "));
        assertEquals(extraction.prompt().strip(), extraction.prompt());
        assertEquals(pieces.size() - expected.size(), extraction.warnings().size());
    }

    @Provide
    Arbitrary<List<Tuple2<String, Tag>>> pieces() {
        Arbitrary<String> text = Arbitraries.strings().withChars("ab 猫😀\t\n()[]:,.<>é\\").ofMaxLength(12)
                .filter(s -> !s.endsWith("\\") && !s.endsWith("<"));
        return Combinators.combine(text, tags()).as(Tuple::of).list().ofMaxSize(6);
    }

    private static Arbitrary<Tag> tags() {
        Arbitrary<String> names = Arbitraries.of("a", "b", "toy", "x.v2", "Q_1-2");
        Arbitrary<Double> numbers = Arbitraries.doubles().between(-3, 3).ofScale(2);
        Arbitrary<String> presets = Arbitraries.of(PRESETS.names());
        return Arbitraries.integers().between(0, 6).flatMap(form -> switch (form) {
            case 0 -> names.map(n -> new Tag(n, "<lora:" + n + ">", AdapterWeight.ONE));
            case 1 -> Combinators.combine(names, numbers).as((n, w) -> new Tag(n, "<lora:" + n + ":" + w + ">",
                    AdapterWeight.of(w)));
            case 2 -> Combinators.combine(names, numbers, numbers).as((n, te, u) -> new Tag(n,
                    "<lora:" + n + ":" + te + ":" + u + ">", SettingsParser.textEncodersAndUnet(te, u)));
            case 3 -> Combinators.combine(names, numbers, presets).as((n, w, p) -> new Tag(n,
                    "<lora:" + n + ":" + w + ":lbw=" + p + ">", PRESETS.vector(p, w, w)));
            case 4 -> Combinators.combine(names, numbers, numbers, presets).as((n, te, u, p) -> new Tag(n,
                    "<lora: " + n + " : unet=" + u + " : te=" + te + " : lbw=" + p + " >", PRESETS.vector(p, te, u)));
            case 5 -> Combinators.combine(names, numbers.list().ofSize(12)).as((n, ratios) -> new Tag(n,
                    "<lora:" + n + ":lbw=" + String.join(",", ratios.stream().map(String::valueOf).toList()) + ">",
                    new BlockVector(1, 1, ratios, java.util.Optional.empty())));
            default -> Combinators.combine(names, presets).as((n, p) -> new Tag(n, "<lora:" + n + ":1:" + p + ">",
                    PRESETS.vector(p, 1, 1)));
        });
    }

    @Test
    void manyTags_linearTime() {
        StringBuilder prompt = new StringBuilder();
        for (int i = 0; i < 20_000; i++) {
            prompt.append("word ").append("<lora:a").append(i).append(":0.5> ");
        }
        Extraction extraction = assertTimeoutPreemptively(Duration.ofSeconds(5),
                () -> PromptTags.extract(prompt.toString(), PRESETS));
        assertEquals(20_000, extraction.settings().names().size());
        assertEquals("word ".repeat(20_000).strip(), extraction.prompt());
    }

    @Test
    void manyCompactEntriesWithoutColons_linearTime() {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < 100_000; i++) {
            text.append(i == 0 ? "" : ",").append('a').append(i);
        }
        AdapterSettings settings = assertTimeoutPreemptively(Duration.ofSeconds(5),
                () -> PARSER.parseCompact(text.toString()));
        assertEquals(100_000, settings.names().size());
    }

    @Test
    void manyEscapedTags_linearTime() {
        String prompt = "\\<lora:x ".repeat(50_000);
        Extraction extraction = assertTimeoutPreemptively(Duration.ofSeconds(5),
                () -> PromptTags.extract(prompt, PRESETS));
        assertEquals(AdapterSettings.none(), extraction.settings());
    }
}
