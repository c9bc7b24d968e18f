package io.lorica.loader.format;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.TensorData;
import io.lorica.api.TensorInfo;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LayerKind;
import io.lorica.api.adapter.LoadReport;
import io.lorica.api.adapter.LoadReport.KeyReport;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.adapter.LoraModule;
import io.lorica.api.format.AdapterFormatException;
import io.lorica.api.format.ConversionContext;
import io.lorica.api.format.ModuleCatalog;
import io.lorica.api.format.TensorSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The state of one conversion: the per-key report, the warnings, the modules built so far and the checks every format
 * shares (shapes against the catalog, unknown modules, wrong family, NaN/Inf). Nothing leaves it until
 * {@link #build()}, which makes a conversion all or nothing.
 */
final class AdapterAssembly {

    private static final int EXAMPLES = 5;

    private final String format;
    private final TensorSource source;
    private final ConversionContext context;
    private final Map<String, KeyReport> reports = new HashMap<>();
    private final List<String> warnings = new ArrayList<>();
    private final Map<Component, Map<String, LoraModule>> modules = new LinkedHashMap<>();
    private final List<String> alphaMissing = new ArrayList<>();
    private final List<String> alphaZero = new ArrayList<>();

    AdapterAssembly(String format, TensorSource source, ConversionContext context) {
        if (source == null || context == null) {
            throw new IllegalArgumentException("source and context must not be null");
        }
        this.format = format;
        this.source = source;
        this.context = context;
        for (Component component : context.family().components()) {
            modules.put(component, new LinkedHashMap<>());
        }
    }

    TensorSource source() {
        return source;
    }

    ModelFamily family() {
        return context.family();
    }

    ModuleCatalog catalog() {
        return context.catalog();
    }

    // ----------------------------------------------------------------------------------------------------- report

    void used(String key, String target) {
        record(KeyReport.used(key, target));
    }

    void converted(String key, String target, String reason) {
        record(KeyReport.converted(key, target, reason));
    }

    void dropped(String key, String reason) {
        record(KeyReport.dropped(key, reason));
    }

    boolean reported(String key) {
        return reports.containsKey(key);
    }

    void warn(String warning) {
        if (!warnings.contains(warning)) {
            warnings.add(warning);
        }
    }

    /** Notes a module whose alpha is missing (alpha = rank is used). */
    void alphaMissing(String module) {
        alphaMissing.add(module);
    }

    /** Notes a module whose alpha is 0 (alpha = rank is used, as kohya does). */
    void alphaZero(String module) {
        alphaZero.add(module);
    }

    private void record(KeyReport report) {
        reports.put(report.key(), report);
    }

    static String target(Component component, String path, String part) {
        return component.id() + "/" + path + "." + part;
    }

    // ----------------------------------------------------------------------------------------------------- tensors

    AdapterFormatException error(String key, String message) {
        return new AdapterFormatException(source.name(), key, message);
    }

    TensorInfo info(String key) {
        return source.info(key);
    }

    /**
     * A floating-point tensor as a view (no copy), warning (not failing) when it holds NaN or Inf values; the check
     * runs over the raw bytes.
     */
    TensorData tensor(String key) {
        TensorData data = source.tensor(key);
        if (!data.dtype().isFloatingPoint()) {
            throw error(key, "tensor is " + data.info() + " but LoRA weights must be F16, BF16, F32 or F64");
        }
        long bad = DeltaMath.countNonFinite(data);
        if (bad > 0) {
            warn("key '" + key + "' contains " + bad + " NaN/Inf value" + (bad == 1 ? "" : "s")
                    + " of " + data.elementCount() + "; the adapter was loaded anyway");
        }
        return data;
    }

    /** Reads a floating-point tensor with its values as floats. */
    Read read(String key) {
        TensorData data = source.tensor(key);
        if (!data.dtype().isFloatingPoint()) {
            throw error(key, "tensor is " + data.info() + " but LoRA weights must be F16, BF16, F32 or F64");
        }
        float[] values = data.toFloatArray();
        int bad = DeltaMath.countNonFinite(values);
        if (bad > 0) {
            warn("key '" + key + "' contains " + bad + " NaN/Inf value" + (bad == 1 ? "" : "s")
                    + " of " + values.length + "; the adapter was loaded anyway");
        }
        return new Read(data, values);
    }

    /** A tensor and its values. */
    record Read(TensorData data, float[] values) {
    }

    /** Reads a one-element tensor such as a kohya {@code .alpha}. */
    float scalar(String key) {
        TensorInfo info = source.info(key);
        if (info.elementCount() != 1) {
            throw error(key, "expected a scalar, found shape " + shape(info.shape()));
        }
        float value = read(key).values()[0];
        if (!Float.isFinite(value)) {
            throw error(key, "alpha must be finite, found " + value);
        }
        return value;
    }

    // ----------------------------------------------------------------------------------------------------- shapes

    static String shape(long[] shape) {
        return Arrays.toString(shape);
    }

    /**
     * Whether {@code found} is {@code expected}, up to trailing size-1 dimensions after the second one: a 2-D
     * {@code [r, in]} fits a 1×1 convolution's {@code [r, in, 1, 1]} and vice versa.
     */
    static boolean fits(long[] found, long[] expected) {
        return Arrays.equals(trim(found), trim(expected));
    }

    private static long[] trim(long[] shape) {
        int n = shape.length;
        while (n > 2 && shape[n - 1] == 1) {
            n--;
        }
        return n == shape.length ? shape : Arrays.copyOf(shape, n);
    }

    /** {@code data} viewed with {@code expected}'s shape when it only {@link #fits} it. */
    static TensorData conform(TensorData data, long[] expected) {
        return data.hasShape(expected) ? data : data.reshape(expected);
    }

    static String describe(LayerGeometry g) {
        return g.kind() == LayerKind.LINEAR
                ? "linear " + g.inFeatures() + "->" + g.outFeatures()
                : "conv " + g.inFeatures() + "->" + g.outFeatures() + " " + g.kernelHeight() + "x" + g.kernelWidth();
    }

    /** A shape problem of one key. */
    record Problem(String key, String message) {
    }

    static Problem mismatch(String key, String what, Candidate c, long[] found, long[] expected) {
        return new Problem(key, what + " of " + c.component.id() + " module " + c.path + " (" + describe(c.geometry)
                + "): found shape " + shape(found) + ", expected " + shape(expected));
    }

    /** Checks a low-rank pair (A {@code [r, in(, kh, kw)]}, B {@code [out, r(, 1, 1)]}) against the geometry. */
    static Optional<Problem> checkLowRank(Candidate c, String aKey, TensorInfo a, String bKey, TensorInfo b) {
        if (a.dimensions() < 2 || b.dimensions() < 2) {
            TensorInfo bad = a.dimensions() < 2 ? a : b;
            String key = bad == a ? aKey : bKey;
            return Optional.of(new Problem(key, "LoRA tensor of " + c.component.id() + " module " + c.path
                    + " must have at least 2 dimensions, found shape " + shape(bad.shape())));
        }
        long rankA = a.dim(0);
        long rankB = b.dim(1);
        if (rankA != rankB) {
            return Optional.of(new Problem(bKey, "ranks disagree for " + c.component.id() + " module " + c.path
                    + ": A '" + aKey + "' has rank " + rankA + " (shape " + shape(a.shape()) + ") but B has rank "
                    + rankB + " (shape " + shape(b.shape()) + ")"));
        }
        int rank = (int) rankA;
        if (!fits(a.shape(), c.geometry.aShape(rank))) {
            return Optional.of(mismatch(aKey, "LoRA A", c, a.shape(), c.geometry.aShape(rank)));
        }
        if (!fits(b.shape(), c.geometry.bShape(rank))) {
            return Optional.of(mismatch(bKey, "LoRA B", c, b.shape(), c.geometry.bShape(rank)));
        }
        return Optional.empty();
    }

    // ----------------------------------------------------------------------------------------------------- modules

    /**
     * A module found in the file, before it is built: its component, the name the file gives it, its keys, and (once
     * resolved) its Diffusers path and geometry.
     */
    abstract static class Candidate {
        final Component component;
        final String sourceName;
        String displayName;
        final List<String> keys = new ArrayList<>();
        String path;
        String renaming = "";
        LayerGeometry geometry;

        Candidate(Component component, String sourceName) {
            this.component = component;
            this.sourceName = sourceName;
            this.displayName = sourceName;
        }

        /** The key holding A (or the tensor whose input features tell the family), or null. */
        abstract String evidenceKey();

        /** Checks the shapes against {@link #geometry} from tensor infos only. */
        abstract Optional<Problem> check(AdapterAssembly assembly);

        /** Reads the tensors, reports every key, and returns the module. */
        abstract LoraModule build(AdapterAssembly assembly);

        String target(String part) {
            return AdapterAssembly.target(component, path, part);
        }
    }

    /**
     * Resolves the geometry of the resolved candidates, drops the unresolved ones, and fails with a clear message when
     * shapes do not fit or the file looks like one for another family.
     *
     * @param extraEvidence further modules that count for the family guess (e.g. those of a component the family lacks)
     * @return the candidates to build, in file order
     */
    List<Candidate> vet(List<Candidate> candidates, List<FamilyHints.Evidence> extraEvidence) {
        List<Candidate> resolved = new ArrayList<>();
        List<Candidate> unresolved = new ArrayList<>();
        List<Problem> problems = new ArrayList<>();
        for (Candidate c : candidates) {
            Optional<LayerGeometry> geometry = c.path == null ? Optional.empty()
                    : catalog().geometry(c.component, c.path);
            if (geometry.isEmpty()) {
                unresolved.add(c);
                continue;
            }
            c.geometry = geometry.get();
            c.check(this).ifPresent(problems::add);
            resolved.add(c);
        }
        if (!unresolved.isEmpty() || !problems.isEmpty()) {
            List<FamilyHints.Evidence> evidence = new ArrayList<>(extraEvidence);
            for (Candidate c : candidates) {
                evidence.add(evidence(c));
            }
            Optional<FamilyHints.Guess> guess = FamilyHints.guess(evidence);
            if (guess.isPresent() && guess.get().family() != family()) {
                throw wrongFamily(guess.get(), candidates.size(), unresolved, problems);
            }
        }
        if (!problems.isEmpty()) {
            Problem first = problems.get(0);
            String more = problems.size() == 1 ? "" : " (and " + (problems.size() - 1) + " more shape problems)";
            throw error(first.key(), first.message() + more);
        }
        if (resolved.isEmpty() && !unresolved.isEmpty()) {
            throw error(null, "none of the " + unresolved.size() + " modules of the file exists in the "
                    + FamilyHints.display(family()) + " model, e.g. " + names(unresolved)
                    + "; is this a LoRA for another model?");
        }
        for (Candidate c : unresolved) {
            String reason = "unknown module: " + c.component.id() + " of " + FamilyHints.display(family())
                    + " has no module '" + c.displayName + "'";
            c.keys.forEach(key -> dropped(key, reason));
        }
        if (!unresolved.isEmpty()) {
            warn(unresolved.size() + (unresolved.size() == 1 ? " module of the file does" : " modules of the file do")
                    + " not exist in the " + FamilyHints.display(family()) + " model; dropped: "
                    + names(unresolved));
        }
        return resolved;
    }

    private FamilyHints.Evidence evidence(Candidate c) {
        String key = c.evidenceKey();
        int dims = 0;
        long in = -1;
        if (key != null && source.contains(key)) {
            TensorInfo info = source.info(key);
            dims = info.dimensions();
            in = dims >= 2 ? info.dim(1) : -1;
        }
        return new FamilyHints.Evidence(c.component, c.path != null ? c.path : c.sourceName, c.displayName, dims, in);
    }

    private AdapterFormatException wrongFamily(FamilyHints.Guess guess, int total, List<Candidate> unresolved,
            List<Problem> problems) {
        StringBuilder message = new StringBuilder("this looks like a LoRA for ")
                .append(FamilyHints.display(guess.family())).append(" (e.g. ")
                .append(guess.examples().stream().limit(3).map(n -> "'" + n + "'").collect(Collectors.joining(", ")))
                .append("), but the target model is ").append(FamilyHints.display(family())).append(": ");
        List<String> parts = new ArrayList<>();
        if (!unresolved.isEmpty()) {
            parts.add(unresolved.size() + " of " + total + " modules do not exist in the model (e.g. "
                    + names(unresolved) + ")");
        }
        if (!problems.isEmpty()) {
            parts.add(problems.size() + " module" + (problems.size() == 1 ? " has" : "s have")
                    + " shapes that do not fit (first: key '" + problems.get(0).key() + "', "
                    + problems.get(0).message() + ")");
        }
        message.append(String.join("; ", parts));
        return error(null, message.toString());
    }

    private static String names(List<Candidate> candidates) {
        String listed = candidates.stream().limit(EXAMPLES).map(c -> "'" + c.displayName + "'")
                .collect(Collectors.joining(", "));
        return candidates.size() > EXAMPLES ? listed + ", ..." : listed;
    }

    /** Adds a built module; a second module for the same layer is an error naming the key. */
    void add(LoraModule module, String key) {
        Map<String, LoraModule> perPath = modules.get(module.component());
        if (perPath.containsKey(module.modulePath())) {
            throw error(key, "a second set of weights for " + module.component().id() + " module "
                    + module.modulePath() + " (two keys name the same layer)");
        }
        perPath.put(module.modulePath(), module);
    }

    /** Builds every candidate and adds it (all or nothing: an exception leaves nothing behind). */
    void buildAll(List<Candidate> candidates) {
        for (Candidate c : candidates) {
            LoraModule module;
            try {
                module = c.build(this);
            } catch (IllegalArgumentException e) {
                throw error(c.keys.isEmpty() ? null : c.keys.get(0), e.getMessage());
            }
            add(module, c.keys.isEmpty() ? null : c.keys.get(0));
        }
    }

    // ----------------------------------------------------------------------------------------------------- result

    /**
     * The adapter: every key reported in file order (a key no step claimed is reported as dropped), the warnings in
     * the order they arose.
     *
     * @throws AdapterFormatException when no module at all was converted
     */
    LoraAdapter build() {
        int count = modules.values().stream().mapToInt(Map::size).sum();
        if (count == 0) {
            throw error(null, "no LoRA module for the " + FamilyHints.display(family())
                    + " model was found in the file (" + source.keys().size() + " keys"
                    + (reports.isEmpty() ? "" : ", e.g. '" + source.keys().iterator().next() + "': "
                            + describeOutcome(source.keys().iterator().next())) + ")");
        }
        if (!alphaMissing.isEmpty()) {
            warnings.add(0, "alpha missing for " + alphaMissing.size() + " module" + (alphaMissing.size() == 1 ? "" : "s")
                    + ", using alpha = rank (scale 1)");
        }
        if (!alphaZero.isEmpty()) {
            warnings.add(0, "alpha 0 for " + alphaZero.size() + " module" + (alphaZero.size() == 1 ? "" : "s")
                    + ": treated as alpha = rank as kohya does (Diffusers would disable these modules)");
        }
        List<KeyReport> keys = new ArrayList<>();
        for (String key : source.keys()) {
            KeyReport report = reports.get(key);
            keys.add(report != null ? report : KeyReport.dropped(key, "not a tensor of the " + format + " format"));
        }
        return new LoraAdapter(format, family(), modules, source.metadata(), new LoadReport(keys, warnings));
    }

    private String describeOutcome(String key) {
        KeyReport report = reports.get(key);
        return report == null ? "not recognised" : report.reason();
    }
}
