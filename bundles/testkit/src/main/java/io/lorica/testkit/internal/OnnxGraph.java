package io.lorica.testkit.internal;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * An ONNX graph being built and its writer: nodes, value infos and initializers encoded by hand in protobuf's wire
 * format ({@code onnx.proto}: ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto), so the
 * test kit needs no protobuf library.
 *
 * <p>Random initializers are not held in memory: each is described by its logical key and distribution and its bytes
 * are generated while the file is written, through one reused buffer, so a model of any size is written in constant
 * memory. Values come from {@link SeededRandom#forKey}{@code (seed, key)} in storage order.
 *
 * <p>Node names follow the legacy TorchScript exporter: {@code <scope>/<OpType>} with {@code _1}, {@code _2}, ...
 * appended to repeats within a scope, outputs named {@code <node name>_output_<i>}.
 */
public final class OnnxGraph {

    /** ONNX {@code TensorProto.DataType.FLOAT}. */
    public static final int FLOAT = 1;
    /** ONNX {@code TensorProto.DataType.INT32}. */
    public static final int INT32 = 6;
    /** ONNX {@code TensorProto.DataType.INT64}. */
    public static final int INT64 = 7;
    /** ONNX {@code TensorProto.DataType.FLOAT16}. */
    public static final int FLOAT16 = 10;

    /** The opset written ({@code ai.onnx} 17: LayerNormalization, no GroupNormalization). */
    public static final int OPSET = 17;
    private static final int IR_VERSION = 8;
    private static final int BUFFER_BYTES = 1 << 20;
    private static final int DATA_ALIGNMENT = 64;

    /**
     * The distribution of a generated tensor: {@code center + spread * u} with {@code u} uniform in {@code [-1, 1)}.
     *
     * @param center the mean
     * @param spread the half-width
     */
    public record Init(float center, float spread) {

        /** PyTorch's default Linear/Conv initialisation: uniform in {@code ±1/sqrt(fanIn)}. */
        public static Init fanIn(long fanIn) {
            return new Init(0f, (float) (1 / Math.sqrt(fanIn)));
        }
    }

    /** A node attribute: INT, INTS, FLOAT or STRING. */
    public record Attr(String name, int type, long i, long[] ints, float f, String s) {

        /** An INT attribute. */
        public static Attr of(String name, long value) {
            return new Attr(name, 2, value, null, 0f, null);
        }

        /** An INTS attribute. */
        public static Attr ints(String name, long... values) {
            return new Attr(name, 7, 0, values.clone(), 0f, null);
        }

        /** A FLOAT attribute. */
        public static Attr of(String name, float value) {
            return new Attr(name, 1, 0, null, value, null);
        }

        /** A STRING attribute. */
        public static Attr of(String name, String value) {
            return new Attr(name, 3, 0, null, 0f, value);
        }

        ProtoBuffer encode() {
            ProtoBuffer a = new ProtoBuffer().string(1, name);
            switch (type) {
                case 1 -> a.float32(2, f);
                case 2 -> a.varint(3, i);
                case 3 -> a.string(4, s);
                case 7 -> {
                    for (long v : ints) {
                        a.varint(8, v);
                    }
                }
                default -> throw new IllegalStateException("attribute type " + type);
            }
            return a.varint(20, type);
        }
    }

    /** Sizes of a written model. */
    public record Written(Path model, Path externalData, long modelBytes, long externalBytes, long parameters) {
    }

    /** An initializer: constant bytes, or generated from a key and a distribution. */
    private static final class Tensor {
        final String name;
        final int dataType;
        final long[] dims;
        final byte[] data;
        final String key;
        final Init init;
        final boolean parameter;
        long offset = -1;

        Tensor(String name, int dataType, long[] dims, byte[] data, String key, Init init, boolean parameter) {
            this.name = name;
            this.dataType = dataType;
            this.dims = dims;
            this.data = data;
            this.key = key;
            this.init = init;
            this.parameter = parameter;
        }

        long elements() {
            long n = 1;
            for (long d : dims) {
                n *= d;
            }
            return n;
        }

        long byteSize() {
            return data != null ? data.length : elements() * elementSize(dataType);
        }
    }

    /** A node being added; {@link #out()} or {@link #outputs(int)} adds it. */
    public final class NodeBuilder {
        private final String name;
        private final String opType;
        private final List<String> inputs = new ArrayList<>();
        private final List<Attr> attributes = new ArrayList<>();
        private String domain = "";

        NodeBuilder(String name, String opType) {
            this.name = name;
            this.opType = opType;
        }

        /** Appends inputs ({@code ""} for an omitted optional input). */
        public NodeBuilder in(String... values) {
            inputs.addAll(Arrays.asList(values));
            return this;
        }

        /** Adds an attribute. */
        public NodeBuilder attr(Attr attribute) {
            attributes.add(attribute);
            return this;
        }

        /** Adds an INT attribute. */
        public NodeBuilder attr(String attribute, long value) {
            return attr(Attr.of(attribute, value));
        }

        /** Adds an INTS attribute. */
        public NodeBuilder ints(String attribute, long... values) {
            return attr(Attr.ints(attribute, values));
        }

        /** Adds a FLOAT attribute. */
        public NodeBuilder attr(String attribute, float value) {
            return attr(Attr.of(attribute, value));
        }

        /** Adds a STRING attribute. */
        public NodeBuilder attr(String attribute, String value) {
            return attr(Attr.of(attribute, value));
        }

        /** Sets the operator domain (default: ai.onnx). */
        public NodeBuilder domain(String value) {
            domain = value;
            return this;
        }

        /** Adds the node with one output named {@code <name>_output_0}; returns that name. */
        public String out() {
            return outputs(1)[0];
        }

        /** Adds the node with one output of the given name (e.g. a graph output). */
        public String outTo(String output) {
            add(List.of(output));
            return output;
        }

        /** Adds the node with {@code count} outputs named {@code <name>_output_<i>}. */
        public String[] outputs(int count) {
            String[] names = new String[count];
            for (int i = 0; i < count; i++) {
                names[i] = name + "_output_" + i;
            }
            add(Arrays.asList(names));
            return names;
        }

        private void add(List<String> outputs) {
            ProtoBuffer node = new ProtoBuffer();
            for (String input : inputs) {
                node.string(1, input);
            }
            for (String output : outputs) {
                node.string(2, output);
            }
            node.string(3, name).string(4, opType);
            for (Attr attribute : attributes) {
                node.message(5, attribute.encode());
            }
            if (!domain.isEmpty()) {
                node.string(7, domain);
            }
            nodes.add(node.toByteArray());
        }
    }

    private final String graphName;
    private final long seed;
    private final List<byte[]> nodes = new ArrayList<>();
    private final List<Tensor> initializers = new ArrayList<>();
    private final Set<String> initializerNames = new HashSet<>();
    private final Map<String, String> constants = new HashMap<>();
    private final List<byte[]> inputs = new ArrayList<>();
    private final List<byte[]> outputs = new ArrayList<>();
    private final Map<String, Integer> nodeNames = new HashMap<>();
    private int anonymous = 1;

    /**
     * @param graphName the graph's name
     * @param seed      the global seed of generated initializers
     */
    public OnnxGraph(String graphName, long seed) {
        this.graphName = graphName;
        this.seed = seed;
    }

    /** The global seed. */
    public long seed() {
        return seed;
    }

    /** Bytes per element of an ONNX data type. */
    public static int elementSize(int dataType) {
        return switch (dataType) {
            case FLOAT, INT32 -> 4;
            case INT64 -> 8;
            case FLOAT16 -> 2;
            default -> throw new IllegalArgumentException("unsupported ONNX data type " + dataType);
        };
    }

    /**
     * A node named {@code <scope>/<opType>} (then {@code _1}, {@code _2}, ... for repeats in the scope), as the legacy
     * exporter names them; {@code scope} is {@code ""} for the top level.
     */
    public NodeBuilder node(String scope, String opType) {
        String base = scope + "/" + opType;
        int count = nodeNames.merge(base, 1, Integer::sum) - 1;
        return new NodeBuilder(count == 0 ? base : base + "_" + count, opType);
    }

    /** A fresh anonymous initializer name in the legacy exporter's style: {@code onnx::<op>_<n>}. */
    public String anonymousName(String op) {
        return "onnx::" + op + "_" + anonymous++;
    }

    /** Adds a generated learnable initializer; values from the stream of {@code key}. */
    public String parameter(String name, String key, int dataType, Init init, long... dims) {
        addInitializer(new Tensor(name, dataType, dims.clone(), null, key, init, true));
        return name;
    }

    /** Adds a constant initializer (not counted as a parameter). */
    public String constant(String name, int dataType, byte[] data, long... dims) {
        addInitializer(new Tensor(name, dataType, dims.clone(), data, null, null, false));
        return name;
    }

    /**
     * A constant float tensor of type FLOAT or FLOAT16, shared between all uses with the same values; named
     * anonymously after {@code op}.
     */
    public String floats(String op, int dataType, float[] values, long... dims) {
        ByteBuffer bytes = ByteBuffer.allocate(values.length * elementSize(dataType)).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            if (dataType == FLOAT16) {
                bytes.putShort(Half.fromFloat(v));
            } else if (dataType == FLOAT) {
                bytes.putFloat(v);
            } else {
                throw new IllegalArgumentException("floats must be FLOAT or FLOAT16, got " + dataType);
            }
        }
        return shared(op, dataType, bytes.array(), dims);
    }

    /** A constant INT64 tensor, shared between all uses with the same values. */
    public String longs(String op, long[] values, long... dims) {
        ByteBuffer bytes = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : values) {
            bytes.putLong(v);
        }
        return shared(op, INT64, bytes.array(), dims);
    }

    /** A constant 1-D INT64 tensor. */
    public String longs(String op, long... values) {
        return longs(op, values, values.length);
    }

    /** A constant INT64 scalar. */
    public String longScalar(String op, long value) {
        return longs(op, new long[] {value}, new long[0]);
    }

    /** A constant scalar of {@code dataType} (FLOAT or FLOAT16). */
    public String floatScalar(String op, int dataType, float value) {
        return floats(op, dataType, new float[] {value}, new long[0]);
    }

    private String shared(String op, int dataType, byte[] data, long[] dims) {
        String signature = dataType + ":" + Arrays.toString(dims) + ":" + Arrays.toString(data);
        String existing = constants.get(signature);
        if (existing != null) {
            return existing;
        }
        String name = anonymousName(op);
        constant(name, dataType, data, dims);
        constants.put(signature, name);
        return name;
    }

    /** Adds a graph input; a String dimension is symbolic, a Number fixed. */
    public void input(String name, int dataType, Object... dims) {
        inputs.add(valueInfo(name, dataType, dims));
    }

    /** Declares a graph output (a value some node produces); a String dimension is symbolic, a Number fixed. */
    public void output(String name, int dataType, Object... dims) {
        outputs.add(valueInfo(name, dataType, dims));
    }

    /** The number of elements of all learnable initializers. */
    public long parameterCount() {
        long n = 0;
        for (Tensor t : initializers) {
            if (t.parameter) {
                n += t.elements();
            }
        }
        return n;
    }

    /** The number of nodes added so far. */
    public int nodeCount() {
        return nodes.size();
    }

    private void addInitializer(Tensor tensor) {
        if (!initializerNames.add(tensor.name)) {
            throw new IllegalStateException("duplicate initializer " + tensor.name);
        }
        initializers.add(tensor);
    }

    private static byte[] valueInfo(String name, int dataType, Object... dims) {
        ProtoBuffer shape = new ProtoBuffer();
        for (Object d : dims) {
            ProtoBuffer dim = new ProtoBuffer();
            if (d instanceof String symbolic) {
                dim.string(2, symbolic);
            } else {
                dim.varint(1, ((Number) d).longValue());
            }
            shape.message(1, dim);
        }
        ProtoBuffer tensorType = new ProtoBuffer().varint(1, dataType).message(2, shape);
        ProtoBuffer type = new ProtoBuffer().message(1, tensorType);
        return new ProtoBuffer().string(1, name).message(2, type).toByteArray();
    }

    /**
     * Writes {@code model} and, when {@code externalData} is not null, every initializer of at least
     * {@code threshold} bytes into {@code externalData} (referenced by its file name, 64-byte aligned), streaming
     * generated values through one buffer.
     *
     * @param docString the model's doc string
     */
    public Written write(Path model, Path externalData, long threshold, String docString) {
        try {
            Files.createDirectories(model.toAbsolutePath().getParent());
            ByteBuffer buffer = ByteBuffer.allocate(BUFFER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            long externalBytes = 0;
            if (externalData != null) {
                try (CountingStream data = new CountingStream(Files.newOutputStream(externalData))) {
                    for (Tensor t : initializers) {
                        if (t.byteSize() < threshold) {
                            continue;
                        }
                        while (data.count % DATA_ALIGNMENT != 0) {
                            data.write(0);
                        }
                        t.offset = data.count;
                        emit(t, data, buffer);
                    }
                    externalBytes = data.count;
                }
            }
            String location = externalData == null ? null : externalData.getFileName().toString();

            ProtoBuffer graphHead = new ProtoBuffer();
            for (byte[] node : nodes) {
                graphHead.bytes(1, node);
            }
            graphHead.string(2, graphName);
            List<ProtoBuffer> headers = new ArrayList<>(initializers.size());
            long graphSize = graphHead.size();
            for (Tensor t : initializers) {
                ProtoBuffer header = new ProtoBuffer();
                for (long d : t.dims) {
                    header.varint(1, d);
                }
                header.varint(2, t.dataType).string(8, t.name);
                long content = header.size();
                if (t.offset >= 0) {
                    header.message(13, entry("location", location));
                    header.message(13, entry("offset", Long.toString(t.offset)));
                    header.message(13, entry("length", Long.toString(t.byteSize())));
                    header.varint(14, 1);
                    content = header.size();
                } else {
                    content += ProtoBuffer.lengthDelimitedSize(9, t.byteSize());
                }
                headers.add(header);
                graphSize += ProtoBuffer.lengthDelimitedSize(5, content);
            }
            ProtoBuffer graphTail = new ProtoBuffer();
            for (byte[] input : inputs) {
                graphTail.bytes(11, input);
            }
            for (byte[] output : outputs) {
                graphTail.bytes(12, output);
            }
            graphSize += graphTail.size();

            ProtoBuffer modelHead = new ProtoBuffer().varint(1, IR_VERSION).string(2, "lorica-testkit")
                    .string(3, "1.0.0").string(6, docString)
                    .message(8, new ProtoBuffer().string(1, "").varint(2, OPSET))
                    .lengthPrefix(7, graphSize);
            try (CountingStream out = new CountingStream(Files.newOutputStream(model))) {
                out.write(modelHead.array(), 0, modelHead.size());
                out.write(graphHead.array(), 0, graphHead.size());
                for (int i = 0; i < initializers.size(); i++) {
                    Tensor t = initializers.get(i);
                    ProtoBuffer header = headers.get(i);
                    boolean inline = t.offset < 0;
                    long content = header.size() + (inline ? ProtoBuffer.lengthDelimitedSize(9, t.byteSize()) : 0);
                    ProtoBuffer prefix = new ProtoBuffer().lengthPrefix(5, content);
                    out.write(prefix.array(), 0, prefix.size());
                    out.write(header.array(), 0, header.size());
                    if (inline) {
                        ProtoBuffer raw = new ProtoBuffer().lengthPrefix(9, t.byteSize());
                        out.write(raw.array(), 0, raw.size());
                        emit(t, out, buffer);
                    }
                }
                out.write(graphTail.array(), 0, graphTail.size());
                long expected = modelHead.size() + graphSize;
                if (out.count != expected) {
                    throw new IllegalStateException("wrote " + out.count + " bytes, computed " + expected);
                }
                return new Written(model, externalData, out.count, externalBytes, parameterCount());
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + model, e);
        }
    }

    private static ProtoBuffer entry(String key, String value) {
        return new ProtoBuffer().string(1, key).string(2, value);
    }

    /** Writes the tensor's bytes: its constant data, or its generated values in its data type. */
    private void emit(Tensor t, CountingStream out, ByteBuffer buffer) throws IOException {
        if (t.data != null) {
            out.write(t.data, 0, t.data.length);
            return;
        }
        SeededRandom random = SeededRandom.forKey(seed, t.key);
        float center = t.init.center();
        float spread = t.init.spread();
        boolean half = t.dataType == FLOAT16;
        if (!half && t.dataType != FLOAT) {
            throw new IllegalStateException("generated tensor " + t.name + " must be FLOAT or FLOAT16");
        }
        long n = t.elements();
        buffer.clear();
        for (long i = 0; i < n; i++) {
            if (!buffer.hasRemaining()) {
                out.write(buffer.array(), 0, buffer.position());
                buffer.clear();
            }
            float value = center + spread * random.nextSymmetric();
            if (half) {
                buffer.putShort(Half.fromFloat(value));
            } else {
                buffer.putFloat(value);
            }
        }
        out.write(buffer.array(), 0, buffer.position());
        buffer.clear();
    }

    /** A buffered stream that counts the bytes written. */
    private static final class CountingStream extends OutputStream {
        private final OutputStream out;
        long count;

        CountingStream(OutputStream out) {
            this.out = new BufferedOutputStream(out, BUFFER_BYTES);
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
            count += len;
        }

        @Override
        public void close() throws IOException {
            out.close();
        }
    }
}
