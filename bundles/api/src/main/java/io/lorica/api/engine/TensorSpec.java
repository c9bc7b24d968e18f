package io.lorica.api.engine;

import io.lorica.api.DType;

import java.util.Arrays;
import java.util.Optional;

/**
 * What a model declares about one of its inputs or outputs: element type and shape, where a dimension the graph leaves
 * open (symbolic such as {@code batch}, or unknown) is {@value #DYNAMIC}.
 *
 * @param dtype the element type, empty when the graph declares a type Lorica does not handle (or none)
 * @param shape the dimensions, outermost first, {@value #DYNAMIC} for an open one; empty for a scalar or when the
 *              graph declares no shape (see {@code shapeKnown}); copied on the way in and out
 * @param shapeKnown whether the graph declares a shape at all
 */
public record TensorSpec(Optional<DType> dtype, long[] shape, boolean shapeKnown) {

    /** The value of a dimension the graph leaves open. */
    public static final long DYNAMIC = -1;

    /** @throws IllegalArgumentException when a field is null or a dimension is below {@value #DYNAMIC} */
    public TensorSpec {
        if (dtype == null || shape == null) {
            throw new IllegalArgumentException("dtype and shape must not be null");
        }
        shape = shape.clone();
        for (long dim : shape) {
            if (dim < DYNAMIC) {
                throw new IllegalArgumentException("dimension " + dim + " of " + Arrays.toString(shape)
                        + " is invalid, expected a size >= 0 or " + DYNAMIC + " for an open dimension");
            }
        }
    }

    /** A copy of the shape. */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** The number of dimensions; 0 for a scalar (or an undeclared shape). */
    public int rank() {
        return shape.length;
    }

    /** Size of dimension {@code index}, {@value #DYNAMIC} when open. */
    public long dim(int index) {
        if (index < 0 || index >= shape.length) {
            throw new IllegalArgumentException("dimension index " + index + " is out of range for shape "
                    + Arrays.toString(shape));
        }
        return shape[index];
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof TensorSpec that && dtype.equals(that.dtype) && shapeKnown == that.shapeKnown
                && Arrays.equals(shape, that.shape);
    }

    @Override
    public int hashCode() {
        return (dtype.hashCode() * 31 + Arrays.hashCode(shape)) * 31 + Boolean.hashCode(shapeKnown);
    }

    /** E.g. {@code FLOAT32[-1, 4, 64, 64]}. */
    @Override
    public String toString() {
        return dtype.map(Enum::name).orElse("?") + (shapeKnown ? Arrays.toString(shape) : "[?]");
    }
}
