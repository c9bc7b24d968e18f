package io.lorica.policy.settings;

import io.lorica.api.AdapterNames;
import io.lorica.api.Component;
import io.lorica.api.policy.AdapterSettings;
import io.lorica.api.policy.AdapterWeight;
import io.lorica.api.policy.AdapterWeight.BlockPart;
import io.lorica.api.policy.AdapterWeight.ComponentWeight;
import io.lorica.api.policy.AdapterWeight.LayerOverride;
import io.lorica.api.policy.AdapterWeight.PerBlock;
import io.lorica.api.policy.AdapterWeight.PerComponent;
import io.lorica.api.policy.AdapterWeight.UnetBlocks;
import io.lorica.api.policy.AdapterWeight.Uniform;
import io.lorica.api.policy.AdapterWeight.WithOverrides;

import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Parses {@link AdapterSettings} from JSON or from a compact one-line text. Thread-safe and stateless apart from its
 * {@link BlockWeightPresets}; meant to be called per request.
 *
 * <h2>JSON</h2>
 * <pre>
 * settings   := { "adapters"?: { name: weight, ... },                         -- activation order = key order
 *                 "adapter_names"?: name | [name, ...],                        -- Diffusers' set_adapters form
 *                 "adapter_weights"?: weight | [weight, ...],                  --   (only with adapter_names)
 *                 "scale"?: number,                                           -- per-call scale, default 1
 *                 "enabled"?: true | false }                                  -- default true
 * weight     := number | null (= 1.0) | componentDict | lbwDict | overridesDict
 * componentDict := { "text_encoder"?: number|null, "text_encoder_2"?: number|null, "unet"?: number|null|unetDict }
 * unetDict   := { "down"?: part, "mid"?: number | [number], "up"?: part }
 * part       := number | { "block_&lt;i&gt;": number | [number, ...], ... }            -- i = 0..999, no leading zeros
 * lbwDict    := { "lbw": presetName | [12, 17, 20 or 26 numbers],
 *                 "te"?: number|null, "unet"?: number|null }        -- each defaults to 1 on its own (in the compact
 *                                                                   --   and prompt forms unet defaults to te)
 * overridesDict := { "weight"?: weight (not itself an overridesDict; default 1.0),
 *                    "overrides": [ { "component"?: componentName, "regex": string, "weight": number|null }, ... ] }
 * </pre>
 * {@code adapters} and {@code adapter_names} exclude each other; with neither the settings have no adapters. In the
 * two-list form a missing or {@code null} {@code adapter_weights} gives 1.0 to every adapter, a single (non-list) weight
 * is used for every adapter, and a list must have one weight per name, else Diffusers' error "Length of adapter names
 * {n} is not equal to the length of the weights {m}". The kind of a weight object is told by its keys: {@code lbw}
 * makes it a block vector ({@link AdapterWeight.BlockVector}), {@code weight}/{@code overrides} a weight with per-layer
 * overrides ({@link WithOverrides}), anything else a component dict ({@link PerComponent}).
 *
 * <p>Errors are {@link IllegalArgumentException}s whose message starts with the JSON path of the offending value
 * ({@code $.adapters.pixel.unet.mid: Expected 1 scales for mid, got 2.}) and says what was expected. Rejected: malformed
 * JSON, duplicate keys, content after the document, nesting deeper than 16, numbers out of the double range, unknown
 * keys anywhere, a {@code mid} given as an object or as a list of other than one number, block keys other than
 * {@code block_<i>}, block dicts and lists for text encoders, empty block lists, nested overrides, an unknown preset, a
 * regex that does not compile, an invalid or repeated adapter name, and text longer than {@link #MAX_LENGTH}.
 *
 * <h2>Compact text</h2>
 * One line, e.g. {@code toy:0.5,pixel:{"unet":{"down":0.9}},style:lbw=MIDD;scale=0.8;enabled=false}:
 * <pre>
 * compact    := [ entries ] ( ";" option )*
 * entries    := entry ( "," entry )*            -- split at ',' outside {...} and outside JSON strings
 * entry      := name                            -- weight 1.0
 *             | name ":" number                 -- Uniform
 *             | name ":" number ":" number      -- PerComponent: text_encoder = text_encoder_2 = first, unet = second
 *             | name ":" json-object            -- any weight of the JSON grammar above
 *             | name ":" [ number ":" [ number ":" ] ] "lbw=" vector
 *                                               -- BlockVector; te = first number, unet = second (default: the
 *                                               --   first), both default 1, as in A1111's &lt;lora:name:te:unet:lbw=…&gt;
 * vector     := presetName | number ( " "+ number )*   -- 12, 17, 20 or 26 numbers, separated by spaces
 * option     := "scale=" number | "enabled=" ( "true" | "false" )      -- each at most once
 * name       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}                      -- AdapterNames; each name at most once
 * presetName := [A-Za-z][A-Za-z0-9_.-]{0,63}                           -- see BlockWeightPresets
 * number     := [+-]? ( digits [ "." digits? ] | "." digits ) [ (e|E) [+-]? digits ]   -- finite
 * </pre>
 * Whitespace around entries, options, ':' separators and '=' is ignored. The entries part may be empty
 * ({@code ""} = no adapters, {@code ";scale=0.5"}); an empty entry ({@code "a,,b"}, a trailing ',') or option is an
 * error. Errors name the entry by number and name ({@code entry 2 'pixel': ...}).
 *
 * <h2>Deviations from Diffusers (all deliberate)</h2>
 * <ul>
 *   <li>Unknown component keys are an error listing the components; Diffusers drops them with a warning.</li>
 *   <li>One component dict given for several adapters applies to each of them; Diffusers applies it to the first only
 *       and gives the others 1.0.</li>
 *   <li>{@code mid} as an object is an error here; Diffusers fails later with a {@code TypeError} (diffusers#9184).</li>
 *   <li>Block keys that are not {@code block_<i>} and unknown keys in a UNet dict are errors; Diffusers ignores some
 *       silently and crashes on others. Whether a {@code block_<i>} exists in a model is checked by the scale policy.</li>
 *   <li>Block dicts for text encoders are rejected (Diffusers' lookup makes them a useless 1.0).</li>
 *   <li>{@code null} inside a UNet dict is rejected (Diffusers fails on it); {@code null} as an adapter's or a
 *       component's weight is 1.0, as in Diffusers.</li>
 * </ul>
 */
public final class SettingsParser {

    /** The longest text accepted, in chars; a guard against oversized requests. */
    public static final int MAX_LENGTH = 1 << 20;

    private static final String COMPONENTS = componentList();

    private final BlockWeightPresets presets;

    /**
     * A parser that resolves {@code lbw} preset names with {@code presets}.
     *
     * @throws IllegalArgumentException when presets is null
     */
    public SettingsParser(BlockWeightPresets presets) {
        if (presets == null) {
            throw new IllegalArgumentException("presets must not be null");
        }
        this.presets = presets;
    }

    /** The presets this parser resolves {@code lbw} names with. */
    public BlockWeightPresets presets() {
        return presets;
    }

    /**
     * Parses either form: text whose first non-blank character is <code>{</code> is JSON, anything else the compact form.
     *
     * @throws IllegalArgumentException as {@link #parseJson(String)} or {@link #parseCompact(String)}
     */
    public AdapterSettings parse(String text) {
        checkLength(text);
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (!Character.isWhitespace(c)) {
                return c == '{' ? parseJson(text) : parseCompact(text);
            }
        }
        return AdapterSettings.none();
    }

    /**
     * Parses the JSON form (see the class description).
     *
     * @throws IllegalArgumentException naming the JSON path and what was expected
     */
    public AdapterSettings parseJson(String json) {
        checkLength(json);
        JsonPath path = new JsonPath("$");
        Object root = JsonTree.read(json, path);
        return settings(root, path);
    }

    /**
     * Parses one adapter's weight in the JSON grammar ({@code 0.5}, {@code {"unet": {"down": 0.9}}}, …).
     *
     * @throws IllegalArgumentException naming the JSON path and what was expected
     */
    public AdapterWeight parseJsonWeight(String json) {
        checkLength(json);
        JsonPath path = new JsonPath("$");
        return weight(JsonTree.read(json, path), path);
    }

    /**
     * Parses the compact form (see the class description).
     *
     * @throws IllegalArgumentException naming the entry or option and what was expected
     */
    public AdapterSettings parseCompact(String text) {
        checkLength(text);
        int n = text.length();
        Map<String, AdapterWeight> adapters = new LinkedHashMap<>();
        int depth = 0;
        boolean inString = false;
        int entryStart = 0;
        int entryNumber = 0;
        int end = n;
        boolean sawSeparator = false;
        for (int i = 0; i < n; i++) {
            char c = text.charAt(i);
            if (inString) {
                if (c == '\\') {
                    i++;
                } else if (c == '"') {
                    inString = false;
                }
            } else if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (--depth < 0) {
                    throw new IllegalArgumentException("compact settings: unbalanced '" + c + "' at offset " + i);
                }
            } else if (c == '"' && depth > 0) {
                inString = true;
            } else if (depth == 0 && (c == ',' || c == ';')) {
                if (c == ',' || sawSeparator || !Text.isBlank(text, entryStart, i)) {
                    entry(text, entryStart, i, ++entryNumber, adapters);
                }
                sawSeparator |= c == ',';
                entryStart = i + 1;
                if (c == ';') {
                    end = i;
                    break;
                }
            }
        }
        if (end == n) {
            if (inString || depth > 0) {
                throw new IllegalArgumentException("compact settings: unterminated JSON in entry " + (entryNumber + 1)
                        + ", expected a closing " + (inString ? "'\"'" : "'}'"));
            }
            if (sawSeparator || !Text.isBlank(text, entryStart, n)) {
                entry(text, entryStart, n, ++entryNumber, adapters);
            }
            return new AdapterSettings(adapters, 1.0, true);
        }
        return options(text, end + 1, adapters);
    }

    // ---------------------------------------------------------------------------------------------------- compact

    private void entry(String text, int from, int to, int number, Map<String, AdapterWeight> adapters) {
        from = Text.skipSpace(text, from, to);
        to = Text.trimEnd(text, from, to);
        if (from == to) {
            throw new IllegalArgumentException("compact settings: entry " + number + " is empty, expected name or "
                    + "name:weight");
        }
        int colon = Text.indexOf(text, ':', from, to);
        int nameEnd = colon < 0 ? to : colon;
        String name = text.substring(from, Text.trimEnd(text, from, nameEnd));
        if (!AdapterNames.isValid(name)) {
            throw new IllegalArgumentException("compact settings: entry " + number + ": '" + name + "' is not a valid "
                    + "adapter name, expected 1-128 letters, digits, '_', '-' or '.', not starting with '.' or '-'");
        }
        AdapterWeight weight;
        if (nameEnd == to) {
            weight = AdapterWeight.ONE;
        } else {
            int specStart = Text.skipSpace(text, nameEnd + 1, to);
            if (specStart == to) {
                throw new IllegalArgumentException(where(number, name) + ": nothing after ':', expected a weight");
            }
            if (text.charAt(specStart) == '{') {
                JsonPath path = new JsonPath(where(number, name) + ": $");
                weight = weight(JsonTree.read(text.substring(specStart, to), path), path);
            } else {
                weight = compactWeight(text, specStart, to, number, name);
            }
        }
        if (adapters.putIfAbsent(name, weight) != null) {
            throw new IllegalArgumentException(where(number, name) + ": adapter '" + name + "' is given twice, "
                    + "expected each adapter once");
        }
    }

    private static String where(int number, String name) {
        return "compact settings: entry " + number + " '" + name + "'";
    }

    private AdapterWeight compactWeight(String text, int from, int to, int number, String name) {
        double[] numbers = new double[2];
        int count = 0;
        int i = from;
        while (true) {
            int colon = Text.indexOf(text, ':', i, to);
            int itemEnd = colon < 0 ? to : colon;
            int start = Text.skipSpace(text, i, itemEnd);
            int end = Text.trimEnd(text, start, itemEnd);
            int eq = text.startsWith("lbw", start) ? Text.skipSpace(text, start + 3, end) : end;
            if (eq < end && text.charAt(eq) == '=') {
                if (itemEnd != to) {
                    throw new IllegalArgumentException(where(number, name) + ": 'lbw=' must be the last part, "
                            + "expected [te[:unet]:]lbw=vector");
                }
                String spec = text.substring(eq + 1, end);
                double te = count > 0 ? numbers[0] : 1.0;
                double unet = count > 1 ? numbers[1] : te;
                try {
                    return presets.vector(spec, te, unet);
                } catch (IllegalArgumentException e) {
                    boolean literal = !spec.isBlank() && !Character.isLetter(spec.strip().charAt(0));
                    throw new IllegalArgumentException(where(number, name) + ": " + e.getMessage() + (literal
                            ? " (in the compact form the numbers of a vector are separated by spaces; ',' separates"
                            + " entries)" : ""), e);
                }
            }
            if (start == end) {
                throw new IllegalArgumentException(where(number, name) + ": empty part, expected a number or lbw=…");
            }
            if (count == 2) {
                throw new IllegalArgumentException(where(number, name) + ": too many parts, expected number, "
                        + "number:number, [te[:unet]:]lbw=vector or {json}");
            }
            double value = Numbers.parse(text, start, end);
            if (!Double.isFinite(value)) {
                throw new IllegalArgumentException(where(number, name) + ": '" + text.substring(start, end) + "' is "
                        + (Double.isNaN(value) ? "not a number" : "out of range")
                        + ", expected a finite number (e.g. 0.5), number:number, [te[:unet]:]lbw=vector or {json}");
            }
            numbers[count++] = value;
            if (itemEnd == to) {
                break;
            }
            i = itemEnd + 1;
        }
        if (count == 1) {
            return AdapterWeight.of(numbers[0]);
        }
        return textEncodersAndUnet(numbers[0], numbers[1]);
    }

    private AdapterSettings options(String text, int from, Map<String, AdapterWeight> adapters) {
        int n = text.length();
        double scale = 1.0;
        boolean enabled = true;
        boolean sawScale = false;
        boolean sawEnabled = false;
        int i = from;
        while (true) {
            int semicolon = text.indexOf(';', i);
            int optionEnd = semicolon < 0 ? n : semicolon;
            int start = Text.skipSpace(text, i, optionEnd);
            int end = Text.trimEnd(text, start, optionEnd);
            if (start == end) {
                throw new IllegalArgumentException("compact settings: empty option after ';', expected scale=number "
                        + "or enabled=true|false");
            }
            int eq = Text.indexOf(text, '=', start, end);
            if (eq < 0) {
                throw new IllegalArgumentException("compact settings: option '" + text.substring(start, end)
                        + "' has no '=', expected scale=number or enabled=true|false");
            }
            String key = text.substring(start, Text.trimEnd(text, start, eq));
            String value = text.substring(Text.skipSpace(text, eq + 1, end), end);
            switch (key) {
                case "scale" -> {
                    if (sawScale) {
                        throw new IllegalArgumentException("compact settings: option 'scale' is given twice");
                    }
                    sawScale = true;
                    scale = Numbers.parseFinite(value, "compact settings: option scale");
                }
                case "enabled" -> {
                    if (sawEnabled) {
                        throw new IllegalArgumentException("compact settings: option 'enabled' is given twice");
                    }
                    sawEnabled = true;
                    if (value.equals("true")) {
                        enabled = true;
                    } else if (value.equals("false")) {
                        enabled = false;
                    } else {
                        throw new IllegalArgumentException("compact settings: option enabled: '" + value
                                + "' is not a boolean, expected true or false");
                    }
                }
                default -> throw new IllegalArgumentException("compact settings: unknown option '" + key
                        + "', expected scale or enabled");
            }
            if (semicolon < 0) {
                break;
            }
            i = semicolon + 1;
        }
        return new AdapterSettings(adapters, scale, enabled);
    }

    // ------------------------------------------------------------------------------------------------------- JSON

    private AdapterSettings settings(Object root, JsonPath path) {
        Map<String, Object> object = object(root, path, "a settings object like {\"adapters\": {\"name\": 0.8}}");
        for (String key : object.keySet()) {
            switch (key) {
                case "adapters", "adapter_names", "adapter_weights", "scale", "enabled" -> {
                }
                default -> throw path.push(key).error("unknown key '" + key + "', expected adapters, adapter_names, "
                        + "adapter_weights, scale or enabled");
            }
        }
        Map<String, AdapterWeight> adapters;
        if (object.containsKey("adapters")) {
            if (object.containsKey("adapter_names") || object.containsKey("adapter_weights")) {
                throw path.error("both adapters and adapter_names/adapter_weights are given, expected one form");
            }
            adapters = adaptersObject(object.get("adapters"), path.push("adapters"));
            path.pop();
        } else if (object.containsKey("adapter_names")) {
            adapters = twoLists(object, path);
        } else if (object.containsKey("adapter_weights")) {
            throw path.push("adapter_weights").error("adapter_weights without adapter_names, expected both");
        } else {
            adapters = Collections.emptyMap();
        }
        double scale = 1.0;
        if (object.containsKey("scale")) {
            scale = number(object.get("scale"), path.push("scale"), "the per-call scale, a number");
            path.pop();
        }
        boolean enabled = true;
        if (object.containsKey("enabled")) {
            Object value = object.get("enabled");
            if (!(value instanceof Boolean b)) {
                throw path.push("enabled").error("expected true or false, got " + JsonTree.describe(value));
            }
            enabled = b;
        }
        return new AdapterSettings(adapters, scale, enabled);
    }

    private Map<String, AdapterWeight> adaptersObject(Object value, JsonPath path) {
        Map<String, Object> object = object(value, path, "an object of adapter name -> weight");
        Map<String, AdapterWeight> adapters = new LinkedHashMap<>();
        for (Map.Entry<String, Object> entry : object.entrySet()) {
            path.push(entry.getKey());
            requireName(entry.getKey(), path);
            adapters.put(entry.getKey(), weight(entry.getValue(), path));
            path.pop();
        }
        return adapters;
    }

    private Map<String, AdapterWeight> twoLists(Map<String, Object> object, JsonPath path) {
        Object namesValue = object.get("adapter_names");
        path.push("adapter_names");
        List<String> names = new ArrayList<>();
        if (namesValue instanceof String single) {
            requireName(single, path);
            names.add(single);
        } else if (namesValue instanceof List<?> list) {
            for (int i = 0; i < list.size(); i++) {
                path.push(i);
                if (!(list.get(i) instanceof String name)) {
                    throw path.error("expected an adapter name (a string), got " + JsonTree.describe(list.get(i)));
                }
                requireName(name, path);
                if (names.contains(name)) {
                    throw path.error("adapter name '" + name + "' is listed twice, expected distinct names");
                }
                names.add(name);
                path.pop();
            }
        } else {
            throw path.error("expected an adapter name or a list of names, got " + JsonTree.describe(namesValue));
        }
        path.pop();
        Map<String, AdapterWeight> adapters = new LinkedHashMap<>();
        Object weights = object.getOrDefault("adapter_weights", JsonTree.NULL);
        path.push("adapter_weights");
        if (weights instanceof List<?> list) {
            if (list.size() != names.size()) {
                throw path.error("Length of adapter names " + names.size() + " is not equal to the length of the weights "
                        + list.size());
            }
            for (int i = 0; i < names.size(); i++) {
                path.push(i);
                Object item = list.get(i);
                if (item instanceof List<?>) {
                    throw path.error("expected a weight (a number, null or a component dict), got "
                            + JsonTree.describe(item));
                }
                adapters.put(names.get(i), weight(item, path));
                path.pop();
            }
        } else {
            // one weight for all adapters (Diffusers replicates it); a shared dict applies to every adapter
            AdapterWeight shared = weight(weights, path);
            for (String name : names) {
                adapters.put(name, shared);
            }
        }
        path.pop();
        return adapters;
    }

    private AdapterWeight weight(Object value, JsonPath path) {
        if (value == JsonTree.NULL) {
            return AdapterWeight.ONE;
        }
        if (value instanceof Double d) {
            return uniform(d, path);
        }
        if (value instanceof Map<?, ?>) {
            @SuppressWarnings("unchecked")
            Map<String, Object> object = (Map<String, Object>) value;
            if (object.containsKey("lbw")) {
                return blockVector(object, path);
            }
            if (object.containsKey("overrides") || object.containsKey("weight")) {
                return withOverrides(object, path);
            }
            return perComponent(object, path);
        }
        throw path.error("expected a weight: a number, null (= 1.0), a component dict, {\"lbw\": …} or "
                + "{\"weight\": …, \"overrides\": […]}, got " + JsonTree.describe(value));
    }

    private PerComponent perComponent(Map<String, Object> object, JsonPath path) {
        Map<Component, ComponentWeight> weights = new EnumMap<>(Component.class);
        for (Map.Entry<String, Object> entry : object.entrySet()) {
            String key = entry.getKey();
            path.push(key);
            Component component = component(key);
            if (component == null) {
                throw path.error("unknown component '" + key + "', expected one of " + COMPONENTS + hint(key)
                        + " (Diffusers drops unknown components with a warning; Lorica rejects them)");
            }
            Object value = entry.getValue();
            if (component == Component.UNET) {
                weights.put(component, unetWeight(value, path));
            } else if (value == JsonTree.NULL) {
                weights.put(component, AdapterWeight.ONE);
            } else if (value instanceof Double d) {
                weights.put(component, uniform(d, path));
            } else if (value instanceof Map<?, ?> || value instanceof List<?>) {
                throw path.error("expected a number or null for a text encoder, got " + JsonTree.describe(value)
                        + "; block weights exist only for unet (Diffusers would match a text-encoder dict against "
                        + "layer names and fall back to 1.0)");
            } else {
                throw path.error("expected a number or null, got " + JsonTree.describe(value));
            }
            path.pop();
        }
        return new PerComponent(weights);
    }

    private ComponentWeight unetWeight(Object value, JsonPath path) {
        if (value == JsonTree.NULL) {
            return AdapterWeight.ONE;
        }
        if (value instanceof Double d) {
            return uniform(d, path);
        }
        if (!(value instanceof Map<?, ?>)) {
            throw path.error("expected a number, null or a block dict {\"down\": …, \"mid\": …, \"up\": …}, got "
                    + JsonTree.describe(value));
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> object = (Map<String, Object>) value;
        Optional<BlockPart> down = Optional.empty();
        Optional<Double> mid = Optional.empty();
        Optional<BlockPart> up = Optional.empty();
        for (Map.Entry<String, Object> entry : object.entrySet()) {
            String key = entry.getKey();
            path.push(key);
            switch (key) {
                case "down" -> down = Optional.of(blockPart(entry.getValue(), path));
                case "up" -> up = Optional.of(blockPart(entry.getValue(), path));
                case "mid" -> mid = Optional.of(mid(entry.getValue(), path));
                default -> throw path.error("unknown key '" + key + "' in a unet block dict, expected down, mid or up");
            }
            path.pop();
        }
        return new UnetBlocks(down, mid, up);
    }

    private double mid(Object value, JsonPath path) {
        if (value instanceof Double d) {
            return finite(d, path);
        }
        if (value instanceof List<?> list) {
            if (list.size() != 1) {
                throw path.error("Expected 1 scales for mid, got " + list.size() + ".");
            }
            path.push(0);
            double d = number(list.get(0), path, "a number");
            path.pop();
            return d;
        }
        if (value instanceof Map<?, ?>) {
            throw path.error("expected a number or a one-element list for mid, got an object; the mid block has one "
                    + "attention, so it takes no block dict (Diffusers fails on this with a TypeError, diffusers#9184)");
        }
        throw path.error("expected a number or a one-element list for mid, got " + JsonTree.describe(value));
    }

    private BlockPart blockPart(Object value, JsonPath path) {
        if (value instanceof Double d) {
            return uniform(d, path);
        }
        if (!(value instanceof Map<?, ?>)) {
            throw path.error("expected a number or a block dict {\"block_<i>\": number | [number, …]}, got "
                    + JsonTree.describe(value));
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> object = (Map<String, Object>) value;
        Map<String, List<Double>> blocks = new LinkedHashMap<>();
        for (Map.Entry<String, Object> entry : object.entrySet()) {
            String key = entry.getKey();
            path.push(key);
            if (!isBlockKey(key)) {
                throw path.error("'" + key + "' is not a block key, expected block_<i> with i = 0, 1, 2, … (no leading "
                        + "zeros)");
            }
            Object item = entry.getValue();
            if (item instanceof Double d) {
                blocks.put(key, List.of(finite(d, path)));
            } else if (item instanceof List<?> list) {
                if (list.isEmpty()) {
                    throw path.error("empty list, expected one weight per attention of the block, or one for all");
                }
                Double[] values = new Double[list.size()];
                for (int i = 0; i < values.length; i++) {
                    path.push(i);
                    values[i] = number(list.get(i), path, "a number");
                    path.pop();
                }
                blocks.put(key, List.of(values));
            } else {
                throw path.error("expected a number or a list of numbers, got " + JsonTree.describe(item));
            }
            path.pop();
        }
        return new PerBlock(blocks);
    }

    private AdapterWeight.BlockVector blockVector(Map<String, Object> object, JsonPath path) {
        double te = 1.0;
        double unet = 1.0;
        for (Map.Entry<String, Object> entry : object.entrySet()) {
            String key = entry.getKey();
            path.push(key);
            switch (key) {
                case "lbw" -> {
                }
                case "te" -> te = numberOrOne(entry.getValue(), path);
                case "unet" -> unet = numberOrOne(entry.getValue(), path);
                default -> throw path.error("unknown key '" + key + "' in a block-weight vector, expected lbw, te or "
                        + "unet");
            }
            path.pop();
        }
        Object lbw = object.get("lbw");
        path.push("lbw");
        AdapterWeight.BlockVector vector;
        if (lbw instanceof String name) {
            if (name.isEmpty() || !Character.isLetter(name.charAt(0))) {
                throw path.error("expected a preset name or a list of 12, 17, 20 or 26 numbers, got "
                        + JsonTree.describe(lbw));
            }
            try {
                vector = presets.vector(name, te, unet);
            } catch (IllegalArgumentException e) {
                throw path.error(e.getMessage());
            }
        } else if (lbw instanceof List<?> list) {
            if (!AdapterWeight.BlockVector.LENGTHS.contains(list.size())) {
                throw path.error("expected 12 (SDXL), 17 (SD 1.5), 20 (SDXL all blocks) or 26 (SD 1.5 all blocks) "
                        + "numbers, got " + list.size());
            }
            Double[] ratios = new Double[list.size()];
            for (int i = 0; i < ratios.length; i++) {
                path.push(i);
                ratios[i] = number(list.get(i), path, "a number");
                path.pop();
            }
            vector = new AdapterWeight.BlockVector(te, unet, List.of(ratios), Optional.empty());
        } else {
            throw path.error("expected a preset name or a list of 12, 17, 20 or 26 numbers, got "
                    + JsonTree.describe(lbw));
        }
        path.pop();
        return vector;
    }

    private WithOverrides withOverrides(Map<String, Object> object, JsonPath path) {
        AdapterWeight base = AdapterWeight.ONE;
        List<LayerOverride> overrides = null;
        for (Map.Entry<String, Object> entry : object.entrySet()) {
            String key = entry.getKey();
            path.push(key);
            switch (key) {
                case "weight" -> {
                    base = weight(entry.getValue(), path);
                    if (base instanceof WithOverrides) {
                        throw path.error("overrides cannot be nested, expected a number, null, a component dict or "
                                + "{\"lbw\": …}");
                    }
                }
                case "overrides" -> overrides = overrides(entry.getValue(), path);
                default -> throw path.error("unknown key '" + key + "' in a weight with overrides, expected weight "
                        + "or overrides");
            }
            path.pop();
        }
        if (overrides == null) {
            throw path.error("'weight' without 'overrides', expected {\"weight\": …, \"overrides\": [{\"regex\": …, "
                    + "\"weight\": …}]}");
        }
        return new WithOverrides(base, overrides);
    }

    private List<LayerOverride> overrides(Object value, JsonPath path) {
        if (!(value instanceof List<?> list) || list.isEmpty()) {
            throw path.error("expected a non-empty list of {\"component\"?: …, \"regex\": …, \"weight\": …}, got "
                    + JsonTree.describe(value));
        }
        List<LayerOverride> overrides = new ArrayList<>(list.size());
        for (int i = 0; i < list.size(); i++) {
            path.push(i);
            Map<String, Object> object = object(list.get(i), path,
                    "an override {\"component\"?: …, \"regex\": …, \"weight\": …}");
            Optional<Component> component = Optional.empty();
            String regex = null;
            double weight = Double.NaN;
            for (Map.Entry<String, Object> entry : object.entrySet()) {
                String key = entry.getKey();
                Object item = entry.getValue();
                path.push(key);
                switch (key) {
                    case "component" -> {
                        Component c = item instanceof String s ? component(s) : null;
                        if (c == null) {
                            throw path.error("expected one of " + COMPONENTS + ", got " + JsonTree.describe(item));
                        }
                        component = Optional.of(c);
                    }
                    case "regex" -> {
                        if (!(item instanceof String s) || s.isEmpty()) {
                            throw path.error("expected a non-empty regular expression (a string), got "
                                    + JsonTree.describe(item));
                        }
                        regex = s;
                    }
                    case "weight" -> weight = numberOrOne(item, path);
                    default -> throw path.error("unknown key '" + key + "' in an override, expected component, regex "
                            + "or weight");
                }
                path.pop();
            }
            if (regex == null) {
                throw path.error("missing 'regex', expected {\"component\"?: …, \"regex\": …, \"weight\": …}");
            }
            if (Double.isNaN(weight)) {
                throw path.error("missing 'weight', expected {\"component\"?: …, \"regex\": …, \"weight\": …}");
            }
            try {
                overrides.add(new LayerOverride(component, regex, weight));
            } catch (IllegalArgumentException e) {
                throw path.push("regex").error(e.getMessage());
            }
            path.pop();
        }
        return overrides;
    }

    // ---------------------------------------------------------------------------------------------------- helpers

    static PerComponent textEncodersAndUnet(double te, double unet) {
        Map<Component, ComponentWeight> weights = new EnumMap<>(Component.class);
        Uniform teWeight = AdapterWeight.of(te);
        weights.put(Component.TEXT_ENCODER, teWeight);
        weights.put(Component.TEXT_ENCODER_2, teWeight);
        weights.put(Component.UNET, AdapterWeight.of(unet));
        return new PerComponent(weights);
    }

    private static Map<String, Object> object(Object value, JsonPath path, String expected) {
        if (!(value instanceof Map<?, ?>)) {
            throw path.error("expected " + expected + ", got " + JsonTree.describe(value));
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> object = (Map<String, Object>) value;
        return object;
    }

    private static Uniform uniform(double value, JsonPath path) {
        return AdapterWeight.of(finite(value, path));
    }

    private static double finite(double value, JsonPath path) {
        if (!Double.isFinite(value)) {
            throw path.error("expected a finite number, got " + (Double.isNaN(value) ? "NaN"
                    : "an infinite or out-of-range number"));
        }
        return value;
    }

    private static double number(Object value, JsonPath path, String expected) {
        if (!(value instanceof Double d)) {
            throw path.error("expected " + expected + ", got " + JsonTree.describe(value));
        }
        return finite(d, path);
    }

    private static double numberOrOne(Object value, JsonPath path) {
        return value == JsonTree.NULL ? 1.0 : number(value, path, "a number or null");
    }

    private static void requireName(String name, JsonPath path) {
        if (!AdapterNames.isValid(name)) {
            throw path.error("'" + name + "' is not a valid adapter name, expected 1-128 letters, digits, '_', '-' or "
                    + "'.', not starting with '.' or '-'");
        }
    }

    private static Component component(String id) {
        for (Component component : Component.values()) {
            if (component.id().equals(id)) {
                return component;
            }
        }
        return null;
    }

    private static String hint(String key) {
        return switch (key) {
            case "down", "mid", "up" -> " (block weights go inside unet: {\"unet\": {\"" + key + "\": …}})";
            case "te" -> " (te is a key of {\"lbw\": …} block-weight vectors)";
            default -> "";
        };
    }

    private static boolean isBlockKey(String key) {
        int n = key.length();
        if (n < 7 || n > 9 || !key.startsWith("block_")) {
            return false;
        }
        if (key.charAt(6) == '0') {
            return n == 7;
        }
        for (int i = 6; i < n; i++) {
            char c = key.charAt(i);
            if (c < '0' || c > '9') {
                return false;
            }
        }
        return true;
    }

    private static String componentList() {
        StringBuilder out = new StringBuilder();
        for (Component component : Component.values()) {
            if (out.length() > 0) {
                out.append(", ");
            }
            out.append(component.id());
        }
        return out.toString();
    }

    private static void checkLength(String text) {
        if (text == null) {
            throw new IllegalArgumentException("settings text must not be null");
        }
        if (text.length() > MAX_LENGTH) {
            throw new IllegalArgumentException("settings text has " + text.length() + " chars, expected at most "
                    + MAX_LENGTH);
        }
    }
}
