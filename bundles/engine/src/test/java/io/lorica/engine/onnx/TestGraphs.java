package io.lorica.engine.onnx;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import ai.onnxruntime.platform.Fp16Conversions;
import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.format.ModuleCatalog;

import com.google.protobuf.ByteString;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * Writes tiny graphs shaped like the Stable Diffusion exporters' output, with their naming, for tests: a few real SD 1.5
 * module paths at tiny widths, random weights from a seed, optionally stored as external data in
 * {@code model.onnx_data}.
 *
 * <p>UNet graph: {@code sample [batch, 8, 4, 4]} through {@code down_blocks.0.resnets.0.conv1} (3x3, 8->16),
 * {@code down_blocks.0.attentions.0.proj_in} (1x1, 16->16) and {@code down_blocks.0.downsamplers.0.conv} (3x3 stride 2)
 * to {@code out_sample [batch, 16, 2, 2]}; {@code encoder_hidden_states [batch, 3, 12]} through {@code attn2.to_k}
 * (12->16), {@code attn1.to_q} (16->16) and {@code attn1.to_out.0} (16->16 with bias) to {@code attn_out}. Text encoder
 * graph: {@code hidden [tokens, 8]} through {@code text_model.encoder.layers.0.self_attn.q_proj} (8->8 with bias) to
 * {@code last_hidden_state}.
 *
 * <p>{@link Style#LEGACY}: node names are TorchScript scopes, linear weights anonymous transposed {@code onnx::MatMul_N}
 * constants, biases via Add. {@link Style#DYNAMO}: generic node names, initializers named by the module in PyTorch
 * layout, fed through Transpose (and a Cast from FLOAT16 for {@code to_out.0}); the text encoder uses Gemm transB=1.
 */
public final class TestGraphs {

    /** The exporter whose naming the graph imitates. */
    public enum Style { LEGACY, DYNAMO }

    /** Module paths of the generated UNet. */
    public static final String CONV1 = "down_blocks.0.resnets.0.conv1";
    public static final String PROJ_IN = "down_blocks.0.attentions.0.proj_in";
    public static final String DOWNSAMPLER = "down_blocks.0.downsamplers.0.conv";
    public static final String TO_K = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k";
    public static final String TO_Q = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q";
    public static final String TO_OUT = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0";
    /** Module path of the generated text encoder layer. */
    public static final String Q_PROJ = "text_model.encoder.layers.0.self_attn.q_proj";

    /** The generated layers' geometries. */
    public static final Map<String, LayerGeometry> UNET_MODULES = new LinkedHashMap<>();
    /** The text encoder's. */
    public static final Map<String, LayerGeometry> TEXT_MODULES = new LinkedHashMap<>();

    static {
        UNET_MODULES.put(CONV1, LayerGeometry.conv(8, 16, 3, 1, 1));
        UNET_MODULES.put(PROJ_IN, LayerGeometry.conv(16, 16, 1, 1, 0));
        UNET_MODULES.put(DOWNSAMPLER, LayerGeometry.conv(16, 16, 3, 2, 1));
        UNET_MODULES.put(TO_K, LayerGeometry.linear(12, 16));
        UNET_MODULES.put(TO_Q, LayerGeometry.linear(16, 16));
        UNET_MODULES.put(TO_OUT, LayerGeometry.linear(16, 16));
        TEXT_MODULES.put(Q_PROJ, LayerGeometry.linear(8, 8));
    }

    private TestGraphs() {
    }

    /** A catalog of exactly the generated modules (SD 1.5 names, tiny widths). */
    public static ModuleCatalog catalog() {
        return ModuleCatalog.of(ModelFamily.SD15, Map.of(Component.UNET, UNET_MODULES,
                Component.TEXT_ENCODER, TEXT_MODULES));
    }

    /**
     * A generated model: its file, and the weights in PyTorch layout ({@code [out, in(, kh, kw)]}, row-major, already
     * rounded to the stored type) and biases by module path.
     */
    public record Generated(Path file, Map<String, float[]> weights, Map<String, float[]> biases) {
    }

    /** Writes the UNet graph as {@code model.onnx} (+ {@code model.onnx_data} when {@code external}) into {@code folder}. */
    public static Generated unet(Path folder, Style style, boolean external, long seed) {
        return unet(folder, style, external, seed, false);
    }

    /**
     * Writes the UNet graph in half precision throughout, as fp16 exports are: FLOAT16 inputs, weights, activations and
     * outputs (no Cast; the dynamo style keeps its Transpose nodes).
     */
    public static Generated unetHalf(Path folder, Style style, boolean external, long seed) {
        return unet(folder, style, external, seed, true);
    }

    private static Generated unet(Path folder, Style style, boolean external, long seed, boolean half) {
        Graph g = new Graph(seed, half);
        TensorProto.DataType type = half ? TensorProto.DataType.FLOAT16 : TensorProto.DataType.FLOAT;
        g.input("sample", type, "batch", 8, 4, 4);
        g.input("encoder_hidden_states", type, "batch", 3, 12);
        String x = g.conv(style, CONV1, "sample", 8, 16, 3, 1, 1);
        x = g.conv(style, PROJ_IN, x, 16, 16, 1, 1, 0);
        x = g.conv(style, DOWNSAMPLER, x, 16, 16, 3, 2, 1);
        g.output(x, "out_sample", "batch", 16, 2, 2);
        String h = g.linear(style, TO_K, "encoder_hidden_states", 12, 16, false, false);
        h = g.linear(style, TO_Q, h, 16, 16, false, false);
        // the fp32 dynamo graph stores to_out.0 in fp16 behind a Cast, as mixed exports do
        h = g.linear(style, TO_OUT, h, 16, 16, true, !half && style == Style.DYNAMO);
        g.output(h, "attn_out", "batch", 3, 16);
        return g.write(folder, external);
    }

    /** Writes the text encoder graph (one {@code q_proj}). */
    public static Generated textEncoder(Path folder, Style style, boolean external, long seed) {
        Graph g = new Graph(seed);
        g.input("hidden", TensorProto.DataType.FLOAT, "tokens", 8);
        String h = style == Style.DYNAMO ? g.gemm(Q_PROJ, "hidden", 8, 8) : g.linear(style, Q_PROJ, "hidden", 8, 8, true,
                false);
        g.output(h, "last_hidden_state", "tokens", 8);
        return g.write(folder, external);
    }

    /** A small builder of graphs, also used by tests to write broken variants. */
    public static final class Graph {
        private final Random random;
        private final GraphProto.Builder graph = GraphProto.newBuilder().setName("lorica_test");
        private final Map<String, float[]> weights = new LinkedHashMap<>();
        private final Map<String, float[]> biases = new LinkedHashMap<>();
        private final boolean half;
        private int counter = 100;

        /** A graph with weights drawn from {@code seed}. */
        public Graph(long seed) {
            this(seed, false);
        }

        /** A graph with weights drawn from {@code seed}, all stored (and outputs typed) FLOAT16 when {@code half}. */
        public Graph(long seed, boolean half) {
            random = new Random(seed);
            this.half = half;
        }

        /** Adds a graph input; a String dimension is symbolic, a Number fixed. */
        public Graph input(String name, TensorProto.DataType type, Object... dims) {
            graph.addInput(value(name, type, dims));
            return this;
        }

        /** Adds an Identity from {@code value} to a graph output {@code name}. */
        public Graph output(String value, String name, Object... dims) {
            graph.addNode(NodeProto.newBuilder().setOpType("Identity").setName("output_" + name).addInput(value)
                    .addOutput(name));
            graph.addOutput(value(name, half ? TensorProto.DataType.FLOAT16 : TensorProto.DataType.FLOAT, dims));
            return this;
        }

        /** Adds a node; attributes as name, value pairs (Long, long[] or String values). */
        public Graph node(String op, String name, String[] inputs, String[] outputs, Object... attributes) {
            NodeProto.Builder node = NodeProto.newBuilder().setOpType(op).setName(name);
            for (String input : inputs) {
                node.addInput(input);
            }
            for (String output : outputs) {
                node.addOutput(output);
            }
            for (int i = 0; i < attributes.length; i += 2) {
                AttributeProto.Builder attribute = AttributeProto.newBuilder().setName((String) attributes[i]);
                Object v = attributes[i + 1];
                if (v instanceof long[]) {
                    attribute.setType(AttributeProto.AttributeType.INTS);
                    for (long l : (long[]) v) {
                        attribute.addInts(l);
                    }
                } else if (v instanceof String) {
                    attribute.setType(AttributeProto.AttributeType.STRING).setS(ByteString.copyFromUtf8((String) v));
                } else {
                    attribute.setType(AttributeProto.AttributeType.INT).setI(((Number) v).longValue());
                }
                node.addAttribute(attribute);
            }
            graph.addNode(node);
            return this;
        }

        /** Adds a FLOAT (or FLOAT16, rounding the values in place) initializer. */
        public Graph initializer(String name, boolean half, float[] values, long... dims) {
            TensorProto.Builder tensor = TensorProto.newBuilder().setName(name)
                    .setDataType(half ? OnnxTypes.FLOAT16 : OnnxTypes.FLOAT);
            for (long d : dims) {
                tensor.addDims(d);
            }
            ByteBuffer bytes = ByteBuffer.allocate(values.length * (half ? 2 : 4)).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < values.length; i++) {
                if (half) {
                    short bits = Fp16Conversions.floatToFp16(values[i]);
                    values[i] = Fp16Conversions.fp16ToFloat(bits);
                    bytes.putShort(bits);
                } else {
                    bytes.putFloat(values[i]);
                }
            }
            graph.addInitializer(tensor.setRawData(ByteString.copyFrom(bytes.array())));
            return this;
        }

        /** {@code n} random values in [-0.5, 0.5). */
        public float[] random(int n) {
            float[] v = new float[n];
            for (int i = 0; i < n; i++) {
                v[i] = random.nextFloat() - 0.5f;
            }
            return v;
        }

        String conv(Style style, String module, String x, int in, int out, int k, int stride, int pad) {
            String weight = module + ".weight";
            String bias = module + ".bias";
            float[] w = random(out * in * k * k);
            float[] b = random(out);
            initializer(weight, half, w, out, in, k, k);
            initializer(bias, half, b, out);
            weights.put(module, w);
            biases.put(module, b);
            String name = style == Style.LEGACY ? scope(module) + "/Conv" : "node_Conv_" + counter++;
            String y = style == Style.LEGACY ? name + "_output_0" : "conv_" + counter++;
            node("Conv", name, new String[] {x, weight, bias}, new String[] {y}, "kernel_shape", new long[] {k, k},
                    "strides", new long[] {stride, stride}, "pads", new long[] {pad, pad, pad, pad});
            return y;
        }

        String linear(Style style, String module, String x, int in, int out, boolean withBias, boolean castHalf) {
            boolean store16 = castHalf || half;
            boolean castToFloat = castHalf && !half;
            float[] w = random(out * in);
            String matmulInput;
            String matmul;
            if (style == Style.LEGACY) {
                String weight = "onnx::MatMul_" + counter++;
                float[] transposed = transpose(w, out, in);
                initializer(weight, store16, transposed, in, out);
                w = transpose(transposed, in, out);
                matmulInput = weight;
                matmul = scope(module) + "/MatMul";
            } else {
                String weight = module + ".weight";
                initializer(weight, store16, w, out, in);
                String source = weight;
                if (castToFloat) {
                    String cast = "cast_" + counter++;
                    node("Cast", "node_Cast_" + counter++, new String[] {weight}, new String[] {cast}, "to",
                            (long) OnnxTypes.FLOAT);
                    source = cast;
                }
                matmulInput = "transposed_" + counter++;
                node("Transpose", "node_Transpose_" + counter++, new String[] {source}, new String[] {matmulInput},
                        "perm", new long[] {1, 0});
                matmul = "node_MatMul_" + counter++;
            }
            weights.put(module, w);
            String y = matmul + "_output_0";
            node("MatMul", matmul, new String[] {x, matmulInput}, new String[] {y});
            if (!withBias) {
                return y;
            }
            float[] b = random(out);
            initializer(module + ".bias", half, b, out);
            biases.put(module, b);
            String add = style == Style.LEGACY ? scope(module) + "/Add" : "node_Add_" + counter++;
            node("Add", add, new String[] {module + ".bias", y}, new String[] {add + "_output_0"});
            return add + "_output_0";
        }

        String gemm(String module, String x, int in, int out) {
            float[] w = random(out * in);
            float[] b = random(out);
            initializer(module + ".weight", false, w, out, in);
            initializer(module + ".bias", false, b, out);
            weights.put(module, w);
            biases.put(module, b);
            String name = "node_Gemm_" + counter++;
            node("Gemm", name, new String[] {x, module + ".weight", module + ".bias"}, new String[] {name + "_out"},
                    "transB", 1L);
            return name + "_out";
        }

        /** Writes {@code model.onnx}; with {@code external}, every initializer of 128 bytes or more goes to {@code model.onnx_data}. */
        public Generated write(Path folder, boolean external) {
            try {
                Files.createDirectories(folder);
                GraphProto.Builder g = graph.clone();
                if (external) {
                    ByteArrayOutputStream data = new ByteArrayOutputStream();
                    for (int i = 0; i < g.getInitializerCount(); i++) {
                        TensorProto t = g.getInitializer(i);
                        if (t.getRawData().size() < 128) {
                            continue;
                        }
                        while (data.size() % 64 != 0) {
                            data.write(0);
                        }
                        long offset = data.size();
                        t.getRawData().writeTo(data);
                        g.setInitializer(i, t.toBuilder().clearRawData()
                                .setDataLocation(TensorProto.DataLocation.EXTERNAL)
                                .addExternalData(entry("location", "model.onnx_data"))
                                .addExternalData(entry("offset", Long.toString(offset)))
                                .addExternalData(entry("length", Long.toString(t.getRawData().size()))));
                    }
                    Files.write(folder.resolve("model.onnx_data"), data.toByteArray());
                }
                ModelProto model = ModelProto.newBuilder().setIrVersion(8).setProducerName("lorica-test-graphs")
                        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(17))
                        .setGraph(g).build();
                Path file = folder.resolve("model.onnx");
                Files.write(file, model.toByteArray());
                return new Generated(file, new LinkedHashMap<>(weights), new LinkedHashMap<>(biases));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** The legacy exporter's scope of a module path: {@code /down_blocks.0/resnets.0/conv1}. */
    public static String scope(String module) {
        return "/" + module.replace('.', '/').replaceAll("/(\\d+)", ".$1");
    }

    static StringStringEntryProto entry(String key, String value) {
        return StringStringEntryProto.newBuilder().setKey(key).setValue(value).build();
    }

    static float[] transpose(float[] m, int rows, int cols) {
        float[] t = new float[m.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                t[c * rows + r] = m[r * cols + c];
            }
        }
        return t;
    }

    private static ValueInfoProto value(String name, TensorProto.DataType type, Object... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (Object d : dims) {
            shape.addDim(d instanceof String ? TensorShapeProto.Dimension.newBuilder().setDimParam((String) d)
                    : TensorShapeProto.Dimension.newBuilder().setDimValue(((Number) d).longValue()));
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(type.getNumber()).setShape(shape))).build();
    }
}
