package io.lorica.policy.settings;

import io.lorica.api.policy.AdapterWeight;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * Named A1111 "LoRA Block Weight" ratio vectors (hako-mikan/sd-webui-lora-block-weight), as used by
 * {@code lbw=NAME} in prompt tags, in the compact settings form and in {@code {"lbw": "NAME"}} JSON weights. Immutable;
 * {@link #withOverrides(Map)} returns a new instance.
 *
 * <p><b>Vector layout</b> (the extension's {@code BLOCKID12/17/20/26}): 17 values = SD 1.5 LoRA blocks {@code BASE,
 * IN01, IN02, IN04, IN05, IN07, IN08, M00, OUT03 … OUT11}; 26 = SD 1.5 all blocks {@code BASE, IN00 … IN11, M00,
 * OUT00 … OUT11}; 12 = SDXL LoRA blocks {@code BASE, IN04, IN05, IN07, IN08, M00, OUT00 … OUT05}; 20 = SDXL all
 * blocks {@code BASE, IN00 … IN08, M00, OUT00 … OUT08}. {@code BASE} is the text encoder(s).
 *
 * <p><b>Built-in presets</b> ({@link #defaults()}) are the extension's {@code DEF_WEIGHT_PRESET} from
 * {@code scripts/lora_block_weight.py} (unchanged from its first upload, commit 1a3679f of 2023-01-30, to commit b403cb7
 * of 2025-06-19), all 17 values (SD 1.5 LoRA layout):
 * <pre>
 * NONE    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0
 * ALL     1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1
 * INS     1,1,1,1,0,0,0,0,0,0,0,0,0,0,0,0,0
 * IND     1,0,0,0,1,1,1,0,0,0,0,0,0,0,0,0,0
 * INALL   1,1,1,1,1,1,1,0,0,0,0,0,0,0,0,0,0
 * MIDD    1,0,0,0,1,1,1,1,1,1,1,1,0,0,0,0,0
 * OUTD    1,0,0,0,0,0,0,0,1,1,1,1,0,0,0,0,0
 * OUTS    1,0,0,0,0,0,0,0,0,0,0,0,1,1,1,1,1
 * OUTALL  1,0,0,0,0,0,0,0,1,1,1,1,1,1,1,1,1
 * ALL0.5  0.5 × 17
 * </pre>
 * Its {@code FLUXALL} (61 values) is left out: Flux vectors are not a Lorica {@link AdapterWeight.BlockVector} length.
 * The extension's early {@code lbwpresets.txt} (added 2023-01-30, deleted 2023-03-02) had {@code BASE = 0} in
 * {@code IND, MIDD, OUTD, OUTS, OUTALL}; the values above follow the script, which is what a fresh install writes to
 * {@code lbwpresets.txt} and what the README of the current version lists.
 *
 * <p><b>SDXL presets</b>: the extension ships none. Users write them as lines {@code NAME:v1,…,v12} in
 * {@code lbwpresets.txt} (its "Make Weights" panel, type "12(XL)", emits the 12 slider values of {@code BLOCKID12} in
 * that order, comma-separated) and the extension accepts any preset line with 12, 17, 20, 26 or 61 values. Lorica
 * takes the same {@code v1,…,vn} text per name from configuration through {@link #withOverrides(Map)}, e.g.
 * {@code XL_OUT = "1,0,0,0,0,0,1,1,1,1,1,1"} (an illustration, not a built-in). The extension itself expands a vector
 * of any layout to the 26 slots with 0 for the blocks the layout does not list ({@code to26}); how a vector maps onto a
 * given model is the scale policy's business, not this class's.
 *
 * <p>Preset names: {@code [A-Za-z][A-Za-z0-9_.-]{0,63}}, case-sensitive (as in the extension). They start with a letter
 * so that they are never mistaken for a number.
 */
public final class BlockWeightPresets {

    private static final Pattern NAME = Pattern.compile("[A-Za-z][A-Za-z0-9_.-]{0,63}");

    private static final BlockWeightPresets DEFAULTS = new BlockWeightPresets(builtIns());

    private final Map<String, List<Double>> presets;

    private BlockWeightPresets(Map<String, List<Double>> presets) {
        this.presets = Collections.unmodifiableMap(presets);
    }

    /** The built-in presets of the extension (see the class description for values and source). */
    public static BlockWeightPresets defaults() {
        return DEFAULTS;
    }

    /** No presets at all: only literal vectors can be used. */
    public static BlockWeightPresets empty() {
        return new BlockWeightPresets(new LinkedHashMap<>());
    }

    /**
     * Presets given as ratio lists.
     *
     * @throws IllegalArgumentException naming the preset whose name or vector is invalid
     */
    public static BlockWeightPresets of(Map<String, List<Double>> presets) {
        if (presets == null) {
            throw new IllegalArgumentException("presets must not be null");
        }
        Map<String, List<Double>> copy = new LinkedHashMap<>();
        for (Map.Entry<String, List<Double>> entry : presets.entrySet()) {
            String name = requireName(entry.getKey());
            copy.put(name, checkRatios(entry.getValue(), "block-weight preset '" + name + "'"));
        }
        return new BlockWeightPresets(copy);
    }

    /**
     * These presets plus the configured ones; a configured name that exists replaces that preset (keeping its place),
     * new names are appended in alphabetical order.
     *
     * @param configured preset name -> ratios as text, comma- and/or whitespace-separated ({@code "1,0,0.5,…"}), the
     *                   value part of an A1111 {@code lbwpresets.txt} line
     * @throws IllegalArgumentException naming the preset and what is wrong: an invalid name, a value that is not a finite
     *                                  number (A1111's random/dynamic values {@code R}, {@code U}, {@code X} are not
     *                                  supported) or a length other than 12, 17, 20 or 26
     */
    public BlockWeightPresets withOverrides(Map<String, String> configured) {
        if (configured == null) {
            throw new IllegalArgumentException("configured presets must not be null");
        }
        if (configured.isEmpty()) {
            return this;
        }
        Map<String, List<Double>> copy = new LinkedHashMap<>(presets);
        for (Map.Entry<String, String> entry : new TreeMap<>(configured).entrySet()) {
            String name = requireName(entry.getKey());
            String where = "block-weight preset '" + name + "'";
            if (entry.getValue() == null) {
                throw new IllegalArgumentException(where + ": expected 12, 17, 20 or 26 numbers, got null");
            }
            copy.put(name, parseRatios(entry.getValue(), where));
        }
        return new BlockWeightPresets(copy);
    }

    /** The ratios of preset {@code name}, if there is one. */
    public Optional<List<Double>> get(String name) {
        return Optional.ofNullable(presets.get(name));
    }

    /** Whether there is a preset called {@code name}. */
    public boolean contains(String name) {
        return presets.containsKey(name);
    }

    /** The preset names, built-ins first, in a stable order. */
    public Set<String> names() {
        return presets.keySet();
    }

    /** All presets, name -> immutable ratio list, in the order of {@link #names()}. */
    public Map<String, List<Double>> asMap() {
        return presets;
    }

    /**
     * Resolves an {@code lbw=} value to a block vector: a preset name (it starts with a letter) or 12, 17, 20 or 26
     * numbers separated by commas and/or whitespace.
     *
     * @param spec       the preset name or the literal vector
     * @param teWeight   multiplier of the text encoders
     * @param unetWeight multiplier of the UNet
     * @throws IllegalArgumentException for an unknown preset (listing the known ones), a bad number or a bad length
     */
    public AdapterWeight.BlockVector vector(String spec, double teWeight, double unetWeight) {
        String text = spec == null ? "" : spec.strip();
        if (text.isEmpty()) {
            throw new IllegalArgumentException("empty block-weight value, expected a preset name ("
                    + String.join(", ", presets.keySet()) + ") or 12, 17, 20 or 26 numbers");
        }
        if (Character.isLetter(text.charAt(0))) {
            List<Double> ratios = presets.get(text);
            if (ratios == null) {
                throw new IllegalArgumentException("unknown block-weight preset '" + text + "', expected one of "
                        + (presets.isEmpty() ? "(no presets configured)" : String.join(", ", presets.keySet()))
                        + " or 12, 17, 20 or 26 numbers");
            }
            return new AdapterWeight.BlockVector(teWeight, unetWeight, ratios, Optional.of(text));
        }
        return new AdapterWeight.BlockVector(teWeight, unetWeight, parseRatios(text, "block-weight vector"),
                Optional.empty());
    }

    /**
     * Parses 12, 17, 20 or 26 finite numbers separated by commas and/or whitespace.
     *
     * @param where what is parsed, for the message
     * @throws IllegalArgumentException naming {@code where} and the bad value or the count
     */
    static List<Double> parseRatios(String text, String where) {
        List<Double> values = new ArrayList<>(26);
        int n = text.length();
        int i = skipSpace(text, 0);
        if (i == n) {
            throw new IllegalArgumentException(where + ": expected 12, 17, 20 or 26 numbers, got none");
        }
        while (i < n) {
            int start = i;
            while (i < n && text.charAt(i) != ',' && !Character.isWhitespace(text.charAt(i))) {
                i++;
            }
            if (start == i) {
                throw new IllegalArgumentException(where + ": empty value at position " + (values.size() + 1)
                        + " in '" + text + "', expected numbers separated by ',' or spaces");
            }
            double value = Numbers.parse(text, start, i);
            if (!Double.isFinite(value)) {
                String token = text.substring(start, i);
                throw new IllegalArgumentException(where + ": value " + (values.size() + 1) + " '" + token + "' is "
                        + (Double.isNaN(value) ? "not a number" : "out of range")
                        + (Character.isLetter(token.charAt(0))
                        ? " (A1111's random and dynamic values R, U and X are not supported)" : "")
                        + ", expected a finite number");
            }
            values.add(value);
            i = skipSpace(text, i);
            if (i < n && text.charAt(i) == ',') {
                i = skipSpace(text, i + 1);
                if (i == n) {
                    throw new IllegalArgumentException(where + ": trailing ',' in '" + text + "'");
                }
            }
        }
        return checkRatios(values, where);
    }

    private static List<Double> checkRatios(List<Double> ratios, String where) {
        if (ratios == null || !AdapterWeight.BlockVector.LENGTHS.contains(ratios.size())) {
            throw new IllegalArgumentException(where + ": expected 12 (SDXL), 17 (SD 1.5), 20 (SDXL all blocks) or 26"
                    + " (SD 1.5 all blocks) numbers, got " + (ratios == null ? "null" : ratios.size()));
        }
        for (int i = 0; i < ratios.size(); i++) {
            Double value = ratios.get(i);
            if (value == null || !Double.isFinite(value)) {
                throw new IllegalArgumentException(where + ": value " + (i + 1) + " must be a finite number, got "
                        + value);
            }
        }
        return List.copyOf(ratios);
    }

    private static String requireName(String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("block-weight preset name '" + name + "' is invalid, expected a letter"
                    + " followed by up to 63 letters, digits, '_', '.' or '-'");
        }
        return name;
    }

    private static int skipSpace(String text, int i) {
        while (i < text.length() && Character.isWhitespace(text.charAt(i))) {
            i++;
        }
        return i;
    }

    private static Map<String, List<Double>> builtIns() {
        // scripts/lora_block_weight.py, DEF_WEIGHT_PRESET (hako-mikan/sd-webui-lora-block-weight)
        Map<String, List<Double>> map = new LinkedHashMap<>();
        map.put("NONE", parseRatios("0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0", "NONE"));
        map.put("ALL", parseRatios("1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1", "ALL"));
        map.put("INS", parseRatios("1,1,1,1,0,0,0,0,0,0,0,0,0,0,0,0,0", "INS"));
        map.put("IND", parseRatios("1,0,0,0,1,1,1,0,0,0,0,0,0,0,0,0,0", "IND"));
        map.put("INALL", parseRatios("1,1,1,1,1,1,1,0,0,0,0,0,0,0,0,0,0", "INALL"));
        map.put("MIDD", parseRatios("1,0,0,0,1,1,1,1,1,1,1,1,0,0,0,0,0", "MIDD"));
        map.put("OUTD", parseRatios("1,0,0,0,0,0,0,0,1,1,1,1,0,0,0,0,0", "OUTD"));
        map.put("OUTS", parseRatios("1,0,0,0,0,0,0,0,0,0,0,0,1,1,1,1,1", "OUTS"));
        map.put("OUTALL", parseRatios("1,0,0,0,0,0,0,0,1,1,1,1,1,1,1,1,1", "OUTALL"));
        map.put("ALL0.5", parseRatios("0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5",
                "ALL0.5"));
        return map;
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof BlockWeightPresets that && presets.equals(that.presets);
    }

    @Override
    public int hashCode() {
        return presets.hashCode();
    }

    @Override
    public String toString() {
        return "BlockWeightPresets" + presets.keySet();
    }
}
