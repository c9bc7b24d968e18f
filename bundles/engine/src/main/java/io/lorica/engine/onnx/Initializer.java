package io.lorica.engine.onnx;

import io.lorica.api.DType;
import io.lorica.api.TensorData;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * One initializer of a model: name, element type, shape and a view of its bytes however they are stored. Data held
 * as external data is a zero-copy view of the memory-mapped data file; data held in typed protobuf fields
 * ({@code float_data}, {@code int64_data}, ...) is converted to little-endian bytes on each call of {@link #data()}.
 */
public final class Initializer {

    /** Where the bytes of an initializer live. */
    public enum Storage {
        /** In the model's {@code raw_data} field. */
        RAW_DATA,
        /** In a typed repeated field ({@code float_data}, {@code int32_data}, {@code int64_data}, ...). */
        TYPED_FIELD,
        /** In an external data file next to the model ({@code data_location = EXTERNAL}). */
        EXTERNAL
    }

    private final String name;
    private final int onnxType;
    private final long[] shape;
    private final Storage storage;
    private final String location;
    private final long offset;
    private final Supplier<ByteBuffer> bytes;

    Initializer(String name, int onnxType, long[] shape, Storage storage, String location, long offset,
            Supplier<ByteBuffer> bytes) {
        this.name = name;
        this.onnxType = onnxType;
        this.shape = shape.clone();
        this.storage = storage;
        this.location = location;
        this.offset = offset;
        this.bytes = bytes;
    }

    /** The initializer name. */
    public String name() {
        return name;
    }

    /** The ONNX element type number ({@link OnnxTypes}). */
    public int onnxType() {
        return onnxType;
    }

    /**
     * The element type.
     *
     * @throws IllegalStateException naming the initializer and its ONNX type when Lorica does not handle that type
     */
    public DType dtype() {
        return OnnxTypes.dtype(onnxType).orElseThrow(() -> new IllegalStateException("initializer '" + name
                + "' has ONNX type " + OnnxTypes.name(onnxType) + ", which has no Lorica DType"));
    }

    /** A copy of the shape. */
    public long[] shape() {
        return shape.clone();
    }

    /** The number of dimensions. */
    public int rank() {
        return shape.length;
    }

    /** The product of the dimensions. */
    public long elementCount() {
        long count = 1;
        for (long d : shape) {
            count = Math.multiplyExact(count, d);
        }
        return count;
    }

    /** Where the bytes are stored. */
    public Storage storage() {
        return storage;
    }

    /** Whether the bytes are external data. */
    public boolean isExternal() {
        return storage == Storage.EXTERNAL;
    }

    /** The external data file, relative to the model's folder, when external. */
    public Optional<String> externalLocation() {
        return Optional.ofNullable(location);
    }

    /** The byte offset in the external data file (0 when not external). */
    public long externalOffset() {
        return offset;
    }

    /** The size of the data in bytes: elements times element size. */
    public long byteSize() {
        return elementCount() * Math.max(OnnxTypes.byteSize(onnxType), 0);
    }

    /** A fresh read-only little-endian view of the bytes, positioned at 0 (zero-copy for raw and external data). */
    public ByteBuffer bytes() {
        return bytes.get();
    }

    /**
     * The data as a {@link TensorData} sharing the bytes.
     *
     * @throws IllegalStateException when the element type has no {@link DType}
     */
    public TensorData data() {
        return new TensorData(dtype(), shape, bytes());
    }

    /** E.g. {@code onnx::MatMul_12 FLOAT16[8, 8] (EXTERNAL model.onnx_data@4096)}. */
    @Override
    public String toString() {
        return name + " " + OnnxTypes.name(onnxType) + Arrays.toString(shape) + " (" + storage
                + (location != null ? " " + location + "@" + offset : "") + ")";
    }
}
