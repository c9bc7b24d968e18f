package io.lorica.testkit.internal;

import io.lorica.api.adapter.LayerGeometry;
import io.lorica.testkit.internal.OnnxGraph.Init;

import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * PyTorch layers written as the legacy TorchScript ONNX exporter writes them, on an {@link OnnxGraph}, in one of three
 * precisions, recording every Linear and Conv2d with its geometry.
 *
 * <ul>
 * <li>Linear on a 3-D input: {@code <scope>/MatMul} with an anonymous transposed weight {@code onnx::MatMul_<n>}
 *     {@code [in, out]}, then {@code <scope>/Add} with {@code <module>.bias}.</li>
 * <li>Linear on a 2-D input with a bias: {@code <scope>/Gemm} with {@code <module>.weight} {@code [out, in]},
 *     {@code transB=1}, and {@code <module>.bias}.</li>
 * <li>Conv2d: {@code <scope>/Conv} with {@code <module>.weight} {@code [out, in, k, k]} and {@code <module>.bias}.</li>
 * <li>GroupNorm: Reshape to {@code [N, groups, -1]}, InstanceNormalization (scale 1, bias 0), Reshape back, Mul by
 *     gamma {@code [C, 1, 1]}, Add beta.</li>
 * <li>LayerNorm: LayerNormalization with {@code <module>.weight} and {@code <module>.bias}.</li>
 * </ul>
 * The scope of module {@code a.b.3.c} is {@code /a/b.3/c}. When weights are stored in another type than the one
 * computed in (fp16 weights, fp32 compute), each weight reaches its consumer through a {@code <scope>/Cast} node.
 */
public final class Net {

    private final OnnxGraph graph;
    private final int weightType;
    private final int computeType;
    private final Map<String, LayerGeometry> modules = new LinkedHashMap<>();

    /**
     * @param graph       the graph to add to
     * @param weightType  the stored type of weights ({@link OnnxGraph#FLOAT} or {@link OnnxGraph#FLOAT16})
     * @param computeType the type activations are computed in
     */
    public Net(OnnxGraph graph, int weightType, int computeType) {
        this.graph = graph;
        this.weightType = weightType;
        this.computeType = computeType;
    }

    /** The graph. */
    public OnnxGraph graph() {
        return graph;
    }

    /** The type activations are computed in. */
    public int computeType() {
        return computeType;
    }

    /** The Linear and Conv2d modules written so far, by module path, in the order written. */
    public Map<String, LayerGeometry> modules() {
        return Collections.unmodifiableMap(modules);
    }

    /** The legacy exporter's scope of a module path: {@code down_blocks.0.resnets.1} → {@code /down_blocks.0/resnets.1}. */
    public static String scope(String module) {
        if (module.isEmpty()) {
            return "";
        }
        return "/" + module.replace('.', '/').replaceAll("/(\\d+)", ".$1");
    }

    /** A learnable tensor of {@code module}, returned in the compute type (through a Cast when stored otherwise). */
    public String parameter(String module, String name, String key, Init init, long... dims) {
        String stored = graph.parameter(name, key, weightType, init, dims);
        return cast(scope(module), stored, weightType);
    }

    /** {@code value} of type {@code from} in the compute type (a {@code <scope>/Cast} node when they differ). */
    public String cast(String scope, String value, int from) {
        return castTo(scope, value, from, computeType);
    }

    /** {@code value} of type {@code from} as type {@code to} (a {@code <scope>/Cast} node when they differ). */
    public String castTo(String scope, String value, int from, int to) {
        if (from == to) {
            return value;
        }
        return graph.node(scope, "Cast").in(value).attr("to", (long) to).out();
    }

    /** A constant scalar in the compute type. */
    public String scalar(float value) {
        return graph.floatScalar("Constant", computeType, value);
    }

    /** Linear on a 3-D input (MatMul with an anonymous {@code [in, out]} weight, then Add of the bias). */
    public String linear(String module, String x, int in, int out, boolean bias) {
        record(module, LayerGeometry.linear(in, out));
        String scope = scope(module);
        Init init = Init.fanIn(in);
        String weight = parameter(module, graph.anonymousName("MatMul"), module + ".weight", init, in, out);
        String y = graph.node(scope, "MatMul").in(x, weight).out();
        if (!bias) {
            return y;
        }
        String b = parameter(module, module + ".bias", module + ".bias", init, out);
        return graph.node(scope, "Add").in(b, y).out();
    }

    /** Linear with bias on a 2-D input (Gemm with {@code transB=1} and named weight and bias). */
    public String gemm(String module, String x, int in, int out) {
        record(module, LayerGeometry.linear(in, out));
        Init init = Init.fanIn(in);
        String weight = parameter(module, module + ".weight", module + ".weight", init, out, in);
        String bias = parameter(module, module + ".bias", module + ".bias", init, out);
        return graph.node(scope(module), "Gemm").in(x, weight, bias).attr("alpha", 1f).attr("beta", 1f)
                .attr("transB", 1L).out();
    }

    /** Conv2d with a square kernel, equal strides and padding on every side, with bias. */
    public String conv(String module, String x, int in, int out, int kernel, int stride, int padding) {
        record(module, LayerGeometry.conv(in, out, kernel, stride, padding));
        Init init = Init.fanIn((long) in * kernel * kernel);
        String weight = parameter(module, module + ".weight", module + ".weight", init, out, in, kernel, kernel);
        String bias = parameter(module, module + ".bias", module + ".bias", init, out);
        return graph.node(scope(module), "Conv").in(x, weight, bias).ints("dilations", 1, 1).attr("group", 1L)
                .ints("kernel_shape", kernel, kernel).ints("pads", padding, padding, padding, padding)
                .ints("strides", stride, stride).out();
    }

    /** GroupNorm over a 4-D {@code [N, C, H, W]} input, in the legacy exporter's InstanceNormalization form. */
    public String groupNorm(String module, String x, int channels, int groups, float eps) {
        String scope = scope(module);
        String grouped = graph.node(scope, "Reshape").in(x, graph.longs("Reshape", 0, groups, -1)).out();
        float[] ones = new float[groups];
        Arrays.fill(ones, 1f);
        String scale = graph.floats("InstanceNormalization", computeType, ones, groups);
        String zero = graph.floats("InstanceNormalization", computeType, new float[groups], groups);
        String normed = graph.node(scope, "InstanceNormalization").in(grouped, scale, zero).attr("epsilon", eps).out();
        String shape = graph.node(scope, "Shape").in(x).out();
        String back = graph.node(scope, "Reshape").in(normed, shape).out();
        String gamma = parameter(module, graph.anonymousName("Mul"), module + ".weight", new Init(1f, 0.1f),
                channels, 1, 1);
        String beta = parameter(module, graph.anonymousName("Add"), module + ".bias", new Init(0f, 0.1f),
                channels, 1, 1);
        String scaled = graph.node(scope, "Mul").in(back, gamma).out();
        return graph.node(scope, "Add").in(scaled, beta).out();
    }

    /** LayerNorm over the last axis. */
    public String layerNorm(String module, String x, int dim, float eps) {
        String gamma = parameter(module, module + ".weight", module + ".weight", new Init(1f, 0.1f), dim);
        String beta = parameter(module, module + ".bias", module + ".bias", new Init(0f, 0.1f), dim);
        return graph.node(scope(module), "LayerNormalization").in(x, gamma, beta).attr("axis", -1L)
                .attr("epsilon", eps).out();
    }

    /** SiLU: {@code x * sigmoid(x)}. */
    public String silu(String scope, String x) {
        String s = graph.node(scope, "Sigmoid").in(x).out();
        return graph.node(scope, "Mul").in(x, s).out();
    }

    /** QuickGELU: {@code x * sigmoid(1.702 x)}. */
    public String quickGelu(String scope, String x) {
        String scaled = graph.node(scope, "Mul").in(x, scalar(1.702f)).out();
        String s = graph.node(scope, "Sigmoid").in(scaled).out();
        return graph.node(scope, "Mul").in(x, s).out();
    }

    /** Exact GELU: {@code x * 0.5 * (1 + erf(x / sqrt(2)))}. */
    public String gelu(String scope, String x) {
        String divided = graph.node(scope, "Div").in(x, scalar((float) Math.sqrt(2))).out();
        String erf = graph.node(scope, "Erf").in(divided).out();
        String plus = graph.node(scope, "Add").in(erf, scalar(1f)).out();
        String product = graph.node(scope, "Mul").in(x, plus).out();
        return graph.node(scope, "Mul").in(product, scalar(0.5f)).out();
    }

    /** An element-wise binary operator. */
    public String op(String scope, String opType, String a, String b) {
        return graph.node(scope, opType).in(a, b).out();
    }

    /**
     * Multi-head scaled dot-product attention of {@code x [B, L, dim]} over {@code context [B, S, contextDim]}
     * (self-attention when {@code context} is {@code x}): projections {@code <module>.<q|k|v|out>}, softmax over
     * {@code q·kᵀ/sqrt(d) (+ mask)}.
     *
     * @param names the four projection names below {@code module} (e.g. {@code to_q, to_k, to_v, to_out.0})
     * @param qkvBias whether q/k/v have biases (the output projection always has one)
     * @param mask    an additive {@code [1, 1, L, S]} mask in the compute type, or null
     */
    public String attention(String module, String x, String context, int dim, int contextDim, int heads,
            String[] names, boolean qkvBias, String mask) {
        String scope = scope(module);
        int headDim = dim / heads;
        String q = linear(module + "." + names[0], x, dim, dim, qkvBias);
        String k = linear(module + "." + names[1], context, contextDim, dim, qkvBias);
        String v = linear(module + "." + names[2], context, contextDim, dim, qkvBias);
        String split = graph.longs("Reshape", 0, 0, heads, headDim);
        String qh = graph.node(scope, "Transpose").in(graph.node(scope, "Reshape").in(q, split).out())
                .ints("perm", 0, 2, 1, 3).out();
        String kt = graph.node(scope, "Transpose").in(graph.node(scope, "Reshape").in(k, split).out())
                .ints("perm", 0, 2, 3, 1).out();
        String vh = graph.node(scope, "Transpose").in(graph.node(scope, "Reshape").in(v, split).out())
                .ints("perm", 0, 2, 1, 3).out();
        String scores = graph.node(scope, "MatMul").in(qh, kt).out();
        scores = graph.node(scope, "Mul").in(scores, scalar((float) (1 / Math.sqrt(headDim)))).out();
        if (mask != null) {
            scores = graph.node(scope, "Add").in(scores, mask).out();
        }
        String probabilities = graph.node(scope, "Softmax").in(scores).attr("axis", -1L).out();
        String attended = graph.node(scope, "MatMul").in(probabilities, vh).out();
        String merged = graph.node(scope, "Transpose").in(attended).ints("perm", 0, 2, 1, 3).out();
        merged = graph.node(scope, "Reshape").in(merged, graph.longs("Reshape", 0, 0, dim)).out();
        return linear(module + "." + names[3], merged, dim, dim, true);
    }

    private void record(String module, LayerGeometry geometry) {
        if (modules.put(module, geometry) != null) {
            throw new IllegalStateException("module " + module + " written twice");
        }
    }
}
