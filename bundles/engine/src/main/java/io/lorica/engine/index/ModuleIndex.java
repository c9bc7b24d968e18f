package io.lorica.engine.index;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LayerKind;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.adapter.LoraModule;
import io.lorica.api.format.ModuleCatalog;
import io.lorica.engine.index.LayerBinding.LayerOp;
import io.lorica.engine.index.LayerBinding.WeightLayout;
import io.lorica.engine.onnx.Initializer;
import io.lorica.engine.onnx.Node;
import io.lorica.engine.onnx.OnnxModel;
import io.lorica.models.ReferenceModels;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The map from the Diffusers module paths of one component (UNet or a text encoder) to the ONNX nodes and weight
 * initializers implementing them, resolved through the graph rather than from initializer names alone.
 *
 * <p>Every MatMul, Gemm and Conv node whose weight input (input 1) is an initializer, possibly reached through
 * Transpose, Cast or Identity nodes, is a candidate layer. A candidate claims a module path when
 * <ul>
 * <li>its node name is a legacy (TorchScript exporter) scope such as
 *     {@code /down_blocks.1/attentions.0/transformer_blocks.0/attn1/to_q/MatMul} or
 *     {@code /text_model/encoder/layers.3/self_attn/q_proj/MatMul}: the scope without the last segment, slashes read
 *     as dots; or</li>
 * <li>its weight initializer is named by the module, as the dynamo exporter and the legacy exporter's Conv weights
 *     are: {@code down_blocks.0.resnets.0.conv1.weight}.</li>
 * </ul>
 * A derived path not in the catalog is retried without its leading segments (e.g. a {@code unet.} prefix). Each catalog
 * module then needs exactly one claiming node, whose weight shape and attributes must imply the catalog's geometry;
 * otherwise the module is listed in {@link #problems()} with the reason.
 */
public final class ModuleIndex {

    private static final Set<String> PASS_THROUGH = Set.of("Transpose", "Cast", "Identity");

    private final ModuleCatalog catalog;
    private final Component component;
    private final Map<String, LayerBinding> bindings;
    private final Map<String, String> problems;

    private ModuleIndex(ModuleCatalog catalog, Component component, Map<String, LayerBinding> bindings,
            Map<String, String> problems) {
        this.catalog = catalog;
        this.component = component;
        this.bindings = Collections.unmodifiableMap(bindings);
        this.problems = Collections.unmodifiableMap(problems);
    }

    /**
     * Indexes {@code model} as {@code component} of the standard model of {@code family}
     * ({@link ReferenceModels#catalog}).
     *
     * @throws IllegalArgumentException when an argument is null or the component is not part of the family
     */
    public static ModuleIndex build(OnnxModel model, ModelFamily family, Component component) {
        if (family == null) {
            throw new IllegalArgumentException("family must not be null");
        }
        return build(model, ReferenceModels.catalog(family), component);
    }

    /**
     * Indexes {@code model} as {@code component} of the model described by {@code catalog}.
     *
     * @throws IllegalArgumentException when an argument is null or the component is not part of the catalog's family
     */
    public static ModuleIndex build(OnnxModel model, ModuleCatalog catalog, Component component) {
        return build(model, catalog, component, Geometry.CATALOG);
    }

    /**
     * Indexes {@code model} as {@code component} of the model described by {@code catalog}, with each module's
     * geometry checked against the catalog ({@link Geometry#CATALOG}) or taken from the graph
     * ({@link Geometry#GRAPH}).
     *
     * @throws IllegalArgumentException when an argument is null or the component is not part of the catalog's family
     */
    public static ModuleIndex build(OnnxModel model, ModuleCatalog catalog, Component component, Geometry geometry) {
        if (model == null || catalog == null || component == null || geometry == null) {
            throw new IllegalArgumentException("model, catalog, component and geometry must not be null");
        }
        catalog.family().requireComponent(component);
        return new Builder(model, catalog, component, geometry).build();
    }

    /** Where the geometry of a bound module comes from. */
    public enum Geometry {
        /** The catalog's: a graph layer of another shape is not bound (it is listed in {@link #problems()}). */
        CATALOG,
        /**
         * The graph's: the catalog only names the modules, so models at other widths or depths than the reference
         * (distilled or test models) are indexed; modules missing from the graph are listed in {@link #problems()}.
         */
        GRAPH
    }

    /** The component indexed. */
    public Component component() {
        return component;
    }

    /** The family of the catalog. */
    public ModelFamily family() {
        return catalog.family();
    }

    /** The catalog the module paths come from. */
    public ModuleCatalog catalog() {
        return catalog;
    }

    /** The bound modules by Diffusers module path, in catalog order. */
    public Map<String, LayerBinding> bindings() {
        return bindings;
    }

    /** The binding of {@code modulePath}, if it was found. */
    public Optional<LayerBinding> binding(String modulePath) {
        return Optional.ofNullable(bindings.get(modulePath));
    }

    /**
     * The catalog modules that could not be bound, by module path, with why: no node, ambiguous, weight not an
     * initializer, or shape disagreeing with the catalog.
     */
    public Map<String, String> problems() {
        return problems;
    }

    /**
     * What stands in the way of applying {@code adapter}'s modules of this index's component, before anything is
     * applied: a family other than the catalog's, module paths the model does not have, modules that are in the
     * catalog but could not be bound in this graph, and modules whose geometry (so their A/B shapes) differs from the
     * layer's. Modules of other components are not looked at.
     *
     * @return one readable line per problem; empty when every module can be applied
     */
    public List<String> check(LoraAdapter adapter) {
        if (adapter == null) {
            throw new IllegalArgumentException("adapter must not be null");
        }
        List<String> result = new ArrayList<>();
        if (adapter.family() != catalog.family()) {
            result.add("adapter is for " + adapter.family() + " but the model is " + catalog.family());
        }
        for (Map.Entry<String, LoraModule> entry : adapter.modules(component).entrySet()) {
            String path = entry.getKey();
            LoraModule module = entry.getValue();
            if (!catalog.contains(component, path)) {
                result.add(component + "/" + path + ": unknown module, the model has no such layer");
                continue;
            }
            LayerBinding binding = bindings.get(path);
            if (binding == null) {
                result.add(component + "/" + path + ": not found in the ONNX graph: " + problems.get(path));
                continue;
            }
            if (!module.geometry().equals(binding.geometry())) {
                result.add(component + "/" + path + ": shape mismatch: the adapter's module is "
                        + describe(module.geometry()) + " (A " + Arrays.toString(module.a().shape()) + ", B "
                        + Arrays.toString(module.b().shape()) + ") but the layer is " + describe(binding.geometry())
                        + " (A " + Arrays.toString(binding.geometry().aShape(module.rank())) + ", B "
                        + Arrays.toString(binding.geometry().bShape(module.rank())) + " at rank " + module.rank()
                        + ")");
            }
        }
        return result;
    }

    @Override
    public String toString() {
        return "ModuleIndex[" + catalog.family() + "/" + component + ", " + bindings.size() + " bound, "
                + problems.size() + " not]";
    }

    static String describe(LayerGeometry g) {
        return g.kind() == LayerKind.LINEAR
                ? "linear " + g.inFeatures() + "->" + g.outFeatures()
                : "conv " + g.inFeatures() + "->" + g.outFeatures() + " " + g.kernelHeight() + "x" + g.kernelWidth()
                        + " stride " + g.stride() + " padding " + g.padding();
    }

    /** A MatMul/Gemm/Conv node and where its weight comes from. */
    private static final class Candidate {
        final Node node;
        final LayerOp op;
        String initializer;
        String notInitializer;
        int transposes;
        final List<String> path = new ArrayList<>();

        Candidate(Node node, LayerOp op) {
            this.node = node;
            this.op = op;
        }
    }

    private static final class Builder {
        private final OnnxModel model;
        private final ModuleCatalog catalog;
        private final Component component;
        private final Map<String, LayerGeometry> modules;
        private final Geometry geometry;
        private final Map<String, Node> producers = new LinkedHashMap<>();
        private final Map<String, List<Node>> consumers = new LinkedHashMap<>();

        Builder(OnnxModel model, ModuleCatalog catalog, Component component, Geometry geometry) {
            this.model = model;
            this.geometry = geometry;
            this.catalog = catalog;
            this.component = component;
            this.modules = catalog.modules(component);
        }

        ModuleIndex build() {
            List<Node> nodes = model.nodes();
            for (Node node : nodes) {
                for (String output : node.outputs()) {
                    producers.put(output, node);
                }
                for (String input : node.inputs()) {
                    consumers.computeIfAbsent(input, k -> new ArrayList<>()).add(node);
                }
            }
            Map<String, Set<Candidate>> claims = new LinkedHashMap<>();
            Map<String, Candidate> notInitializer = new LinkedHashMap<>();
            for (Node node : nodes) {
                LayerOp op = op(node);
                if (op == null) {
                    continue;
                }
                Candidate candidate = trace(node, op);
                Set<String> claimed = new LinkedHashSet<>();
                fromNodeName(node.name()).ifPresent(claimed::add);
                if (candidate.initializer != null && candidate.initializer.endsWith(".weight")) {
                    String name = candidate.initializer;
                    match(name.substring(0, name.length() - ".weight".length())).ifPresent(claimed::add);
                }
                for (String module : claimed) {
                    if (candidate.initializer != null) {
                        claims.computeIfAbsent(module, k -> new LinkedHashSet<>()).add(candidate);
                    } else {
                        notInitializer.putIfAbsent(module, candidate);
                    }
                }
            }
            Map<String, LayerBinding> bindings = new LinkedHashMap<>();
            Map<String, String> problems = new LinkedHashMap<>();
            for (Map.Entry<String, LayerGeometry> entry : modules.entrySet()) {
                String module = entry.getKey();
                Set<Candidate> found = claims.getOrDefault(module, Set.of());
                if (found.isEmpty()) {
                    Candidate bad = notInitializer.get(module);
                    problems.put(module, bad != null
                            ? "weight of " + bad.node.describe() + " is not an initializer: " + bad.notInitializer
                            : "no node: no MatMul/Gemm/Conv named like " + legacyName(module)
                                    + " and no initializer '" + module + ".weight' feeding one");
                    continue;
                }
                if (found.size() > 1) {
                    problems.put(module, "ambiguous: " + found.size() + " nodes claim it: " + found.stream()
                            .map(c -> c.node.describe() + " (weight '" + c.initializer + "')")
                            .collect(Collectors.joining(", ")));
                    continue;
                }
                Candidate candidate = found.iterator().next();
                try {
                    LayerBinding binding = bind(module, candidate);
                    if (geometry == Geometry.CATALOG && !binding.geometry().equals(entry.getValue())) {
                        problems.put(module, "shape disagrees with the catalog: " + candidate.node.describe()
                                + " with weight '" + candidate.initializer + "' "
                                + Arrays.toString(binding.weightShape()) + " is " + describe(binding.geometry())
                                + ", the catalog expects " + describe(entry.getValue()));
                        continue;
                    }
                    bindings.put(module, binding);
                } catch (IllegalArgumentException e) {
                    problems.put(module, e.getMessage());
                }
            }
            return new ModuleIndex(catalog, component, bindings, problems);
        }

        private static LayerOp op(Node node) {
            if (!node.domain().isEmpty() && !"ai.onnx".equals(node.domain())) {
                return null;
            }
            switch (node.opType()) {
                case "MatMul": return LayerOp.MATMUL;
                case "Gemm": return LayerOp.GEMM;
                case "Conv": return LayerOp.CONV;
                default: return null;
            }
        }

        /** Follows input 1 back through Transpose/Cast/Identity to an initializer. */
        private Candidate trace(Node node, LayerOp op) {
            Candidate candidate = new Candidate(node, op);
            Optional<String> weight = node.input(1);
            if (weight.isEmpty()) {
                candidate.notInitializer = "it has no weight input";
                return candidate;
            }
            String value = weight.get();
            for (int depth = 0; depth < 16; depth++) {
                if (model.initializer(value).isPresent()) {
                    candidate.initializer = value;
                    return candidate;
                }
                Node producer = producers.get(value);
                if (producer == null) {
                    candidate.notInitializer = "'" + value + "' is a graph input";
                    return candidate;
                }
                if (!PASS_THROUGH.contains(producer.opType()) || producer.input(0).isEmpty()) {
                    candidate.notInitializer = "'" + value + "' is computed by " + producer.describe();
                    return candidate;
                }
                if ("Transpose".equals(producer.opType())) {
                    List<Long> perm = producer.longsAttribute("perm", List.of());
                    if (!perm.isEmpty() && !perm.equals(List.of(1L, 0L))) {
                        candidate.notInitializer = "'" + value + "' is computed by " + producer.describe()
                                + " with perm " + perm + ", not a 2-D transpose";
                        return candidate;
                    }
                    candidate.transposes++;
                }
                candidate.path.add(0, producer.name().isEmpty() ? producer.opType() : producer.name());
                value = producer.input(0).get();
            }
            candidate.notInitializer = "more than 16 Transpose/Cast/Identity nodes before '" + value + "'";
            return candidate;
        }

        /** The module path of a legacy scope name such as {@code /down_blocks.0/resnets.0/conv1/Conv}. */
        private Optional<String> fromNodeName(String name) {
            if (!name.startsWith("/")) {
                return Optional.empty();
            }
            String[] segments = name.substring(1).split("/");
            if (segments.length < 2) {
                return Optional.empty();
            }
            return match(String.join(".", Arrays.copyOf(segments, segments.length - 1)));
        }

        /** {@code path} or its longest suffix (whole segments) in the catalog; also tried under {@code text_model.}. */
        private Optional<String> match(String path) {
            String candidate = path;
            while (true) {
                if (modules.containsKey(candidate)) {
                    return Optional.of(candidate);
                }
                if (modules.containsKey("text_model." + candidate)) {
                    return Optional.of("text_model." + candidate);
                }
                int dot = candidate.indexOf('.');
                if (dot < 0) {
                    return Optional.empty();
                }
                candidate = candidate.substring(dot + 1);
            }
        }

        private static String legacyName(String module) {
            return "/" + module.replace('.', '/').replaceAll("/(\\d+)", ".$1") + "/<op>";
        }

        private LayerBinding bind(String module, Candidate c) {
            Initializer weight = model.initializer(c.initializer).orElseThrow();
            long[] s = weight.shape();
            String what = c.node.describe() + " with weight '" + c.initializer + "' " + Arrays.toString(s);
            Node node = c.node;
            boolean odd = c.transposes % 2 == 1;
            if (c.op == LayerOp.CONV) {
                if (s.length != 4) {
                    throw new IllegalArgumentException(what + ": a Conv weight must be 4-D");
                }
                if (c.transposes > 0) {
                    throw new IllegalArgumentException(what + ": the Conv weight passes through a Transpose");
                }
                List<Long> strides = node.longsAttribute("strides", List.of(1L, 1L));
                List<Long> pads = node.longsAttribute("pads", List.of(0L, 0L, 0L, 0L));
                List<Long> dilations = node.longsAttribute("dilations", List.of(1L, 1L));
                long group = node.longAttribute("group", 1);
                String autoPad = node.stringAttribute("auto_pad", "NOTSET");
                if (!strides.stream().allMatch(v -> v.equals(strides.get(0)))) {
                    throw new IllegalArgumentException(what + ": strides " + strides + " differ per axis");
                }
                long padding;
                if ("NOTSET".equals(autoPad)) {
                    if (!pads.stream().allMatch(v -> v.equals(pads.get(0)))) {
                        throw new IllegalArgumentException(what + ": pads " + pads + " differ per side");
                    }
                    padding = pads.get(0);
                } else if ("VALID".equals(autoPad)) {
                    padding = 0;
                } else if (strides.get(0) == 1 && s[2] == s[3] && s[2] % 2 == 1) {
                    padding = (s[2] - 1) / 2;
                } else {
                    throw new IllegalArgumentException(what + ": auto_pad " + autoPad + " cannot be expressed as padding");
                }
                LayerGeometry geometry = new LayerGeometry(LayerKind.CONV, toInt(s[1] * group), toInt(s[0]),
                        toInt(s[2]), toInt(s[3]), toInt(strides.get(0)), toInt(padding));
                return new LayerBinding(module, node.name(), c.op, c.initializer, WeightLayout.OUT_IN_KH_KW, s,
                        weight.dtype(), c.path, bias(node.input(2), s[0]), strides, pads, dilations, group, geometry);
            }
            if (s.length != 2) {
                throw new IllegalArgumentException(what + ": a " + node.opType() + " weight must be 2-D");
            }
            boolean outIn;
            Optional<String> bias;
            if (c.op == LayerOp.GEMM) {
                if (node.longAttribute("transA", 0) != 0) {
                    throw new IllegalArgumentException(what + ": Gemm with transA=1 is not a linear layer");
                }
                outIn = (node.longAttribute("transB", 0) != 0) ^ odd;
                long out = outIn ? s[0] : s[1];
                bias = bias(node.input(2), out);
            } else {
                outIn = odd;
                long out = outIn ? s[0] : s[1];
                bias = matMulBias(node, out);
            }
            long in = outIn ? s[1] : s[0];
            long out = outIn ? s[0] : s[1];
            return new LayerBinding(module, node.name(), c.op, c.initializer,
                    outIn ? WeightLayout.OUT_IN : WeightLayout.IN_OUT, s, weight.dtype(), c.path, bias, List.of(),
                    List.of(), List.of(), 1, LayerGeometry.linear(toInt(in), toInt(out)));
        }

        /** A bias input traced through Cast/Identity to a 1-D initializer of {@code out} elements. */
        private Optional<String> bias(Optional<String> input, long out) {
            if (input.isEmpty()) {
                return Optional.empty();
            }
            String value = input.get();
            for (int depth = 0; depth < 16; depth++) {
                Optional<Initializer> init = model.initializer(value);
                if (init.isPresent()) {
                    return init.get().rank() == 1 && init.get().shape()[0] == out ? Optional.of(value)
                            : Optional.empty();
                }
                Node producer = producers.get(value);
                if (producer == null || !("Cast".equals(producer.opType()) || "Identity".equals(producer.opType()))
                        || producer.input(0).isEmpty()) {
                    return Optional.empty();
                }
                value = producer.input(0).get();
            }
            return Optional.empty();
        }

        /** The bias of a MatMul: the other input of the single Add consuming its output. */
        private Optional<String> matMulBias(Node node, long out) {
            if (node.outputs().isEmpty()) {
                return Optional.empty();
            }
            String output = node.outputs().get(0);
            List<Node> users = consumers.getOrDefault(output, List.of());
            if (users.size() != 1 || !"Add".equals(users.get(0).opType())) {
                return Optional.empty();
            }
            Node add = users.get(0);
            for (String input : add.inputs()) {
                if (!input.equals(output)) {
                    Optional<String> bias = bias(Optional.of(input), out);
                    if (bias.isPresent()) {
                        return bias;
                    }
                }
            }
            return Optional.empty();
        }

        private static int toInt(long value) {
            if (value < 0 || value > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("dimension " + value + " out of range");
            }
            return (int) value;
        }
    }
}
