package io.lorica.loader.safetensors;

import io.lorica.api.DType;
import io.lorica.api.TensorInfo;
import io.lorica.api.format.AdapterFormatException;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Parses and validates a safetensors JSON header with Jackson's streaming parser: one pass, no tree, every entry
 * checked against the size of the data area. Range overlaps and gaps between entries are checked by
 * {@link SafetensorsFile}, which sees all entries at once.
 */
final class HeaderParser {

    /** The reserved key of the string-to-string metadata map. */
    static final String METADATA_KEY = "__metadata__";
    /** The key named in exceptions about the header as a whole. */
    static final String HEADER = "<header>";

    private static final int MAX_TEXT_IN_MESSAGE = 80;

    /**
     * The byte-based parser with canonicalised field names: the three entry fields are recognised from a symbol table
     * without creating a String per occurrence. Interning is off (no JVM string table), and so is the hash-flooding
     * guard, which would throw an {@link IllegalStateException} rather than degrade; the header cap bounds the work.
     * Strings, names and numbers may be as long as the header cap allows; nesting is never deeper than 3 in a valid
     * header.
     */
    private static final JsonFactory FACTORY = JsonFactory.builder()
            .disable(JsonFactory.Feature.INTERN_FIELD_NAMES)
            .disable(JsonFactory.Feature.FAIL_ON_SYMBOL_HASH_OVERFLOW)
            .streamReadConstraints(StreamReadConstraints.builder()
                    .maxNestingDepth(64)
                    .maxStringLength((int) SafetensorsFile.MAX_HEADER_SIZE)
                    .maxNameLength((int) SafetensorsFile.MAX_HEADER_SIZE)
                    .maxNumberLength(1000)
                    .build())
            .build();

    private static final Map<String, DType> DTYPES = new HashMap<>();

    static {
        for (DType type : DType.values()) {
            DTYPES.put(type.safetensorsName(), type);
        }
    }

    /** One validated header entry; {@code begin}/{@code end} are relative to the start of the data area. */
    record Entry(String key, TensorInfo info, long begin, long end) {

        long length() {
            return end - begin;
        }
    }

    /** The validated header: entries in header order and the metadata (empty when absent). */
    record Header(Map<String, Entry> entries, Map<String, String> metadata) {
    }

    private final String source;
    private final long dataSize;
    private final JsonParser parser;

    private HeaderParser(String source, long dataSize, JsonParser parser) {
        this.source = source;
        this.dataSize = dataSize;
        this.parser = parser;
    }

    /**
     * Parses {@code header} (its remaining bytes, UTF-8 JSON) for a file whose data area has {@code dataSize} bytes.
     *
     * @throws AdapterFormatException naming {@code source} and the offending key (or {@value #HEADER}) when the header
     *                                is not a valid safetensors header for that data area
     */
    static Header parse(String source, ByteBuffer header, long dataSize) {
        byte[] bytes;
        int offset;
        int length = header.remaining();
        if (header.hasArray()) {
            bytes = header.array();
            offset = header.arrayOffset() + header.position();
        } else {
            bytes = new byte[length];
            header.duplicate().get(bytes);
            offset = 0;
        }
        checkUtf8(source, bytes, offset, length);
        try (JsonParser parser = FACTORY.createParser(bytes, offset, length)) {
            return new HeaderParser(source, dataSize, parser).parseRoot();
        } catch (AdapterFormatException e) {
            throw e;
        } catch (JacksonException e) {
            throw new AdapterFormatException(source, HEADER, "header is not valid JSON: " + describe(e)
                    + "; expected one JSON object", e);
        } catch (IOException e) {
            // a parser over a byte array does no I/O; this is still a JSON problem if it ever happens
            throw new AdapterFormatException(source, HEADER, "header could not be parsed: " + describe(e), e);
        }
    }

    /**
     * Rejects bytes that are not well-formed UTF-8 (including overlong forms and surrogates, which Jackson would let
     * through). Headers are usually pure ASCII: the strict decoder only runs from the first non-ASCII byte on.
     */
    private static void checkUtf8(String source, byte[] bytes, int offset, int length) {
        int end = offset + length;
        int first = offset;
        while (first < end && bytes[first] >= 0) {
            first++;
        }
        if (first == end) {
            return;
        }
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes, first, end - first);
        CharBuffer out = CharBuffer.allocate(4096);
        while (true) {
            CoderResult result = decoder.decode(in, out, true);
            if (result.isError()) {
                throw new AdapterFormatException(source, HEADER, "header is not valid UTF-8 at byte "
                        + (in.position() - offset) + " of the header, expected UTF-8 encoded JSON");
            }
            if (result.isUnderflow()) {
                break;
            }
            out.clear();
        }
        CoderResult flushed = decoder.flush(out);
        if (flushed.isError()) {
            throw new AdapterFormatException(source, HEADER, "header ends inside a UTF-8 sequence, expected UTF-8 "
                    + "encoded JSON");
        }
    }

    private Header parseRoot() throws IOException {
        JsonToken token = parser.nextToken();
        if (token != JsonToken.START_OBJECT) {
            throw fail(HEADER, "header is " + (token == null ? "empty" : describe(token))
                    + ", expected a JSON object of tensor entries");
        }
        Map<String, Entry> entries = new LinkedHashMap<>();
        Map<String, String> metadata = null;
        while ((token = parser.nextToken()) == JsonToken.FIELD_NAME) {
            String key = parser.currentName();
            if (key.isEmpty()) {
                throw fail(HEADER, "header has an entry with an empty key, expected non-empty tensor keys");
            }
            if (METADATA_KEY.equals(key)) {
                if (metadata != null) {
                    throw fail(key, "duplicate key, expected each key once");
                }
                metadata = parseMetadata();
            } else {
                if (entries.containsKey(key)) {
                    throw fail(key, "duplicate key, expected each key once");
                }
                entries.put(key, parseEntry(key));
            }
        }
        if (token != JsonToken.END_OBJECT) {
            throw fail(HEADER, "header ends with " + describe(token) + ", expected '}'");
        }
        checkNothingFollows();
        return new Header(Collections.unmodifiableMap(entries),
                metadata == null ? Map.of() : Collections.unmodifiableMap(metadata));
    }

    private void checkNothingFollows() {
        JsonToken after;
        try {
            after = parser.nextToken();
        } catch (IOException e) {
            throw fail(HEADER, "header has trailing data after the JSON object (" + describe(e)
                    + "), expected only spaces", e);
        }
        if (after != null) {
            throw fail(HEADER, "header has trailing data after the JSON object (" + describe(after)
                    + "), expected only spaces");
        }
    }

    private Map<String, String> parseMetadata() throws IOException {
        JsonToken token = parser.nextToken();
        Map<String, String> metadata = new LinkedHashMap<>();
        if (token == JsonToken.VALUE_NULL) {
            return metadata; // what the reference implementation (Rust, Option<HashMap>) accepts as "no metadata"
        }
        if (token != JsonToken.START_OBJECT) {
            throw fail(METADATA_KEY, "metadata is " + describe(token) + ", expected an object of string values");
        }
        while ((token = parser.nextToken()) == JsonToken.FIELD_NAME) {
            String name = parser.currentName();
            if (metadata.containsKey(name)) {
                throw fail(METADATA_KEY, "metadata has duplicate entry '" + shorten(name) + "', expected each once");
            }
            JsonToken value = parser.nextToken();
            if (value != JsonToken.VALUE_STRING) {
                throw fail(METADATA_KEY, "metadata entry '" + shorten(name) + "' is " + describe(value)
                        + ", expected a string");
            }
            metadata.put(name, parser.getText());
        }
        if (token != JsonToken.END_OBJECT) {
            throw fail(METADATA_KEY, "metadata ends with " + describe(token) + ", expected '}'");
        }
        return metadata;
    }

    private Entry parseEntry(String key) throws IOException {
        JsonToken token = parser.nextToken();
        if (token != JsonToken.START_OBJECT) {
            throw fail(key, "entry is " + describe(token)
                    + ", expected an object with dtype, shape and data_offsets");
        }
        DType dtype = null;
        long[] shape = null;
        long[] offsets = null;
        while ((token = parser.nextToken()) == JsonToken.FIELD_NAME) {
            String field = parser.currentName();
            switch (field) {
                case "dtype" -> {
                    checkFirst(key, field, dtype);
                    dtype = parseDType(key);
                }
                case "shape" -> {
                    checkFirst(key, field, shape);
                    shape = parseNonNegativeIntegers(key, field);
                }
                case "data_offsets" -> {
                    checkFirst(key, field, offsets);
                    offsets = parseNonNegativeIntegers(key, field);
                }
                default -> throw fail(key, "entry has unexpected field '" + shorten(field)
                        + "', expected only dtype, shape and data_offsets");
            }
        }
        if (token != JsonToken.END_OBJECT) {
            throw fail(key, "entry ends with " + describe(token) + ", expected '}'");
        }
        if (dtype == null || shape == null || offsets == null) {
            List<String> missing = new ArrayList<>(3);
            if (dtype == null) {
                missing.add("dtype");
            }
            if (shape == null) {
                missing.add("shape");
            }
            if (offsets == null) {
                missing.add("data_offsets");
            }
            throw fail(key, "entry lacks " + String.join(" and ", missing)
                    + "; expected dtype, shape and data_offsets");
        }
        return validate(key, dtype, shape, offsets);
    }

    private Entry validate(String key, DType dtype, long[] shape, long[] offsets) {
        if (offsets.length != 2) {
            throw fail(key, "data_offsets has " + offsets.length + " values, expected two: [begin, end]");
        }
        long begin = offsets[0];
        long end = offsets[1];
        if (begin > end) {
            throw fail(key, "data_offsets [" + begin + ", " + end + "] has begin after end, expected begin <= end");
        }
        if (end > dataSize) {
            throw fail(key, "data_offsets [" + begin + ", " + end + "] ends beyond the data area of " + dataSize
                    + " bytes, expected end <= " + dataSize);
        }
        long elements = 1;
        long bytes;
        try {
            for (long dim : shape) {
                elements = Math.multiplyExact(elements, dim);
            }
            bytes = Math.multiplyExact(elements, (long) dtype.byteSize());
        } catch (ArithmeticException e) {
            throw fail(key, "shape " + shortShape(shape) + " of " + dtype.safetensorsName()
                    + " has more bytes than fit in 64 bits, expected a size that fits the file", e);
        }
        if (end - begin != bytes) {
            throw fail(key, "data_offsets [" + begin + ", " + end + "] span " + (end - begin) + " bytes, expected "
                    + bytes + " for " + dtype.safetensorsName() + shortShape(shape) + " (" + elements
                    + " elements of " + dtype.byteSize() + " bytes)");
        }
        return new Entry(key, new TensorInfo(dtype, shape), begin, end);
    }

    private DType parseDType(String key) throws IOException {
        JsonToken token = parser.nextToken();
        if (token != JsonToken.VALUE_STRING) {
            throw fail(key, "dtype is " + describe(token) + ", expected a string such as \"F16\"");
        }
        String name = parser.getText();
        DType type = DTYPES.get(name);
        if (type == null) {
            throw fail(key, "dtype '" + shorten(name) + "' is not supported, expected one of "
                    + String.join(", ", DTYPES.keySet().stream().sorted().toList()));
        }
        return type;
    }

    private long[] parseNonNegativeIntegers(String key, String field) throws IOException {
        JsonToken token = parser.nextToken();
        if (token != JsonToken.START_ARRAY) {
            throw fail(key, field + " is " + describe(token) + ", expected an array of non-negative integers");
        }
        long[] values = new long[4];
        int count = 0;
        while ((token = parser.nextToken()) != JsonToken.END_ARRAY) {
            if (token != JsonToken.VALUE_NUMBER_INT) {
                throw fail(key, field + "[" + count + "] is " + describe(token)
                        + ", expected a non-negative integer");
            }
            if (parser.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
                throw fail(key, field + "[" + count + "] = " + shorten(parser.getText())
                        + " is out of range, expected a non-negative integer up to " + Long.MAX_VALUE);
            }
            long value = parser.getLongValue();
            if (value < 0) {
                throw fail(key, field + "[" + count + "] = " + value + " is negative, expected a non-negative integer");
            }
            if (count == values.length) {
                values = Arrays.copyOf(values, count * 2);
            }
            values[count++] = value;
        }
        return count == values.length ? values : Arrays.copyOf(values, count);
    }

    private void checkFirst(String key, String field, Object seen) {
        if (seen != null) {
            throw fail(key, "entry has field '" + field + "' twice, expected it once");
        }
    }

    private AdapterFormatException fail(String key, String message) {
        return new AdapterFormatException(source, key, message);
    }

    private AdapterFormatException fail(String key, String message, Throwable cause) {
        return new AdapterFormatException(source, key, message, cause);
    }

    private static String describe(JsonToken token) {
        if (token == null) {
            return "the end of the header";
        }
        return switch (token) {
            case START_OBJECT -> "an object";
            case END_OBJECT -> "'}'";
            case START_ARRAY -> "an array";
            case END_ARRAY -> "']'";
            case FIELD_NAME -> "a field name";
            case VALUE_STRING -> "a string";
            case VALUE_NUMBER_INT -> "an integer";
            case VALUE_NUMBER_FLOAT -> "a non-integer number";
            case VALUE_TRUE, VALUE_FALSE -> "a boolean";
            case VALUE_NULL -> "null";
            default -> token.name();
        };
    }

    private static String describe(IOException e) {
        if (e instanceof JacksonException jackson) {
            JsonLocation location = jackson.getLocation();
            long at = location == null ? -1
                    : location.getByteOffset() >= 0 ? location.getByteOffset() : location.getCharOffset();
            String where = at < 0 ? "" : " at byte " + at + " of the header";
            return shorten(jackson.getOriginalMessage(), 200) + where;
        }
        return shorten(String.valueOf(e.getMessage()), 200);
    }

    private static String shortShape(long[] shape) {
        return shape.length <= 8 ? Arrays.toString(shape)
                : Arrays.toString(Arrays.copyOf(shape, 8)).replace("]", ", ... (" + shape.length + " dims)]");
    }

    static String shorten(String text) {
        return shorten(text, MAX_TEXT_IN_MESSAGE);
    }

    private static String shorten(String text, int max) {
        String oneLine = text.replace('\n', ' ').replace('\r', ' ');
        return oneLine.length() <= max ? oneLine : oneLine.substring(0, max) + "...";
    }
}
