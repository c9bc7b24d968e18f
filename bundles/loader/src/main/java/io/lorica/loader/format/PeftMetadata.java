package io.lorica.loader.format;

import io.lorica.api.Component;

import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * The safetensors metadata entry {@code lora_adapter_metadata} that Diffusers writes: a JSON object with the PEFT
 * {@code LoraConfig} of every component, keys prefixed by component ({@code "unet.r"}, {@code "unet.lora_alpha"},
 * {@code "unet.rank_pattern"}, {@code "unet.alpha_pattern"}, {@code "unet.use_dora"}, {@code "unet.use_rslora"}, …).
 * A nested form ({@code {"unet": {"r": …}}}) is accepted too.
 */
final class PeftMetadata {

    /** The metadata key. */
    static final String KEY = "lora_adapter_metadata";

    /** PEFT's {@code LoraConfig} default for {@code lora_alpha} (used when a component config lacks it). */
    static final double PEFT_DEFAULT_ALPHA = 8;

    private static final ObjectMapper MAPPER = new ObjectMapper();

    private PeftMetadata() {
    }

    /**
     * One component's LoRA config.
     *
     * @param r           the default rank, if given
     * @param loraAlpha   the default alpha, if given
     * @param rankPattern pattern → rank, in file order
     * @param alphaPattern pattern → alpha, in file order
     * @param useRslora   whether the scale is {@code alpha / sqrt(r)}
     * @param useDora     whether the config says DoRA
     */
    record Config(Optional<Integer> r, Optional<Double> loraAlpha, Map<String, Integer> rankPattern,
            Map<String, Double> alphaPattern, boolean useRslora, boolean useDora) {

        /** The alpha PEFT gives {@code modulePath}: alpha_pattern match, else lora_alpha, else PEFT's default 8. */
        double alphaFor(String modulePath) {
            Optional<String> key = patternKey(alphaPattern.keySet(), modulePath);
            return key.map(alphaPattern::get).orElse(loraAlpha.orElse(PEFT_DEFAULT_ALPHA));
        }

        /** The rank the config declares for {@code modulePath}, if any. */
        Optional<Integer> rankFor(String modulePath) {
            Optional<String> key = patternKey(rankPattern.keySet(), modulePath);
            return key.isPresent() ? Optional.of(rankPattern.get(key.get())) : r;
        }
    }

    /**
     * PEFT's {@code get_pattern_key}: an exact key first, else the first key {@code k} (in file order) for which the
     * module path matches {@code (.*\.)?(k)$}; a key that is not a valid regular expression matches literally.
     */
    static Optional<String> patternKey(Iterable<String> keys, String modulePath) {
        for (String key : keys) {
            if (key.equals(modulePath)) {
                return Optional.of(key);
            }
        }
        for (String key : keys) {
            Pattern pattern;
            try {
                pattern = Pattern.compile("(.*\\.)?(" + key + ")");
            } catch (PatternSyntaxException e) {
                pattern = Pattern.compile("(.*\\.)?(" + Pattern.quote(key) + ")");
            }
            if (pattern.matcher(modulePath).matches()) {
                return Optional.of(key);
            }
        }
        return Optional.empty();
    }

    /**
     * Parses the metadata JSON.
     *
     * @throws IllegalArgumentException with a short description when it is not a JSON object of that form
     */
    static Map<Component, Config> parse(String json) {
        JsonNode root;
        try {
            root = MAPPER.readTree(json);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("is not valid JSON: " + e.getOriginalMessage());
        }
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException("is not a JSON object");
        }
        Map<Component, Map<String, JsonNode>> perComponent = new EnumMap<>(Component.class);
        for (Map.Entry<String, JsonNode> entry : root.properties()) {
            String name = entry.getKey();
            for (Component component : Component.values()) {
                String prefix = component.id() + ".";
                if (name.startsWith(prefix)) {
                    perComponent.computeIfAbsent(component, c -> new LinkedHashMap<>())
                            .put(name.substring(prefix.length()), entry.getValue());
                } else if (name.equals(component.id()) && entry.getValue().isObject()) {
                    Map<String, JsonNode> fields = perComponent.computeIfAbsent(component, c -> new LinkedHashMap<>());
                    entry.getValue().properties().forEach(f -> fields.put(f.getKey(), f.getValue()));
                }
            }
        }
        Map<Component, Config> configs = new EnumMap<>(Component.class);
        perComponent.forEach((component, fields) -> configs.put(component, config(component, fields)));
        return configs;
    }

    private static Config config(Component component, Map<String, JsonNode> fields) {
        Optional<Integer> r = Optional.ofNullable(fields.get("r")).filter(JsonNode::isNumber).map(JsonNode::asInt);
        Optional<Double> alpha = Optional.ofNullable(fields.get("lora_alpha")).filter(JsonNode::isNumber)
                .map(JsonNode::asDouble);
        Map<String, Integer> rankPattern = new LinkedHashMap<>();
        pattern(component, "rank_pattern", fields.get("rank_pattern"))
                .forEach((k, v) -> rankPattern.put(k, (int) Math.round(v)));
        Map<String, Double> alphaPattern = pattern(component, "alpha_pattern", fields.get("alpha_pattern"));
        boolean rslora = fields.containsKey("use_rslora") && fields.get("use_rslora").asBoolean(false);
        boolean dora = fields.containsKey("use_dora") && fields.get("use_dora").asBoolean(false);
        return new Config(r, alpha, rankPattern, alphaPattern, rslora, dora);
    }

    private static Map<String, Double> pattern(Component component, String field, JsonNode node) {
        Map<String, Double> out = new LinkedHashMap<>();
        if (node == null || node.isNull()) {
            return out;
        }
        if (!node.isObject()) {
            throw new IllegalArgumentException(component.id() + "." + field + " is not a JSON object");
        }
        for (Map.Entry<String, JsonNode> entry : node.properties()) {
            if (!entry.getValue().isNumber()) {
                throw new IllegalArgumentException(component.id() + "." + field + "['" + entry.getKey()
                        + "'] is not a number");
            }
            out.put(entry.getKey(), entry.getValue().asDouble());
        }
        return out;
    }
}
