package io.lorica.loader.format;

import io.lorica.api.Component;
import io.lorica.api.TensorData;
import io.lorica.api.TensorInfo;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.adapter.LoraModule;
import io.lorica.api.format.AdapterFormat;
import io.lorica.api.format.ConversionContext;
import io.lorica.api.format.Recognition;
import io.lorica.api.format.TensorSource;
import io.lorica.loader.format.AdapterAssembly.Candidate;
import io.lorica.loader.format.AdapterAssembly.Problem;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Diffusers / PEFT LoRA files: keys {@code <component>.<module path>.<tensor>} with component {@code unet},
 * {@code text_encoder} or {@code text_encoder_2} and tensor {@code lora_A.weight} (A), {@code lora_B.weight} (B),
 * {@code lora_B.bias} ({@code lora_bias=True}) or {@code lora_magnitude_vector} (PEFT DoRA; conv {@code [1, out, 1, 1]}
 * reshaped to the canonical {@code [out]}). Corresponds to Diffusers' {@code lora_state_dict} for non-kohya files plus
 * {@code load_lora_adapter} / {@code _load_lora_into_text_encoder}.
 *
 * <p>Legacy key forms (§5.2 of the LoRA semantics reference) are renamed, and reported as {@code CONVERTED}:
 * <ul>
 * <li>UNet attention processors: {@code ….processor.to_q_lora.down.weight} → {@code ….to_q.lora_A.weight} (same for
 * {@code to_k}, {@code to_v}, {@code up} → {@code lora_B}), {@code to_out_lora} → {@code to_out.0};</li>
 * <li>UNet generic {@code ….lora.down.weight} / {@code ….lora.up.weight} → {@code lora_A} / {@code lora_B};</li>
 * <li>text encoder {@code ….self_attn.to_q_lora.down.weight} → {@code ….self_attn.q_proj.lora_A.weight}
 * ({@code to_k/to_v/to_out_lora} → {@code k/v/out_proj});</li>
 * <li>{@code ….lora_linear_layer.down/up.weight} → {@code lora_A/lora_B}.</li>
 * </ul>
 *
 * <p>Alpha: from the safetensors metadata {@code lora_adapter_metadata} (per component {@code lora_alpha},
 * {@code alpha_pattern} matched as PEFT's {@code get_pattern_key} does, {@code use_rslora}); without metadata
 * {@code alpha = rank} (scale 1), as Diffusers does. rsLoRA ({@code alpha / sqrt(r)}) is stored as the equivalent alpha
 * {@code alpha·sqrt(r)} so that {@link LoraModule#scale()} is right. The rank is always the tensors' rank; a
 * {@code rank_pattern}/{@code r} that disagrees only produces a warning.
 *
 * <p><strong>Deliberate deviations from Diffusers</strong>:
 * <ul>
 * <li>Keys without a component prefix load nothing in Diffusers (a warning only). Lorica drops them, and fails with a
 * clear message when a file has <em>only</em> such keys, instead of returning an empty adapter.</li>
 * <li>A {@code <module>.alpha} key (some trainers write them; Diffusers rejects the file as "Invalid LoRA checkpoint")
 * is used as that module's alpha.</li>
 * <li>Keys that are not LoRA tensors (e.g. a bundled embedding) are dropped with a reason; Diffusers rejects the
 * file.</li>
 * <li>alpha 0 from the metadata means {@code alpha = rank} (kohya semantics); Diffusers would disable the module.</li>
 * <li>Unknown modules are dropped with a warning unless the file looks like one for another family (then an error
 * naming that family); wrong shapes are an error; a {@code text_encoder_2} module on SD 1.5 is dropped with a warning.
 * Conversion is all or nothing (Diffusers leaves earlier components loaded when a later one fails).</li>
 * <li>Legacy renames are applied per key (Diffusers looks at the first UNet key only); 2-D LoRA tensors for a 1×1
 * convolution are reshaped instead of raising a size mismatch.</li>
 * <li>Text-encoder module paths are also matched with or without the {@code text_model.} level (transformers ≥ 5
 * dropped it, diffusers#13984).</li>
 * </ul>
 */
public final class DiffusersFormat implements AdapterFormat {

    /** The format name, recorded as {@link LoraAdapter#format()}. */
    public static final String NAME = "diffusers";

    private static final String TEXT_MODEL = "text_model.";

    /** The tensors of a module, by their canonical suffix. */
    enum Part {
        LORA_A(".lora_A.weight", "lora_A"),
        LORA_B(".lora_B.weight", "lora_B"),
        BIAS(".lora_B.bias", "lora_B.bias"),
        MAGNITUDE(".lora_magnitude_vector", "lora_magnitude_vector"),
        MAGNITUDE_WEIGHT(".lora_magnitude_vector.weight", "lora_magnitude_vector"),
        ALPHA(".alpha", "alpha");

        final String suffix;
        final String target;

        Part(String suffix, String target) {
            this.suffix = suffix;
            this.target = target;
        }
    }

    private static final List<Component> PREFIX_ORDER = List.of(Component.TEXT_ENCODER_2, Component.TEXT_ENCODER,
            Component.UNET);

    private static final Pattern UNET_TO_OUT = Pattern.compile("(^|\\.)to_out_lora\\.(down|up)\\.");
    private static final Pattern UNET_TO_QKV = Pattern.compile("(^|\\.)to_([qkv])_lora\\.(down|up)\\.");
    private static final Pattern TE_TO_PROJ = Pattern.compile("(^|\\.)to_(q|k|v|out)_lora\\.(down|up)\\.");
    private static final Pattern GENERIC = Pattern.compile("\\.(lora|lora_linear_layer)\\.(down|up)\\.");
    private static final Pattern PEFT_MARKER = Pattern.compile(
            "lora_A|lora_B|lora_magnitude_vector|lora\\.(down|up)|_lora\\.(down|up)|lora_linear_layer");

    @Override
    public String name() {
        return NAME;
    }

    /**
     * Recognised (confidence 1) when every key has a component prefix ({@code unet.}, {@code text_encoder.},
     * {@code text_encoder_2.}) and LoRA tensors are among them; 0.8 when some keys lack the prefix; 0.1 for PEFT
     * tensors without any component prefix (which {@link #convert} rejects with an explanation). Never for kohya files.
     */
    @Override
    public Recognition recognise(TensorSource source) {
        int total = 0;
        int prefixed = 0;
        int prefixedLora = 0;
        int kohya = 0;
        int unprefixedPeft = 0;
        for (String key : source.keys()) {
            total++;
            if (KohyaNames.prefixOf(key).isPresent()) {
                kohya++;
                continue;
            }
            Optional<Component> component = componentOf(key);
            if (component.isPresent()) {
                prefixed++;
                if (PEFT_MARKER.matcher(key).find()) {
                    prefixedLora++;
                }
            } else if (PEFT_MARKER.matcher(key).find()) {
                unprefixedPeft++;
            }
        }
        if (prefixedLora == 0) {
            if (kohya == 0 && unprefixedPeft > 0) {
                return Recognition.yes(0.1, unprefixedPeft + " PEFT-style LoRA keys without a unet./text_encoder. "
                        + "prefix: Diffusers loads nothing from such a file");
            }
            return Recognition.no("no key of the form unet./text_encoder./text_encoder_2.<module>.lora_A/lora_B");
        }
        if (prefixed == total) {
            return Recognition.yes(1.0, "all " + total + " keys are Diffusers/PEFT component keys");
        }
        return Recognition.yes(0.8, prefixed + " of " + total + " keys are Diffusers/PEFT component keys; the others "
                + "would be dropped");
    }

    @Override
    public LoraAdapter convert(TensorSource source, ConversionContext context) {
        AdapterAssembly asm = new AdapterAssembly(NAME, source, context);
        Map<Component, PeftMetadata.Config> metadata = metadata(asm);
        Map<String, PeftCandidate> groups = new LinkedHashMap<>();
        List<String> unprefixed = new ArrayList<>();
        List<FamilyHints.Evidence> extraEvidence = new ArrayList<>();
        int missingComponent = 0;
        int notLora = 0;
        for (String key : source.keys()) {
            Optional<Component> component = componentOf(key);
            if (component.isEmpty()) {
                if (PEFT_MARKER.matcher(key).find() && KohyaNames.prefixOf(key).isEmpty()) {
                    unprefixed.add(key);
                    asm.dropped(key, "no component prefix (unet., text_encoder., text_encoder_2.): Diffusers ignores "
                            + "such keys");
                } else {
                    asm.dropped(key, "not a Diffusers/PEFT LoRA key (no unet./text_encoder./text_encoder_2. prefix)");
                    notLora++;
                }
                continue;
            }
            Component c = component.get();
            String rest = key.substring(c.id().length() + 1);
            if (!context.family().has(c)) {
                asm.dropped(key, "component " + c.id() + " is not part of " + FamilyHints.display(context.family()));
                missingComponent++;
                extraEvidence.add(new FamilyHints.Evidence(c, rest, key, 0, -1));
                continue;
            }
            String renamed = rename(c, rest);
            Part part = partOf(renamed);
            if (part == null) {
                asm.dropped(key, "not a LoRA tensor (expected <module>.lora_A.weight, .lora_B.weight, .lora_B.bias, "
                        + ".lora_magnitude_vector or .alpha)");
                notLora++;
                continue;
            }
            String modulePath = renamed.substring(0, renamed.length() - part.suffix.length());
            PeftCandidate candidate = groups.computeIfAbsent(c.id() + "/" + modulePath,
                    k -> new PeftCandidate(c, modulePath));
            Part slot = part == Part.MAGNITUDE_WEIGHT ? Part.MAGNITUDE : part;
            String previous = candidate.parts.putIfAbsent(slot, key);
            if (previous != null) {
                throw asm.error(key, "a second " + slot.target + " for " + c.id() + " module " + modulePath
                        + " (already given by '" + previous + "')");
            }
            candidate.keys.add(key);
            if (!renamed.equals(rest)) {
                candidate.legacy.put(key, "legacy key renamed to " + c.id() + "." + renamed);
            }
        }
        if (groups.isEmpty() && !unprefixed.isEmpty()) {
            throw asm.error(unprefixed.get(0), "the LoRA keys carry no component prefix (unet., text_encoder., "
                    + "text_encoder_2.); Diffusers loads nothing from such a file and only warns. Save the file with "
                    + "prefixed keys (e.g. 'unet." + unprefixed.get(0) + "')");
        }
        if (!unprefixed.isEmpty()) {
            asm.warn(unprefixed.size() + " LoRA key(s) without a component prefix dropped (e.g. '"
                    + unprefixed.get(0) + "')");
        }
        if (notLora > 0) {
            asm.warn(notLora + " key(s) that are not Diffusers/PEFT LoRA tensors dropped");
        }
        if (missingComponent > 0) {
            asm.warn(missingComponent + " key(s) of components that " + FamilyHints.display(context.family())
                    + " does not have dropped");
        }
        if (metadata == null && !groups.isEmpty()) {
            boolean anyAlphaKey = groups.values().stream().anyMatch(g -> g.parts.containsKey(Part.ALPHA));
            if (!anyAlphaKey) {
                asm.warn("no " + PeftMetadata.KEY + " metadata: alpha = rank (scale 1) for every module, as in "
                        + "Diffusers");
            }
        }

        List<Candidate> candidates = new ArrayList<>();
        for (PeftCandidate candidate : groups.values()) {
            candidate.requireParts(asm);
            candidate.config = metadata == null ? null : metadata.get(candidate.component);
            resolve(asm, candidate);
            candidates.add(candidate);
        }
        List<Candidate> resolved = asm.vet(candidates, extraEvidence);
        asm.buildAll(resolved);
        return asm.build();
    }

    private static Map<Component, PeftMetadata.Config> metadata(AdapterAssembly asm) {
        String json = asm.source().metadata().get(PeftMetadata.KEY);
        if (json == null || json.isBlank()) {
            return null;
        }
        try {
            return PeftMetadata.parse(json);
        } catch (IllegalArgumentException e) {
            throw asm.error(null, "metadata " + PeftMetadata.KEY + " " + e.getMessage());
        }
    }

    private static void resolve(AdapterAssembly asm, PeftCandidate candidate) {
        if (asm.catalog().contains(candidate.component, candidate.sourceName)) {
            candidate.path = candidate.sourceName;
            return;
        }
        if (candidate.component != Component.UNET) {
            String other = candidate.sourceName.startsWith(TEXT_MODEL)
                    ? candidate.sourceName.substring(TEXT_MODEL.length())
                    : TEXT_MODEL + candidate.sourceName;
            if (asm.catalog().contains(candidate.component, other)) {
                candidate.path = other;
                candidate.renaming = "text encoder path matched as " + other;
            }
        }
    }

    /** The component whose prefix {@code key} starts with. */
    static Optional<Component> componentOf(String key) {
        for (Component component : PREFIX_ORDER) {
            String prefix = component.id() + ".";
            if (key.startsWith(prefix) && key.length() > prefix.length()) {
                return Optional.of(component);
            }
        }
        return Optional.empty();
    }

    /** Applies the legacy renames of §5.2 to a key with its component prefix removed. */
    static String rename(Component component, String rest) {
        String s = rest.replace(".processor.", ".");
        if (s.startsWith("processor.")) {
            s = s.substring("processor.".length());
        }
        if (component == Component.UNET) {
            s = UNET_TO_OUT.matcher(s).replaceAll(m -> Matcher.quoteReplacement(m.group(1) + "to_out.0."
                    + lora(m.group(2)) + "."));
            s = UNET_TO_QKV.matcher(s).replaceAll(m -> Matcher.quoteReplacement(m.group(1) + "to_" + m.group(2) + "."
                    + lora(m.group(3)) + "."));
        } else {
            s = TE_TO_PROJ.matcher(s).replaceAll(m -> Matcher.quoteReplacement(m.group(1) + m.group(2) + "_proj."
                    + lora(m.group(3)) + "."));
        }
        return GENERIC.matcher(s).replaceAll(m -> Matcher.quoteReplacement("." + lora(m.group(2)) + "."));
    }

    private static String lora(String downOrUp) {
        return "down".equals(downOrUp) ? "lora_A" : "lora_B";
    }

    private static Part partOf(String renamed) {
        for (Part part : Part.values()) {
            if (renamed.endsWith(part.suffix) && renamed.length() > part.suffix.length()) {
                return part;
            }
        }
        return null;
    }

    /** One module of a PEFT file. */
    private static final class PeftCandidate extends Candidate {
        final Map<Part, String> parts = new EnumMap<>(Part.class);
        final Map<String, String> legacy = new LinkedHashMap<>();
        PeftMetadata.Config config;

        PeftCandidate(Component component, String modulePath) {
            super(component, modulePath);
        }

        void requireParts(AdapterAssembly asm) {
            String a = parts.get(Part.LORA_A);
            String b = parts.get(Part.LORA_B);
            if (a == null || b == null) {
                String present = a != null ? a : b != null ? b : keys.get(0);
                throw asm.error(present, component.id() + " module " + sourceName + " has "
                        + (a == null && b == null ? "no lora_A/lora_B" : a == null ? "lora_B but no lora_A"
                                : "lora_A but no lora_B"));
            }
        }

        @Override
        String evidenceKey() {
            return parts.get(Part.LORA_A);
        }

        @Override
        Optional<Problem> check(AdapterAssembly asm) {
            String aKey = parts.get(Part.LORA_A);
            String bKey = parts.get(Part.LORA_B);
            Optional<Problem> p = AdapterAssembly.checkLowRank(this, aKey, asm.info(aKey), bKey, asm.info(bKey));
            if (p.isPresent()) {
                return p;
            }
            String bias = parts.get(Part.BIAS);
            long[] out = {geometry.outFeatures()};
            if (bias != null && !asm.info(bias).hasShape(out)) {
                return Optional.of(AdapterAssembly.mismatch(bias, "lora_B.bias", this, asm.info(bias).shape(), out));
            }
            String magnitude = parts.get(Part.MAGNITUDE);
            if (magnitude != null && !isVector(asm.info(magnitude), geometry.outFeatures())) {
                return Optional.of(AdapterAssembly.mismatch(magnitude, "lora_magnitude_vector", this,
                        asm.info(magnitude).shape(), out));
            }
            return Optional.empty();
        }

        /** {@code [out]} or any shape with {@code out} elements and all other dimensions 1 (conv {@code [1, out, 1, 1]}). */
        private static boolean isVector(TensorInfo info, int out) {
            if (info.elementCount() != out || info.dimensions() == 0) {
                return false;
            }
            int big = 0;
            for (long d : info.shape()) {
                if (d != 1) {
                    big++;
                }
            }
            return big <= 1;
        }

        @Override
        LoraModule build(AdapterAssembly asm) {
            String aKey = parts.get(Part.LORA_A);
            String bKey = parts.get(Part.LORA_B);
            int rank = (int) asm.info(aKey).dim(0);
            TensorData a = asm.tensor(aKey);
            TensorData b = asm.tensor(bKey);
            report(asm, aKey, Part.LORA_A, !a.hasShape(geometry.aShape(rank)));
            report(asm, bKey, Part.LORA_B, !b.hasShape(geometry.bShape(rank)));
            a = AdapterAssembly.conform(a, geometry.aShape(rank));
            b = AdapterAssembly.conform(b, geometry.bShape(rank));
            Optional<TensorData> bias = Optional.empty();
            if (parts.containsKey(Part.BIAS)) {
                bias = Optional.of(asm.tensor(parts.get(Part.BIAS)));
                report(asm, parts.get(Part.BIAS), Part.BIAS, false);
            }
            Optional<TensorData> magnitude = Optional.empty();
            if (parts.containsKey(Part.MAGNITUDE)) {
                String key = parts.get(Part.MAGNITUDE);
                TensorData m = asm.tensor(key);
                boolean reshaped = !m.hasShape(geometry.outFeatures());
                magnitude = Optional.of(m.reshape(geometry.outFeatures()));
                report(asm, key, Part.MAGNITUDE, reshaped);
            }
            float alpha = alpha(asm, rank);
            return new LoraModule(component, path, geometry, rank, alpha, a, b, bias, magnitude, Optional.empty());
        }

        private float alpha(AdapterAssembly asm, int rank) {
            String alphaKey = parts.get(Part.ALPHA);
            if (alphaKey != null) {
                float alpha = asm.scalar(alphaKey);
                asm.converted(alphaKey, target("alpha"), "alpha key used as this module's alpha (Diffusers rejects "
                        + "files with .alpha keys)");
                return checked(asm, alphaKey, alpha);
            }
            if (config == null) {
                return rank;
            }
            config.rankFor(path).filter(r -> r != rank).ifPresent(r -> asm.warn(component.id() + " module " + path
                    + ": metadata declares rank " + r + " but the tensors have rank " + rank + "; using " + rank));
            double alpha = config.alphaFor(path);
            if (config.useRslora()) {
                alpha = alpha * Math.sqrt(rank);
            }
            return checked(asm, null, (float) alpha);
        }

        private float checked(AdapterAssembly asm, String key, float alpha) {
            if (!Float.isFinite(alpha) || alpha < 0) {
                throw asm.error(key, component.id() + " module " + path + ": alpha must be a finite number >= 0, found "
                        + alpha);
            }
            if (alpha == 0f) {
                asm.alphaZero(component.id() + "/" + path);
            }
            return alpha;
        }

        private void report(AdapterAssembly asm, String key, Part part, boolean reshaped) {
            String note = legacy.get(key);
            String target = target(part.target);
            if (note == null && !reshaped && renaming.isEmpty()) {
                asm.used(key, target);
                return;
            }
            List<String> why = new ArrayList<>();
            if (note != null) {
                why.add(note);
            }
            if (!renaming.isEmpty()) {
                why.add(renaming);
            }
            if (reshaped) {
                why.add("reshaped to the layer's canonical shape");
            }
            asm.converted(key, target, String.join("; ", why));
        }
    }
}
