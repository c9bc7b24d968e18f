package io.lorica.engine.lora;

import io.lorica.api.DType;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Element conversions between float32 and the stored floating-point types of ONNX graphs (F32, F16, BF16, F64), in bulk
 * from and to little-endian byte buffers. Rounding is to nearest, ties to even, as ONNX Runtime's Cast does; overflow
 * gives infinity.
 */
public final class Floats {

    /** Per-thread scratch for scaled copies (no garbage per call). */
    private static final ThreadLocal<float[]> CHUNK = ThreadLocal.withInitial(() -> new float[4096]);

    private Floats() {
    }

    /** Whether values of {@code dtype} can be encoded and decoded here. */
    public static boolean isFloating(DType dtype) {
        return dtype == DType.F32 || dtype == DType.F16 || dtype == DType.BF16 || dtype == DType.F64;
    }

    /**
     * Writes {@code scale · values[from .. from + count)} into {@code target} at its absolute byte position
     * {@code at}, as {@code dtype}.
     *
     * @throws IllegalArgumentException when {@code dtype} is not floating
     */
    public static void encode(float[] values, int from, int count, float scale, DType dtype, ByteBuffer target,
            int at) {
        ByteBuffer out = target.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        switch (dtype) {
            case F32: {
                out.position(at);
                java.nio.FloatBuffer floats = out.asFloatBuffer();
                if (scale == 1f) {
                    floats.put(values, from, count);
                } else {
                    // scale a chunk on the heap (vectorised), then copy it in bulk
                    float[] chunk = CHUNK.get();
                    for (int done = 0; done < count; done += chunk.length) {
                        int n = Math.min(chunk.length, count - done);
                        for (int i = 0; i < n; i++) {
                            chunk[i] = scale * values[from + done + i];
                        }
                        floats.put(chunk, 0, n);
                    }
                }
                break;
            }
            case F16:
                for (int i = 0; i < count; i++) {
                    out.putShort(at + 2 * i, floatToHalf(scale * values[from + i]));
                }
                break;
            case BF16:
                for (int i = 0; i < count; i++) {
                    out.putShort(at + 2 * i, floatToBfloat16(scale * values[from + i]));
                }
                break;
            case F64:
                for (int i = 0; i < count; i++) {
                    out.putDouble(at + 8 * i, (double) (scale * values[from + i]));
                }
                break;
            default:
                throw new IllegalArgumentException("type " + dtype + " cannot hold LoRA factors or weights");
        }
    }

    /** A new little-endian direct buffer holding {@code values} as {@code dtype}. */
    public static ByteBuffer encodeDirect(float[] values, DType dtype) {
        ByteBuffer buffer = allocateDirect((long) values.length * dtype.byteSize(), "tensor");
        encode(values, 0, values.length, 1f, dtype, buffer, 0);
        return buffer;
    }

    /**
     * A little-endian direct buffer of {@code bytes} bytes.
     *
     * @throws IllegalStateException naming {@code what} and the size when the JVM's direct memory is exhausted
     */
    public static ByteBuffer allocateDirect(long bytes, String what) {
        if (bytes > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException(what + " needs " + bytes + " bytes, more than one buffer can hold (2 GB)");
        }
        try {
            return ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.LITTLE_ENDIAN);
        } catch (OutOfMemoryError e) {
            throw new IllegalStateException("cannot allocate " + bytes + " bytes of direct memory for " + what
                    + ": raise the JVM's -XX:MaxDirectMemorySize (" + e.getMessage() + ")", e);
        }
    }

    /** IEEE 754 binary16 bits of {@code f}, rounded to nearest even; overflow gives infinity. */
    public static short floatToHalf(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int value = bits & 0x7fffffff;
        if (value >= 0x7f800000) {
            return (short) (sign | 0x7c00 | (value > 0x7f800000 ? 0x200 : 0));
        }
        if (value >= 0x477ff000) {
            return (short) (sign | 0x7c00);
        }
        if (value < 0x38800000) {
            int m = (int) Math.rint(Float.intBitsToFloat(value) * 0x1p24f);
            return (short) (sign | m);
        }
        int exponent = (value >>> 23) - 127 + 15;
        int mantissa = value & 0x7fffff;
        int half = (exponent << 10) | (mantissa >>> 13);
        int rest = mantissa & 0x1fff;
        if (rest > 0x1000 || (rest == 0x1000 && (half & 1) == 1)) {
            half++;
        }
        return (short) (sign | half);
    }

    /** bfloat16 bits of {@code f}, rounded to nearest even. */
    public static short floatToBfloat16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((bits >>> 16) | 0x40);
        }
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }

    /** The transpose of the row-major matrix {@code m [rows, cols]}. */
    public static float[] transpose(float[] m, int rows, int cols) {
        float[] t = new float[m.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                t[c * rows + r] = m[r * cols + c];
            }
        }
        return t;
    }
}
