package io.lorica.benchmarks;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import com.google.protobuf.ByteString;
import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.format.ModuleCatalog;

/**
 * Writes a synthetic UNet-like ONNX graph with the transformer-block linears of SD 1.5's 16 attention modules: per
 * attention module {@code proj_in}, {@code attn1.to_q/to_k/to_v/to_out.0}, {@code attn2.to_q/to_k/to_v/to_out.0},
 * {@code ff.net.0.proj} and {@code ff.net.2}, {@code proj_out} — 192 LoRA targets, all Linear (MatMul) in the legacy
 * exporter's naming ({@code /down_blocks.0/attentions.0/transformer_blocks.0/attn1/to_q/MatMul} with an anonymous
 * transposed {@code onnx::MatMul_N} weight). Biases only on {@code to_out.0}, the ff linears and proj_in/out, as in SD.
 *
 * <p>Each block: {@code x0 = proj_in(x)}; single-head self-attention on {@code LN(x0)} with residual; cross-attention
 * on {@code LN(x1)} against {@code encoder_hidden_states [batch, 77, context]} with residual; GEGLU-like feed forward
 * ({@code ff.net.0.proj} c -> 8c, halves {@code p * sigmoid(g)}, {@code ff.net.2} 4c -> c) with residual;
 * {@code proj_out} plus the block input. Blocks are chained, a non-LoRA {@code /bridges.N/MatMul} joins blocks of
 * different width. Input {@code sample [batch, tokens, c0]}, output {@code out_sample [batch, tokens, c15]}. Weights
 * are float32, uniform, scaled by {@code 1/sqrt(in)}, from a seed.
 *
 * <p>Testkit (e.g. for GPU runs):
 * {@code java -cp benchmarks/target/benchmarks.jar io.lorica.benchmarks.SyntheticUnet DIR [width [tokens]]} writes
 * {@code DIR/unet/model.onnx} (+ {@code model.onnx_data}); without width, or width 0, SD 1.5's real widths
 * (320/640/1280, context 768), otherwise every block at that width.
 */
public final class SyntheticUnet {

    /** SD 1.5's attention modules, in execution order, with their channel counts. */
    public static final List<String> ATTENTIONS;
    /** Their real channel counts. */
    public static final int[] SD15_CHANNELS = {320, 320, 640, 640, 1280, 1280, 1280, 1280, 1280, 1280, 640, 640, 640,
        320, 320, 320};
    /** SD 1.5's text context width. */
    public static final int SD15_CONTEXT = 768;
    /** Text tokens of {@code encoder_hidden_states}. */
    public static final int TEXT_TOKENS = 77;

    static {
        List<String> a = new ArrayList<>();
        for (int b = 0; b < 3; b++) {
            for (int i = 0; i < 2; i++) {
                a.add("down_blocks." + b + ".attentions." + i);
            }
        }
        a.add("mid_block.attentions.0");
        for (int b = 1; b < 4; b++) {
            for (int i = 0; i < 3; i++) {
                a.add("up_blocks." + b + ".attentions." + i);
            }
        }
        ATTENTIONS = Collections.unmodifiableList(a);
    }

    /** A written graph: its file, its catalog (UNet component only) and input shapes. */
    public record Generated(Path file, ModuleCatalog catalog, Map<String, LayerGeometry> modules, int tokens,
                            int inChannels, int context) {
    }

    private SyntheticUnet() {
    }

    /** {@code SyntheticUnet DIR [width [tokens]]}: writes the (default: real width) graph to {@code DIR/unet}. */
    public static void main(String[] args) {
        if (args.length < 1) {
            System.err.println("usage: SyntheticUnet DIR [width (0 = SD 1.5 widths) [tokens]]");
            System.exit(64);
        }
        int width = args.length > 1 ? Integer.parseInt(args[1]) : 0;
        int tokens = args.length > 2 ? Integer.parseInt(args[2]) : 1024;
        Generated g = write(Path.of(args[0]).resolve("unet"), width, width == 0 ? SD15_CONTEXT : width, tokens, 42);
        System.out.printf("%s: %d LoRA targets, inputs sample [batch, %d, %d], encoder_hidden_states [batch, %d, %d]%n",
                g.file(), g.modules().size(), g.tokens(), g.inChannels(), TEXT_TOKENS, g.context());
    }

    /**
     * Writes the graph as {@code model.onnx} into {@code folder} (weights in {@code model.onnx_data} when over 1 GB).
     *
     * @param width   every block's width, or 0 for SD 1.5's real widths
     * @param context width of {@code encoder_hidden_states}
     * @param tokens  image tokens
     */
    public static Generated write(Path folder, int width, int context, int tokens, long seed) {
        Builder g = new Builder(seed);
        int c0 = width == 0 ? SD15_CHANNELS[0] : width;
        g.input("sample", "batch", tokens, c0);
        g.input("encoder_hidden_states", "batch", TEXT_TOKENS, context);
        Map<String, LayerGeometry> modules = new LinkedHashMap<>();
        String x = "sample";
        int prev = c0;
        for (int i = 0; i < ATTENTIONS.size(); i++) {
            int c = width == 0 ? SD15_CHANNELS[i] : width;
            if (c != prev) {
                x = g.matmul("/bridges." + i + "/MatMul", x, prev, c, false, null);
                x = g.layerNorm("/bridges." + i + "/LayerNorm", x, c);
            }
            x = g.block(ATTENTIONS.get(i), x, c, context, modules);
            prev = c;
        }
        g.node("Identity", "output_out_sample", new String[] {x}, new String[] {"out_sample"});
        g.graph.addOutput(value("out_sample", "batch", tokens, prev));
        Path file = g.write(folder);
        ModuleCatalog catalog = ModuleCatalog.of(ModelFamily.SD15, Map.of(Component.UNET, modules));
        return new Generated(file, catalog, Collections.unmodifiableMap(modules), tokens, c0, context);
    }

    /**
     * Writes a graph of unchained Linears, one per module of {@code modules} (each reading an input of its width),
     * for weight-fusion measurements that never run the graph; same naming as {@link #write}.
     */
    public static Path linears(Path folder, Map<String, LayerGeometry> modules, long seed) {
        Builder g = new Builder(seed);
        Map<Integer, String> inputs = new LinkedHashMap<>();
        for (Map.Entry<String, LayerGeometry> e : modules.entrySet()) {
            int in = e.getValue().inFeatures();
            String x = inputs.computeIfAbsent(in, w -> {
                g.input("x_" + w, "rows", w);
                return "x_" + w;
            });
            String y = g.matmul(scope(e.getKey()) + "/MatMul", x, in, e.getValue().outFeatures(), true, null);
            g.node("Identity", "output_" + e.getKey(), new String[] {y}, new String[] {"y_" + e.getKey()});
            g.graph.addOutput(value("y_" + e.getKey(), "rows", e.getValue().outFeatures()));
        }
        return g.write(folder);
    }

    /** The legacy exporter's scope of a module path: {@code /down_blocks.0/attentions.0/transformer_blocks.0/attn1}. */
    public static String scope(String module) {
        return "/" + module.replace('.', '/').replaceAll("/(\\d+)", ".$1");
    }

    private static final class Builder {
        private final SplittableRandom random;
        private final GraphProto.Builder graph = GraphProto.newBuilder().setName("lorica_synthetic_unet");
        private final Map<Integer, String[]> norms = new LinkedHashMap<>();
        private long bytes;
        private int counter = 100;

        Builder(long seed) {
            random = new SplittableRandom(seed);
        }

        void input(String name, Object... dims) {
            graph.addInput(value(name, dims));
        }

        String block(String attention, String x, int c, int context, Map<String, LayerGeometry> modules) {
            String tb = attention + ".transformer_blocks.0";
            String x0 = linear(attention + ".proj_in", x, c, c, true, modules);
            String a = layerNorm(scope(tb) + "/norm1/LayerNorm", x0, c);
            String att = attention(tb + ".attn1", a, a, c, c, modules);
            String x1 = add(scope(tb) + "/Add", x0, att);
            a = layerNorm(scope(tb) + "/norm2/LayerNorm", x1, c);
            att = attention(tb + ".attn2", a, "encoder_hidden_states", c, context, modules);
            String x2 = add(scope(tb) + "/Add_1", x1, att);
            a = layerNorm(scope(tb) + "/norm3/LayerNorm", x2, c);
            String f = linear(tb + ".ff.net.0.proj", a, c, 8 * c, true, modules);
            String s = scope(tb + ".ff.net.0");
            String p = s + "/Split_output_0";
            String gate = s + "/Split_output_1";
            node("Split", s + "/Split", new String[] {f}, new String[] {p, gate}, "axis", -1L, "num_outputs", 2L);
            String sig = s + "/Sigmoid_output_0";
            node("Sigmoid", s + "/Sigmoid", new String[] {gate}, new String[] {sig});
            String geglu = s + "/Mul_output_0";
            node("Mul", s + "/Mul", new String[] {p, sig}, new String[] {geglu});
            f = linear(tb + ".ff.net.2", geglu, 4 * c, c, true, modules);
            String x3 = add(scope(tb) + "/Add_2", x2, f);
            String out = linear(attention + ".proj_out", x3, c, c, true, modules);
            String y = add(scope(attention) + "/Add", out, x);
            return layerNorm(scope(attention) + "/norm_out/LayerNorm", y, c);
        }

        String attention(String module, String hidden, String kv, int c, int kvWidth, Map<String, LayerGeometry> m) {
            String q = linear(module + ".to_q", hidden, c, c, false, m);
            String k = linear(module + ".to_k", kv, kvWidth, c, false, m);
            String v = linear(module + ".to_v", kv, kvWidth, c, false, m);
            String s = scope(module);
            String kt = s + "/Transpose_output_0";
            node("Transpose", s + "/Transpose", new String[] {k}, new String[] {kt}, "perm", new long[] {0, 2, 1});
            String scores = s + "/MatMul_output_0";
            node("MatMul", s + "/MatMul", new String[] {q, kt}, new String[] {scores});
            String scale = constant(s + "/scale", (float) (1 / Math.sqrt(c)));
            String scaled = s + "/Mul_output_0";
            node("Mul", s + "/Mul", new String[] {scores, scale}, new String[] {scaled});
            String probs = s + "/Softmax_output_0";
            node("Softmax", s + "/Softmax", new String[] {scaled}, new String[] {probs}, "axis", -1L);
            String att = s + "/MatMul_1_output_0";
            node("MatMul", s + "/MatMul_1", new String[] {probs, v}, new String[] {att});
            return linear(module + ".to_out.0", att, c, c, true, m);
        }

        String linear(String module, String x, int in, int out, boolean bias, Map<String, LayerGeometry> modules) {
            modules.put(module, LayerGeometry.linear(in, out));
            return matmul(scope(module) + "/MatMul", x, in, out, false, bias ? module + ".bias" : null);
        }

        /** A MatMul with an anonymous transposed [in, out] weight, plus an Add of {@code biasName} when not null. */
        String matmul(String name, String x, int in, int out, boolean zeroFill, String biasName) {
            String weight = "onnx::MatMul_" + counter++;
            initializer(weight, randomWeights(in * out, in, zeroFill), in, out);
            String y = name + "_output_0";
            node("MatMul", name, new String[] {x, weight}, new String[] {y});
            if (biasName == null) {
                return y;
            }
            initializer(biasName, randomWeights(out, in, false), out);
            String add = name.substring(0, name.lastIndexOf('/')) + "/Add";
            node("Add", add, new String[] {biasName, y}, new String[] {add + "_output_0"});
            return add + "_output_0";
        }

        String layerNorm(String name, String x, int c) {
            String[] sb = norms.computeIfAbsent(c, w -> {
                float[] ones = new float[w];
                java.util.Arrays.fill(ones, 1f);
                initializer("ln_scale_" + w, floats(ones), w);
                initializer("ln_bias_" + w, floats(new float[w]), w);
                return new String[] {"ln_scale_" + w, "ln_bias_" + w};
            });
            String y = name + "_output_0";
            node("LayerNormalization", name, new String[] {x, sb[0], sb[1]}, new String[] {y}, "axis", -1L);
            return y;
        }

        String add(String name, String a, String b) {
            node("Add", name, new String[] {a, b}, new String[] {name + "_output_0"});
            return name + "_output_0";
        }

        String constant(String name, float value) {
            initializer(name, floats(new float[] {value}));
            return name;
        }

        ByteBuffer randomWeights(int n, int fanIn, boolean zero) {
            ByteBuffer b = ByteBuffer.allocate(n * 4).order(ByteOrder.LITTLE_ENDIAN);
            if (zero) {
                return b;
            }
            double scale = Math.sqrt(3.0 / fanIn);
            for (int i = 0; i < n; i++) {
                b.putFloat((float) (random.nextDouble(-1, 1) * scale));
            }
            return b.flip();
        }

        static ByteBuffer floats(float[] v) {
            ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            for (float f : v) {
                b.putFloat(f);
            }
            return b.flip();
        }

        void initializer(String name, ByteBuffer data, long... dims) {
            TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.FLOAT_VALUE);
            for (long d : dims) {
                t.addDims(d);
            }
            bytes += data.remaining();
            graph.addInitializer(t.setRawData(ByteString.copyFrom(data)));
        }

        void node(String op, String name, String[] inputs, String[] outputs, Object... attributes) {
            NodeProto.Builder node = NodeProto.newBuilder().setOpType(op).setName(name);
            for (String input : inputs) {
                node.addInput(input);
            }
            for (String output : outputs) {
                node.addOutput(output);
            }
            for (int i = 0; i < attributes.length; i += 2) {
                AttributeProto.Builder a = AttributeProto.newBuilder().setName((String) attributes[i]);
                Object v = attributes[i + 1];
                if (v instanceof long[]) {
                    a.setType(AttributeProto.AttributeType.INTS);
                    for (long l : (long[]) v) {
                        a.addInts(l);
                    }
                } else {
                    a.setType(AttributeProto.AttributeType.INT).setI(((Number) v).longValue());
                }
                node.addAttribute(a);
            }
            graph.addNode(node);
        }

        /** Writes {@code model.onnx}; over 1 GB of weights, initializers of 1 KiB or more go to {@code model.onnx_data}. */
        Path write(Path folder) {
            try {
                Files.createDirectories(folder);
                GraphProto.Builder g = graph;
                if (bytes > (1L << 30)) {
                    Path dataFile = folder.resolve("model.onnx_data");
                    try (var out = new java.io.BufferedOutputStream(Files.newOutputStream(dataFile), 1 << 20)) {
                        long offset = 0;
                        for (int i = 0; i < g.getInitializerCount(); i++) {
                            TensorProto t = g.getInitializer(i);
                            long length = t.getRawData().size();
                            if (length < 1024) {
                                continue;
                            }
                            t.getRawData().writeTo(out);
                            g.setInitializer(i, t.toBuilder().clearRawData()
                                    .setDataLocation(TensorProto.DataLocation.EXTERNAL)
                                    .addExternalData(entry("location", "model.onnx_data"))
                                    .addExternalData(entry("offset", Long.toString(offset)))
                                    .addExternalData(entry("length", Long.toString(length))));
                            offset += length;
                        }
                    }
                }
                ModelProto model = ModelProto.newBuilder().setIrVersion(8).setProducerName("lorica-synthetic-unet")
                        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(18))
                        .setGraph(g).build();
                Path file = folder.resolve("model.onnx");
                try (var out = new java.io.BufferedOutputStream(Files.newOutputStream(file), 1 << 20)) {
                    model.writeTo(out);
                }
                return file;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    private static ai.onnx.proto.OnnxMl.StringStringEntryProto entry(String key, String value) {
        return ai.onnx.proto.OnnxMl.StringStringEntryProto.newBuilder().setKey(key).setValue(value).build();
    }

    private static ValueInfoProto value(String name, Object... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (Object d : dims) {
            shape.addDim(d instanceof String ? TensorShapeProto.Dimension.newBuilder().setDimParam((String) d)
                    : TensorShapeProto.Dimension.newBuilder().setDimValue(((Number) d).longValue()));
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.FLOAT_VALUE).setShape(shape))).build();
    }
}
