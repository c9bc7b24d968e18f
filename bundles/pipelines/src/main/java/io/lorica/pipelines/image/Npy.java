package io.lorica.pipelines.image;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * NumPy {@code .npy} files of floating-point arrays, for exchanging latents, noise and decoded images with Python
 * (Diffusers) reference runs.
 *
 * <p>{@link #read(Path)} accepts format versions 1.0, 2.0 and 3.0, C order, and the dtypes {@code <f4},
 * {@code <f2} (converted exactly to float) and {@code <f8} (rounded to the nearest float). Bytes after the data are
 * ignored, as {@code numpy.load} does. {@link #write(Path, NpyArray)} writes format 1.0 with dtype {@code <f4} and the
 * header byte for byte as {@code numpy.save} writes it (including the spare space numpy leaves for growing the first
 * axis, padded with spaces to a multiple of 64 bytes and ended by a newline).
 */
public final class Npy {

    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final int ALIGNMENT = 64;
    /** numpy's {@code GROWTH_AXIS_MAX_DIGITS}: spare header space so that the first axis can grow in place. */
    private static final int GROWTH_AXIS_MAX_DIGITS = 21;
    private static final int CHUNK_BYTES = 1 << 16;

    private Npy() {
    }

    /** The supported element types. */
    private enum Dtype {
        F2("<f2", 2), F4("<f4", 4), F8("<f8", 8);

        final String descr;
        final int itemSize;

        Dtype(String descr, int itemSize) {
            this.descr = descr;
            this.itemSize = itemSize;
        }

        static Dtype of(String descr) {
            for (Dtype dtype : values()) {
                if (dtype.descr.equals(descr)) {
                    return dtype;
                }
            }
            return null;
        }
    }

    /**
     * Reads a {@code .npy} file of a float16, float32 or float64 array in C order.
     *
     * @param file the file
     * @return its shape and its elements as float32
     * @throws IllegalArgumentException when the file does not exist, is not a {@code .npy} file, has an unsupported
     *         version, dtype or Fortran order, or is truncated; the message names the file and what was expected
     * @throws UncheckedIOException when the file cannot be read
     */
    public static NpyArray read(Path file) {
        Objects.requireNonNull(file, "file");
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = channel.size();
            ByteBuffer preamble = readFully(channel, 8, file, "the 6-byte magic and the 2-byte version");
            byte[] magic = new byte[MAGIC.length];
            preamble.get(magic);
            if (!Arrays.equals(magic, MAGIC)) {
                throw new IllegalArgumentException(file + " is not a NumPy .npy file: expected the magic \\x93NUMPY");
            }
            int major = preamble.get() & 0xff;
            int minor = preamble.get() & 0xff;
            if (major < 1 || major > 3 || minor != 0) {
                throw new IllegalArgumentException(file + " has .npy format version " + major + "." + minor
                        + ": expected 1.0, 2.0 or 3.0");
            }
            int lengthSize = major == 1 ? 2 : 4;
            ByteBuffer length = readFully(channel, lengthSize, file,
                    "the " + lengthSize + "-byte header length of format " + major + ".0").order(ByteOrder.LITTLE_ENDIAN);
            long headerLength = major == 1 ? length.getShort(0) & 0xffff : length.getInt(0) & 0xffffffffL;
            long dataOffset = channel.position() + headerLength;
            if (headerLength > Integer.MAX_VALUE - 16 || dataOffset > size) {
                throw new IllegalArgumentException(file + " is truncated: expected a " + headerLength
                        + "-byte header but the file has " + size + " bytes");
            }
            ByteBuffer headerBytes = readFully(channel, (int) headerLength, file, "the header");
            String header = new String(headerBytes.array(), 0, (int) headerLength,
                    major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
            Header parsed = parseHeader(header, file);

            long count = NpyArray.elementCount(parsed.shape());
            long dataBytes = count * parsed.dtype().itemSize;
            if (size - dataOffset < dataBytes) {
                throw new IllegalArgumentException(file + " is truncated: expected " + dataBytes + " bytes of "
                        + parsed.dtype().descr + " data for shape " + shapeRepr(parsed.shape()) + " after the "
                        + dataOffset + "-byte header, found " + (size - dataOffset));
            }
            float[] data = new float[(int) count];
            int itemSize = parsed.dtype().itemSize;
            int done = 0;
            while (done < data.length) {
                int items = Math.min(data.length - done, CHUNK_BYTES / itemSize);
                ByteBuffer chunk = readFully(channel, items * itemSize, file, "the data").order(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < items; i++) {
                    data[done + i] = switch (parsed.dtype()) {
                        case F2 -> halfToFloat(chunk.getShort(i * 2));
                        case F4 -> chunk.getFloat(i * 4);
                        case F8 -> (float) chunk.getDouble(i * 8);
                    };
                }
                done += items;
            }
            return new NpyArray(parsed.shape(), data);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(file + " does not exist: expected a NumPy .npy file", e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }

    /**
     * Writes an array as a {@code .npy} file, format 1.0, dtype {@code <f4}, C order, replacing the file.
     *
     * @param file the file
     * @param array the array
     * @throws IllegalArgumentException when the shape has so many dimensions that the header exceeds format 1.0's
     *         65535 bytes
     * @throws UncheckedIOException when the file cannot be written
     */
    public static void write(Path file, NpyArray array) {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(array, "array");
        byte[] header = header(array.shape());
        float[] data = array.data();
        try (OutputStream out = Files.newOutputStream(file)) {
            out.write(header);
            ByteBuffer chunk = ByteBuffer.allocate(CHUNK_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            for (float value : data) {
                if (!chunk.hasRemaining()) {
                    out.write(chunk.array(), 0, chunk.position());
                    chunk.clear();
                }
                chunk.putFloat(value);
            }
            out.write(chunk.array(), 0, chunk.position());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }

    /** The magic, version 1.0, header length and header of a {@code <f4} C-order array, as {@code numpy.save}. */
    static byte[] header(long[] shape) {
        StringBuilder dict = new StringBuilder("{'descr': '<f4', 'fortran_order': False, 'shape': ")
                .append(shapeRepr(shape)).append(", }");
        if (shape.length > 0) {
            dict.append(" ".repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - Long.toString(shape[0]).length())));
        }
        int length = dict.length() + 1; // the closing newline
        int padding = ALIGNMENT - ((MAGIC.length + 2 + 2 + length) % ALIGNMENT);
        int headerLength = length + padding;
        if (headerLength > 0xffff) {
            throw new IllegalArgumentException("shape with " + shape.length + " dimensions needs a " + headerLength
                    + "-byte header: expected at most 65535 bytes (.npy format 1.0)");
        }
        ByteBuffer out = ByteBuffer.allocate(MAGIC.length + 4 + headerLength).order(ByteOrder.LITTLE_ENDIAN);
        out.put(MAGIC).put((byte) 1).put((byte) 0).putShort((short) headerLength);
        out.put(dict.toString().getBytes(StandardCharsets.ISO_8859_1));
        for (int i = 0; i < padding; i++) {
            out.put((byte) ' ');
        }
        out.put((byte) '\n');
        return out.array();
    }

    /** Python's {@code repr} of a shape tuple: {@code ()}, {@code (5,)}, {@code (1, 4, 8, 8)}. */
    static String shapeRepr(long[] shape) {
        StringBuilder sb = new StringBuilder("(");
        for (int i = 0; i < shape.length; i++) {
            if (i > 0) {
                sb.append(", ");
            }
            sb.append(shape[i]);
        }
        return sb.append(shape.length == 1 ? ",)" : ")").toString();
    }

    /**
     * IEEE 754 binary16 to float, exactly (subnormals, infinities and NaN included).
     *
     * @param bits the half-precision bits
     * @return the same value as a float
     */
    static float halfToFloat(short bits) {
        int h = bits & 0xffff;
        int sign = (h & 0x8000) << 16;
        int exponent = (h >>> 10) & 0x1f;
        int mantissa = h & 0x3ff;
        if (exponent == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mantissa << 13));
        }
        if (exponent == 0) {
            float magnitude = mantissa * 0x1p-24f; // subnormal (or zero): mantissa * 2^-24, exact in float
            return sign == 0 ? magnitude : -magnitude;
        }
        return Float.intBitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
    }

    private static ByteBuffer readFully(FileChannel channel, int length, Path file, String what) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(length);
        while (buffer.hasRemaining()) {
            if (channel.read(buffer) < 0) {
                throw new IllegalArgumentException(file + " is truncated: expected " + what + " (" + length
                        + " bytes) at offset " + (channel.position() - buffer.position()) + ", found "
                        + buffer.position() + " bytes");
            }
        }
        buffer.flip();
        return buffer;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // header: a Python dict literal such as {'descr': '<f4', 'fortran_order': False, 'shape': (1, 4, 8, 8), }

    private record Header(Dtype dtype, long[] shape) {
    }

    private static Header parseHeader(String header, Path file) {
        Object value;
        try {
            LiteralParser parser = new LiteralParser(header);
            value = parser.value();
            parser.end();
        } catch (IllegalStateException e) {
            throw new IllegalArgumentException(file + " has a malformed .npy header " + header.strip() + ": "
                    + e.getMessage() + "; expected a dict such as {'descr': '<f4', 'fortran_order': False, 'shape': (1, 4), }");
        }
        if (!(value instanceof Map<?, ?> dict) || !dict.keySet().equals(Set.of("descr", "fortran_order", "shape"))) {
            throw new IllegalArgumentException(file + " has the .npy header " + header.strip()
                    + ": expected a dict with exactly the keys 'descr', 'fortran_order' and 'shape'");
        }
        Object descr = dict.get("descr");
        Dtype dtype = descr instanceof String s ? Dtype.of(s) : null;
        if (dtype == null) {
            throw new IllegalArgumentException(file + " has dtype " + (descr instanceof String ? "'" + descr + "'" : descr)
                    + ": expected '<f4', '<f2' or '<f8' (little-endian float32, float16 or float64)");
        }
        Object fortran = dict.get("fortran_order");
        if (!(fortran instanceof Boolean fortranOrder)) {
            throw new IllegalArgumentException(file + " has fortran_order " + fortran + ": expected True or False");
        }
        if (fortranOrder) {
            throw new IllegalArgumentException(file + " stores its array in Fortran order: expected C order "
                    + "(fortran_order: False; save numpy.ascontiguousarray(a))");
        }
        Object shapeValue = dict.get("shape");
        if (!(shapeValue instanceof List<?> dims)) {
            throw new IllegalArgumentException(file + " has shape " + shapeValue + ": expected a tuple of integers");
        }
        long[] shape = new long[dims.size()];
        for (int i = 0; i < shape.length; i++) {
            if (!(dims.get(i) instanceof Long dim) || dim < 0) {
                throw new IllegalArgumentException(file + " has shape " + dims + ": expected a tuple of non-negative integers");
            }
            shape[i] = dim;
        }
        try {
            NpyArray.elementCount(shape);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
        return new Header(dtype, shape);
    }

    /**
     * The subset of Python literals that {@code .npy} headers use: dicts, tuples and lists, strings, integers,
     * {@code True} and {@code False}. Tuples and lists become {@link List}s, integers {@link Long}s.
     */
    private static final class LiteralParser {

        private final String text;
        private int pos;

        LiteralParser(String text) {
            this.text = text;
        }

        Object value() {
            skipSpace();
            if (pos >= text.length()) {
                throw error("unexpected end");
            }
            char c = text.charAt(pos);
            switch (c) {
                case '{':
                    return dict();
                case '(':
                    return sequence(')');
                case '[':
                    return sequence(']');
                case '\'':
                case '"':
                    return string(c);
                default:
                    if (c == '-' || c == '+' || Character.isDigit(c)) {
                        return integer();
                    }
                    return name();
            }
        }

        void end() {
            skipSpace();
            if (pos < text.length()) {
                throw error("unexpected '" + text.charAt(pos) + "' after the dict");
            }
        }

        private Map<String, Object> dict() {
            pos++; // {
            Map<String, Object> dict = new LinkedHashMap<>();
            while (true) {
                skipSpace();
                if (peek('}')) {
                    pos++;
                    return dict;
                }
                Object key = value();
                if (!(key instanceof String name)) {
                    throw error("dict key " + key + " is not a string");
                }
                skipSpace();
                expect(':');
                if (dict.put(name, value()) != null) {
                    throw error("duplicate key '" + name + "'");
                }
                skipSpace();
                if (peek(',')) {
                    pos++;
                } else if (!peek('}')) {
                    throw error("expected ',' or '}'");
                }
            }
        }

        private List<Object> sequence(char close) {
            pos++; // ( or [
            List<Object> items = new ArrayList<>();
            while (true) {
                skipSpace();
                if (peek(close)) {
                    pos++;
                    return items;
                }
                items.add(value());
                skipSpace();
                if (peek(',')) {
                    pos++;
                } else if (!peek(close)) {
                    throw error("expected ',' or '" + close + "'");
                }
            }
        }

        private String string(char quote) {
            pos++;
            StringBuilder sb = new StringBuilder();
            while (pos < text.length() && text.charAt(pos) != quote) {
                char c = text.charAt(pos++);
                if (c == '\\' && pos < text.length()) {
                    c = text.charAt(pos++);
                }
                sb.append(c);
            }
            if (pos >= text.length()) {
                throw error("unterminated string");
            }
            pos++;
            return sb.toString();
        }

        private Long integer() {
            int start = pos;
            if (peek('-') || peek('+')) {
                pos++;
            }
            while (pos < text.length() && Character.isDigit(text.charAt(pos))) {
                pos++;
            }
            String digits = text.substring(start, pos);
            if (peek('L') || peek('l')) {
                pos++; // Python 2 long
            }
            try {
                return Long.parseLong(digits.startsWith("+") ? digits.substring(1) : digits);
            } catch (NumberFormatException e) {
                throw error("'" + digits + "' is not an integer");
            }
        }

        private Object name() {
            int start = pos;
            while (pos < text.length() && Character.isLetterOrDigit(text.charAt(pos))) {
                pos++;
            }
            String name = text.substring(start, pos);
            switch (name) {
                case "True":
                    return Boolean.TRUE;
                case "False":
                    return Boolean.FALSE;
                default:
                    throw error(name.isEmpty() ? "unexpected '" + text.charAt(pos) + "'" : "unknown name '" + name + "'");
            }
        }

        private void skipSpace() {
            while (pos < text.length() && Character.isWhitespace(text.charAt(pos))) {
                pos++;
            }
        }

        private boolean peek(char c) {
            return pos < text.length() && text.charAt(pos) == c;
        }

        private void expect(char c) {
            if (!peek(c)) {
                throw error("expected '" + c + "'");
            }
            pos++;
        }

        private IllegalStateException error(String message) {
            return new IllegalStateException(message + " at column " + (pos + 1));
        }
    }
}
