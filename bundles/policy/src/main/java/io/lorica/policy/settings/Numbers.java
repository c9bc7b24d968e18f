package io.lorica.policy.settings;

/**
 * The number syntax of the compact form, prompt tags and preset vectors, and the canonical way numbers are written.
 *
 * <p>Accepted: {@code [+-]? (digits ["." digits?] | "." digits) [(e|E) [+-]? digits]}, e.g. {@code 1}, {@code -0.5},
 * {@code .5}, {@code 1.}, {@code 2e-3}. Not accepted: {@code NaN}, {@code Infinity}, hexadecimal, Java's {@code d}/{@code f}
 * suffixes, thousands separators.
 */
final class Numbers {

    /** Longer literals are rejected before they reach {@link Double#parseDouble(String)}. */
    private static final int MAX_LITERAL = 64;

    /** Integers up to this magnitude are written without fraction; all of them are exact doubles. */
    private static final double MAX_PLAIN_INTEGER = 1e15;

    private Numbers() {
    }

    /**
     * Parses {@code s[from, to)}.
     *
     * @return the value; {@link Double#NaN} when the text is not a number in the accepted syntax, an infinity when it is
     *         out of the double range (callers report both)
     */
    static double parse(String s, int from, int to) {
        int length = to - from;
        if (length <= 0 || length > MAX_LITERAL) {
            return Double.NaN;
        }
        int i = from;
        char c = s.charAt(i);
        if (c == '+' || c == '-') {
            i++;
        }
        int start = i;
        while (i < to && isDigit(s.charAt(i))) {
            i++;
        }
        int digits = i - start;
        if (i < to && s.charAt(i) == '.') {
            i++;
            int fractionStart = i;
            while (i < to && isDigit(s.charAt(i))) {
                i++;
            }
            digits += i - fractionStart;
        }
        if (digits == 0) {
            return Double.NaN;
        }
        if (i < to && (s.charAt(i) == 'e' || s.charAt(i) == 'E')) {
            i++;
            if (i < to && (s.charAt(i) == '+' || s.charAt(i) == '-')) {
                i++;
            }
            int exponentStart = i;
            while (i < to && isDigit(s.charAt(i))) {
                i++;
            }
            if (i == exponentStart) {
                return Double.NaN;
            }
        }
        if (i != to) {
            return Double.NaN;
        }
        return Double.parseDouble(from == 0 && to == s.length() ? s : s.substring(from, to));
    }

    /** Parses the whole string, see {@link #parse(String, int, int)}. */
    static double parse(String s) {
        return parse(s, 0, s.length());
    }

    /**
     * Parses a finite number or throws.
     *
     * @param what what the number is, for the message (e.g. {@code "scale"})
     * @throws IllegalArgumentException naming {@code what}, the text and the expected syntax
     */
    static double parseFinite(String s, String what) {
        double value = parse(s);
        if (Double.isNaN(value)) {
            throw new IllegalArgumentException(what + ": '" + s + "' is not a number, expected e.g. 0.5, -1, 1e-3");
        }
        if (Double.isInfinite(value)) {
            throw new IllegalArgumentException(what + ": '" + s + "' is out of range, expected a finite number");
        }
        return value;
    }

    /**
     * The canonical text of a finite number: integers below 10^15 without fraction ({@code 1}, {@code -3}), negative
     * zero as {@code -0.0}, everything else as {@link Double#toString(double)} ({@code 0.5}, {@code 1.0E-5}). Parsing
     * the text gives back the same double, bit for bit.
     */
    static String format(double value) {
        if (value == 0.0) {
            return Double.doubleToRawLongBits(value) < 0 ? "-0.0" : "0";
        }
        if (value == Math.rint(value) && Math.abs(value) < MAX_PLAIN_INTEGER) {
            return Long.toString((long) value);
        }
        return Double.toString(value);
    }

    /** Appends {@link #format(double)} of {@code value}. */
    static StringBuilder append(StringBuilder out, double value) {
        if (value != 0.0 && value == Math.rint(value) && Math.abs(value) < MAX_PLAIN_INTEGER) {
            return out.append((long) value);
        }
        return out.append(format(value));
    }

    private static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }
}
