package io.lorica.policy.settings;

import io.lorica.api.AdapterNames;
import io.lorica.api.policy.AdapterSettings;
import io.lorica.api.policy.AdapterWeight;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Extracts A1111-style LoRA tags from a prompt: the prompt without the tags plus the {@link AdapterSettings} they
 * describe (call scale 1, enabled).
 *
 * <h2>Tag syntax</h2>
 * <pre>
 * tag     := "&lt;lora:" name ( ":" item )* "&gt;"          -- "&lt;lora:" is lower case, as in A1111
 * item    := number                                  -- positional: 1st = te, 2nd = unet
 *          | "te=" number | "unet=" number           -- named, instead of the positional ones
 *          | "lbw=" vector                           -- LoRA Block Weight (hako-mikan's extension)
 *          | vector                                  -- 2nd positional that is not a number: same as lbw= (older
 *                                                    --   extension syntax &lt;lora:name:1:MIDD&gt;)
 * vector  := presetName | number ( ("," | " ")+ number )*     -- 12, 17, 20 or 26 numbers
 * </pre>
 * Whitespace around items is ignored. Weights, as in A1111 ({@code te} = text encoders, {@code unet} defaults to
 * {@code te}, both default to 1):
 * <ul>
 *   <li>{@code <lora:name>} -> 1.0; {@code <lora:name:w>} (or {@code te=w}, or {@code unet=w}) -> {@code w}
 *       ({@link AdapterWeight.Uniform});</li>
 *   <li>{@code <lora:name:te:unet>} -> {@link AdapterWeight.PerComponent} with {@code text_encoder = text_encoder_2 =
 *       te} and {@code unet = unet};</li>
 *   <li>any of these with {@code lbw=…} -> {@link AdapterWeight.BlockVector}{@code (te, unet, ratios)}, e.g.
 *       {@code <lora:name:1:lbw=MIDD>}, {@code <lora:name:0.8:lbw=1,0,0,0,1,1,1,1,1,1,1,1,0,0,0,0,0>}.</li>
 * </ul>
 * Not supported (an error naming the tag): the extension's {@code start=}, {@code stop=}, {@code step=},
 * {@code lbwe=}, {@code x=}, its random/dynamic values {@code R}, {@code U}, {@code X}, A1111's third positional
 * {@code dyn} rank, and adapter names outside {@link AdapterNames}' rule (A1111 allows any file name).
 *
 * <h2>Prompt text</h2>
 * Tags are removed; a backslash right before {@code <lora:} escapes it: {@code \<lora:x:1>} stays in the prompt as
 * {@code <lora:x:1>} (the backslash is dropped) and is not a tag. Other backslashes, parentheses and brackets (A1111
 * attention syntax) are left alone. Then whitespace is tidied over the whole prompt: runs of spaces and tabs become one
 * space, spaces next to a line break are dropped, and leading and trailing whitespace is removed; line breaks are kept.
 *
 * <h2>Order, repeats, errors</h2>
 * Adapters are active in tag order. When an adapter is tagged twice the later tag wins (as if the earlier one were not
 * there, so it also takes the later position) and a warning says so. Malformed tags are an
 * {@link IllegalArgumentException} naming the tag and its position (0-based, in Unicode code points): an unterminated
 * tag ({@code <lora:x:1} without {@code >}), a {@code <} inside a tag (tags do not nest), an empty or invalid name, a
 * bad number, too many values, an unknown or repeated option, an unknown preset or a vector of the wrong length.
 * Whether a name is a loaded adapter is the caller's business, or use
 * {@link #extract(String, BlockWeightPresets, Set)}.
 */
public final class PromptTags {

    private static final String OPEN = "<lora:";

    /** How much of a tag an error message quotes. */
    private static final int QUOTE = 80;

    private PromptTags() {
    }

    /**
     * The result of {@link #extract}.
     *
     * @param prompt   the prompt without the tags, whitespace tidied
     * @param settings the adapters of the tags in order, call scale 1, enabled
     * @param warnings human-readable notes (an adapter tagged more than once), empty when there is nothing to say
     */
    public record Extraction(String prompt, AdapterSettings settings, List<String> warnings) {

        /** @throws IllegalArgumentException when a component is null */
        public Extraction {
            if (prompt == null || settings == null || warnings == null) {
                throw new IllegalArgumentException("prompt, settings and warnings must not be null");
            }
            warnings = List.copyOf(warnings);
        }
    }

    /**
     * Extracts the tags of {@code prompt}.
     *
     * @param presets resolves {@code lbw=} preset names
     * @throws IllegalArgumentException for a malformed tag, naming it and its position
     */
    public static Extraction extract(String prompt, BlockWeightPresets presets) {
        return extract(prompt, presets, null);
    }

    /**
     * Extracts the tags of {@code prompt} and checks their names against the known adapters.
     *
     * @param presets       resolves {@code lbw=} preset names
     * @param knownAdapters the adapters that may be named; null to skip the check
     * @throws IllegalArgumentException for a malformed tag, or, naming every unknown adapter with its tag and listing
     *                                  the known ones, when a tag names an adapter not in {@code knownAdapters}
     */
    public static Extraction extract(String prompt, BlockWeightPresets presets, Set<String> knownAdapters) {
        if (prompt == null) {
            throw new IllegalArgumentException("prompt must not be null");
        }
        if (presets == null) {
            throw new IllegalArgumentException("presets must not be null");
        }
        if (prompt.length() > SettingsParser.MAX_LENGTH) {
            throw new IllegalArgumentException("prompt has " + prompt.length() + " chars, expected at most "
                    + SettingsParser.MAX_LENGTH);
        }
        Tidy text = new Tidy(prompt.length());
        Map<String, AdapterWeight> adapters = null;
        Map<String, Integer> tagStarts = null;
        List<String> warnings = null;
        Map<String, String> unknown = null;
        int copied = 0;
        int from = 0;
        int start;
        while ((start = prompt.indexOf(OPEN, from)) >= 0) {
            if (start > 0 && prompt.charAt(start - 1) == '\\') {
                text.append(prompt, copied, start - 1);
                copied = start;
                from = start + OPEN.length();
                continue;
            }
            int close = prompt.indexOf('>', start + OPEN.length());
            if (close < 0) {
                throw malformed(prompt, start, prompt.length(), "no closing '>'");
            }
            int nested = Text.indexOf(prompt, '<', start + OPEN.length(), close);
            if (nested >= 0) {
                throw malformed(prompt, start, nested, "a '<' comes before the closing '>'; tags cannot be nested");
            }
            text.append(prompt, copied, start);
            String name = name(prompt, start, close);
            AdapterWeight weight = weight(prompt, start, close, presets);
            if (adapters == null) {
                adapters = new LinkedHashMap<>();
                tagStarts = new HashMap<>();
            }
            if (adapters.remove(name) != null) {
                if (warnings == null) {
                    warnings = new ArrayList<>(1);
                }
                int previous = tagStarts.get(name);
                warnings.add("adapter '" + name + "' is tagged more than once: " + quote(prompt, start, close + 1)
                        + " at position " + position(prompt, start) + " replaces "
                        + quote(prompt, previous, prompt.indexOf('>', previous) + 1) + " at position "
                        + position(prompt, previous));
            }
            adapters.put(name, weight);
            tagStarts.put(name, start);
            if (knownAdapters != null && !knownAdapters.contains(name)) {
                if (unknown == null) {
                    unknown = new LinkedHashMap<>();
                }
                unknown.putIfAbsent(name, "'" + name + "' (tag " + quote(prompt, start, close + 1) + " at position "
                        + position(prompt, start) + ")");
            }
            copied = close + 1;
            from = close + 1;
        }
        text.append(prompt, copied, prompt.length());
        if (unknown != null) {
            throw new IllegalArgumentException("unknown adapter(s) in the prompt: " + String.join(", ", unknown.values())
                    + "; known adapters: " + known(knownAdapters));
        }
        AdapterSettings settings = adapters == null ? AdapterSettings.none()
                : new AdapterSettings(adapters, 1.0, true);
        return new Extraction(text.result(), settings, warnings == null ? List.of() : warnings);
    }

    private static String name(String prompt, int start, int close) {
        int from = start + OPEN.length();
        int colon = Text.indexOf(prompt, ':', from, close);
        int end = colon < 0 ? close : colon;
        String name = prompt.substring(Text.skipSpace(prompt, from, end),
                Text.trimEnd(prompt, from, end));
        if (name.isEmpty()) {
            throw malformed(prompt, start, close + 1, "the adapter name is empty");
        }
        if (!AdapterNames.isValid(name)) {
            throw malformed(prompt, start, close + 1, "'" + name + "' is not a valid adapter name, expected 1-128 "
                    + "letters, digits, '_', '-' or '.', not starting with '.' or '-'");
        }
        return name;
    }

    private static AdapterWeight weight(String prompt, int start, int close, BlockWeightPresets presets) {
        int colon = Text.indexOf(prompt, ':', start + OPEN.length(), close);
        if (colon < 0) {
            return AdapterWeight.ONE;
        }
        double te = Double.NaN;
        double unet = Double.NaN;
        String lbw = null;
        int positional = 0;
        int i = colon + 1;
        while (true) {
            int next = Text.indexOf(prompt, ':', i, close);
            int itemEnd = next < 0 ? close : next;
            int from = Text.skipSpace(prompt, i, itemEnd);
            int to = Text.trimEnd(prompt, from, itemEnd);
            if (from == to) {
                throw malformed(prompt, start, close + 1, "empty value after ':'");
            }
            int eq = Text.indexOf(prompt, '=', from, to);
            if (eq >= 0) {
                String key = prompt.substring(from, Text.trimEnd(prompt, from, eq));
                int valueFrom = Text.skipSpace(prompt, eq + 1, to);
                switch (key) {
                    case "te" -> {
                        if (!Double.isNaN(te)) {
                            throw malformed(prompt, start, close + 1, "the text-encoder weight is given twice");
                        }
                        te = number(prompt, valueFrom, to, start, close);
                    }
                    case "unet" -> {
                        if (!Double.isNaN(unet)) {
                            throw malformed(prompt, start, close + 1, "the unet weight is given twice");
                        }
                        unet = number(prompt, valueFrom, to, start, close);
                    }
                    case "lbw" -> {
                        if (lbw != null) {
                            throw malformed(prompt, start, close + 1, "the block weights are given twice");
                        }
                        lbw = prompt.substring(valueFrom, to);
                    }
                    default -> throw malformed(prompt, start, close + 1, "unsupported option '" + key
                            + "=', expected te=, unet= or lbw=");
                }
            } else if (positional == 0) {
                positional++;
                if (!Double.isNaN(te)) {
                    throw malformed(prompt, start, close + 1, "the text-encoder weight is given twice");
                }
                te = number(prompt, from, to, start, close);
            } else if (positional == 1) {
                positional++;
                double value = Numbers.parse(prompt, from, to);
                if (!Double.isNaN(value)) {
                    if (!Double.isNaN(unet)) {
                        throw malformed(prompt, start, close + 1, "the unet weight is given twice");
                    }
                    unet = number(prompt, from, to, start, close);
                } else if (Character.isLetter(prompt.charAt(from)) || isNumberList(prompt, from, to)) {
                    if (lbw != null) {
                        throw malformed(prompt, start, close + 1, "the block weights are given twice");
                    }
                    lbw = prompt.substring(from, to);
                } else {
                    number(prompt, from, to, start, close);
                }
            } else {
                throw malformed(prompt, start, close + 1, "too many values, expected <lora:name>, <lora:name:w>, "
                        + "<lora:name:te:unet>, optionally with :lbw=preset-or-vector");
            }
            if (itemEnd == close) {
                break;
            }
            i = itemEnd + 1;
        }
        boolean teGiven = !Double.isNaN(te);
        boolean unetGiven = !Double.isNaN(unet);
        double teWeight = teGiven ? te : unetGiven ? unet : 1.0;
        double unetWeight = unetGiven ? unet : teWeight;
        if (lbw != null) {
            try {
                return presets.vector(lbw, teWeight, unetWeight);
            } catch (IllegalArgumentException e) {
                throw malformed(prompt, start, close + 1, e.getMessage());
            }
        }
        if (teGiven && unetGiven) {
            return SettingsParser.textEncodersAndUnet(teWeight, unetWeight);
        }
        return AdapterWeight.of(teWeight);
    }

    /** Whether {@code prompt[from, to)} is several numbers separated by ',' or spaces (a literal lbw vector). */
    private static boolean isNumberList(String prompt, int from, int to) {
        for (int i = from; i < to; i++) {
            char c = prompt.charAt(i);
            if (c == ',' || c == ' ') {
                return true;
            }
        }
        return false;
    }

    private static double number(String prompt, int from, int to, int start, int close) {
        double value = Numbers.parse(prompt, from, to);
        if (!Double.isFinite(value)) {
            throw malformed(prompt, start, close + 1, "'" + prompt.substring(from, to) + "' is "
                    + (Double.isNaN(value) ? "not a number" : "out of range") + ", expected a finite number like 0.8");
        }
        return value;
    }

    private static IllegalArgumentException malformed(String prompt, int start, int end, String problem) {
        return new IllegalArgumentException("malformed tag " + quote(prompt, start, end) + " at position "
                + position(prompt, start) + ": " + problem);
    }

    private static String quote(String prompt, int start, int end) {
        if (end - start > QUOTE) {
            return "'" + prompt.substring(start, start + QUOTE) + "…'";
        }
        return "'" + prompt.substring(start, end) + "'";
    }

    private static int position(String prompt, int index) {
        return prompt.codePointCount(0, index);
    }

    private static String known(Set<String> knownAdapters) {
        if (knownAdapters.isEmpty()) {
            return "(none)";
        }
        StringBuilder out = new StringBuilder();
        int count = 0;
        for (String name : new TreeSet<>(knownAdapters)) {
            if (count == 50) {
                return out.append(" and ").append(knownAdapters.size() - 50).append(" more").toString();
            }
            if (count++ > 0) {
                out.append(", ");
            }
            out.append(name);
        }
        return out.toString();
    }

    /** Appends prompt text while collapsing whitespace, in one pass. */
    private static final class Tidy {

        private final StringBuilder out;
        private boolean pendingSpace;
        private boolean lineStart = true;

        Tidy(int capacity) {
            out = new StringBuilder(capacity);
        }

        void append(String text, int from, int to) {
            for (int i = from; i < to; i++) {
                char c = text.charAt(i);
                if (c == ' ' || c == '\t') {
                    pendingSpace = true;
                } else if (c == '\n' || c == '\r') {
                    pendingSpace = false;
                    lineStart = true;
                    out.append(c);
                } else {
                    if (pendingSpace && !lineStart) {
                        out.append(' ');
                    }
                    pendingSpace = false;
                    lineStart = false;
                    out.append(c);
                }
            }
        }

        String result() {
            return out.toString().strip();
        }
    }
}
