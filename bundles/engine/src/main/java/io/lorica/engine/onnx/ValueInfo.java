package io.lorica.engine.onnx;

import io.lorica.api.DType;

import java.util.List;
import java.util.Optional;

/**
 * A graph input or output: name, element type and shape, whose dimensions may be symbolic ({@code batch}).
 *
 * @param name     the value name
 * @param onnxType the ONNX element type number ({@link OnnxTypes}), 0 when the value is not a tensor or untyped
 * @param shape    the dimensions; empty also when the shape is unknown (see {@code hasShape})
 * @param hasShape whether the graph declares a shape at all
 */
public record ValueInfo(String name, int onnxType, List<Dim> shape, boolean hasShape) {

    /** Copies the shape. */
    public ValueInfo {
        shape = List.copyOf(shape);
    }

    /** The element type as a {@link DType}, empty when unsupported or untyped. */
    public Optional<DType> dtype() {
        return OnnxTypes.dtype(onnxType);
    }

    /**
     * One dimension: a fixed size, a symbolic name, or unknown.
     *
     * @param value  the size, or -1 when not fixed
     * @param symbol the symbolic name ({@code dim_param}), empty when none
     */
    public record Dim(long value, String symbol) {

        /** Whether the size is fixed. */
        public boolean isFixed() {
            return value >= 0;
        }

        @Override
        public String toString() {
            return isFixed() ? Long.toString(value) : symbol.isEmpty() ? "?" : symbol;
        }
    }
}
