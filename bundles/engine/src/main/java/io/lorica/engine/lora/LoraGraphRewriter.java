package io.lorica.engine.lora;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import io.lorica.api.DType;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LayerKind;
import io.lorica.engine.index.LayerBinding;
import io.lorica.engine.index.LayerBinding.LayerOp;
import io.lorica.engine.index.ModuleIndex;
import io.lorica.engine.onnx.OnnxModel;
import io.lorica.engine.onnx.OnnxTypes;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Rewrites a component graph once so that every bound layer gets a LoRA branch whose factors are <em>required</em>
 * graph inputs with a symbolic rank dimension (see {@link BranchLayout.Branch} for the math). ONNX Runtime refuses
 * per-run overrides of initializers but accepts required inputs, including zero-size ones, so one session serves any
 * set of adapters and scales: {@link DynamicInputs} builds the inputs per request.
 *
 * <p><b>Naming</b> (for module path {@code p}; ONNX names are free-form strings, these contain {@code ::} and
 * {@code /}, which exporters never produce, and are checked against every existing name of the graph):
 * <ul>
 * <li>inputs {@code lora_down::p} and {@code lora_up::p}, rank dimension {@code lora_rank::p};</li>
 * <li>new nodes {@code lora::p/down}, {@code lora::p/up}, {@code lora::p/add} (and for linear layers
 * {@code lora::p/down_t}, the Transpose of the rank-major down factor); the layer node's output is renamed
 * {@code lora::p/base} and the Add writes the original output name, so consumers and graph outputs are unchanged.</li>
 * </ul>
 *
 * <p><b>Layout.</b> Both factors of a linear branch are rank-major ({@code down [R, in]}, {@code up [R, out]}), so the
 * factors of several adapters concatenate as contiguous blocks; the down factor reaches its MatMul through a Transpose,
 * which ONNX Runtime's graph optimiser folds into the MatMul ({@code FusedMatMul} with {@code transB}). The factors have
 * the layer's compute type: the type of its weight as the layer node sees it (after any Cast), so fp16 graphs get fp16
 * factors.
 *
 * <p>Layers that cannot get an exact branch (Gemm with {@code transA} or {@code alpha != 1}, grouped or dilated
 * convolutions) are left as they are and listed in {@link BranchLayout#skipped()}; they need the fused path.
 */
public final class LoraGraphRewriter {

    /** Prefix of the down-factor input names. */
    public static final String DOWN_PREFIX = "lora_down::";
    /** Prefix of the up-factor input names. */
    public static final String UP_PREFIX = "lora_up::";
    /** Prefix of the symbolic rank dimension names. */
    public static final String RANK_PREFIX = "lora_rank::";
    /** Prefix of the added nodes' and intermediate values' names. */
    public static final String NODE_PREFIX = "lora::";

    private LoraGraphRewriter() {
    }

    /**
     * The rewritten model and its branch layout.
     *
     * @param model  the model with branches (same folder, external data untouched)
     * @param layout the branches added and the layers skipped
     */
    public record Rewritten(OnnxModel model, BranchLayout layout) {
    }

    /** Adds a branch to every layer of {@code index}. */
    public static Rewritten rewrite(OnnxModel model, ModuleIndex index) {
        return rewrite(model, index, index.bindings().keySet());
    }

    /**
     * Adds a branch to each listed module of {@code index}.
     *
     * @throws IllegalArgumentException when a module is not bound in the index, its node is missing, or a new name
     *                                  collides with an existing one (e.g. the graph was already rewritten)
     */
    public static Rewritten rewrite(OnnxModel model, ModuleIndex index, Collection<String> modulePaths) {
        if (model == null || index == null || modulePaths == null) {
            throw new IllegalArgumentException("model, index and modulePaths must not be null");
        }
        GraphProto graph = model.proto().getGraph();
        Set<String> names = existingNames(graph);
        Map<String, Integer> nodeByName = new LinkedHashMap<>();
        Map<String, NodeProto> producers = new HashMap<>();
        for (int i = 0; i < graph.getNodeCount(); i++) {
            nodeByName.put(graph.getNode(i).getName(), i);
            for (String output : graph.getNode(i).getOutputList()) {
                producers.put(output, graph.getNode(i));
            }
        }
        Map<Integer, List<NodeProto>> replacements = new LinkedHashMap<>();
        List<ValueInfoProto> newInputs = new ArrayList<>();
        Map<String, BranchLayout.Branch> branches = new LinkedHashMap<>();
        Map<String, String> skipped = new LinkedHashMap<>();
        for (String path : modulePaths) {
            LayerBinding binding = index.binding(path).orElseThrow(() -> new IllegalArgumentException(
                    "module " + path + " is not bound in the " + index.component() + " graph"));
            Integer at = nodeByName.get(binding.nodeName());
            if (at == null) {
                throw new IllegalArgumentException("module " + path + ": node '" + binding.nodeName()
                        + "' is not in the graph");
            }
            NodeProto node = graph.getNode(at);
            String reason = unsupported(binding, node);
            DType dtype = computeType(model, binding, node, producers);
            if (reason == null && !Floats.isFloating(dtype)) {
                reason = "weight computed in " + dtype + ", not a floating-point type";
            }
            if (reason != null) {
                skipped.put(path, reason);
                continue;
            }
            if (replacements.containsKey(at)) {
                throw new IllegalArgumentException("module " + path + " shares node '" + binding.nodeName()
                        + "' with another module");
            }
            LayerGeometry g = binding.geometry();
            String down = DOWN_PREFIX + path;
            String up = UP_PREFIX + path;
            String rank = RANK_PREFIX + path;
            String base = NODE_PREFIX + path + "/base";
            String downT = NODE_PREFIX + path + "/down_t";
            String downOut = NODE_PREFIX + path + "/down";
            String upOut = NODE_PREFIX + path + "/up";
            String add = NODE_PREFIX + path + "/add";
            for (String name : List.of(down, up, base, downT, downOut, upOut, add)) {
                if (!names.add(name)) {
                    throw new IllegalArgumentException("module " + path + ": name '" + name
                            + "' already exists in the graph (was it rewritten before?)");
                }
            }
            String x = node.getInput(0);
            String y = node.getOutput(0);
            List<NodeProto> nodes = new ArrayList<>();
            nodes.add(node.toBuilder().setOutput(0, base).build());
            BranchLayout.Branch branch = new BranchLayout.Branch(path, g.kind(), dtype, down, up, rank,
                    g.inFeatures(), g.outFeatures(), g.kernelHeight(), g.kernelWidth());
            int elemType = OnnxTypes.onnxType(dtype);
            if (g.kind() == LayerKind.LINEAR) {
                nodes.add(NodeProto.newBuilder().setName(downT).setOpType("Transpose").addInput(down).addOutput(downT)
                        .addAttribute(ints("perm", 1, 0)).build());
                nodes.add(NodeProto.newBuilder().setName(downOut).setOpType("MatMul").addInput(x).addInput(downT)
                        .addOutput(downOut).build());
                nodes.add(NodeProto.newBuilder().setName(upOut).setOpType("MatMul").addInput(downOut).addInput(up)
                        .addOutput(upOut).build());
                newInputs.add(input(down, elemType, rank, g.inFeatures()));
                newInputs.add(input(up, elemType, rank, g.outFeatures()));
            } else {
                NodeProto.Builder conv = NodeProto.newBuilder().setName(downOut).setOpType("Conv").addInput(x)
                        .addInput(down).addOutput(downOut);
                for (AttributeProto attribute : node.getAttributeList()) {
                    String a = attribute.getName();
                    if (a.equals("strides") || a.equals("pads") || a.equals("auto_pad")) {
                        conv.addAttribute(attribute);
                    }
                }
                conv.addAttribute(ints("kernel_shape", g.kernelHeight(), g.kernelWidth()));
                nodes.add(conv.build());
                nodes.add(NodeProto.newBuilder().setName(upOut).setOpType("Conv").addInput(downOut).addInput(up)
                        .addOutput(upOut).addAttribute(ints("kernel_shape", 1, 1)).build());
                newInputs.add(input(down, elemType, rank, g.inFeatures(), g.kernelHeight(), g.kernelWidth()));
                newInputs.add(input(up, elemType, g.outFeatures(), rank, 1, 1));
            }
            nodes.add(NodeProto.newBuilder().setName(add).setOpType("Add").addInput(base).addInput(upOut)
                    .addOutput(y).build());
            replacements.put(at, nodes);
            branches.put(path, branch);
        }
        GraphProto.Builder rewritten = graph.toBuilder().clearNode();
        for (int i = 0; i < graph.getNodeCount(); i++) {
            List<NodeProto> r = replacements.get(i);
            if (r == null) {
                rewritten.addNode(graph.getNode(i));
            } else {
                rewritten.addAllNode(r);
            }
        }
        rewritten.addAllInput(newInputs);
        ModelProto proto = model.proto().toBuilder().setGraph(rewritten).build();
        return new Rewritten(model.withProto(proto), new BranchLayout(index.component(), branches, skipped));
    }

    private static String unsupported(LayerBinding binding, NodeProto node) {
        if (binding.op() == LayerOp.GEMM) {
            for (AttributeProto a : node.getAttributeList()) {
                if (a.getName().equals("transA") && a.getI() != 0) {
                    return "Gemm with transA=1";
                }
                if (a.getName().equals("alpha") && a.getF() != 1f) {
                    return "Gemm with alpha=" + a.getF();
                }
            }
        }
        if (binding.op() == LayerOp.CONV) {
            if (binding.group() != 1) {
                return "grouped convolution (group " + binding.group() + ")";
            }
            if (binding.dilations().stream().anyMatch(d -> d != 1)) {
                return "dilated convolution " + binding.dilations();
            }
            if (binding.geometry().kind() != LayerKind.CONV) {
                return "Conv node bound as a linear layer";
            }
        }
        return null;
    }

    /**
     * The type the layer node computes its weight in: the target type of the Cast nearest to the node on the weight's
     * path, else the initializer's stored type.
     */
    private static DType computeType(OnnxModel model, LayerBinding binding, NodeProto node,
            Map<String, NodeProto> producers) {
        String value = node.getInputCount() > 1 ? node.getInput(1) : "";
        for (int depth = 0; depth < 16 && model.initializer(value).isEmpty(); depth++) {
            NodeProto producer = producers.get(value);
            if (producer == null || producer.getInputCount() == 0) {
                break;
            }
            if (producer.getOpType().equals("Cast")) {
                for (AttributeProto a : producer.getAttributeList()) {
                    if (a.getName().equals("to")) {
                        return OnnxTypes.dtype((int) a.getI()).orElse(binding.weightDType());
                    }
                }
            }
            value = producer.getInput(0);
        }
        return binding.weightDType();
    }

    private static Set<String> existingNames(GraphProto graph) {
        Set<String> names = new HashSet<>();
        graph.getInputList().forEach(v -> names.add(v.getName()));
        graph.getOutputList().forEach(v -> names.add(v.getName()));
        graph.getValueInfoList().forEach(v -> names.add(v.getName()));
        graph.getInitializerList().forEach(t -> names.add(t.getName()));
        for (NodeProto node : graph.getNodeList()) {
            names.add(node.getName());
            names.addAll(node.getOutputList());
            names.addAll(node.getInputList());
        }
        return names;
    }

    private static AttributeProto ints(String name, long... values) {
        AttributeProto.Builder a = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
        for (long v : values) {
            a.addInts(v);
        }
        return a.build();
    }

    /** An input of ONNX element type {@code elemType}; an Integer dimension is fixed, a String symbolic. */
    private static ValueInfoProto input(String name, int elemType, Object... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (Object d : dims) {
            shape.addDim(d instanceof String ? TensorShapeProto.Dimension.newBuilder().setDimParam((String) d)
                    : TensorShapeProto.Dimension.newBuilder().setDimValue(((Number) d).longValue()));
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(elemType).setShape(shape)))
                .build();
    }
}
