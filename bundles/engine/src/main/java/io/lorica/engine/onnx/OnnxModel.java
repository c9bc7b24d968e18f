package io.lorica.engine.onnx;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import io.lorica.api.TensorData;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;

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
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * An ONNX model ({@code ModelProto}) read from a file, with its initializers accessible by name however they are
 * stored. Initializers held as external data ({@code data_location = EXTERNAL}, usually in {@code model.onnx_data}
 * next to the model) are never loaded into the heap: their files are memory-mapped read-only (in windows, so files
 * above 2 GiB work) and each tensor is a zero-copy little-endian view of the mapping.
 *
 * <p>Every external reference is validated when the model is read: the location must be a relative path inside the
 * model's folder, the file must exist and hold the whole range, and the length must equal the shape times the element
 * size. Violations are {@link IllegalArgumentException}s naming the model file, the initializer and the problem.
 *
 * <p>Instances are immutable; {@link #withInitializer} and {@link #withProto} return modified copies sharing the
 * mappings. {@link #toBytes()} and {@link #write(Path)} serialize a model whose external initializers still reference
 * the original data file: no second copy of the weights is ever written.
 */
public final class OnnxModel {

    /** Stride of the mapping windows of external data files: 1 GiB. */
    static final long DEFAULT_CHUNK_SIZE = 1L << 30;
    private static final long PROTOBUF_LIMIT = Integer.MAX_VALUE;

    private final Path file;
    private final Path folder;
    private final ModelProto proto;
    private final Map<String, Initializer> initializers;
    private final Map<Path, MappedDataFile> dataFiles;
    private final long chunkSize;

    private OnnxModel(Path file, ModelProto proto, Map<Path, MappedDataFile> dataFiles, long chunkSize) {
        this.file = file;
        this.folder = file.toAbsolutePath().normalize().getParent();
        this.proto = proto;
        this.dataFiles = dataFiles;
        this.chunkSize = chunkSize;
        this.initializers = Collections.unmodifiableMap(index());
    }

    /**
     * Reads and validates a model file.
     *
     * @throws IllegalArgumentException naming the file and what is wrong: unreadable, not a ModelProto, above the
     *                                  2 GB protobuf limit, or an initializer whose data is missing or inconsistent
     */
    public static OnnxModel read(Path modelFile) {
        return read(modelFile, DEFAULT_CHUNK_SIZE);
    }

    static OnnxModel read(Path modelFile, long chunkSize) {
        if (modelFile == null) {
            throw new IllegalArgumentException("model file must not be null");
        }
        if (!Files.isRegularFile(modelFile)) {
            throw new IllegalArgumentException("model " + modelFile + " does not exist or is not a file");
        }
        ModelProto proto;
        try {
            long size = Files.size(modelFile);
            if (size > PROTOBUF_LIMIT) {
                throw new IllegalArgumentException("model " + modelFile + " is " + size
                        + " bytes, above the 2 GB protobuf limit; large weights must be stored as external data");
            }
            CodedInputStream in = CodedInputStream.newInstance(Files.readAllBytes(modelFile));
            in.setRecursionLimit(1000);
            proto = ModelProto.parseFrom(in);
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalArgumentException("model " + modelFile + " is not a valid ONNX ModelProto: "
                    + e.getMessage(), e);
        } catch (IOException e) {
            throw new IllegalArgumentException("model " + modelFile + " cannot be read: " + e, e);
        }
        if (!proto.hasGraph()) {
            throw new IllegalArgumentException("model " + modelFile + " has no graph");
        }
        return new OnnxModel(modelFile, proto, new ConcurrentHashMap<>(), chunkSize);
    }

    /** The model file this model was read from. */
    public Path file() {
        return file;
    }

    /** The folder of the model file, against which external data locations are resolved. */
    public Path folder() {
        return folder;
    }

    /** The protobuf message (external initializers hold only their references). */
    public ModelProto proto() {
        return proto;
    }

    /** The opset version of the default ONNX domain, 0 when not declared. */
    public long opsetVersion() {
        return proto.getOpsetImportList().stream().filter(o -> o.getDomain().isEmpty() || "ai.onnx".equals(o.getDomain()))
                .mapToLong(o -> o.getVersion()).findFirst().orElse(0);
    }

    /** The graph inputs, initializers that are also listed as inputs included. */
    public List<ValueInfo> inputs() {
        return values(proto.getGraph().getInputList());
    }

    /** The graph outputs. */
    public List<ValueInfo> outputs() {
        return values(proto.getGraph().getOutputList());
    }

    /** The nodes of the main graph in graph order. */
    public List<Node> nodes() {
        List<Node> nodes = new ArrayList<>();
        for (NodeProto node : proto.getGraph().getNodeList()) {
            Map<String, Object> attributes = new LinkedHashMap<>();
            for (AttributeProto attribute : node.getAttributeList()) {
                attributes.put(attribute.getName(), attributeValue(attribute));
            }
            nodes.add(new Node(node.getName(), node.getOpType(), node.getDomain(), node.getInputList(),
                    node.getOutputList(), attributes));
        }
        return nodes;
    }

    /** The initializers by name, in graph order. */
    public Map<String, Initializer> initializers() {
        return initializers;
    }

    /** The initializer called {@code name}, if any. */
    public Optional<Initializer> initializer(String name) {
        return Optional.ofNullable(initializers.get(name));
    }

    /**
     * A copy of this model in which initializer {@code name} holds {@code data}, embedded as {@code raw_data} (e.g. a
     * patched weight); the other initializers keep their storage.
     *
     * @throws IllegalArgumentException when there is no such initializer
     */
    public OnnxModel withInitializer(String name, TensorData data) {
        GraphProto graph = proto.getGraph();
        for (int i = 0; i < graph.getInitializerCount(); i++) {
            if (graph.getInitializer(i).getName().equals(name)) {
                TensorProto replacement = tensor(name, data);
                ModelProto modified = proto.toBuilder().setGraph(graph.toBuilder().setInitializer(i, replacement))
                        .build();
                return new OnnxModel(file, modified, dataFiles, chunkSize);
            }
        }
        throw new IllegalArgumentException("model " + file + " has no initializer '" + name + "'");
    }

    /**
     * A copy of this model with another protobuf message (e.g. an edited graph), validated as when reading, with
     * external locations resolved against this model's folder.
     *
     * @throws IllegalArgumentException as {@link #read(Path)}
     */
    public OnnxModel withProto(ModelProto modified) {
        if (modified == null || !modified.hasGraph()) {
            throw new IllegalArgumentException("model " + file + ": the modified ModelProto must have a graph");
        }
        return new OnnxModel(file, modified, dataFiles, chunkSize);
    }

    /** An embedded {@code raw_data} TensorProto holding a copy of {@code data}. */
    public static TensorProto tensor(String name, TensorData data) {
        TensorProto.Builder tensor = TensorProto.newBuilder().setName(name)
                .setDataType(OnnxTypes.onnxType(data.dtype()));
        for (long d : data.shape()) {
            tensor.addDims(d);
        }
        return tensor.setRawData(ByteString.copyFrom(data.data())).build();
    }

    /**
     * The serialized model; external initializers keep referencing their data files by the same relative locations.
     * ONNX Runtime resolves such locations against the model file's folder, so a model with external initializers
     * should be {@linkplain #write(Path) written} next to its data and loaded from that file (a session created from
     * these bytes alone cannot find the data, unless it is supplied through
     * {@code SessionOptions.addExternalInitializers}).
     *
     * @throws IllegalArgumentException when the message would exceed the 2 GB protobuf limit, naming the largest
     *                                  embedded initializer
     */
    public byte[] toBytes() {
        long embedded = 0;
        String largest = null;
        long largestSize = -1;
        for (TensorProto tensor : proto.getGraph().getInitializerList()) {
            long size = (long) tensor.getRawData().size() + 4L * tensor.getFloatDataCount()
                    + 8L * (tensor.getInt64DataCount() + tensor.getDoubleDataCount() + tensor.getUint64DataCount())
                    + 4L * tensor.getInt32DataCount();
            embedded += size;
            if (size > largestSize) {
                largestSize = size;
                largest = tensor.getName();
            }
        }
        if (embedded > PROTOBUF_LIMIT || proto.getSerializedSize() < 0) {
            throw new IllegalArgumentException("model " + file + ": " + embedded
                    + " bytes of embedded initializers exceed the 2 GB protobuf limit (largest: '" + largest + "', "
                    + largestSize + " bytes); store large weights as external data");
        }
        return proto.toByteArray();
    }

    /**
     * Writes the serialized model to {@code target}. When the model has external initializers, {@code target} must be
     * in the same folder as this model, so that their relative locations still name the original data files (which
     * are neither copied nor modified).
     *
     * @throws IllegalArgumentException when the target is in another folder while external data is referenced, when
     *                                  it would overwrite an external data file, or as {@link #toBytes()}
     * @throws UncheckedIOException     when writing fails
     */
    public void write(Path target) {
        Path normalized = target.toAbsolutePath().normalize();
        boolean external = initializers.values().stream().anyMatch(Initializer::isExternal);
        if (external && !normalized.getParent().equals(folder)) {
            throw new IllegalArgumentException("model " + file + " references external data in " + folder
                    + "; it can only be written into that folder (locations are relative), not to " + target);
        }
        for (Initializer initializer : initializers.values()) {
            if (initializer.isExternal()
                    && folder.resolve(initializer.externalLocation().orElseThrow()).normalize().equals(normalized)) {
                throw new IllegalArgumentException("model " + file + ": writing to " + target
                        + " would overwrite the external data of initializer '" + initializer.name() + "'");
            }
        }
        byte[] bytes = toBytes();
        try {
            Files.write(target, bytes);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write model to " + target, e);
        }
    }

    /** How many memory mappings of external data are held (for tests). */
    int mappingCount() {
        return dataFiles.values().stream().mapToInt(MappedDataFile::mappingCount).sum();
    }

    @Override
    public String toString() {
        return "OnnxModel[" + file + ", " + proto.getGraph().getNodeCount() + " nodes, " + initializers.size()
                + " initializers]";
    }

    // ---------------------------------------------------------------------------------------------------------------

    private Map<String, Initializer> index() {
        Map<String, Initializer> result = new LinkedHashMap<>();
        for (TensorProto tensor : proto.getGraph().getInitializerList()) {
            Initializer initializer = initializer(tensor);
            if (result.put(initializer.name(), initializer) != null) {
                throw error(tensor.getName(), "is defined twice");
            }
        }
        return result;
    }

    private Initializer initializer(TensorProto tensor) {
        String name = tensor.getName();
        long[] shape = new long[tensor.getDimsCount()];
        long count = 1;
        for (int i = 0; i < shape.length; i++) {
            shape[i] = tensor.getDims(i);
            if (shape[i] < 0) {
                throw error(name, "has a negative dimension in shape " + tensor.getDimsList());
            }
            try {
                count = Math.multiplyExact(count, shape[i]);
            } catch (ArithmeticException e) {
                throw error(name, "has a shape too large: " + tensor.getDimsList());
            }
        }
        int type = tensor.getDataType();
        int elementSize = OnnxTypes.byteSize(type);
        long expected = elementSize < 0 ? -1 : count * elementSize;
        String what = OnnxTypes.name(type) + tensor.getDimsList();
        if (tensor.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
            return external(tensor, shape, expected, what);
        }
        if (tensor.hasRawData()) {
            ByteString raw = tensor.getRawData();
            if (expected >= 0 && raw.size() != expected) {
                throw error(name, "is " + what + ", which needs " + expected + " bytes, but raw_data has "
                        + raw.size());
            }
            return new Initializer(name, type, shape, Initializer.Storage.RAW_DATA, null, 0,
                    () -> raw.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN));
        }
        long present = typedCount(tensor, type);
        long elements = count;
        if (present != count && type != OnnxTypes.STRING) {
            throw error(name, "is " + what + " with " + count + " elements, but its typed data field holds "
                    + present);
        }
        return new Initializer(name, type, shape, Initializer.Storage.TYPED_FIELD, null, 0,
                () -> typedBytes(tensor, type, elementSize, elements));
    }

    private Initializer external(TensorProto tensor, long[] shape, long expected, String what) {
        String name = tensor.getName();
        String location = null;
        long offset = 0;
        long length = -1;
        for (StringStringEntryProto entry : tensor.getExternalDataList()) {
            try {
                switch (entry.getKey()) {
                    case "location": location = entry.getValue(); break;
                    case "offset": offset = Long.parseLong(entry.getValue()); break;
                    case "length": length = Long.parseLong(entry.getValue()); break;
                    default: break;
                }
            } catch (NumberFormatException e) {
                throw error(name, "has a non-numeric external data " + entry.getKey() + " '" + entry.getValue() + "'");
            }
        }
        if (location == null || location.isEmpty()) {
            throw error(name, "is stored as external data but has no location");
        }
        Path dataPath = safeLocation(name, location);
        if (expected < 0) {
            throw error(name, "is external data of type " + OnnxTypes.name(tensor.getDataType())
                    + ", which has no fixed element size");
        }
        if (offset < 0) {
            throw error(name, "has a negative external data offset " + offset);
        }
        if (length < 0) {
            length = expected;
        } else if (length != expected) {
            throw error(name, "is " + what + ", which needs " + expected + " bytes, but its external data length is "
                    + length);
        }
        MappedDataFile data = dataFile(name, location, dataPath);
        if (offset + length > data.size()) {
            throw error(name, "needs bytes [" + offset + ", " + (offset + length) + ") of external data file '"
                    + location + "', which has only " + data.size() + " bytes");
        }
        long start = offset;
        long bytes = length;
        return new Initializer(name, tensor.getDataType(), shape, Initializer.Storage.EXTERNAL, location, offset,
                () -> data.view(start, bytes));
    }

    private Path safeLocation(String name, String location) {
        if (location.startsWith("/") || location.startsWith("\\") || location.contains(":")
                || Path.of(location).isAbsolute()) {
            throw error(name, "has an absolute external data location '" + location
                    + "'; locations must be relative to the model's folder");
        }
        for (String segment : location.split("[/\\\\]")) {
            if (segment.equals("..")) {
                throw error(name, "has external data location '" + location
                        + "' containing '..'; it must stay inside the model's folder");
            }
        }
        Path resolved = folder.resolve(location).normalize();
        if (!resolved.startsWith(folder)) {
            throw error(name, "has external data location '" + location + "' outside the model's folder");
        }
        return resolved;
    }

    private MappedDataFile dataFile(String name, String location, Path path) {
        MappedDataFile known = dataFiles.get(path);
        if (known != null) {
            return known;
        }
        if (!Files.isRegularFile(path)) {
            throw error(name, "references external data file '" + location + "', which does not exist in " + folder);
        }
        try {
            MappedDataFile created = new MappedDataFile(path, Files.size(path), chunkSize);
            MappedDataFile previous = dataFiles.putIfAbsent(path, created);
            return previous != null ? previous : created;
        } catch (IOException e) {
            throw error(name, "references external data file '" + location + "', which cannot be read: " + e);
        }
    }

    private IllegalArgumentException error(String initializer, String problem) {
        return new IllegalArgumentException("model " + file + ": initializer '" + initializer + "' " + problem);
    }

    private static long typedCount(TensorProto tensor, int type) {
        switch (type) {
            case OnnxTypes.FLOAT: return tensor.getFloatDataCount();
            case OnnxTypes.INT64: return tensor.getInt64DataCount();
            case OnnxTypes.DOUBLE: return tensor.getDoubleDataCount();
            case OnnxTypes.UINT32: case OnnxTypes.UINT64: return tensor.getUint64DataCount();
            case OnnxTypes.STRING: return tensor.getStringDataCount();
            default: return tensor.getInt32DataCount();
        }
    }

    private static ByteBuffer typedBytes(TensorProto tensor, int type, int elementSize, long count) {
        ByteBuffer out = ByteBuffer.allocate((int) (count * Math.max(elementSize, 0))).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < count; i++) {
            switch (type) {
                case OnnxTypes.FLOAT: out.putFloat(tensor.getFloatData(i)); break;
                case OnnxTypes.INT64: out.putLong(tensor.getInt64Data(i)); break;
                case OnnxTypes.DOUBLE: out.putDouble(tensor.getDoubleData(i)); break;
                case OnnxTypes.UINT32: out.putInt((int) tensor.getUint64Data(i)); break;
                case OnnxTypes.UINT64: out.putLong(tensor.getUint64Data(i)); break;
                case OnnxTypes.INT32: out.putInt(tensor.getInt32Data(i)); break;
                case OnnxTypes.INT16: case OnnxTypes.UINT16: case OnnxTypes.FLOAT16: case OnnxTypes.BFLOAT16:
                    out.putShort((short) tensor.getInt32Data(i));
                    break;
                case OnnxTypes.INT8: case OnnxTypes.UINT8: case OnnxTypes.BOOL:
                    out.put((byte) tensor.getInt32Data(i));
                    break;
                default:
                    throw new IllegalStateException("initializer '" + tensor.getName() + "' has ONNX type "
                            + OnnxTypes.name(type) + ", whose data cannot be viewed as bytes");
            }
        }
        out.flip();
        return out.asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    private static List<ValueInfo> values(List<ValueInfoProto> protos) {
        List<ValueInfo> values = new ArrayList<>();
        for (ValueInfoProto value : protos) {
            int type = 0;
            List<ValueInfo.Dim> dims = new ArrayList<>();
            boolean hasShape = false;
            if (value.hasType() && value.getType().hasTensorType()) {
                type = value.getType().getTensorType().getElemType();
                if (value.getType().getTensorType().hasShape()) {
                    hasShape = true;
                    for (TensorShapeProto.Dimension dim : value.getType().getTensorType().getShape().getDimList()) {
                        dims.add(dim.hasDimValue() ? new ValueInfo.Dim(dim.getDimValue(), "")
                                : new ValueInfo.Dim(-1, dim.getDimParam()));
                    }
                }
            }
            values.add(new ValueInfo(value.getName(), type, dims, hasShape));
        }
        return Collections.unmodifiableList(values);
    }

    private static Object attributeValue(AttributeProto attribute) {
        switch (attribute.getType()) {
            case INT: return attribute.getI();
            case FLOAT: return attribute.getF();
            case STRING: return attribute.getS().toStringUtf8();
            case INTS: return List.copyOf(attribute.getIntsList());
            case FLOATS: return List.copyOf(attribute.getFloatsList());
            case STRINGS: {
                List<String> strings = new ArrayList<>();
                attribute.getStringsList().forEach(s -> strings.add(s.toStringUtf8()));
                return Collections.unmodifiableList(strings);
            }
            case TENSOR: return attribute.getT();
            case GRAPH: return attribute.getG();
            default: return attribute;
        }
    }
}
