package io.lorica.loader.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.DType;
import io.lorica.api.TensorData;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

class DTypesTest {

    @Test
    void halfToFloat_agreesWithTensorDataForAllHalves() {
        ByteBuffer all = ByteBuffer.allocate(2 * 65536).order(ByteOrder.LITTLE_ENDIAN);
        for (int bits = 0; bits < 65536; bits++) {
            all.putShort((short) bits);
        }
        float[] viaApi = new TensorData(DType.F16, new long[] {65536}, all.flip()).toFloatArray();
        for (int bits = 0; bits < 65536; bits++) {
            assertEquals(Float.floatToRawIntBits(viaApi[bits]),
                    Float.floatToRawIntBits(DTypes.halfToFloat((short) bits)), Integer.toHexString(bits));
        }
    }

    @Test
    void floatToHalf_roundTripsEveryHalf() {
        for (int bits = 0; bits < 65536; bits++) {
            float value = DTypes.halfToFloat((short) bits);
            short back = DTypes.floatToHalf(value);
            if (Float.isNaN(value)) {
                assertTrue(Float.isNaN(DTypes.halfToFloat(back)), Integer.toHexString(bits));
                assertEquals(bits & 0x8000, back & 0x8000, "sign of NaN " + Integer.toHexString(bits));
            } else {
                assertEquals(bits, back & 0xffff, Integer.toHexString(bits));
            }
        }
    }

    @Test
    void floatToHalf_roundsToNearestEven() {
        assertEquals(0x3c00, DTypes.floatToHalf(1f));
        assertEquals(0x7bff, DTypes.floatToHalf(65504f));
        assertEquals(0x7bff, DTypes.floatToHalf(65519.99f));
        assertEquals(0x7c00, DTypes.floatToHalf(65520f));
        assertEquals((short) 0xfc00, DTypes.floatToHalf(Float.NEGATIVE_INFINITY));
        assertEquals(0x0001, DTypes.floatToHalf(0x1p-24f));
        assertEquals(0x0000, DTypes.floatToHalf(0x1p-25f), "tie between 0 and the smallest subnormal: even (0)");
        assertEquals(0x0001, DTypes.floatToHalf(Math.nextUp(0x1p-25f)));
        assertEquals(0x0002, DTypes.floatToHalf(0x1.8p-24f), "tie between 1 and 2 subnormal units: even (2)");
        assertEquals((short) 0x8000, DTypes.floatToHalf(-0f));
        assertEquals(0x3c00, DTypes.floatToHalf(1f + 0x1p-11f), "tie between 1 and 1+2^-10: even (1)");
        assertEquals(0x3c02, DTypes.floatToHalf(1f + 3 * 0x1p-11f), "tie between odd and even: even");
        assertEquals(0x0400, DTypes.floatToHalf(0x1.ffcp-15f), "largest subnormal + half a unit: carries up");

        SplittableRandom random = new SplittableRandom(7);
        for (int i = 0; i < 200_000; i++) {
            float value = Float.intBitsToFloat(random.nextInt());
            if (Float.isNaN(value) || Math.abs(value) >= 65520f) {
                continue;
            }
            assertEquals(referenceHalf(value), DTypes.floatToHalf(value), Float.toHexString(value));
        }
    }

    /** The nearest half by search: the largest half not above |value|, or the next one when closer (ties even). */
    private static short referenceHalf(float value) {
        double magnitude = Math.abs((double) value);
        int low = 0;
        int high = 0x7bff;
        while (low < high) {
            int middle = (low + high + 1) >>> 1;
            if (DTypes.halfToFloat((short) middle) <= magnitude) {
                low = middle;
            } else {
                high = middle - 1;
            }
        }
        int result = low;
        if (low < 0x7bff) {
            double below = magnitude - DTypes.halfToFloat((short) low);
            double above = DTypes.halfToFloat((short) (low + 1)) - magnitude;
            if (above < below || above == below && (low & 1) == 1) {
                result = low + 1;
            }
        }
        return (short) (result | (Float.floatToRawIntBits(value) < 0 ? 0x8000 : 0));
    }

    @Test
    void floatToBfloat16_roundsToNearestEven() {
        assertEquals(0x3f80, DTypes.floatToBfloat16(1f));
        assertEquals(0x3f80, DTypes.floatToBfloat16(Float.intBitsToFloat(0x3f80_8000)), "tie: even");
        assertEquals(0x3f82, DTypes.floatToBfloat16(Float.intBitsToFloat(0x3f81_8000)), "tie: even");
        assertEquals(0x3f81, DTypes.floatToBfloat16(Float.intBitsToFloat(0x3f80_8001)));
        assertEquals(0x7f80, DTypes.floatToBfloat16(Float.MAX_VALUE), "rounds up to infinity as PyTorch does");
        assertTrue(Float.isNaN(DTypes.bfloat16ToFloat(DTypes.floatToBfloat16(Float.NaN))));
        assertEquals((short) 0xffc0, DTypes.floatToBfloat16(Float.intBitsToFloat(0xffc0_0001)));

        SplittableRandom random = new SplittableRandom(11);
        for (int i = 0; i < 200_000; i++) {
            float value = Float.intBitsToFloat(random.nextInt());
            if (Float.isNaN(value) || Float.isInfinite(value)) {
                continue;
            }
            short result = DTypes.floatToBfloat16(value);
            int truncated = Float.floatToRawIntBits(value) >>> 16;
            double down = Math.abs((double) DTypes.bfloat16ToFloat((short) truncated));
            // above the largest finite bfloat16 the next step is 2^128, which rounding to nearest maps to infinity
            double up = ((truncated + 1) & 0x7fff) == 0x7f80 ? 0x1p128
                    : Math.abs((double) DTypes.bfloat16ToFloat((short) (truncated + 1)));
            double magnitude = Math.abs((double) value);
            int expected = (magnitude - down < up - magnitude || magnitude - down == up - magnitude
                    && (truncated & 1) == 0) ? truncated : truncated + 1;
            assertEquals((short) expected, result, Float.toHexString(value));
        }
    }

    @Test
    void bfloat16ToFloat_agreesWithTensorData() {
        float[] values = {0f, -1.5f, 3.140625f, 1e30f, -1e-30f};
        ByteBuffer encoded = DTypes.bf16(values);
        float[] decoded = new TensorData(DType.BF16, new long[] {values.length}, encoded).toFloatArray();
        for (int i = 0; i < values.length; i++) {
            assertEquals(DTypes.bfloat16ToFloat(encoded.getShort(2 * i)), decoded[i]);
        }
        assertEquals(-1.5f, decoded[1]);
        assertEquals(3.140625f, decoded[2]);
    }

    @Test
    void encode_coversEveryDTypeLittleEndian() {
        float[] values = {1f, -2f, 3.5f};
        for (DType dtype : DType.values()) {
            ByteBuffer encoded = DTypes.encode(dtype, values);
            assertEquals(values.length * dtype.byteSize(), encoded.remaining(), dtype.name());
            assertEquals(0, encoded.position());
            float[] back = DTypes.tensor(dtype, new long[] {3}, values).toFloatArray();
            float[] expected = switch (dtype) {
                case F32, F16, BF16, F64 -> values;
                case I64, I32, I16, I8 -> new float[] {1f, -2f, 3f};
                case U8 -> new float[] {1f, 254f, 3f};
                case BOOL -> new float[] {1f, 1f, 1f};
            };
            assertArrayEquals(expected, back, dtype.name());
        }
        assertArrayEquals(new byte[] {0, 0, (byte) 0x80, 0x3f}, DTypes.f32(1f).array());
        assertArrayEquals(new byte[] {0, 0x3c}, DTypes.f16(1f).array());
        assertArrayEquals(new byte[] {(byte) 0x80, 0x3f}, DTypes.bf16(1f).array());
        assertThrows(IllegalArgumentException.class, () -> DTypes.tensor(DType.F32, new long[] {2}, 1f));
    }
}
