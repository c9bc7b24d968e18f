package io.lorica.engine.lora;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.lorica.api.DType;
import io.lorica.engine.onnx.OnnxTypes;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.EnumMap;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * A {@link FuseKernel} on ONNX Runtime: {@code W + L·R} as a {@code Gemm} (float32 accumulation; 16-bit weights are
 * cast to float32 before and rounded once after, by ONNX Runtime's Cast: to nearest, ties to even) in a small session
 * of its own per stored type, so the products run as optimised GEMMs on the engine's execution provider (MLAS on CPU,
 * cuBLAS on CUDA). Weights are processed in row chunks written straight into the result buffer (pinned outputs), so the
 * float32 intermediates stay small and in cache. With {@code check}, a second output {@code Σ 0·Y} (NaN exactly when an
 * element is NaN or infinite after rounding) tells whether the result is finite.
 *
 * <p>Thread-safe; owns its sessions until {@link #close()}.
 */
public final class OrtFuseKernel implements FuseKernel, AutoCloseable {

    /** Elements per chunk: 1 M (4 MB of float32 per intermediate). */
    static final int DEFAULT_CHUNK = 1 << 20;

    private final OrtEnvironment env;
    private final Supplier<OrtSession.SessionOptions> options;
    private final int chunk;
    private final Map<DType, OrtSession> plain = new EnumMap<>(DType.class);
    private final Map<DType, OrtSession> checked = new EnumMap<>(DType.class);
    private boolean closed;

    /**
     * @param env     the ONNX Runtime environment
     * @param options makes the options of each kernel session (execution provider, threads); closed after use
     */
    public OrtFuseKernel(OrtEnvironment env, Supplier<OrtSession.SessionOptions> options) {
        this(env, options, DEFAULT_CHUNK);
    }

    OrtFuseKernel(OrtEnvironment env, Supplier<OrtSession.SessionOptions> options, int chunk) {
        if (env == null || options == null || chunk < 1) {
            throw new IllegalArgumentException("env and options must not be null, chunk positive");
        }
        this.env = env;
        this.options = options;
        this.chunk = chunk;
    }

    @Override
    public Sum addProduct(ByteBuffer weight, DType dtype, int rows, int cols, float[] left, float[] right, int rank,
            boolean check) {
        if (dtype == DType.F64) {
            return JAVA.addProduct(weight, dtype, rows, cols, left, right, rank, check);
        }
        if (dtype != DType.F32 && dtype != DType.F16 && dtype != DType.BF16) {
            throw new IllegalArgumentException("weight type " + dtype + " cannot hold a merged LoRA weight");
        }
        int esize = dtype.byteSize();
        if (weight.remaining() != (long) rows * cols * esize || left.length != (long) rows * rank
                || right.length != (long) rank * cols) {
            throw new IllegalArgumentException("sizes do not match: weight " + weight.remaining() + " bytes for ["
                    + rows + ", " + cols + "] " + dtype + ", left " + left.length + ", right " + right.length
                    + ", rank " + rank);
        }
        OrtSession session = session(dtype, check);
        ByteBuffer result = Floats.allocateDirect((long) rows * cols * esize, "a fused weight");
        FloatBuffer l = Floats.allocateDirect(4L * left.length, "LoRA factors").order(ByteOrder.nativeOrder())
                .asFloatBuffer().put(left);
        FloatBuffer r = Floats.allocateDirect(4L * right.length, "LoRA factors").order(ByteOrder.nativeOrder())
                .asFloatBuffer().put(right);
        ByteBuffer w = weight.duplicate().order(ByteOrder.nativeOrder());
        w.position(0);
        if (!w.isDirect()) {
            // embedded weights live on the heap; ONNX Runtime reads tensors from direct memory only
            w = Floats.allocateDirect(w.remaining(), "a weight").put(w).flip().order(ByteOrder.nativeOrder());
        }
        int step = Math.max(1, chunk / Math.max(1, cols));
        boolean finite = true;
        OnnxJavaType type = javaType(dtype);
        try (OnnxTensor rt = OnnxTensor.createTensor(env, r.position(0), new long[] {rank, cols})) {
            for (int start = 0; start < rows; start += step) {
                int m = Math.min(step, rows - start);
                long[] shape = {m, cols};
                ByteBuffer wSlice = slice(w, (long) start * cols * esize, (long) m * cols * esize);
                ByteBuffer ySlice = slice(result, (long) start * cols * esize, (long) m * cols * esize);
                FloatBuffer lSlice = l.duplicate().position(start * rank).limit((start + m) * rank).slice();
                try (OnnxTensor wt = OnnxTensor.createTensor(env, wSlice, shape, type);
                        OnnxTensor lt = OnnxTensor.createTensor(env, lSlice, new long[] {m, rank});
                        OnnxTensor yt = OnnxTensor.createTensor(env, ySlice, shape, type);
                        OrtSession.Result out = session.run(Map.of("W", wt, "L", lt, "R", rt),
                                check ? Set.of("bad") : Set.of(), Map.of("Y", yt))) {
                    if (check) {
                        OnnxValue bad = out.get("bad").orElseThrow();
                        float v = ((OnnxTensor) bad).getFloatBuffer().get(0);
                        finite &= !Float.isNaN(v);
                    }
                }
            }
        } catch (OrtException e) {
            throw new IllegalStateException("ONNX Runtime failed to merge a LoRA weight [" + rows + ", " + cols + "] "
                    + dtype + ": " + e.getMessage(), e);
        }
        return new Sum(result, finite);
    }

    private static ByteBuffer slice(ByteBuffer buffer, long from, long length) {
        return buffer.duplicate().position(Math.toIntExact(from)).limit(Math.toIntExact(from + length)).slice()
                .order(ByteOrder.nativeOrder());
    }

    private static OnnxJavaType javaType(DType dtype) {
        switch (dtype) {
            case F32: return OnnxJavaType.FLOAT;
            case F16: return OnnxJavaType.FLOAT16;
            case BF16: return OnnxJavaType.BFLOAT16;
            default: throw new IllegalArgumentException("weight type " + dtype);
        }
    }

    private synchronized OrtSession session(DType dtype, boolean check) {
        if (closed) {
            throw new IllegalStateException("the fuse kernel is closed");
        }
        Map<DType, OrtSession> sessions = check ? checked : plain;
        OrtSession session = sessions.get(dtype);
        if (session == null) {
            try (OrtSession.SessionOptions o = options.get()) {
                session = env.createSession(graph(dtype, check).toByteArray(), o);
            } catch (OrtException e) {
                throw new IllegalStateException("ONNX Runtime cannot create the LoRA fuse kernel for " + dtype + ": "
                        + e.getMessage(), e);
            }
            sessions.put(dtype, session);
        }
        return session;
    }

    /** {@code Y = cast(Gemm(L, R, cast(W, f32)), dtype)} (+ {@code bad = ReduceSum(0·cast(Y, f32))}). */
    static ModelProto graph(DType dtype, boolean check) {
        int stored = OnnxTypes.onnxType(dtype);
        int f32 = TensorProto.DataType.FLOAT.getNumber();
        GraphProto.Builder g = GraphProto.newBuilder().setName("lorica_fuse_" + dtype.name().toLowerCase());
        g.addInput(value("W", stored, "m", "n"));
        g.addInput(value("L", f32, "m", "k"));
        g.addInput(value("R", f32, "k", "n"));
        String w = "W";
        if (dtype != DType.F32) {
            g.addNode(node("Cast", "cast_in", new String[] {"W"}, "W32").addAttribute(intAttr("to", f32)));
            w = "W32";
        }
        String y32 = dtype == DType.F32 ? "Y" : "Y32";
        g.addNode(node("Gemm", "gemm", new String[] {"L", "R", w}, y32));
        if (dtype != DType.F32) {
            g.addNode(node("Cast", "cast_out", new String[] {y32}, "Y").addAttribute(intAttr("to", stored)));
        }
        g.addOutput(value("Y", stored, "m", "n"));
        if (check) {
            String yc = "Y";
            if (dtype != DType.F32) {
                g.addNode(node("Cast", "cast_check", new String[] {"Y"}, "Yc").addAttribute(intAttr("to", f32)));
                yc = "Yc";
            }
            g.addInitializer(TensorProto.newBuilder().setName("zero").setDataType(f32).addFloatData(0f));
            g.addNode(node("Mul", "times_zero", new String[] {yc, "zero"}, "Z"));
            g.addNode(node("ReduceSum", "sum", new String[] {"Z"}, "bad").addAttribute(intAttr("keepdims", 0)));
            g.addOutput(ValueInfoProto.newBuilder().setName("bad").setType(TypeProto.newBuilder()
                    .setTensorType(TypeProto.Tensor.newBuilder().setElemType(f32)
                            .setShape(TensorShapeProto.newBuilder()))));
        }
        return ModelProto.newBuilder().setIrVersion(8).setProducerName("lorica-fuse-kernel")
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(17)).setGraph(g).build();
    }

    private static NodeProto.Builder node(String op, String name, String[] inputs, String output) {
        NodeProto.Builder n = NodeProto.newBuilder().setOpType(op).setName(name).addOutput(output);
        for (String i : inputs) {
            n.addInput(i);
        }
        return n;
    }

    private static AttributeProto intAttr(String name, long value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(value).build();
    }

    private static ValueInfoProto value(String name, int type, String... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (String d : dims) {
            shape.addDim(TensorShapeProto.Dimension.newBuilder().setDimParam(d));
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(type).setShape(shape))).build();
    }

    /** Closes the kernel sessions. */
    @Override
    public synchronized void close() {
        closed = true;
        for (OrtSession s : plain.values()) {
            close(s);
        }
        for (OrtSession s : checked.values()) {
            close(s);
        }
        plain.clear();
        checked.clear();
    }

    private static void close(OrtSession s) {
        try {
            s.close();
        } catch (OrtException e) {
            // best effort: nothing else refers to the kernel sessions
        }
    }
}
