package io.lorica.policy.settings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

class NumbersTest {

    @Test
    void parse_acceptsDecimalForms() {
        assertEquals(1.0, Numbers.parse("1"));
        assertEquals(-0.5, Numbers.parse("-0.5"));
        assertEquals(0.5, Numbers.parse("+.5"));
        assertEquals(1.0, Numbers.parse("1."));
        assertEquals(0.002, Numbers.parse("2e-3"));
        assertEquals(1.0E-5, Numbers.parse("1.0E-5"));
        assertEquals(-0.0, Numbers.parse("-0.0"));
        assertEquals(Double.doubleToRawLongBits(-0.0), Double.doubleToRawLongBits(Numbers.parse("-0.0")));
    }

    @Test
    void parse_rejectsEverythingElse() {
        for (String text : List.of("", "-", ".", "e5", "1e", "1e+", "NaN", "Infinity", "-Infinity", "0x10", "1d",
                "1f", "1,5", "1 ", " 1", "--1", "1.2.3", "½", "１", "1".repeat(65))) {
            assertTrue(Double.isNaN(Numbers.parse(text)), text);
        }
    }

    @Test
    void parse_outOfRange_isInfinite() {
        assertEquals(Double.POSITIVE_INFINITY, Numbers.parse("1e400"));
        assertEquals(Double.NEGATIVE_INFINITY, Numbers.parse("-1e400"));
    }

    @Test
    void format_isCanonicalAndExact() {
        assertEquals("1", Numbers.format(1.0));
        assertEquals("-3", Numbers.format(-3.0));
        assertEquals("0", Numbers.format(0.0));
        assertEquals("-0.0", Numbers.format(-0.0));
        assertEquals("0.5", Numbers.format(0.5));
        assertEquals("1.0E-5", Numbers.format(1e-5));
        assertEquals("1.0E15", Numbers.format(1e15));
        assertEquals("999999999999999", Numbers.format(999999999999999.0));
        for (double v : new double[] {0.1 + 0.2, Double.MIN_VALUE, Double.MAX_VALUE, -Double.MAX_VALUE, 1.0 / 3,
                123456.789, -0.0, 4.9e-324}) {
            assertEquals(Double.doubleToRawLongBits(v), Double.doubleToRawLongBits(Numbers.parse(Numbers.format(v))),
                    Numbers.format(v));
            assertEquals(Numbers.format(v), Numbers.append(new StringBuilder(), v).toString());
        }
    }
}
