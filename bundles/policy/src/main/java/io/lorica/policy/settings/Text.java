package io.lorica.policy.settings;

/** Bounded scanning helpers: every search stays inside {@code [from, to)} so that parsing stays linear. */
final class Text {

    private Text() {
    }

    /** The index of {@code c} in {@code s[from, to)}, or -1. */
    static int indexOf(String s, char c, int from, int to) {
        for (int i = from; i < to; i++) {
            if (s.charAt(i) == c) {
                return i;
            }
        }
        return -1;
    }

    /** The first index at or after {@code from} (and before {@code to}) that is not whitespace, or {@code to}. */
    static int skipSpace(String s, int from, int to) {
        while (from < to && Character.isWhitespace(s.charAt(from))) {
            from++;
        }
        return from;
    }

    /** {@code to} moved back over trailing whitespace, not before {@code from}. */
    static int trimEnd(String s, int from, int to) {
        while (to > from && Character.isWhitespace(s.charAt(to - 1))) {
            to--;
        }
        return to;
    }

    /** Whether {@code s[from, to)} is whitespace only. */
    static boolean isBlank(String s, int from, int to) {
        return skipSpace(s, from, to) == to;
    }
}
