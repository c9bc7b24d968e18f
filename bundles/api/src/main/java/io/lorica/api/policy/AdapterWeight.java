package io.lorica.api.policy;

import io.lorica.api.Component;

import java.util.Collections;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;

import org.osgi.annotation.versioning.ProviderType;

/**
 * The weight of one adapter in {@code set_adapters(adapter_names, adapter_weights)}, following Diffusers' grammar:
 *
 * <pre>
 * weight      := number | null (= 1.0) | componentDict
 * componentDict := { "text_encoder"?: number, "text_encoder_2"?: number, "unet"?: number | unetDict }
 * unetDict    := { "down"?: part, "mid"?: number, "up"?: part }
 * part        := number | { "block_&lt;i&gt;": number | [number, ...], ... }
 * </pre>
 *
 * As {@link Uniform} (a number), {@link PerComponent} (a component dict), {@link UnetBlocks} (a UNet block dict) and
 * {@link PerBlock} (a {@code block_<i>} dict). Beyond Diffusers: {@link BlockVector}, an A1111 "LoRA Block Weight"
 * vector that addresses resnets and samplers on their own, and {@link WithOverrides}, per-layer overrides by regular
 * expression on module paths. These records check structure only (finite numbers, block names,
 * non-empty lists, block dicts only for the UNet); matching list lengths and block indices to a model and expanding
 * to layers is the {@link ScalePolicy}'s job.
 */
@ProviderType
public sealed interface AdapterWeight
        permits AdapterWeight.Uniform, AdapterWeight.PerComponent, AdapterWeight.BlockVector, AdapterWeight.WithOverrides {

    /** Weight 1.0, what Diffusers uses for {@code None}. */
    Uniform ONE = new Uniform(1.0);

    /** A plain number weight. */
    static Uniform of(double value) {
        return new Uniform(value);
    }

    /**
     * One number for every component and layer. Negative values are allowed (they invert an adapter).
     *
     * @param value the weight, finite
     */
    record Uniform(double value) implements AdapterWeight, ComponentWeight, BlockPart {

        /** @throws IllegalArgumentException when the value is NaN or infinite */
        public Uniform {
            finite("weight", value);
        }
    }

    /**
     * A component dict: a weight per component; a component left out gets 1.0 (as in Diffusers, not "unchanged").
     * Unlike Diffusers, one dict shared by several adapters applies to each of them.
     *
     * @param weights component -> weight; only {@link Component#UNET} may have {@link UnetBlocks}
     */
    record PerComponent(Map<Component, ComponentWeight> weights) implements AdapterWeight {

        /** @throws IllegalArgumentException when an entry is null or a text encoder has a block dict */
        public PerComponent {
            if (weights == null) {
                throw new IllegalArgumentException("component weights must not be null");
            }
            Map<Component, ComponentWeight> copy = new EnumMap<>(Component.class);
            for (Map.Entry<Component, ComponentWeight> entry : weights.entrySet()) {
                if (entry.getKey() == null || entry.getValue() == null) {
                    throw new IllegalArgumentException("component weights must not contain null components or weights");
                }
                if (entry.getKey() != Component.UNET && entry.getValue() instanceof UnetBlocks) {
                    throw new IllegalArgumentException("weight for " + entry.getKey()
                            + " must be a number, got a block dict; block weights exist only for unet");
                }
                copy.put(entry.getKey(), entry.getValue());
            }
            weights = Collections.unmodifiableMap(copy);
        }

        /** The weight of {@code component}: its entry, or 1.0 when it has none. */
        public ComponentWeight weightFor(Component component) {
            return weights.getOrDefault(component, ONE);
        }
    }

    /** The weight of one component: a number, or (UNet only) a block dict. */
    @ProviderType
    sealed interface ComponentWeight permits Uniform, UnetBlocks {
    }

    /**
     * A UNet block dict ({@code {"down": ..., "mid": ..., "up": ...}}); an absent part means 1.0.
     *
     * @param down weights of the down blocks
     * @param mid  weight of {@code mid_block.attentions.0}; Diffusers' one-element list form is reduced to its number
     *             by the parser
     * @param up   weights of the up blocks
     */
    record UnetBlocks(Optional<BlockPart> down, Optional<Double> mid, Optional<BlockPart> up)
            implements ComponentWeight {

        /** @throws IllegalArgumentException when a part is a null Optional or mid is not finite */
        public UnetBlocks {
            if (down == null || mid == null || up == null) {
                throw new IllegalArgumentException("down, mid and up must be Optional, not null");
            }
            mid.ifPresent(value -> finite("mid", value));
        }
    }

    /** The weights of the down or up blocks: one number for every block, or a {@code block_<i>} dict. */
    @ProviderType
    sealed interface BlockPart permits Uniform, PerBlock {
    }

    /**
     * Weights per block, e.g. {@code {"block_1": [0.1, 0.2], "block_2": 0.5}}; a number is a one-element list. A list
     * gives one weight per attention module of the block (or one for all); blocks left out get 1.0.
     *
     * @param blocks {@code block_<i>} -> non-empty list of finite weights, order kept
     */
    record PerBlock(Map<String, List<Double>> blocks) implements BlockPart {

        private static final Pattern BLOCK = Pattern.compile("block_(0|[1-9][0-9]{0,2})");

        /** @throws IllegalArgumentException naming the key or value that breaks the rules */
        public PerBlock {
            if (blocks == null) {
                throw new IllegalArgumentException("blocks must not be null");
            }
            Map<String, List<Double>> copy = new LinkedHashMap<>();
            for (Map.Entry<String, List<Double>> entry : blocks.entrySet()) {
                String key = entry.getKey();
                if (key == null || !BLOCK.matcher(key).matches()) {
                    throw new IllegalArgumentException("block key '" + key + "' is invalid, expected block_<i> with i >= 0");
                }
                List<Double> values = entry.getValue();
                if (values == null || values.isEmpty() || values.stream().anyMatch(Objects::isNull)) {
                    throw new IllegalArgumentException("weights of " + key + " must be a non-empty list of numbers, got "
                            + values);
                }
                values.forEach(value -> finite(key, value));
                copy.put(key, List.copyOf(values));
            }
            blocks = Collections.unmodifiableMap(copy);
        }

        /** The weights given for block {@code index}, if any. */
        public Optional<List<Double>> block(int index) {
            return Optional.ofNullable(blocks.get("block_" + index));
        }
    }

    /**
     * An A1111 "LoRA Block Weight" vector (hako-mikan's extension): one ratio per original-layout block, in the order
     * BASE (text encoders), IN.., M00, OUT.. of the vector's length: 17 (SD 1.5 LoRA blocks), 26 (SD 1.5 all blocks),
     * 12 (SDXL LoRA blocks) or 20 (SDXL all blocks). A ratio multiplies every module of that block (resnets, attention
     * and the sampler stored at that index); modules outside every block keep 1.0. The text encoders get
     * {@code teWeight · BASE}, the UNet {@code unetWeight · ratio}, as the prompt syntax
     * {@code <lora:name:te:unet:lbw=...>} says.
     *
     * @param teWeight   multiplier of the text encoders, finite
     * @param unetWeight multiplier of the UNet, finite
     * @param ratios     12, 17, 20 or 26 finite ratios
     * @param preset     the preset name the ratios came from (e.g. {@code MIDD}), for display; empty for literal vectors
     */
    record BlockVector(double teWeight, double unetWeight, List<Double> ratios, Optional<String> preset)
            implements AdapterWeight {

        /** The vector lengths A1111 defines. */
        public static final List<Integer> LENGTHS = List.of(12, 17, 20, 26);

        /** @throws IllegalArgumentException naming the field that breaks the rules */
        public BlockVector {
            finite("teWeight", teWeight);
            finite("unetWeight", unetWeight);
            if (ratios == null || !LENGTHS.contains(ratios.size()) || ratios.stream().anyMatch(Objects::isNull)) {
                throw new IllegalArgumentException("a block weight vector needs 12, 17, 20 or 26 numbers, got "
                        + (ratios == null ? "null" : ratios.size() + " " + ratios));
            }
            ratios.forEach(value -> finite("block ratio", value));
            ratios = List.copyOf(ratios);
            if (preset == null) {
                throw new IllegalArgumentException("preset must be an Optional, not null");
            }
        }
    }

    /**
     * A weight with per-layer overrides: the first override whose regular expression finds a match in a module path
     * (Diffusers name, e.g. {@code down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k}) of its component gives
     * that module's weight instead of {@code base}.
     *
     * @param base      the weight of every other module
     * @param overrides tried in order; not empty
     */
    record WithOverrides(AdapterWeight base, List<LayerOverride> overrides) implements AdapterWeight {

        /** @throws IllegalArgumentException when base is null, nested, or there is no override */
        public WithOverrides {
            if (base == null || base instanceof WithOverrides) {
                throw new IllegalArgumentException("base must be a plain weight, got " + base);
            }
            if (overrides == null || overrides.isEmpty() || overrides.stream().anyMatch(Objects::isNull)) {
                throw new IllegalArgumentException("overrides must be a non-empty list, got " + overrides);
            }
            overrides = List.copyOf(overrides);
        }
    }

    /**
     * One per-layer override.
     *
     * @param component the component whose module paths {@code regex} is matched against; empty for every component
     * @param regex     a Java regular expression, found anywhere in the module path
     * @param weight    the weight of the matching modules, finite
     */
    record LayerOverride(Optional<Component> component, String regex, double weight) {

        /** @throws IllegalArgumentException when the expression does not compile or the weight is not finite */
        public LayerOverride {
            if (component == null) {
                throw new IllegalArgumentException("component must be an Optional, not null");
            }
            if (regex == null || regex.isEmpty()) {
                throw new IllegalArgumentException("regex must not be empty");
            }
            try {
                Pattern.compile(regex);
            } catch (java.util.regex.PatternSyntaxException e) {
                throw new IllegalArgumentException("regex '" + regex + "' does not compile: " + e.getDescription(), e);
            }
            finite("override weight", weight);
        }

        /** Whether this override applies to {@code modulePath} of {@code of}. */
        public boolean matches(Component of, String modulePath) {
            return component.map(c -> c == of).orElse(true) && Pattern.compile(regex).matcher(modulePath).find();
        }
    }

    private static void finite(String field, double value) {
        if (!Double.isFinite(value)) {
            throw new IllegalArgumentException(field + " must be a finite number, got " + value);
        }
    }
}
