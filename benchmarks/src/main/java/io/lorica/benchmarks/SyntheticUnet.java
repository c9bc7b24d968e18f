package io.lorica.benchmarks;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
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
import io.lorica.api.DType;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.format.ModuleCatalog;
import io.lorica.engine.lora.Floats;
import io.lorica.engine.onnx.OnnxTypes;

/**
 * Writes synthetic UNet-like ONNX graphs with the transformer-block linears of SD 1.5 or SDXL, for benchmarks and for
 * GPU runs. Per attention module {@code proj_in}, then per transformer block {@code attn1.to_q/to_k/to_v/to_out.0},
 * {@code attn2.to_q/to_k/to_v/to_out.0}, {@code ff.net.0.proj} and {@code ff.net.2}, then {@code proj_out}: SD 1.5 has
 * 16 attention modules of one block each (192 LoRA targets, widths 320/640/1280, context 768); SDXL has 11 attention
 * modules of 2 or 10 blocks (722 LoRA targets, widths 640/1280, context 2048), exactly the Linear LoRA targets of the
 * real SDXL UNet. All are Linear (MatMul) in the legacy exporter's naming
 * ({@code /down_blocks.0/attentions.0/transformer_blocks.0/attn1/to_q/MatMul} with an anonymous transposed
 * {@code onnx::MatMul_N} weight). Biases on {@code to_out.0}, the ff linears and proj_in/out, as in SD.
 *
 * <p>Each block: single-head self-attention on {@code LN(x)} with residual; cross-attention on {@code LN(x1)} against
 * {@code encoder_hidden_states [batch, 77, context]} with residual; GEGLU-like feed forward ({@code ff.net.0.proj}
 * c -> 8c, halves {@code p * sigmoid(g)}, {@code ff.net.2} 4c -> c) with residual. Attention modules are chained, a
 * non-LoRA {@code /bridges.N/MatMul} joins modules of different width. Input {@code sample [batch, tokens, c0]}, output
 * {@code out_sample [batch, tokens, c_last]}. Weights are uniform, scaled by {@code 1/sqrt(in)}, from a seed, stored
 * as float32 or float16 (then inputs, activations and output are float16 too); over 512 MB of weights they are streamed
 * to {@code model.onnx_data} as they are drawn, so writing a full-size SDXL UNet needs little heap.
 *
 * <p>Testkit (e.g. for GPU runs): {@code java -cp benchmarks/target/benchmarks.jar io.lorica.benchmarks.SyntheticUnet
 * DIR [sd15|sdxl [width [tokens [f32|f16]]]]} writes {@code DIR/unet/model.onnx} (+ {@code model.onnx_data}); width 0
 * (the default) means the family's real widths, otherwise every block at that width.
 */
public final class SyntheticUnet {

    /** SD 1.5's attention modules, in execution order. */
    public static final List<String> ATTENTIONS;
    /** Their real channel counts. */
    public static final int[] SD15_CHANNELS = {320, 320, 640, 640, 1280, 1280, 1280, 1280, 1280, 1280, 640, 640, 640,
        320, 320, 320};
    /** SD 1.5's text context width. */
    public static final int SD15_CONTEXT = 768;
    /** SDXL's attention modules, in execution order. */
    public static final List<String> SDXL_ATTENTIONS = List.of("down_blocks.1.attentions.0",
            "down_blocks.1.attentions.1", "down_blocks.2.attentions.0", "down_blocks.2.attentions.1",
            "mid_block.attentions.0", "up_blocks.0.attentions.0", "up_blocks.0.attentions.1", "up_blocks.0.attentions.2",
            "up_blocks.1.attentions.0", "up_blocks.1.attentions.1", "up_blocks.1.attentions.2");
    /** Their real channel counts. */
    public static final int[] SDXL_CHANNELS = {640, 640, 1280, 1280, 1280, 1280, 1280, 1280, 640, 640, 640};
    /** Their transformer depths. */
    public static final int[] SDXL_DEPTHS = {2, 2, 10, 10, 10, 10, 10, 10, 2, 2, 2};
    /** SDXL's text context width (both encoders' hidden states). */
    public static final int SDXL_CONTEXT = 2048;
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
                            int inChannels, int context, DType dtype) {
    }

    private SyntheticUnet() {
    }

    /** {@code SyntheticUnet DIR [sd15|sdxl [width [tokens [f32|f16]]]]}: writes the graph to {@code DIR/unet}. */
    public static void main(String[] args) {
        if (args.length < 1) {
            System.err.println("usage: SyntheticUnet DIR [sd15|sdxl [width (0 = real widths) [tokens [f32|f16]]]]");
            System.exit(64);
        }
        ModelFamily family = args.length > 1 ? ModelFamily.fromId(args[1]) : ModelFamily.SD15;
        int width = args.length > 2 ? Integer.parseInt(args[2]) : 0;
        int tokens = args.length > 3 ? Integer.parseInt(args[3]) : 1024;
        DType dtype = args.length > 4 && args[4].equalsIgnoreCase("f16") ? DType.F16 : DType.F32;
        long start = System.nanoTime();
        Generated g = write(Path.of(args[0]).resolve("unet"), family, width, tokens, dtype, 42);
        System.out.printf("%s: %s-shaped, %d LoRA targets, %s, inputs sample [batch, %d, %d], encoder_hidden_states "
                + "[batch, %d, %d]; %.1f s%n", g.file(), family.id(), g.modules().size(), dtype, g.tokens(),
                g.inChannels(), TEXT_TOKENS, g.context(), (System.nanoTime() - start) / 1e9);
    }

    /** An SD 1.5-shaped float32 graph with every block at {@code width} (0: real widths) and {@code context}. */
    public static Generated write(Path folder, int width, int context, int tokens, long seed) {
        return write(folder, ModelFamily.SD15, width, context, tokens, DType.F32, seed);
    }

    /** A graph of {@code family}'s shape at its real context width. */
    public static Generated write(Path folder, ModelFamily family, int width, int tokens, DType dtype, long seed) {
        int context = family == ModelFamily.SDXL ? SDXL_CONTEXT : width == 0 ? SD15_CONTEXT : width;
        return write(folder, family, width, context, tokens, dtype, seed);
    }

    /**
     * Writes the graph as {@code model.onnx} into {@code folder} (weights in {@code model.onnx_data} when over 512 MB).
     *
     * @param family  SD 1.5 or SDXL topology
     * @param width   every block's width, or 0 for the family's real widths
     * @param context width of {@code encoder_hidden_states}
     * @param tokens  image tokens
     * @param dtype   F32 or F16 weights and activations
     */
    public static Generated write(Path folder, ModelFamily family, int width, int context, int tokens, DType dtype,
            long seed) {
        boolean sdxl = family == ModelFamily.SDXL;
        List<String> attentions = sdxl ? SDXL_ATTENTIONS : ATTENTIONS;
        int[] channels = sdxl ? SDXL_CHANNELS : SD15_CHANNELS;
        long weights = 0;
        for (int i = 0; i < attentions.size(); i++) {
            long c = width == 0 ? channels[i] : width;
            weights += 2 * c * c + (long) (sdxl ? SDXL_DEPTHS[i] : 1) * (18 * c * c + 2 * c * context);
        }
        Builder g = new Builder(seed, dtype, folder, weights * dtype.byteSize() > EXTERNAL_OVER);
        int c0 = width == 0 ? channels[0] : width;
        g.input("sample", "batch", tokens, c0);
        g.input("encoder_hidden_states", "batch", TEXT_TOKENS, context);
        Map<String, LayerGeometry> modules = new LinkedHashMap<>();
        String x = "sample";
        int prev = c0;
        for (int i = 0; i < attentions.size(); i++) {
            int c = width == 0 ? channels[i] : width;
            if (c != prev) {
                x = g.matmul("/bridges." + i + "/MatMul", x, prev, c, false, null);
                x = g.layerNorm("/bridges." + i + "/LayerNorm", x, c);
            }
            x = g.attentionModule(attentions.get(i), sdxl ? SDXL_DEPTHS[i] : 1, x, c, context, modules);
            prev = c;
        }
        g.node("Identity", "output_out_sample", new String[] {x}, new String[] {"out_sample"});
        g.graph.addOutput(g.value("out_sample", "batch", tokens, prev));
        Path file = g.write();
        ModuleCatalog catalog = ModuleCatalog.of(family, Map.of(Component.UNET, modules));
        return new Generated(file, catalog, Collections.unmodifiableMap(modules), tokens, c0, context, dtype);
    }

    /**
     * Writes a graph of unchained Linears, one per module of {@code modules} (each reading an input of its width),
     * for weight-fusion measurements that never run the graph; same naming as {@link #write}.
     */
    public static Path linears(Path folder, Map<String, LayerGeometry> modules, DType dtype, long seed) {
        long weights = 0;
        for (LayerGeometry g : modules.values()) {
            weights += (long) g.inFeatures() * g.outFeatures();
        }
        Builder g = new Builder(seed, dtype, folder, weights * dtype.byteSize() > EXTERNAL_OVER);
        Map<Integer, String> inputs = new LinkedHashMap<>();
        for (Map.Entry<String, LayerGeometry> e : modules.entrySet()) {
            int in = e.getValue().inFeatures();
            String x = inputs.computeIfAbsent(in, w -> {
                g.input("x_" + w, "rows", w);
                return "x_" + w;
            });
            String y = g.matmul(scope(e.getKey()) + "/MatMul", x, in, e.getValue().outFeatures(), false, null);
            g.node("Identity", "output_" + e.getKey(), new String[] {y}, new String[] {"y_" + e.getKey()});
            g.graph.addOutput(g.value("y_" + e.getKey(), "rows", e.getValue().outFeatures()));
        }
        return g.write();
    }

    /** The legacy exporter's scope of a module path: {@code /down_blocks.0/attentions.0/transformer_blocks.0/attn1}. */
    public static String scope(String module) {
        return "/" + module.replace('.', '/').replaceAll("/(\\d+)", ".$1");
    }

    private static final class Builder {
        private final SplittableRandom random;
        private final DType dtype;
        private final Path folder;
        private final GraphProto.Builder graph = GraphProto.newBuilder().setName("lorica_synthetic_unet");
        private final Map<Integer, String[]> norms = new LinkedHashMap<>();
        private final OutputStream data;
        private long offset;
        private int counter = 100;

        /** With {@code external}, initializers of 1 KiB or more are streamed to {@code model.onnx_data}. */
        Builder(long seed, DType dtype, Path folder, boolean external) {
            if (dtype != DType.F32 && dtype != DType.F16) {
                throw new IllegalArgumentException("synthetic UNets are F32 or F16, not " + dtype);
            }
            this.random = new SplittableRandom(seed);
            this.dtype = dtype;
            this.folder = folder;
            try {
                Files.createDirectories(folder);
                this.data = external ? new BufferedOutputStream(Files.newOutputStream(folder.resolve(DATA_FILE)),
                        1 << 20) : null;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        void input(String name, Object... dims) {
            graph.addInput(value(name, dims));
        }

        String attentionModule(String attention, int depth, String x, int c, int context,
                Map<String, LayerGeometry> modules) {
            String h = linear(attention + ".proj_in", x, c, c, true, modules);
            for (int t = 0; t < depth; t++) {
                h = transformerBlock(attention + ".transformer_blocks." + t, h, c, context, modules);
            }
            String out = linear(attention + ".proj_out", h, c, c, true, modules);
            String y = add(scope(attention) + "/Add", out, x);
            return layerNorm(scope(attention) + "/norm_out/LayerNorm", y, c);
        }

        String transformerBlock(String tb, String x0, int c, int context, Map<String, LayerGeometry> modules) {
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
            return add(scope(tb) + "/Add_2", x2, f);
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
            initializer(weight, zeroFill ? null : Math.sqrt(3.0 / in), in, out);
            String y = name + "_output_0";
            node("MatMul", name, new String[] {x, weight}, new String[] {y});
            if (biasName == null) {
                return y;
            }
            initializer(biasName, Math.sqrt(3.0 / in), out);
            String add = name.substring(0, name.lastIndexOf('/')) + "/Add";
            node("Add", add, new String[] {biasName, y}, new String[] {add + "_output_0"});
            return add + "_output_0";
        }

        String layerNorm(String name, String x, int c) {
            String[] sb = norms.computeIfAbsent(c, w -> {
                float[] ones = new float[w];
                java.util.Arrays.fill(ones, 1f);
                initializer("ln_scale_" + w, ones, w);
                initializer("ln_bias_" + w, new float[w], w);
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
            initializer(name, new float[] {value});
            return name;
        }

        /** An initializer of uniform values in {@code [-scale, scale)} (zeros when {@code scale} is null). */
        void initializer(String name, Double scale, long... dims) {
            long n = 1;
            for (long d : dims) {
                n *= d;
            }
            ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(n * dtype.byteSize())).order(ByteOrder.LITTLE_ENDIAN);
            if (scale != null) {
                for (long i = 0; i < n; i++) {
                    put(b, (float) (random.nextDouble(-1, 1) * scale));
                }
            }
            add(name, b.rewind(), dims);
        }

        void initializer(String name, float[] values, long... dims) {
            ByteBuffer b = ByteBuffer.allocate(values.length * dtype.byteSize()).order(ByteOrder.LITTLE_ENDIAN);
            for (float v : values) {
                put(b, v);
            }
            add(name, b.rewind(), dims);
        }

        private void put(ByteBuffer b, float v) {
            if (dtype == DType.F16) {
                b.putShort(Floats.floatToHalf(v));
            } else {
                b.putFloat(v);
            }
        }

        private void add(String name, ByteBuffer bytes, long... dims) {
            TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(OnnxTypes.onnxType(dtype));
            for (long d : dims) {
                t.addDims(d);
            }
            long length = bytes.remaining();
            if (data == null || length < 1024) {
                graph.addInitializer(t.setRawData(ByteString.copyFrom(bytes)));
                return;
            }
            try {
                data.write(bytes.array(), bytes.arrayOffset() + bytes.position(), bytes.remaining());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            graph.addInitializer(t.setDataLocation(TensorProto.DataLocation.EXTERNAL)
                    .addExternalData(entry("location", DATA_FILE))
                    .addExternalData(entry("offset", Long.toString(offset)))
                    .addExternalData(entry("length", Long.toString(length))));
            offset += length;
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

        ValueInfoProto value(String name, Object... dims) {
            TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
            for (Object d : dims) {
                shape.addDim(d instanceof String ? TensorShapeProto.Dimension.newBuilder().setDimParam((String) d)
                        : TensorShapeProto.Dimension.newBuilder().setDimValue(((Number) d).longValue()));
            }
            return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
                    TypeProto.Tensor.newBuilder().setElemType(OnnxTypes.onnxType(dtype)).setShape(shape))).build();
        }

        /** Writes {@code model.onnx} (the external data was streamed while building). */
        Path write() {
            try {
                if (data != null) {
                    data.close();
                }
                ModelProto model = ModelProto.newBuilder().setIrVersion(8).setProducerName("lorica-synthetic-unet")
                        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(18))
                        .setGraph(graph).build();
                Path file = folder.resolve("model.onnx");
                try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(file), 1 << 20)) {
                    model.writeTo(out);
                }
                return file;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** The external data file of graphs over {@link #EXTERNAL_OVER} bytes of weights. */
    static final String DATA_FILE = "model.onnx_data";

    /** Graphs with more weight bytes than this keep their weights in {@link #DATA_FILE}: 512 MB. */
    static final long EXTERNAL_OVER = 512L << 20;

    private static ai.onnx.proto.OnnxMl.StringStringEntryProto entry(String key, String value) {
        return ai.onnx.proto.OnnxMl.StringStringEntryProto.newBuilder().setKey(key).setValue(value).build();
    }

}
