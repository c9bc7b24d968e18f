package io.lorica.api;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Objects;

/**
 * A dense tensor: element type, shape and a read-only little-endian view of its bytes (row-major, as in safetensors
 * and ONNX). The view is not a copy: a tensor read from a memory-mapped file shares that mapping, so the bytes stay
 * valid for as long as the tensor is reachable.
 *
 * @param dtype the element type
 * @param shape the dimensions, outermost first; empty for a scalar; copied on the way in and out
 * @param data  the bytes: exactly {@code elementCount() * dtype.byteSize()} remaining; the record keeps a read-only
 *              view of the remaining bytes, and {@link #data()} returns a fresh view positioned at 0
 */
public record TensorData(DType dtype, long[] shape, ByteBuffer data) {

    /**
     * @throws IllegalArgumentException when a field is null, a dimension is negative, or the number of remaining bytes
     *                                  does not match the shape and type
     */
    public TensorData {
        TensorInfo info = new TensorInfo(dtype, shape);
        shape = info.shape();
        if (data == null) {
            throw new IllegalArgumentException("data must not be null for tensor " + info);
        }
        long expected = info.byteSize();
        if (data.remaining() != expected) {
            throw new IllegalArgumentException("tensor " + info + " needs " + expected + " bytes but the buffer has "
                    + data.remaining());
        }
        data = data.slice().asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    /**
     * A tensor holding a copy of {@code bytes}.
     *
     * @throws IllegalArgumentException as the canonical constructor
     */
    public static TensorData of(DType dtype, long[] shape, byte[] bytes) {
        if (bytes == null) {
            throw new IllegalArgumentException("bytes must not be null");
        }
        return new TensorData(dtype, shape, ByteBuffer.wrap(bytes.clone()));
    }

    /**
     * An F32 tensor holding {@code values} (row-major).
     *
     * @throws IllegalArgumentException when the number of values does not match the shape
     */
    public static TensorData ofFloats(long[] shape, float... values) {
        if (values == null) {
            throw new IllegalArgumentException("values must not be null");
        }
        ByteBuffer buffer = ByteBuffer.allocate(Math.multiplyExact(values.length, Float.BYTES))
                .order(ByteOrder.LITTLE_ENDIAN);
        buffer.asFloatBuffer().put(values);
        return new TensorData(DType.F32, shape, buffer);
    }

    /** A copy of the shape. */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** A new read-only little-endian view of the bytes, positioned at 0; moving it does not affect this tensor. */
    @Override
    public ByteBuffer data() {
        return data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** The type and shape of this tensor. */
    public TensorInfo info() {
        return new TensorInfo(dtype, shape);
    }

    /** The product of the dimensions (1 for a scalar). */
    public long elementCount() {
        return TensorInfo.elementCount(shape);
    }

    /** The number of dimensions (0 for a scalar). */
    public int dimensions() {
        return shape.length;
    }

    /**
     * The size of dimension {@code index}.
     *
     * @throws IllegalArgumentException when the index is outside {@code [0, dimensions())}
     */
    public long dim(int index) {
        return info().dim(index);
    }

    /** Whether this tensor has exactly the given shape. */
    public boolean hasShape(long... expected) {
        return Arrays.equals(shape, expected);
    }

    /**
     * The same bytes seen with another shape of the same element count (e.g. a 2-D LoRA matrix for a 1x1 convolution
     * as {@code [out, r, 1, 1]}).
     *
     * @throws IllegalArgumentException when the element counts differ
     */
    public TensorData reshape(long... newShape) {
        if (newShape == null) {
            throw new IllegalArgumentException("cannot reshape " + info() + " to a null shape");
        }
        long count = TensorInfo.elementCount(newShape);
        if (count != elementCount()) {
            throw new IllegalArgumentException("cannot reshape " + info() + " to " + Arrays.toString(newShape)
                    + ": " + elementCount() + " elements, expected the same count but got " + count);
        }
        return new TensorData(dtype, newShape, data());
    }

    /**
     * The elements converted to {@code float}, row-major. Floating-point types are converted exactly or rounded to
     * nearest (F64); integers are converted as by a Java widening/narrowing cast; BOOL gives 0 or 1.
     *
     * @throws IllegalStateException when the tensor has more than {@link Integer#MAX_VALUE} elements
     */
    public float[] toFloatArray() {
        long count = elementCount();
        if (count > Integer.MAX_VALUE) {
            throw new IllegalStateException("tensor " + info() + " has " + count
                    + " elements, too many for a float array");
        }
        float[] out = new float[(int) count];
        ByteBuffer in = data();
        for (int i = 0; i < out.length; i++) {
            out[i] = switch (dtype) {
                case F32 -> in.getFloat();
                case F16 -> halfToFloat(in.getShort());
                case BF16 -> Float.intBitsToFloat((in.getShort() & 0xffff) << 16);
                case F64 -> (float) in.getDouble();
                case I64 -> in.getLong();
                case I32 -> in.getInt();
                case I16 -> in.getShort();
                case I8 -> in.get();
                case U8 -> in.get() & 0xff;
                case BOOL -> in.get() != 0 ? 1f : 0f;
            };
        }
        return out;
    }

    /** Converts IEEE 754 binary16 bits to a float (exact; Java 17 has no {@code Float.float16ToFloat}). */
    public static float halfToFloat(short half) {
        int bits = half & 0xffff;
        int sign = (bits & 0x8000) << 16;
        int exponent = (bits >>> 10) & 0x1f;
        int mantissa = bits & 0x3ff;
        if (exponent == 0) {
            float magnitude = mantissa * 0x1p-24f;
            return sign != 0 ? -magnitude : magnitude;
        }
        if (exponent == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mantissa << 13));
        }
        return Float.intBitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
    }

    /** Equal when type, shape and bytes are equal. */
    @Override
    public boolean equals(Object other) {
        return other instanceof TensorData that && dtype == that.dtype && Arrays.equals(shape, that.shape)
                && data.equals(that.data);
    }

    @Override
    public int hashCode() {
        return Objects.hash(dtype, Arrays.hashCode(shape), data);
    }

    /** E.g. {@code TensorData[F16[4, 320]]}; never the bytes. */
    @Override
    public String toString() {
        return "TensorData[" + info() + "]";
    }
}
