package io.lorica.loader.format;

import io.lorica.api.Component;
import io.lorica.api.DType;
import io.lorica.api.TensorData;
import io.lorica.api.TensorInfo;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LayerKind;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.adapter.LoraModule;
import io.lorica.api.format.ConversionContext;
import io.lorica.api.format.Recognition;
import io.lorica.api.format.TensorSource;
import io.lorica.loader.format.AdapterAssembly.Candidate;
import io.lorica.loader.format.AdapterAssembly.Problem;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The conversion shared by {@link KohyaFormat} and {@link LycorisFormat}: keys {@code <prefix><stem>.<tensor>} grouped
 * by stem, stems resolved with {@link KohyaNames}, each group built as a plain LoRA (A/B), a LoCon with Tucker core
 * (folded into A), a LoHa, LoKr or full delta (materialised as a full-delta module), with per-module alpha and
 * kohya/LyCORIS {@code dora_scale}.
 */
final class KohyaStyleConverter {

    static final String DOWN = "lora_down.weight";
    static final String UP = "lora_up.weight";
    static final String MID = "lora_mid.weight";
    static final String ALPHA = "alpha";
    static final String DORA = "dora_scale";

    private static final Set<String> LORA_PARTS = Set.of(DOWN, UP, MID);
    private static final Set<String> LOHA_PARTS = Set.of("hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b", "hada_t1",
            "hada_t2");
    private static final Set<String> LOKR_PARTS = Set.of("lokr_w1", "lokr_w1_a", "lokr_w1_b", "lokr_w2", "lokr_w2_a",
            "lokr_w2_b", "lokr_t2");
    private static final Set<String> FULL_PARTS = Set.of("diff", "diff_b");

    private KohyaStyleConverter() {
    }

    /** The kind of module a group of keys describes. */
    enum Kind {
        LORA("LoRA/LoCon"), LOHA("LoHa"), LOKR("LoKr"), FULL("full delta");

        final String label;

        Kind(String label) {
            this.label = label;
        }
    }

    private static Kind kindOf(String part) {
        if (LORA_PARTS.contains(part)) {
            return Kind.LORA;
        }
        if (LOHA_PARTS.contains(part)) {
            return Kind.LOHA;
        }
        if (LOKR_PARTS.contains(part)) {
            return Kind.LOKR;
        }
        if (FULL_PARTS.contains(part)) {
            return Kind.FULL;
        }
        return null;
    }

    /** Whether {@code key} is a LyCORIS-only tensor (LoHa, LoKr, Tucker mid, full diff) of a kohya-prefixed module. */
    static boolean isLycorisKey(String key) {
        int dot = key.indexOf('.');
        if (dot < 0 || KohyaNames.prefixOf(key).isEmpty()) {
            return false;
        }
        String part = key.substring(dot + 1);
        Kind kind = kindOf(part);
        return kind == Kind.LOHA || kind == Kind.LOKR || kind == Kind.FULL || MID.equals(part);
    }

    /** Key statistics for recognition. */
    record KeyCensus(int total, int kohya, int lycoris, String exampleLycoris) {

        static KeyCensus of(TensorSource source) {
            int total = 0;
            int kohya = 0;
            int lycoris = 0;
            String example = null;
            for (String key : source.keys()) {
                total++;
                if (KohyaNames.prefixOf(key).isPresent()) {
                    kohya++;
                    if (isLycorisKey(key)) {
                        lycoris++;
                        example = example == null ? key : example;
                    }
                }
            }
            return new KeyCensus(total, kohya, lycoris, example);
        }

        Recognition recognition(double all, double some, String what) {
            if (kohya == total) {
                return Recognition.yes(all, "all " + total + " keys start with lora_unet_/lora_te*_" + what);
            }
            return Recognition.yes(some, kohya + " of " + total + " keys start with lora_unet_/lora_te*_" + what
                    + "; the other " + (total - kohya) + " (e.g. bundled embeddings) would be dropped");
        }
    }

    /**
     * Converts a kohya-style file.
     *
     * @param lycoris whether LyCORIS module kinds (LoHa, LoKr, Tucker, full) are accepted; if not they are an error
     */
    static LoraAdapter convert(String format, TensorSource source, ConversionContext context, boolean lycoris) {
        AdapterAssembly asm = new AdapterAssembly(format, source, context);
        Map<String, Group> groups = new LinkedHashMap<>();
        int foreign = 0;
        for (String key : source.keys()) {
            Optional<KohyaNames.Prefix> prefix = KohyaNames.prefixOf(key);
            int dot = key.indexOf('.');
            if (prefix.isEmpty() || dot <= prefix.get().text().length()) {
                asm.dropped(key, "not a kohya-style LoRA key (no lora_unet_/lora_te_/lora_te1_/lora_te2_ module "
                        + "prefix), e.g. a bundled embedding; Diffusers would reject the whole file");
                foreign++;
                continue;
            }
            String stem = key.substring(prefix.get().text().length(), dot);
            String part = key.substring(dot + 1);
            groups.computeIfAbsent(prefix.get().text() + stem, g -> new Group(prefix.get(), stem)).parts.put(part, key);
        }
        if (foreign > 0) {
            asm.warn(foreign + " key" + (foreign == 1 ? "" : "s") + " without a kohya module prefix dropped");
        }

        List<Candidate> candidates = new ArrayList<>();
        List<FamilyHints.Evidence> extraEvidence = new ArrayList<>();
        int missingComponent = 0;
        for (Group group : groups.values()) {
            Component component = group.prefix.component();
            if (!context.family().has(component)) {
                String reason = "component " + component.id() + " (prefix " + group.prefix.text() + ") is not part of "
                        + FamilyHints.display(context.family());
                group.parts.values().forEach(key -> asm.dropped(key, reason));
                missingComponent += group.parts.size();
                extraEvidence.add(new FamilyHints.Evidence(component, group.stem, group.name(), 0, -1));
                continue;
            }
            Candidate candidate = candidate(asm, group, lycoris);
            if (candidate == null) {
                continue;
            }
            try {
                KohyaNames.resolve(context.catalog(), context.family(), component, group.stem).ifPresent(r -> {
                    candidate.path = r.path();
                    candidate.renaming = r.note();
                });
            } catch (IllegalArgumentException e) {
                throw asm.error(candidate.keys.get(0), e.getMessage());
            }
            candidates.add(candidate);
        }
        if (missingComponent > 0) {
            asm.warn(missingComponent + " key" + (missingComponent == 1 ? "" : "s") + " of components that "
                    + FamilyHints.display(context.family()) + " does not have (e.g. lora_te2_) dropped");
        }
        List<Candidate> resolved = asm.vet(candidates, extraEvidence);
        asm.buildAll(resolved);
        return asm.build();
    }

    /** The keys of one kohya module stem. */
    private static final class Group {
        final KohyaNames.Prefix prefix;
        final String stem;
        final Map<String, String> parts = new LinkedHashMap<>();

        Group(KohyaNames.Prefix prefix, String stem) {
            this.prefix = prefix;
            this.stem = stem;
        }

        String name() {
            return prefix.text() + stem;
        }
    }

    private static Candidate candidate(AdapterAssembly asm, Group group, boolean lycoris) {
        Kind kind = null;
        String kindKey = null;
        for (Map.Entry<String, String> part : group.parts.entrySet()) {
            Kind k = kindOf(part.getKey());
            if (k == null) {
                continue;
            }
            if (kind != null && kind != k) {
                throw asm.error(part.getValue(), "module " + group.name() + " mixes " + kind.label + " and " + k.label
                        + " tensors (first " + kind.label + " key: '" + kindKey + "')");
            }
            kind = k;
            kindKey = kindKey == null ? part.getValue() : kindKey;
        }
        if (kind == null) {
            String reason = "module " + group.name() + " has no LoRA weights (only " + String.join(", ",
                    group.parts.keySet()) + ")";
            group.parts.values().forEach(key -> asm.dropped(key, reason));
            asm.warn("dropped " + group.parts.size() + " key(s) of " + group.name() + ": " + reason);
            return null;
        }
        if (!lycoris && (kind != Kind.LORA || group.parts.containsKey(MID))) {
            String what = kind == Kind.LORA ? "a LyCORIS LoCon Tucker core (lora_mid)" : "LyCORIS " + kind.label
                    + " tensors";
            String key = kind == Kind.LORA ? group.parts.get(MID) : kindKey;
            throw asm.error(key, "module " + group.name() + " holds " + what
                    + ", which the kohya format cannot rebuild as plain LoRA; the 'lycoris' format converts it");
        }
        Candidate candidate = switch (kind) {
            case LORA -> new LoraCandidate(group, asm);
            case LOHA -> new LohaCandidate(group, asm);
            case LOKR -> new LokrCandidate(group, asm);
            case FULL -> new FullCandidate(group, asm);
        };
        candidate.keys.addAll(group.parts.values());
        return candidate;
    }

    // ========================================================================================================= common

    /** Parts every module kind may carry: alpha, dora_scale, and tensors we do not use. */
    private abstract static class KohyaCandidate extends Candidate {
        final Map<String, String> parts;

        KohyaCandidate(Group group) {
            super(group.prefix.component(), group.stem);
            this.parts = group.parts;
            this.displayName = group.name();
        }

        String part(String name) {
            return parts.get(name);
        }

        String require(AdapterAssembly asm, String name, String because) {
            String key = parts.get(name);
            if (key == null) {
                String any = parts.values().iterator().next();
                throw asm.error(any, "module " + displayName + " has " + because + " but no '" + name + "' tensor");
            }
            return key;
        }

        String reason() {
            return "kohya name " + displayName + " resolved to " + path + (renaming.isEmpty() ? "" : " (" + renaming + ")");
        }

        /** Checks dora_scale's shape: output axis {@code [out, 1(, 1, 1)]} or input axis {@code [1, in(, 1, 1)]}. */
        Optional<Problem> checkDora(AdapterAssembly asm) {
            String key = part(DORA);
            if (key == null) {
                return Optional.empty();
            }
            long[] s = asm.info(key).shape();
            if (doraAxis(s, geometry) == 0) {
                return Optional.of(new Problem(key, "dora_scale of " + component.id() + " module " + path + " ("
                        + AdapterAssembly.describe(geometry) + "): found shape " + AdapterAssembly.shape(s)
                        + ", expected [" + geometry.outFeatures() + ", 1" + (geometry.kind() == LayerKind.CONV
                                ? ", 1, 1" : "") + "] (output axis) or [1, " + geometry.inFeatures()
                        + (geometry.kind() == LayerKind.CONV ? ", 1, 1" : "") + "] (input axis)"));
            }
            return Optional.empty();
        }

        /**
         * The DoRA magnitude from dora_scale in canonical {@code [out]} shape, or empty when the file has none or
         * stores it on the input axis (which is then dropped with a warning).
         */
        Optional<TensorData> magnitude(AdapterAssembly asm) {
            String key = part(DORA);
            if (key == null) {
                return Optional.empty();
            }
            long[] s = asm.info(key).shape();
            if (doraAxis(s, geometry) == 1) {
                TensorData data = asm.tensor(key).reshape(geometry.outFeatures());
                asm.converted(key, target("lora_magnitude_vector"), "kohya/LyCORIS dora_scale "
                        + AdapterAssembly.shape(s) + " (output axis) kept as the DoRA magnitude [out]; Diffusers drops it");
                asm.warn("dora_scale kept as DoRA magnitude (output axis); Diffusers drops dora_scale and applies a "
                        + "plain LoRA");
                return Optional.of(data);
            }
            asm.dropped(key, "dora_scale " + AdapterAssembly.shape(s) + " normalises per input channel (old "
                    + "kohya/LyCORIS layout [1, in]); Lorica's DoRA is per output row, so the module is applied as a "
                    + "plain LoRA, as Diffusers does");
            asm.warn("input-axis dora_scale [1, in] dropped: those modules are applied without DoRA, as in Diffusers");
            return Optional.empty();
        }

        /** 1: output axis, 2: input axis, 0: neither. */
        private static int doraAxis(long[] s, LayerGeometry g) {
            if (s.length == 0) {
                return 0;
            }
            if (s[0] == g.outFeatures() && onesFrom(s, 1)) {
                return 1;
            }
            if (s.length >= 2 && s[0] == 1 && s[1] == g.inFeatures() && onesFrom(s, 2)) {
                return 2;
            }
            return 0;
        }

        private static boolean onesFrom(long[] s, int from) {
            for (int i = from; i < s.length; i++) {
                if (s[i] != 1) {
                    return false;
                }
            }
            return true;
        }

        /** The file's alpha, 0 when missing; notes missing and zero alphas for the report. */
        float alpha(AdapterAssembly asm, String partName) {
            String key = part(ALPHA);
            if (key == null) {
                asm.alphaMissing(sourceName);
                return 0f;
            }
            float alpha = asm.scalar(key);
            if (alpha == 0f) {
                asm.alphaZero(sourceName);
            }
            asm.converted(key, target(partName), reason());
            return alpha;
        }

        /** Drops every key of the group that no step claimed. */
        void dropRest(AdapterAssembly asm) {
            for (Map.Entry<String, String> entry : parts.entrySet()) {
                if (!asm.reported(entry.getValue())) {
                    asm.dropped(entry.getValue(), "tensor '" + entry.getKey() + "' of module " + displayName
                            + " is not used by Lorica");
                    asm.warn("unsupported tensor '" + entry.getKey() + "' dropped (e.g. '" + entry.getValue() + "')");
                }
            }
        }

        static TensorData emptyA(LayerGeometry g) {
            return new TensorData(DType.F32, g.aShape(0), ByteBuffer.allocate(0));
        }

        static TensorData emptyB(LayerGeometry g) {
            return new TensorData(DType.F32, g.bShape(0), ByteBuffer.allocate(0));
        }

        LoraModule deltaModule(float[] delta, Optional<TensorData> bias, Optional<TensorData> magnitude) {
            TensorData data = TensorData.ofFloats(geometry.weightShape(), delta);
            return new LoraModule(component, path, geometry, 0, 0f, emptyA(geometry), emptyB(geometry), bias,
                    magnitude, Optional.of(data));
        }

        /** alpha / rank, with kohya's rule: alpha 0 or missing means rank (scale 1). */
        static double scale(float alpha, long rank) {
            return alpha == 0f ? 1.0 : alpha / (double) rank;
        }

        int spatial() {
            return geometry.kernelHeight() * geometry.kernelWidth();
        }
    }

    // ========================================================================================================= LoRA

    /** kohya LoRA / LoCon ({@code lora_down}, {@code lora_up}), optionally with a LyCORIS Tucker core. */
    private static final class LoraCandidate extends KohyaCandidate {
        final String down;
        final String up;
        final String mid;

        LoraCandidate(Group group, AdapterAssembly asm) {
            super(group);
            this.up = require(asm, UP, parts.containsKey(DOWN) ? "lora_down" : "LoRA tensors");
            this.down = require(asm, DOWN, "lora_up");
            this.mid = parts.get(MID);
        }

        @Override
        String evidenceKey() {
            return down;
        }

        @Override
        Optional<Problem> check(AdapterAssembly asm) {
            TensorInfo a = asm.info(down);
            TensorInfo b = asm.info(up);
            Optional<Problem> problem;
            if (mid == null) {
                problem = AdapterAssembly.checkLowRank(this, down, a, up, b);
            } else {
                problem = checkTucker(asm, a, asm.info(mid), b);
            }
            return problem.isPresent() ? problem : checkDora(asm);
        }

        private Optional<Problem> checkTucker(AdapterAssembly asm, TensorInfo a, TensorInfo m, TensorInfo b) {
            if (geometry.kind() != LayerKind.CONV || m.dimensions() != 4) {
                return Optional.of(new Problem(mid, "lora_mid (Tucker core) of " + component.id() + " module " + path
                        + " (" + AdapterAssembly.describe(geometry) + ") needs a convolution and a 4-D core, found shape "
                        + AdapterAssembly.shape(m.shape())));
            }
            long r = m.dim(0);
            long r2 = m.dim(1);
            long[] expectedMid = {r, r2, geometry.kernelHeight(), geometry.kernelWidth()};
            if (!m.hasShape(expectedMid)) {
                return Optional.of(AdapterAssembly.mismatch(mid, "lora_mid (Tucker core)", this, m.shape(), expectedMid));
            }
            long[] expectedDown = {r2, geometry.inFeatures(), 1, 1};
            if (!AdapterAssembly.fits(a.shape(), expectedDown)) {
                return Optional.of(AdapterAssembly.mismatch(down, "lora_down (Tucker)", this, a.shape(), expectedDown));
            }
            if (b.dimensions() >= 2 && b.dim(1) != r) {
                return Optional.of(new Problem(up, "ranks disagree for " + component.id() + " module " + path
                        + ": lora_mid has rank " + r + " (shape " + AdapterAssembly.shape(m.shape())
                        + ") but lora_up has rank " + b.dim(1) + " (shape " + AdapterAssembly.shape(b.shape()) + ")"));
            }
            if (!AdapterAssembly.fits(b.shape(), geometry.bShape((int) r))) {
                return Optional.of(AdapterAssembly.mismatch(up, "lora_up", this, b.shape(),
                        geometry.bShape((int) r)));
            }
            return Optional.empty();
        }

        @Override
        LoraModule build(AdapterAssembly asm) {
            String reason = reason();
            TensorData a;
            int rank;
            if (mid == null) {
                rank = (int) asm.info(down).dim(0);
                a = AdapterAssembly.conform(asm.tensor(down), geometry.aShape(rank));
                asm.converted(down, target("lora_A"), reason);
            } else {
                TensorInfo m = asm.info(mid);
                rank = (int) m.dim(0);
                int r2 = (int) m.dim(1);
                float[] folded = DeltaMath.foldTuckerDown(asm.read(mid).values(), rank, r2, spatial(),
                        asm.read(down).values(), geometry.inFeatures());
                a = TensorData.ofFloats(geometry.aShape(rank), folded);
                String tucker = reason + "; LyCORIS Tucker core lora_mid folded into A (exact: 1x1 down then kxk mid)";
                asm.converted(down, target("lora_A"), tucker);
                asm.converted(mid, target("lora_A"), tucker);
            }
            TensorData b = AdapterAssembly.conform(asm.tensor(up), geometry.bShape(rank));
            asm.converted(up, target("lora_B"), reason);
            float alpha = alpha(asm, "alpha");
            if (alpha < 0) {
                // s·B·A with s < 0 equals |s|·(−B)·A; LoraModule keeps alpha >= 0
                float[] negated = b.toFloatArray();
                DeltaMath.scaleInPlace(negated, -1.0);
                b = TensorData.ofFloats(b.shape(), negated);
                alpha = -alpha;
                asm.warn("negative alpha of " + displayName + " folded into B (B negated, alpha " + alpha + ")");
            }
            Optional<TensorData> magnitude = magnitude(asm);
            dropRest(asm);
            return new LoraModule(component, path, geometry, rank, alpha, a, b, Optional.empty(), magnitude,
                    Optional.empty());
        }
    }

    // ========================================================================================================= LoHa

    /**
     * LyCORIS LoHa: {@code ΔW = (w1a·w1b) ⊙ (w2a·w2b) · alpha/r}, or with Tucker cores
     * {@code ΔW = rebuild(t1, w1a, w1b) ⊙ rebuild(t2, w2a, w2b) · alpha/r}; {@code r = hada_w1_b.shape[0]}.
     */
    private static final class LohaCandidate extends KohyaCandidate {
        final String w1a;
        final String w1b;
        final String w2a;
        final String w2b;
        final String t1;
        final String t2;

        LohaCandidate(Group group, AdapterAssembly asm) {
            super(group);
            w1a = require(asm, "hada_w1_a", "LoHa tensors");
            w1b = require(asm, "hada_w1_b", "LoHa tensors");
            w2a = require(asm, "hada_w2_a", "LoHa tensors");
            w2b = require(asm, "hada_w2_b", "LoHa tensors");
            t1 = parts.get("hada_t1");
            t2 = parts.get("hada_t2");
            if ((t1 == null) != (t2 == null)) {
                require(asm, t1 == null ? "hada_t1" : "hada_t2", "one LoHa Tucker core");
            }
        }

        @Override
        String evidenceKey() {
            return t1 == null ? w1b : null;
        }

        @Override
        Optional<Problem> check(AdapterAssembly asm) {
            Optional<Problem> p = t1 == null ? checkPlain(asm, w1a, w1b) : checkTucker(asm, t1, w1a, w1b);
            if (p.isEmpty()) {
                p = t2 == null ? checkPlain(asm, w2a, w2b) : checkTucker(asm, t2, w2a, w2b);
            }
            return p.isPresent() ? p : checkDora(asm);
        }

        /** {@code wa [out, r]}, {@code wb [r, in·kh·kw]} (or {@code [r, in, kh, kw]}). */
        private Optional<Problem> checkPlain(AdapterAssembly asm, String aKey, String bKey) {
            TensorInfo a = asm.info(aKey);
            TensorInfo b = asm.info(bKey);
            if (a.dimensions() != 2 || b.dimensions() < 2) {
                String key = a.dimensions() != 2 ? aKey : bKey;
                return Optional.of(new Problem(key, "LoHa factor of " + component.id() + " module " + path
                        + " has shape " + AdapterAssembly.shape(asm.info(key).shape()) + ", expected a matrix"));
            }
            if (a.dim(1) != b.dim(0)) {
                return Optional.of(new Problem(bKey, "ranks disagree for " + component.id() + " module " + path
                        + ": '" + aKey + "' has rank " + a.dim(1) + " but '" + bKey + "' has rank " + b.dim(0)));
            }
            long[] expectedA = {geometry.outFeatures(), a.dim(1)};
            if (!a.hasShape(expectedA)) {
                return Optional.of(AdapterAssembly.mismatch(aKey, "LoHa factor", this, a.shape(), expectedA));
            }
            long cols = b.elementCount() / Math.max(1, b.dim(0));
            long[] expectedB = {b.dim(0), (long) geometry.inFeatures() * spatial()};
            if (cols != expectedB[1] || (b.dimensions() > 2 && !b.hasShape(geometry.aShape((int) b.dim(0))))) {
                return Optional.of(AdapterAssembly.mismatch(bKey, "LoHa factor", this, b.shape(), expectedB));
            }
            return Optional.empty();
        }

        /** {@code t [r1, r2, kh, kw]}, {@code wa [r1, out]}, {@code wb [r2, in]}. */
        private Optional<Problem> checkTucker(AdapterAssembly asm, String tKey, String aKey, String bKey) {
            TensorInfo t = asm.info(tKey);
            TensorInfo a = asm.info(aKey);
            TensorInfo b = asm.info(bKey);
            if (geometry.kind() != LayerKind.CONV || t.dimensions() != 4) {
                return Optional.of(new Problem(tKey, "LoHa Tucker core of " + component.id() + " module " + path
                        + " (" + AdapterAssembly.describe(geometry) + ") needs a convolution and a 4-D core, found shape "
                        + AdapterAssembly.shape(t.shape())));
            }
            long[] expectedT = {t.dim(0), t.dim(1), geometry.kernelHeight(), geometry.kernelWidth()};
            long[] expectedA = {t.dim(0), geometry.outFeatures()};
            long[] expectedB = {t.dim(1), geometry.inFeatures()};
            if (!t.hasShape(expectedT)) {
                return Optional.of(AdapterAssembly.mismatch(tKey, "LoHa Tucker core", this, t.shape(), expectedT));
            }
            if (!a.hasShape(expectedA)) {
                return Optional.of(AdapterAssembly.mismatch(aKey, "LoHa Tucker factor", this, a.shape(), expectedA));
            }
            if (!b.hasShape(expectedB)) {
                return Optional.of(AdapterAssembly.mismatch(bKey, "LoHa Tucker factor", this, b.shape(), expectedB));
            }
            return Optional.empty();
        }

        @Override
        LoraModule build(AdapterAssembly asm) {
            long rank = asm.info(w1b).dim(0);
            float[] first = t1 == null ? plain(asm, w1a, w1b) : tucker(asm, t1, w1a, w1b);
            float[] second = t2 == null ? plain(asm, w2a, w2b) : tucker(asm, t2, w2a, w2b);
            float alpha = alpha(asm, "delta");
            float[] delta = DeltaMath.scaleInPlace(DeltaMath.hadamard(first, second), scale(alpha, rank));
            String reason = reason() + "; LoHa rebuilt as full delta (w1a·w1b)⊙(w2a·w2b)·alpha/r, r=" + rank;
            for (String key : new String[] {w1a, w1b, w2a, w2b, t1, t2}) {
                if (key != null) {
                    asm.converted(key, target("delta"), reason);
                }
            }
            Optional<TensorData> magnitude = magnitude(asm);
            dropRest(asm);
            return deltaModule(delta, Optional.empty(), magnitude);
        }

        private float[] plain(AdapterAssembly asm, String aKey, String bKey) {
            TensorInfo a = asm.info(aKey);
            int r = (int) a.dim(1);
            return DeltaMath.matmul(asm.read(aKey).values(), geometry.outFeatures(), r, asm.read(bKey).values(),
                    geometry.inFeatures() * spatial());
        }

        private float[] tucker(AdapterAssembly asm, String tKey, String aKey, String bKey) {
            TensorInfo t = asm.info(tKey);
            return DeltaMath.tucker(asm.read(tKey).values(), (int) t.dim(0), (int) t.dim(1), spatial(),
                    asm.read(aKey).values(), geometry.outFeatures(), asm.read(bKey).values(), geometry.inFeatures());
        }
    }

    // ========================================================================================================= LoKr

    /**
     * LyCORIS LoKr: {@code ΔW = kron(w1, w2) · scale} with {@code w1 = lokr_w1} or {@code lokr_w1_a·lokr_w1_b},
     * {@code w2 = lokr_w2}, {@code lokr_w2_a·lokr_w2_b} or {@code rebuild(lokr_t2, lokr_w2_a, lokr_w2_b)};
     * {@code scale = alpha / r} with {@code r} the rank of the decomposed factor ({@code lokr_w1_b.shape[0]}, else
     * {@code lokr_w2_b.shape[0]}), and {@code scale = 1} when both factors are full matrices.
     */
    private static final class LokrCandidate extends KohyaCandidate {
        final String w1;
        final String w1a;
        final String w1b;
        final String w2;
        final String w2a;
        final String w2b;
        final String t2;

        LokrCandidate(Group group, AdapterAssembly asm) {
            super(group);
            w1 = parts.get("lokr_w1");
            w2 = parts.get("lokr_w2");
            w1a = w1 == null ? require(asm, "lokr_w1_a", "no lokr_w1") : null;
            w1b = w1 == null ? require(asm, "lokr_w1_b", "no lokr_w1") : null;
            w2a = w2 == null ? require(asm, "lokr_w2_a", "no lokr_w2") : null;
            w2b = w2 == null ? require(asm, "lokr_w2_b", "no lokr_w2") : null;
            t2 = w2 == null ? parts.get("lokr_t2") : null;
        }

        @Override
        String evidenceKey() {
            return null;
        }

        /** The factor dimensions: w1 {@code [a, c]}, w2 {@code [b, d·kh·kw]}. */
        private record Dims(long a, long c, long b, long d, String problemKey, String problem) {
        }

        private Dims dims(AdapterAssembly asm) {
            long a;
            long c;
            if (w1 != null) {
                TensorInfo i = asm.info(w1);
                if (i.dimensions() != 2) {
                    return new Dims(0, 0, 0, 0, w1, "lokr_w1 must be a matrix, found " + AdapterAssembly.shape(i.shape()));
                }
                a = i.dim(0);
                c = i.dim(1);
            } else {
                TensorInfo ia = asm.info(w1a);
                TensorInfo ib = asm.info(w1b);
                if (ia.dimensions() != 2 || ib.dimensions() != 2 || ia.dim(1) != ib.dim(0)) {
                    return new Dims(0, 0, 0, 0, w1b, "lokr_w1_a " + AdapterAssembly.shape(ia.shape())
                            + " and lokr_w1_b " + AdapterAssembly.shape(ib.shape()) + " are not [a, r] and [r, c]");
                }
                a = ia.dim(0);
                c = ib.dim(1);
            }
            int spatial = spatial();
            long b;
            long d;
            if (w2 != null) {
                TensorInfo i = asm.info(w2);
                if (i.dimensions() < 2 || (i.dimensions() > 2 && !AdapterAssembly.fits(i.shape(),
                        new long[] {i.dim(0), i.dim(1), geometry.kernelHeight(), geometry.kernelWidth()}))
                        || (i.dimensions() == 2 && spatial != 1)) {
                    return new Dims(0, 0, 0, 0, w2, "lokr_w2 has shape " + AdapterAssembly.shape(i.shape())
                            + ", expected [b, d" + (spatial == 1 ? "" : ", " + geometry.kernelHeight() + ", "
                                    + geometry.kernelWidth()) + "]");
                }
                b = i.dim(0);
                d = i.dim(1);
            } else if (t2 != null) {
                TensorInfo t = asm.info(t2);
                TensorInfo ia = asm.info(w2a);
                TensorInfo ib = asm.info(w2b);
                if (geometry.kind() != LayerKind.CONV || t.dimensions() != 4
                        || !t.hasShape(t.dim(0), t.dim(1), geometry.kernelHeight(), geometry.kernelWidth())
                        || ia.dimensions() != 2 || ib.dimensions() != 2 || ia.dim(0) != t.dim(0)
                        || ib.dim(0) != t.dim(1)) {
                    return new Dims(0, 0, 0, 0, t2, "LoKr Tucker tensors lokr_t2 " + AdapterAssembly.shape(t.shape())
                            + ", lokr_w2_a " + AdapterAssembly.shape(ia.shape()) + ", lokr_w2_b "
                            + AdapterAssembly.shape(ib.shape()) + " do not fit [r1, r2, " + geometry.kernelHeight()
                            + ", " + geometry.kernelWidth() + "], [r1, b], [r2, d]");
                }
                b = ia.dim(1);
                d = ib.dim(1);
            } else {
                TensorInfo ia = asm.info(w2a);
                TensorInfo ib = asm.info(w2b);
                long cols = ib.dimensions() >= 2 ? ib.elementCount() / Math.max(1, ib.dim(0)) : -1;
                if (ia.dimensions() != 2 || ib.dimensions() < 2 || ia.dim(1) != ib.dim(0) || cols % spatial != 0) {
                    return new Dims(0, 0, 0, 0, w2b, "lokr_w2_a " + AdapterAssembly.shape(ia.shape())
                            + " and lokr_w2_b " + AdapterAssembly.shape(ib.shape()) + " are not [b, r] and [r, d"
                            + (spatial == 1 ? "" : "·" + spatial) + "]");
                }
                b = ia.dim(0);
                d = cols / spatial;
            }
            return new Dims(a, c, b, d, null, null);
        }

        @Override
        Optional<Problem> check(AdapterAssembly asm) {
            Dims dims = dims(asm);
            if (dims.problem() != null) {
                return Optional.of(new Problem(dims.problemKey(), "LoKr module " + component.id() + "/" + path + " ("
                        + AdapterAssembly.describe(geometry) + "): " + dims.problem()));
            }
            if (dims.a() * dims.b() != geometry.outFeatures() || dims.c() * dims.d() != geometry.inFeatures()) {
                long[] found = {dims.a() * dims.b(), dims.c() * dims.d()};
                long[] expected = {geometry.outFeatures(), geometry.inFeatures()};
                String key = w1 != null ? w1 : w1a;
                return Optional.of(AdapterAssembly.mismatch(key, "LoKr product kron(w1 [" + dims.a() + ", " + dims.c()
                        + "], w2 [" + dims.b() + ", " + dims.d() + "])", this, found, expected));
            }
            return checkDora(asm);
        }

        @Override
        LoraModule build(AdapterAssembly asm) {
            Dims dims = dims(asm);
            int a = (int) dims.a();
            int c = (int) dims.c();
            int b = (int) dims.b();
            int d = (int) dims.d();
            int spatial = spatial();
            float[] f1 = w1 != null ? asm.read(w1).values()
                    : DeltaMath.matmul(asm.read(w1a).values(), a, (int) asm.info(w1a).dim(1), asm.read(w1b).values(), c);
            float[] f2;
            if (w2 != null) {
                f2 = asm.read(w2).values();
            } else if (t2 != null) {
                TensorInfo t = asm.info(t2);
                f2 = DeltaMath.tucker(asm.read(t2).values(), (int) t.dim(0), (int) t.dim(1), spatial,
                        asm.read(w2a).values(), b, asm.read(w2b).values(), d);
            } else {
                f2 = DeltaMath.matmul(asm.read(w2a).values(), b, (int) asm.info(w2a).dim(1), asm.read(w2b).values(),
                        d * spatial);
            }
            boolean bothFull = w1 != null && w2 != null;
            float alpha = alpha(asm, "delta");
            double scale;
            String scaleNote;
            if (bothFull) {
                scale = 1.0;
                scaleNote = "scale 1 (both factors full matrices, alpha ignored as LyCORIS does)";
            } else {
                long rank = w1b != null ? asm.info(w1b).dim(0) : asm.info(w2b).dim(0);
                scale = scale(alpha, rank);
                scaleNote = "scale alpha/r, r=" + rank;
            }
            float[] delta = DeltaMath.scaleInPlace(DeltaMath.kron(f1, a, c, f2, b, d, spatial), scale);
            String reason = reason() + "; LoKr rebuilt as full delta kron(w1, w2), " + scaleNote;
            for (String key : new String[] {w1, w1a, w1b, w2, w2a, w2b, t2}) {
                if (key != null) {
                    asm.converted(key, target("delta"), reason);
                }
            }
            Optional<TensorData> magnitude = magnitude(asm);
            dropRest(asm);
            return deltaModule(delta, Optional.empty(), magnitude);
        }
    }

    // ========================================================================================================= full

    /** LyCORIS full fine-tune delta: {@code diff} is ΔW, {@code diff_b} the bias delta (no alpha, scale 1). */
    private static final class FullCandidate extends KohyaCandidate {
        final String diff;
        final String diffB;

        FullCandidate(Group group, AdapterAssembly asm) {
            super(group);
            diff = require(asm, "diff", "diff_b");
            diffB = parts.get("diff_b");
        }

        @Override
        String evidenceKey() {
            return null;
        }

        @Override
        Optional<Problem> check(AdapterAssembly asm) {
            TensorInfo w = asm.info(diff);
            if (!AdapterAssembly.fits(w.shape(), geometry.weightShape())) {
                return Optional.of(AdapterAssembly.mismatch(diff, "full delta", this, w.shape(),
                        geometry.weightShape()));
            }
            if (diffB != null && !asm.info(diffB).hasShape(geometry.outFeatures())) {
                return Optional.of(AdapterAssembly.mismatch(diffB, "full bias delta", this, asm.info(diffB).shape(),
                        new long[] {geometry.outFeatures()}));
            }
            return checkDora(asm);
        }

        @Override
        LoraModule build(AdapterAssembly asm) {
            String reason = reason() + "; LyCORIS full delta";
            float[] delta = asm.read(diff).values();
            asm.converted(diff, target("delta"), reason);
            Optional<TensorData> bias = Optional.empty();
            if (diffB != null) {
                bias = Optional.of(TensorData.ofFloats(new long[] {geometry.outFeatures()}, asm.read(diffB).values()));
                asm.converted(diffB, target("bias"), reason + " of the bias");
            }
            if (part(ALPHA) != null) {
                asm.dropped(part(ALPHA), "a full delta has no alpha (LyCORIS ignores it)");
            }
            Optional<TensorData> magnitude = magnitude(asm);
            dropRest(asm);
            return deltaModule(delta, bias, magnitude);
        }
    }
}
