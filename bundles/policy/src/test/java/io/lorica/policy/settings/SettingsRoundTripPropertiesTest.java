package io.lorica.policy.settings;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.lorica.api.Component;
import io.lorica.api.policy.AdapterSettings;
import io.lorica.api.policy.AdapterWeight;
import io.lorica.api.policy.AdapterWeight.BlockPart;
import io.lorica.api.policy.AdapterWeight.BlockVector;
import io.lorica.api.policy.AdapterWeight.ComponentWeight;
import io.lorica.api.policy.AdapterWeight.LayerOverride;
import io.lorica.api.policy.AdapterWeight.PerBlock;
import io.lorica.api.policy.AdapterWeight.PerComponent;
import io.lorica.api.policy.AdapterWeight.UnetBlocks;
import io.lorica.api.policy.AdapterWeight.WithOverrides;

import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * Round trips: for generated settings {@code s}, {@code parse(format(s)) == s} for both forms (including adapter order,
 * negative zero, extreme doubles, escaped regexes and configured presets), and formatting is canonical.
 */
class SettingsRoundTripPropertiesTest {

    private static final BlockWeightPresets PRESETS = BlockWeightPresets.defaults().withOverrides(Map.of(
            "XL_OUT", "1,0,0,0,0,0,1,1,1,1,1,1", "FULL", "0.5 ".repeat(26)));
    private static final SettingsParser PARSER = new SettingsParser(PRESETS);
    private static final SettingsFormatter FORMATTER = new SettingsFormatter(PRESETS);

    @Property(tries = 500)
    void json_roundTrips(@ForAll("settings") AdapterSettings settings) {
        AdapterSettings parsed = PARSER.parse(FORMATTER.toJson(settings));
        assertEquals(settings, parsed);
        assertEquals(settings.names(), parsed.names());
    }

    @Property(tries = 500)
    void compact_roundTrips(@ForAll("settings") AdapterSettings settings) {
        String compact = FORMATTER.toCompact(settings);
        AdapterSettings parsed = PARSER.parse(compact);
        assertEquals(settings, parsed, compact);
        assertEquals(settings.names(), parsed.names());
    }

    @Property(tries = 300)
    void formatting_isCanonical(@ForAll("settings") AdapterSettings settings) {
        String json = FORMATTER.toJson(settings);
        String compact = FORMATTER.toCompact(settings);
        assertEquals(json, FORMATTER.toJson(PARSER.parse(compact)));
        assertEquals(compact, FORMATTER.toCompact(PARSER.parse(json)));
    }

    @Property(tries = 300)
    void weightJson_roundTrips(@ForAll("weights") AdapterWeight weight) {
        assertEquals(weight, PARSER.parseJsonWeight(FORMATTER.toJson(weight)));
    }

    @Provide
    Arbitrary<AdapterSettings> settings() {
        Arbitrary<Map<String, AdapterWeight>> adapters = Arbitraries.maps(names(), weights()).ofMaxSize(5);
        return Combinators.combine(adapters, numbers(), Arbitraries.of(true, false)).as(AdapterSettings::new);
    }

    @Provide
    Arbitrary<AdapterWeight> weights() {
        Arbitrary<AdapterWeight> plain = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(3, uniform().map(AdapterWeight.class::cast)),
                net.jqwik.api.Tuple.of(3, perComponent().map(AdapterWeight.class::cast)),
                net.jqwik.api.Tuple.of(2, blockVector().map(AdapterWeight.class::cast)),
                net.jqwik.api.Tuple.of(1, textEncodersAndUnet()));
        Arbitrary<AdapterWeight> overridden = Combinators.combine(plain, overrides().list().ofMinSize(1).ofMaxSize(3))
                .as(WithOverrides::new);
        return Arbitraries.frequencyOf(net.jqwik.api.Tuple.of(5, plain), net.jqwik.api.Tuple.of(1, overridden));
    }

    private static Arbitrary<String> names() {
        Arbitrary<Character> first = Arbitraries.chars().with("abcXYZ059_".toCharArray());
        Arbitrary<String> rest = Arbitraries.strings().withChars("abz09_.-").ofMaxLength(10);
        return Combinators.combine(first, rest).as((f, r) -> f + r);
    }

    private static Arbitrary<Double> numbers() {
        return Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(6, Arbitraries.doubles().between(-4, 4).ofScale(3)),
                net.jqwik.api.Tuple.of(2, Arbitraries.doubles().between(-1e6, 1e6)),
                net.jqwik.api.Tuple.of(2, Arbitraries.of(0.0, -0.0, 1.0, -1.0, 0.1 + 0.2, 1e-7, 1e15, 1e21,
                        Double.MIN_VALUE, Double.MAX_VALUE, -Double.MAX_VALUE, 1.0 / 3)));
    }

    private static Arbitrary<AdapterWeight.Uniform> uniform() {
        return numbers().map(AdapterWeight::of);
    }

    private static Arbitrary<AdapterWeight> textEncodersAndUnet() {
        return Combinators.combine(numbers(), numbers()).as(SettingsParser::textEncodersAndUnet);
    }

    private static Arbitrary<PerComponent> perComponent() {
        Arbitrary<Optional<ComponentWeight>> te = uniform().map(ComponentWeight.class::cast).optional();
        Arbitrary<Optional<ComponentWeight>> unet = Arbitraries.oneOf(uniform().map(ComponentWeight.class::cast),
                unetBlocks().map(ComponentWeight.class::cast)).optional();
        return Combinators.combine(unet, te, te).as((u, t1, t2) -> {
            Map<Component, ComponentWeight> map = new EnumMap<>(Component.class);
            u.ifPresent(w -> map.put(Component.UNET, w));
            t1.ifPresent(w -> map.put(Component.TEXT_ENCODER, w));
            t2.ifPresent(w -> map.put(Component.TEXT_ENCODER_2, w));
            return new PerComponent(map);
        });
    }

    private static Arbitrary<UnetBlocks> unetBlocks() {
        Arbitrary<Optional<BlockPart>> part = Arbitraries.oneOf(uniform().map(BlockPart.class::cast),
                perBlock().map(BlockPart.class::cast)).optional();
        return Combinators.combine(part, numbers().optional(), part).as(UnetBlocks::new);
    }

    private static Arbitrary<PerBlock> perBlock() {
        Arbitrary<String> keys = Arbitraries.integers().between(0, 999).map(i -> "block_" + i);
        Arbitrary<List<Double>> values = numbers().list().ofMinSize(1).ofMaxSize(4);
        return Arbitraries.maps(keys, values).ofMaxSize(4).map(m -> new PerBlock(new LinkedHashMap<>(m)));
    }

    private static Arbitrary<BlockVector> blockVector() {
        Arbitrary<BlockVector> preset = Combinators.combine(Arbitraries.of(PRESETS.names()), numbers(), numbers(),
                Arbitraries.of(true, false)).as((name, te, unet, same) ->
                PRESETS.vector(name, te, same ? te : unet));
        Arbitrary<BlockVector> literal = Combinators.combine(Arbitraries.of(12, 17, 20, 26)
                .flatMap(n -> numbers().list().ofSize(n)), numbers(), numbers(), Arbitraries.of(1, 2, 3))
                .as((ratios, te, unet, mode) -> switch (mode) {
                    case 1 -> new BlockVector(1, 1, ratios, Optional.empty());
                    case 2 -> new BlockVector(te, te, ratios, Optional.empty());
                    default -> new BlockVector(te, unet, ratios, Optional.empty());
                });
        return Arbitraries.oneOf(preset, literal);
    }

    private static Arbitrary<LayerOverride> overrides() {
        Arbitrary<String> regexes = Arbitraries.of("attn2\\.to_k", "down_blocks\\.[12]\\..*", "a,b;c", "\"q\"",
                "x{2}", "[:;]", "é|ü|中", "\\\\", "\\t", "(?i)MLP", "\\}\\{", "lbw=ALL", "te:0.5");
        Arbitrary<Optional<Component>> components = Arbitraries.of(Component.class).optional();
        return Combinators.combine(components, regexes, numbers()).as(LayerOverride::new);
    }
}
