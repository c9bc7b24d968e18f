package io.lorica.policy.settings;

import java.util.Arrays;

/**
 * A mutable stack of JSON path segments ({@code $.adapters.pixel.unet.up.block_1[2]}), pushed and popped while a
 * document is walked and rendered only when an error is reported, so that walking allocates nothing for it.
 */
final class JsonPath {

    private final String root;
    private String[] keys = new String[16];
    private int[] indexes = new int[16];
    private int size;

    JsonPath(String root) {
        this.root = root;
    }

    JsonPath push(String key) {
        grow();
        keys[size] = key;
        indexes[size] = -1;
        size++;
        return this;
    }

    JsonPath push(int index) {
        grow();
        keys[size] = null;
        indexes[size] = index;
        size++;
        return this;
    }

    void pop() {
        size--;
    }

    int depth() {
        return size;
    }

    /** The root alone, e.g. {@code $}: where errors go that cannot be placed more precisely. */
    String root() {
        return root;
    }

    /** An exception with this path and {@code problem}. */
    IllegalArgumentException error(String problem) {
        return new IllegalArgumentException(this + ": " + problem);
    }

    private void grow() {
        if (size == keys.length) {
            keys = Arrays.copyOf(keys, size * 2);
            indexes = Arrays.copyOf(indexes, size * 2);
        }
    }

    @Override
    public String toString() {
        StringBuilder out = new StringBuilder(root);
        for (int i = 0; i < size; i++) {
            String key = keys[i];
            if (key == null) {
                out.append('[').append(indexes[i]).append(']');
            } else if (isIdentifier(key)) {
                out.append('.').append(key);
            } else {
                out.append("['");
                for (int j = 0; j < key.length(); j++) {
                    char c = key.charAt(j);
                    if (c == '\'' || c == '\\') {
                        out.append('\\');
                    }
                    out.append(c);
                }
                out.append("']");
            }
        }
        return out.toString();
    }

    private static boolean isIdentifier(String key) {
        if (key.isEmpty()) {
            return false;
        }
        for (int i = 0; i < key.length(); i++) {
            char c = key.charAt(i);
            boolean ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9');
            if (!ok) {
                return false;
            }
        }
        return true;
    }
}
