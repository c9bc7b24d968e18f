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
 * float32 intermediates stay small and in cache; chunks run concurrently (one intra-op thread each, on the common
 * fork-join pool), so the casts run in parallel too. With {@code check}, a second output {@code Σ 0·Y} (NaN exactly when an
 * element is NaN or infinite after rounding) tells whether the result is finite.
 *
 * <p>Thread-safe; owns its sessions until {@link #close()}.
 */
public final class OrtFuseKernel implements FuseKernel, AutoCloseable {

    /** Elements per chunk: 1 M (4 MB of float32 per intermediate, in cache). */
    static final int DEFAULT_CHUNK = 1 << 20;

    private final OrtEnvironment env;
    private final Supplier<OrtSession.SessionOptions> options;
    private final int chunk;
    private final BufferPool scratch = new BufferPool(64L << 20, "LoRA factors of a fusion");
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
            boolean check, ByteBuffer target) {
        if (dtype == DType.F64) {
            return JAVA.addProduct(weight, dtype, rows, cols, left, right, rank, check, target);
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
        ByteBuffer result = target != null ? target : Floats.allocateDirect((long) rows * cols * esize, "a fused weight");
        if (!result.isDirect() || result.capacity() != (long) rows * cols * esize) {
            throw new IllegalArgumentException("the target must be a direct buffer of " + (long) rows * cols * esize
                    + " bytes");
        }
        ByteBuffer lBytes = scratch.take(4L * left.length);
        ByteBuffer rBytes = scratch.take(4L * right.length);
        try {
            FloatBuffer l = lBytes.order(ByteOrder.nativeOrder()).asFloatBuffer().put(left);
            FloatBuffer r = rBytes.order(ByteOrder.nativeOrder()).asFloatBuffer().put(right);
            ByteBuffer w = weight.duplicate().order(ByteOrder.nativeOrder());
            w.position(0);
            if (!w.isDirect()) {
                // embedded weights live on the heap; ONNX Runtime reads tensors from direct memory only
                w = Floats.allocateDirect(w.remaining(), "a weight").put(w).flip().order(ByteOrder.nativeOrder());
            }
            // at most `chunk` elements per run, and at least two runs per core so that every layer keeps all cores busy
            int parallelism = Runtime.getRuntime().availableProcessors();
            long elements = (long) rows * cols;
            int wanted = (int) Math.min(rows, Math.max(2L * parallelism, (elements + chunk - 1) / chunk));
            int step = (rows + wanted - 1) / wanted;
            int chunks = (rows + step - 1) / step;
            try (OnnxTensor rt = OnnxTensor.createTensor(env, r.position(0), new long[] {rank, cols})) {
                ByteBuffer weights = w;
                // chunks run concurrently: each run uses one intra-op thread, so the casts are parallel too
                boolean finite = java.util.stream.IntStream.range(0, chunks).parallel().mapToObj(c -> {
                    int start = c * step;
                    int m = Math.min(step, rows - start);
                    return run(session, weights, result, l, rt, start, m, cols, rank, esize, dtype, check);
                }).allMatch(Boolean::booleanValue);
                return new Sum(result, finite);
            }
        } catch (OrtException e) {
            throw failure(rows, cols, dtype, e);
        } finally {
            scratch.give(lBytes);
            scratch.give(rBytes);
        }
    }

    /** One chunk of rows {@code [start, start + m)}; returns whether it is finite (true without {@code check}). */
    private boolean run(OrtSession session, ByteBuffer w, ByteBuffer result, FloatBuffer l, OnnxTensor rt, int start,
            int m, int cols, int rank, int esize, DType dtype, boolean check) {
        OnnxJavaType type = OnnxTypes.javaType(dtype);
        long[] shape = {m, cols};
        ByteBuffer wSlice = slice(w, (long) start * cols * esize, (long) m * cols * esize);
        ByteBuffer ySlice = slice(result, (long) start * cols * esize, (long) m * cols * esize);
        FloatBuffer lSlice = l.duplicate().position(start * rank).limit((start + m) * rank).slice();
        try (OnnxTensor wt = OnnxTensor.createTensor(env, wSlice, shape, type);
                OnnxTensor lt = OnnxTensor.createTensor(env, lSlice, new long[] {m, rank});
                OnnxTensor yt = OnnxTensor.createTensor(env, ySlice, shape, type);
                OrtSession.Result out = session.run(Map.of("W", wt, "L", lt, "R", rt),
                        check ? Set.of("bad") : Set.of(), Map.of("Y", yt))) {
            if (!check) {
                return true;
            }
            OnnxValue bad = out.get("bad").orElseThrow();
            return !Float.isNaN(((OnnxTensor) bad).getFloatBuffer().get(0));
        } catch (OrtException e) {
            throw failure(m, cols, dtype, e);
        }
    }

    private static IllegalStateException failure(int rows, int cols, DType dtype, OrtException e) {
        return new IllegalStateException("ONNX Runtime failed to merge a LoRA weight [" + rows + ", " + cols + "] "
                + dtype + ": " + e.getMessage(), e);
    }

    private static ByteBuffer slice(ByteBuffer buffer, long from, long length) {
        return buffer.duplicate().position(Math.toIntExact(from)).limit(Math.toIntExact(from + length)).slice()
                .order(ByteOrder.nativeOrder());
    }

    private synchronized OrtSession session(DType dtype, boolean check) {
        if (closed) {
            throw new IllegalStateException("the fuse kernel is closed");
        }
        Map<DType, OrtSession> sessions = check ? checked : plain;
        OrtSession session = sessions.get(dtype);
        if (session == null) {
            try (OrtSession.SessionOptions o = options.get()) {
                o.setIntraOpNumThreads(1);
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
