package io.lorica.api;

import java.util.Arrays;
import java.util.Objects;

/**
 * The element type and shape of a tensor, without its data: what a safetensors header entry says about a key.
 *
 * @param dtype the element type
 * @param shape the dimensions, outermost first; empty for a scalar (e.g. a kohya {@code .alpha}); copied on the way
 *              in and out
 */
public record TensorInfo(DType dtype, long[] shape) {

    /**
     * @throws IllegalArgumentException when a field is null, a dimension is negative or the element count overflows
     */
    public TensorInfo {
        if (dtype == null) {
            throw new IllegalArgumentException("dtype must not be null");
        }
        if (shape == null) {
            throw new IllegalArgumentException("shape must not be null (use an empty array for a scalar)");
        }
        shape = shape.clone();
        elementCount(shape);
    }

    /** A copy of the shape. */
    @Override
    public long[] shape() {
        return shape.clone();
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
        if (index < 0 || index >= shape.length) {
            throw new IllegalArgumentException("dimension index " + index + " is out of range for shape "
                    + Arrays.toString(shape) + ", expected 0.." + (shape.length - 1));
        }
        return shape[index];
    }

    /** The product of the dimensions (1 for a scalar, 0 when a dimension is 0). */
    public long elementCount() {
        return elementCount(shape);
    }

    /** The number of bytes the data occupies: {@code elementCount() * dtype.byteSize()}. */
    public long byteSize() {
        return Math.multiplyExact(elementCount(), (long) dtype.byteSize());
    }

    /** Whether this tensor has exactly the given shape. */
    public boolean hasShape(long... expected) {
        return Arrays.equals(shape, expected);
    }

    static long elementCount(long[] shape) {
        long count = 1;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] < 0) {
                throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " has negative dimension "
                        + shape[i] + " at index " + i + ", expected sizes >= 0");
            }
            try {
                count = Math.multiplyExact(count, shape[i]);
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " has more than "
                        + Long.MAX_VALUE + " elements", e);
            }
        }
        return count;
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof TensorInfo that && dtype == that.dtype && Arrays.equals(shape, that.shape);
    }

    @Override
    public int hashCode() {
        return Objects.hash(dtype, Arrays.hashCode(shape));
    }

    /** E.g. {@code F16[4, 320]}. */
    @Override
    public String toString() {
        return dtype.safetensorsName() + Arrays.toString(shape);
    }
}
