package io.lorica.policy.settings;

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
import io.lorica.api.policy.AdapterWeight.Uniform;
import io.lorica.api.policy.AdapterWeight.WithOverrides;

import java.util.List;
import java.util.Map;

/**
 * Writes {@link AdapterSettings} as canonical JSON or compact text, the inverse of {@link SettingsParser}: for every
 * settings value {@code s}, {@code parser.parse(formatter.toJson(s))} and {@code parser.parse(formatter.toCompact(s))}
 * equal {@code s} (same presets on both sides), with one exception: a {@link BlockVector} whose preset label does not
 * name a preset with exactly its ratios is written as a literal vector, so the label is dropped.
 *
 * <p>Canonical JSON: no whitespace; keys {@code adapters}, {@code scale}, {@code enabled} always present; adapters in
 * order; component dicts in {@link Component} order ({@code unet}, {@code text_encoder}, {@code text_encoder_2}); unet
 * dicts as {@code down, mid, up} with absent parts left out; a one-element block list written as a number; a block
 * vector's {@code te}/{@code unet} left out when 1; numbers as {@code 1}, {@code 0.5}, {@code 1.0E-5}, {@code -0.0}
 * (every double written parses back to the same bits).
 *
 * <p>Canonical compact text: {@code name} for weight 1.0, {@code name:w} for other numbers, {@code name:te:unet} for a
 * component dict with exactly {@code text_encoder = text_encoder_2 = te} and {@code unet = unet} as numbers,
 * {@code name:lbw=…}, {@code name:w:lbw=…} or {@code name:te:unet:lbw=…} for block vectors (preset name when it
 * matches, else the numbers separated by spaces), {@code name:{json}} for everything else; then {@code ;scale=c} when
 * the call scale is not 1 and {@code ;enabled=false} when disabled.
 */
public final class SettingsFormatter {

    private final BlockWeightPresets presets;

    /**
     * A formatter that writes a block vector's preset name when {@code presets} has that preset with the same ratios.
     *
     * @throws IllegalArgumentException when presets is null
     */
    public SettingsFormatter(BlockWeightPresets presets) {
        if (presets == null) {
            throw new IllegalArgumentException("presets must not be null");
        }
        this.presets = presets;
    }

    /** The canonical JSON of {@code settings}, e.g. <code>{"adapters":{"toy":0.5},"scale":1,"enabled":true}</code>. */
    public String toJson(AdapterSettings settings) {
        StringBuilder out = new StringBuilder(64 + 32 * settings.adapters().size());
        out.append("{\"adapters\":{");
        boolean first = true;
        for (Map.Entry<String, AdapterWeight> entry : settings.adapters().entrySet()) {
            if (!first) {
                out.append(',');
            }
            first = false;
            string(out, entry.getKey()).append(':');
            weight(out, entry.getValue());
        }
        out.append("},\"scale\":");
        Numbers.append(out, settings.callScale());
        return out.append(",\"enabled\":").append(settings.enabled()).append('}').toString();
    }

    /** The canonical JSON of one weight, e.g. <code>{"unet":{"down":0.9}}</code>. */
    public String toJson(AdapterWeight weight) {
        return weight(new StringBuilder(32), weight).toString();
    }

    /** The canonical compact text of {@code settings}, e.g. {@code toy:0.5,style:lbw=MIDD;scale=0.8}. */
    public String toCompact(AdapterSettings settings) {
        StringBuilder out = new StringBuilder(16 + 24 * settings.adapters().size());
        boolean first = true;
        for (Map.Entry<String, AdapterWeight> entry : settings.adapters().entrySet()) {
            if (!first) {
                out.append(',');
            }
            first = false;
            out.append(entry.getKey());
            compactWeight(out, entry.getValue());
        }
        if (Double.compare(settings.callScale(), 1.0) != 0) {
            Numbers.append(out.append(";scale="), settings.callScale());
        }
        if (!settings.enabled()) {
            out.append(";enabled=false");
        }
        return out.toString();
    }

    private void compactWeight(StringBuilder out, AdapterWeight weight) {
        if (weight instanceof Uniform uniform) {
            if (Double.compare(uniform.value(), 1.0) != 0) {
                Numbers.append(out.append(':'), uniform.value());
            }
        } else if (weight instanceof BlockVector vector) {
            out.append(':');
            boolean unit = Double.compare(vector.teWeight(), 1.0) == 0;
            if (Double.compare(vector.teWeight(), vector.unetWeight()) != 0) {
                Numbers.append(out, vector.teWeight()).append(':');
                Numbers.append(out, vector.unetWeight()).append(':');
            } else if (!unit) {
                Numbers.append(out, vector.teWeight()).append(':');
            }
            out.append("lbw=");
            String preset = presetName(vector);
            if (preset != null) {
                out.append(preset);
            } else {
                List<Double> ratios = vector.ratios();
                for (int i = 0; i < ratios.size(); i++) {
                    if (i > 0) {
                        out.append(' ');
                    }
                    Numbers.append(out, ratios.get(i));
                }
            }
        } else if (weight instanceof PerComponent perComponent && isTextEncodersAndUnet(perComponent)) {
            Map<Component, ComponentWeight> weights = perComponent.weights();
            Numbers.append(out.append(':'), ((Uniform) weights.get(Component.TEXT_ENCODER)).value()).append(':');
            Numbers.append(out, ((Uniform) weights.get(Component.UNET)).value());
        } else {
            weight(out.append(':'), weight);
        }
    }

    private static boolean isTextEncodersAndUnet(PerComponent perComponent) {
        Map<Component, ComponentWeight> weights = perComponent.weights();
        return weights.size() == 3
                && weights.get(Component.TEXT_ENCODER) instanceof Uniform te
                && weights.get(Component.TEXT_ENCODER_2) instanceof Uniform te2
                && weights.get(Component.UNET) instanceof Uniform
                && Double.compare(te.value(), te2.value()) == 0;
    }

    private StringBuilder weight(StringBuilder out, AdapterWeight weight) {
        if (weight instanceof Uniform uniform) {
            return Numbers.append(out, uniform.value());
        }
        if (weight instanceof PerComponent perComponent) {
            out.append('{');
            boolean first = true;
            for (Map.Entry<Component, ComponentWeight> entry : perComponent.weights().entrySet()) {
                if (!first) {
                    out.append(',');
                }
                first = false;
                string(out, entry.getKey().id()).append(':');
                componentWeight(out, entry.getValue());
            }
            return out.append('}');
        }
        if (weight instanceof BlockVector vector) {
            out.append("{\"lbw\":");
            String preset = presetName(vector);
            if (preset != null) {
                string(out, preset);
            } else {
                numbers(out, vector.ratios());
            }
            if (Double.compare(vector.teWeight(), 1.0) != 0) {
                Numbers.append(out.append(",\"te\":"), vector.teWeight());
            }
            if (Double.compare(vector.unetWeight(), 1.0) != 0) {
                Numbers.append(out.append(",\"unet\":"), vector.unetWeight());
            }
            return out.append('}');
        }
        WithOverrides withOverrides = (WithOverrides) weight;
        out.append("{\"weight\":");
        weight(out, withOverrides.base()).append(",\"overrides\":[");
        boolean first = true;
        for (LayerOverride override : withOverrides.overrides()) {
            if (!first) {
                out.append(',');
            }
            first = false;
            out.append('{');
            if (override.component().isPresent()) {
                string(out.append("\"component\":"), override.component().get().id()).append(',');
            }
            string(out.append("\"regex\":"), override.regex());
            Numbers.append(out.append(",\"weight\":"), override.weight()).append('}');
        }
        return out.append("]}");
    }

    private static void componentWeight(StringBuilder out, ComponentWeight weight) {
        if (weight instanceof Uniform uniform) {
            Numbers.append(out, uniform.value());
            return;
        }
        UnetBlocks blocks = (UnetBlocks) weight;
        out.append('{');
        boolean first = true;
        if (blocks.down().isPresent()) {
            blockPart(out.append("\"down\":"), blocks.down().get());
            first = false;
        }
        if (blocks.mid().isPresent()) {
            Numbers.append(out.append(first ? "" : ",").append("\"mid\":"), blocks.mid().get());
            first = false;
        }
        if (blocks.up().isPresent()) {
            blockPart(out.append(first ? "" : ",").append("\"up\":"), blocks.up().get());
        }
        out.append('}');
    }

    private static void blockPart(StringBuilder out, BlockPart part) {
        if (part instanceof Uniform uniform) {
            Numbers.append(out, uniform.value());
            return;
        }
        out.append('{');
        boolean first = true;
        for (Map.Entry<String, List<Double>> entry : ((PerBlock) part).blocks().entrySet()) {
            if (!first) {
                out.append(',');
            }
            first = false;
            string(out, entry.getKey()).append(':');
            List<Double> values = entry.getValue();
            if (values.size() == 1) {
                Numbers.append(out, values.get(0));
            } else {
                numbers(out, values);
            }
        }
        out.append('}');
    }

    private String presetName(BlockVector vector) {
        if (vector.preset().isEmpty()) {
            return null;
        }
        String name = vector.preset().get();
        return presets.get(name).filter(vector.ratios()::equals).isPresent() ? name : null;
    }

    private static void numbers(StringBuilder out, List<Double> values) {
        out.append('[');
        for (int i = 0; i < values.size(); i++) {
            if (i > 0) {
                out.append(',');
            }
            Numbers.append(out, values.get(i));
        }
        out.append(']');
    }

    /** Appends {@code value} as a JSON string; non-ASCII characters are written as they are. */
    static StringBuilder string(StringBuilder out, String value) {
        out.append('"');
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20 || c == 0x2028 || c == 0x2029 || Character.isSurrogate(c)) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        return out.append('"');
    }
}
