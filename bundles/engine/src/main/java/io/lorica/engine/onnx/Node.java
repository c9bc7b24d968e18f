package io.lorica.engine.onnx;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A node of the main graph.
 *
 * @param name       the node name, possibly empty
 * @param opType     the operator, e.g. {@code MatMul}
 * @param domain     the operator domain, empty for the default ONNX domain
 * @param inputs     input value names in order (an empty string is an omitted optional input)
 * @param outputs    output value names in order
 * @param attributes attribute name to value: {@code Long} (INT), {@code Float} (FLOAT), {@code String} (STRING),
 *                   {@code List<Long>} (INTS), {@code List<Float>} (FLOATS), {@code List<String>} (STRINGS), and
 *                   the protobuf message for anything else (tensors, graphs)
 */
public record Node(String name, String opType, String domain, List<String> inputs, List<String> outputs,
        Map<String, Object> attributes) {

    /** Copies the lists and the map. */
    public Node {
        inputs = List.copyOf(inputs);
        outputs = List.copyOf(outputs);
        attributes = Collections.unmodifiableMap(new LinkedHashMap<>(attributes));
    }

    /** Input {@code index}, empty when absent or omitted. */
    public Optional<String> input(int index) {
        return index < inputs.size() && !inputs.get(index).isEmpty() ? Optional.of(inputs.get(index))
                : Optional.empty();
    }

    /** An INT attribute, or {@code fallback} when absent. */
    public long longAttribute(String attribute, long fallback) {
        Object value = attributes.get(attribute);
        return value instanceof Long ? (Long) value : fallback;
    }

    /** An INTS attribute, or {@code fallback} when absent. */
    @SuppressWarnings("unchecked")
    public List<Long> longsAttribute(String attribute, List<Long> fallback) {
        Object value = attributes.get(attribute);
        return value instanceof List<?> && (((List<?>) value).isEmpty() || ((List<?>) value).get(0) instanceof Long)
                ? (List<Long>) value : fallback;
    }

    /** A STRING attribute, or {@code fallback} when absent. */
    public String stringAttribute(String attribute, String fallback) {
        Object value = attributes.get(attribute);
        return value instanceof String ? (String) value : fallback;
    }

    /** E.g. {@code MatMul '/down_blocks.0/.../to_q/MatMul'}. */
    public String describe() {
        return opType + " '" + name + "'";
    }
}
