package io.lorica.pipelines.image;

import java.util.Arrays;
import java.util.Objects;

/**
 * A float32 array in C (row-major) order with its shape, as {@link Npy} reads and writes it.
 *
 * <p>Both arrays are copied on the way in and on the way out, so an instance cannot be changed.
 *
 * @param shape the dimensions, each at least 0; empty for a scalar (one element)
 * @param data the elements in C order; as many as the product of the dimensions
 */
public record NpyArray(long[] shape, float[] data) {

    /**
     * Validates and copies.
     *
     * @param shape the dimensions, each at least 0; empty for a scalar
     * @param data the elements in C order
     * @throws IllegalArgumentException when a dimension is negative or the element count does not match the shape
     */
    public NpyArray {
        Objects.requireNonNull(shape, "shape");
        Objects.requireNonNull(data, "data");
        shape = shape.clone();
        data = data.clone();
        long count = elementCount(shape);
        if (count != data.length) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " holds " + count
                    + " elements but data has " + data.length + ": expected as many elements as the shape's product");
        }
    }

    /**
     * The number of elements of a shape.
     *
     * @param shape dimensions
     * @return their product (1 for a scalar)
     * @throws IllegalArgumentException when a dimension is negative or the product exceeds {@link Integer#MAX_VALUE}
     */
    public static long elementCount(long[] shape) {
        long count = 1;
        for (long dim : shape) {
            if (dim < 0) {
                throw new IllegalArgumentException("shape " + Arrays.toString(shape)
                        + " has a negative dimension: expected dimensions of at least 0");
            }
            count *= dim;
            if (count > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("shape " + Arrays.toString(shape)
                        + " holds more than " + Integer.MAX_VALUE + " elements: expected at most that many");
            }
        }
        return count;
    }

    /** @return a copy of the dimensions */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** @return a copy of the elements in C order */
    @Override
    public float[] data() {
        return data.clone();
    }

    /** @return the number of elements */
    public int size() {
        return data.length;
    }

    /** Equal when shapes and elements are equal ({@link Float#compare} semantics for the elements). */
    @Override
    public boolean equals(Object o) {
        return o instanceof NpyArray other && Arrays.equals(shape, other.shape) && Arrays.equals(data, other.data);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(shape) + Arrays.hashCode(data);
    }

    /** @return the shape and the element count, not the elements */
    @Override
    public String toString() {
        return "NpyArray[shape=" + Arrays.toString(shape) + ", float32 x " + data.length + "]";
    }
}
