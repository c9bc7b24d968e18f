package io.lorica.loader.safetensors;

import io.lorica.api.DType;
import io.lorica.api.TensorData;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Conversions between Java {@code float}s and the little-endian encodings of the safetensors element types, for tests
 * and export tools. Reading goes the other way through {@link TensorData#toFloatArray()}.
 *
 * <p>Narrowing conversions round to nearest, ties to even, as PyTorch's {@code tensor.to(torch.float16)} and
 * {@code tensor.to(torch.bfloat16)} do; values too large for F16 become infinities, NaN stays NaN.
 */
public final class DTypes {

    private DTypes() {
    }

    /**
     * The IEEE 754 binary16 bits nearest to {@code value} (ties to even; overflow gives an infinity; NaN gives a NaN
     * with the sign and the top payload bits kept).
     */
    public static short floatToHalf(float value) {
        int bits = Float.floatToRawIntBits(value);
        int sign = (bits >>> 16) & 0x8000;
        if (Float.isNaN(value)) {
            // keep the sign and as much payload as fits, always with a non-zero (quiet) mantissa
            return (short) (sign | 0x7e00 | ((bits >>> 13) & 0x3ff));
        }
        float magnitude = Math.abs(value);
        if (magnitude >= 65520f) { // halfway between the largest half (65504) and 2^16 rounds to infinity
            return (short) (sign | 0x7c00);
        }
        if (magnitude <= 0x1p-25f) { // at most half of the smallest subnormal: rounds (ties to even) to zero
            return (short) sign;
        }
        int exponent = Math.getExponent(value);
        int shift = 13;
        int significand = bits & 0x007f_ffff;
        int biased;
        if (exponent < -14) {
            // subnormal half: value = significand * 2^-24; make the implicit bit explicit and shift further
            shift += -14 - exponent;
            significand |= 0x0080_0000;
            biased = 0;
        } else {
            biased = exponent + 15;
        }
        int half = significand >>> shift;
        int lowest = half & 1;
        int round = (significand >>> (shift - 1)) & 1;
        int sticky = significand & ((1 << (shift - 1)) - 1);
        if (round != 0 && (lowest != 0 || sticky != 0)) {
            half++; // may carry into the exponent, which is the correct result (including to infinity)
        }
        return (short) (sign | ((biased << 10) + half));
    }

    /** The float value of IEEE 754 binary16 bits (exact); the same conversion {@link TensorData} reads with. */
    public static float halfToFloat(short half) {
        return TensorData.halfToFloat(half);
    }

    /** The bfloat16 bits nearest to {@code value} (ties to even); NaN gives a quiet NaN with the same sign. */
    public static short floatToBfloat16(float value) {
        int bits = Float.floatToRawIntBits(value);
        if (Float.isNaN(value)) {
            return (short) (((bits >>> 16) & 0x8000) | 0x7fc0);
        }
        int rounded = bits + 0x7fff + ((bits >>> 16) & 1);
        return (short) (rounded >>> 16);
    }

    /** The float value of bfloat16 bits (exact). */
    public static float bfloat16ToFloat(short bfloat16) {
        return Float.intBitsToFloat((bfloat16 & 0xffff) << 16);
    }

    /** {@code values} as F32, little-endian, in a new heap buffer positioned at 0. */
    public static ByteBuffer f32(float... values) {
        return encode(DType.F32, values);
    }

    /** {@code values} rounded to F16, little-endian, in a new heap buffer positioned at 0. */
    public static ByteBuffer f16(float... values) {
        return encode(DType.F16, values);
    }

    /** {@code values} rounded to BF16, little-endian, in a new heap buffer positioned at 0. */
    public static ByteBuffer bf16(float... values) {
        return encode(DType.BF16, values);
    }

    /**
     * {@code values} converted to {@code dtype}, little-endian, in a new heap buffer positioned at 0. Floating-point
     * types round to nearest; integer types convert as a Java cast from {@code float} does (BOOL: non-zero is 1).
     *
     * @throws IllegalArgumentException when an argument is null or the byte size would exceed a Java array
     */
    public static ByteBuffer encode(DType dtype, float... values) {
        if (dtype == null || values == null) {
            throw new IllegalArgumentException("dtype and values must not be null");
        }
        long size = (long) values.length * dtype.byteSize();
        if (size > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(values.length + " values of " + dtype.safetensorsName() + " need "
                    + size + " bytes, more than a Java array holds");
        }
        ByteBuffer out = ByteBuffer.allocate((int) size).order(ByteOrder.LITTLE_ENDIAN);
        for (float value : values) {
            switch (dtype) {
                case F32 -> out.putFloat(value);
                case F16 -> out.putShort(floatToHalf(value));
                case BF16 -> out.putShort(floatToBfloat16(value));
                case F64 -> out.putDouble(value);
                case I64 -> out.putLong((long) value);
                case I32 -> out.putInt((int) value);
                case I16 -> out.putShort((short) (int) value);
                case I8, U8 -> out.put((byte) (int) value);
                case BOOL -> out.put(value != 0f ? (byte) 1 : (byte) 0);
            }
        }
        return out.flip();
    }

    /**
     * A tensor of {@code dtype} and {@code shape} holding {@code values} (row-major) converted as by
     * {@link #encode(DType, float...)}.
     *
     * @throws IllegalArgumentException when the number of values does not match the shape
     */
    public static TensorData tensor(DType dtype, long[] shape, float... values) {
        return new TensorData(dtype, shape, encode(dtype, values));
    }
}
