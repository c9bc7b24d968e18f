package io.lorica.testkit.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** fp16 conversion and the seeded random streams. */
class HalfTest {

    @Test
    void knownValues() {
        assertEquals((short) 0x3C00, Half.fromFloat(1f));
        assertEquals((short) 0xC000, Half.fromFloat(-2f));
        assertEquals((short) 0x7BFF, Half.fromFloat(65504f));
        assertEquals((short) 0x7BFF, Half.fromFloat(65519f));
        assertEquals((short) 0x7C00, Half.fromFloat(65520f));
        assertEquals((short) 0xFC00, Half.fromFloat(Float.NEGATIVE_INFINITY));
        assertEquals((short) 0x0001, Half.fromFloat(0x1.0p-24f));
        assertEquals((short) 0x0000, Half.fromFloat(0x1.0p-26f));
        assertEquals((short) 0x0400, Half.fromFloat(0x1.0p-14f));
        assertEquals((short) 0x3C00, Half.fromFloat(1f + 0x1.0p-11f), "a tie rounds to even");
        assertEquals((short) 0x3C02, Half.fromFloat(1f + 3 * 0x1.0p-11f), "a tie rounds to even");
        assertTrue(Float.isNaN(Half.toFloat(Half.fromFloat(Float.NaN))));
    }

    @Test
    void everyHalfRoundTrips() {
        for (int bits = 0; bits < 0x10000; bits++) {
            float value = Half.toFloat((short) bits);
            if (!Float.isNaN(value)) {
                assertEquals((short) bits, Half.fromFloat(value), Integer.toHexString(bits));
            }
        }
    }

    @Test
    void streamsAreKeyedAndUniform() {
        SeededRandom a = SeededRandom.forKey(1, "unet.conv_in.weight");
        SeededRandom b = SeededRandom.forKey(1, "unet.conv_in.weight");
        SeededRandom c = SeededRandom.forKey(2, "unet.conv_in.weight");
        assertEquals(a.nextLong(), b.nextLong());
        assertNotEquals(SeededRandom.forKey(1, "unet.conv_in.weight").nextLong(), c.nextLong());
        double sum = 0;
        double squares = 0;
        int n = 100_000;
        for (int i = 0; i < n; i++) {
            float u = a.nextSymmetric();
            assertTrue(u >= -1f && u < 1f);
            sum += u;
            squares += u * u;
        }
        assertEquals(0, sum / n, 0.01);
        assertEquals(1.0 / 3, squares / n, 0.01);
        double g = 0;
        double g2 = 0;
        for (int i = 0; i < n; i++) {
            double v = a.nextGaussian();
            g += v;
            g2 += v * v;
        }
        assertEquals(0, g / n, 0.02);
        assertEquals(1, g2 / n, 0.02);
    }
}
