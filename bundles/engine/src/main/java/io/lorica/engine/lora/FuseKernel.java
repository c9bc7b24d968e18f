package io.lorica.engine.lora;

import io.lorica.api.DType;

import java.nio.ByteBuffer;

/**
 * Computes the dense part of a fused weight: {@code W + L·R} for a weight {@code W [rows, cols]} in its stored type and
 * layout, with the LoRA factors of every adapter acting on the layer concatenated along the rank and their scales
 * folded into {@code L}. Implemented in plain Java ({@link #JAVA}) and on ONNX Runtime ({@link OrtFuseKernel}), which
 * runs the products as GEMMs on the engine's execution provider.
 */
public interface FuseKernel {

    /**
     * The result of one layer.
     *
     * @param data   {@code W + L·R} rounded once to the stored type, in a new little-endian direct buffer
     * @param finite whether every element is finite after that rounding (only computed when asked for; true otherwise)
     */
    record Sum(ByteBuffer data, boolean finite) {
    }

    /**
     * @param weight the stored weight bytes (little-endian, {@code rows·cols} elements of {@code dtype}); not modified
     * @param dtype  the stored type (a floating type)
     * @param left   {@code L [rows, rank]}, row-major float32, scales folded in
     * @param right  {@code R [rank, cols]}, row-major float32
     * @param check  whether to compute {@link Sum#finite()}
     * @param target where to write the result ({@code rows·cols} elements of {@code dtype}, little-endian direct), or
     *               null for a new buffer
     * @throws IllegalArgumentException when the type is not supported or the sizes do not match
     */
    Sum addProduct(ByteBuffer weight, DType dtype, int rows, int cols, float[] left, float[] right, int rank,
            boolean check, ByteBuffer target);

    /** The plain-Java kernel: float32 accumulation, tiled and row-parallel; the reference for the others. */
    FuseKernel JAVA = (weight, dtype, rows, cols, left, right, rank, check, target) -> {
        float[] w = WeightFuser.decode(weight, dtype, (long) rows * cols);
        WeightFuser.addScaledProduct(w, 1f, left, right, rows, rank, cols);
        ByteBuffer data = target != null ? target : Floats.allocateDirect((long) w.length * dtype.byteSize(), "a weight");
        Floats.encode(w, 0, w.length, 1f, dtype, data, 0);
        return new Sum(data, !check || WeightFuser.finiteAfterRounding(w, dtype));
    };
}
