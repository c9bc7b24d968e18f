package io.lorica.pipelines.sd;

import io.lorica.api.DType;
import io.lorica.api.TensorData;

import ai.onnxruntime.platform.Fp16Conversions;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * Conversions between Java arrays and {@link TensorData} in the element type a model declares. Tensors are built in
 * direct memory, which ONNX Runtime reads in place: a denoising step's inputs are not copied again on their way in.
 */
public final class Tensors {

    private Tensors() {
    }

    private static ByteBuffer direct(int bytes) {
        return ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Floating-point values as an F32 or F16 tensor. */
    public static TensorData floats(DType dtype, long[] shape, float[] values) {
        ByteBuffer buffer;
        switch (dtype) {
            case F32 -> {
                buffer = direct(values.length * 4);
                buffer.asFloatBuffer().put(values);
            }
            case F16 -> {
                buffer = direct(values.length * 2);
                for (float v : values) {
                    buffer.putShort(Fp16Conversions.floatToFp16(v));
                }
                buffer.flip();
            }
            default -> throw new IllegalArgumentException("cannot feed floating-point values as " + dtype
                    + ", expected F32 or F16");
        }
        return new TensorData(dtype, shape, buffer);
    }

    /** Integer values as an I32 or I64 tensor. */
    public static TensorData ints(DType dtype, long[] shape, long[] values) {
        ByteBuffer buffer;
        switch (dtype) {
            case I64 -> {
                buffer = direct(values.length * 8);
                buffer.asLongBuffer().put(values);
            }
            case I32 -> {
                buffer = direct(values.length * 4);
                for (long v : values) {
                    buffer.putInt(Math.toIntExact(v));
                }
                buffer.flip();
            }
            default -> throw new IllegalArgumentException("cannot feed integer values as " + dtype
                    + ", expected I32 or I64");
        }
        return new TensorData(dtype, shape, buffer);
    }

    /** A number in any of the types a timestep may have (I64, I32, F32, F16). */
    public static TensorData number(DType dtype, long[] shape, double value) {
        int count = Math.toIntExact(Arrays.stream(shape).reduce(1, Math::multiplyExact));
        return switch (dtype) {
            case I64, I32 -> {
                long[] v = new long[count];
                Arrays.fill(v, (long) value);
                yield ints(dtype, shape, v);
            }
            case F32, F16 -> {
                float[] v = new float[count];
                Arrays.fill(v, (float) value);
                yield floats(dtype, shape, v);
            }
            default -> throw new IllegalArgumentException("cannot feed a number as " + dtype
                    + ", expected I64, I32, F32 or F16");
        };
    }

    /** The values of an F32 or F16 tensor as floats. */
    public static float[] toFloats(String name, TensorData tensor) {
        ByteBuffer data = tensor.data();
        int count = Math.toIntExact(tensor.elementCount());
        float[] out = new float[count];
        switch (tensor.dtype()) {
            case F32 -> data.asFloatBuffer().get(out);
            case F16 -> {
                for (int i = 0; i < count; i++) {
                    out[i] = Fp16Conversions.fp16ToFloat(data.getShort());
                }
            }
            default -> throw new IllegalStateException("output '" + name + "' has type " + tensor.dtype()
                    + ", expected F32 or F16");
        }
        return out;
    }
}
