package io.lorica.policy.settings;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a JSON text with Jackson's streaming parser into plain values: {@code LinkedHashMap<String, Object>} (order
 * kept), {@code ArrayList<Object>}, {@code Double}, {@code String}, {@code Boolean} and {@link #NULL}. Strict: duplicate
 * keys, trailing content, comments, single quotes and nesting deeper than {@link #MAX_DEPTH} are errors; {@code NaN}
 * and {@code Infinity} are read as doubles so that the caller can reject them with their path.
 */
final class JsonTree {

    /** JSON {@code null}, distinct from an absent key. */
    static final Object NULL = new Object() {
        @Override
        public String toString() {
            return "null";
        }
    };

    /** The deepest nesting the settings grammar needs is 7; anything beyond this is rejected while reading. */
    static final int MAX_DEPTH = 16;

    /** NaN and Infinity are read so that the interpreter can reject them with the path of the value. */
    private static final JsonMapper MAPPER = JsonMapper.builder()
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            .build();

    private JsonTree() {
    }

    /**
     * Reads one JSON value that must be the whole of {@code text}.
     *
     * @param path where the value sits, for messages; pushed and popped while reading, unchanged on return
     * @throws IllegalArgumentException for malformed JSON (with line and column), duplicate keys or trailing content
     */
    static Object read(String text, JsonPath path) {
        try (JsonParser parser = MAPPER.createParser(text)) {
            JsonToken token = parser.nextToken();
            if (token == null) {
                throw path.error("expected a JSON value, got nothing");
            }
            int base = path.depth();
            Object value = value(parser, token, path, base);
            JsonToken after;
            try {
                after = parser.nextToken();
            } catch (JsonProcessingException e) {
                throw trailing(path, e.getLocation());
            }
            if (after != null) {
                throw trailing(path, parser.currentTokenLocation());
            }
            return value;
        } catch (JsonProcessingException e) {
            JsonLocation at = e.getLocation();
            // Jackson reads ahead, so the path stack may lag behind the error; line and column are exact
            throw new IllegalArgumentException(path.root() + ": invalid JSON" + (at == null ? "" : " at line "
                    + at.getLineNr() + ", column " + at.getColumnNr()) + ": " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new IllegalArgumentException(path.root() + ": cannot read JSON: " + e.getMessage(), e);
        }
    }

    private static IllegalArgumentException trailing(JsonPath path, JsonLocation at) {
        return path.error("unexpected content after the end of the JSON value" + (at == null ? ""
                : " at line " + at.getLineNr() + ", column " + at.getColumnNr()) + ", expected nothing more");
    }

    private static Object value(JsonParser parser, JsonToken token, JsonPath path, int base) throws IOException {
        switch (token) {
            case START_OBJECT: {
                checkDepth(path, base);
                Map<String, Object> map = new LinkedHashMap<>();
                for (JsonToken t = parser.nextToken(); t != JsonToken.END_OBJECT; t = parser.nextToken()) {
                    String key = parser.currentName();
                    path.push(key);
                    Object item = value(parser, parser.nextToken(), path, base);
                    path.pop();
                    if (map.putIfAbsent(key, item) != null) {
                        throw path.error("duplicate key '" + key + "', expected each key once");
                    }
                }
                return map;
            }
            case START_ARRAY: {
                checkDepth(path, base);
                List<Object> list = new ArrayList<>();
                for (JsonToken t = parser.nextToken(); t != JsonToken.END_ARRAY; t = parser.nextToken()) {
                    path.push(list.size());
                    list.add(value(parser, t, path, base));
                    path.pop();
                }
                return list;
            }
            case VALUE_NUMBER_INT:
            case VALUE_NUMBER_FLOAT:
                return parser.getDoubleValue();
            case VALUE_STRING:
                return parser.getText();
            case VALUE_TRUE:
                return Boolean.TRUE;
            case VALUE_FALSE:
                return Boolean.FALSE;
            case VALUE_NULL:
                return NULL;
            default:
                throw path.error("unexpected JSON token " + token);
        }
    }

    private static void checkDepth(JsonPath path, int base) {
        if (path.depth() - base >= MAX_DEPTH) {
            throw path.error("JSON nested deeper than " + MAX_DEPTH + " levels");
        }
    }

    /** What a value is, for messages: {@code a number (0.5)}, {@code a string "x"}, {@code an object}, … */
    static String describe(Object value) {
        if (value == NULL) {
            return "null";
        }
        if (value instanceof Double d) {
            return "a number (" + d + ")";
        }
        if (value instanceof String s) {
            return "a string \"" + (s.length() > 40 ? s.substring(0, 40) + "…" : s) + "\"";
        }
        if (value instanceof Boolean b) {
            return "a boolean (" + b + ")";
        }
        if (value instanceof List<?> list) {
            return "a list of " + list.size();
        }
        if (value instanceof Map<?, ?>) {
            return "an object";
        }
        return String.valueOf(value);
    }
}
