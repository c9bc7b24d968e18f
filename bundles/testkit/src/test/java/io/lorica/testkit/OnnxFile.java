package io.lorica.testkit;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An independent, minimal reader of the ONNX files the test kit writes (protobuf wire format): nodes with their
 * INT/INTS attributes, initializers with type, dims and location, graph input/output names, opset, doc string.
 */
final class OnnxFile {

    record Node(String name, String opType, List<String> inputs, List<String> outputs, Map<String, List<Long>> ints) {
    }

    record Initializer(String name, int dataType, long[] dims, boolean external, Map<String, String> externalData) {
    }

    final List<Node> nodes = new ArrayList<>();
    final Map<String, Initializer> initializers = new LinkedHashMap<>();
    final List<String> inputs = new ArrayList<>();
    final List<String> outputs = new ArrayList<>();
    long opset;
    long irVersion;
    String docString = "";

    static OnnxFile read(Path file) throws IOException {
        OnnxFile onnx = new OnnxFile();
        Reader model = new Reader(Files.readAllBytes(file), 0, (int) Files.size(file));
        while (model.more()) {
            int tag = (int) model.varint();
            int field = tag >>> 3;
            if (field == 1 && (tag & 7) == 0) {
                onnx.irVersion = model.varint();
            } else if (field == 6 && (tag & 7) == 2) {
                onnx.docString = model.string();
            } else if (field == 7 && (tag & 7) == 2) {
                onnx.graph(model.message());
            } else if (field == 8 && (tag & 7) == 2) {
                Reader opset = model.message();
                while (opset.more()) {
                    int t = (int) opset.varint();
                    if (t >>> 3 == 2) {
                        onnx.opset = opset.varint();
                    } else {
                        opset.skip(t);
                    }
                }
            } else {
                model.skip(tag);
            }
        }
        return onnx;
    }

    private void graph(Reader graph) {
        while (graph.more()) {
            int tag = (int) graph.varint();
            switch (tag >>> 3) {
                case 1 -> nodes.add(node(graph.message()));
                case 5 -> {
                    Initializer init = initializer(graph.message());
                    initializers.put(init.name(), init);
                }
                case 11 -> inputs.add(valueName(graph.message()));
                case 12 -> outputs.add(valueName(graph.message()));
                default -> graph.skip(tag);
            }
        }
    }

    private static Node node(Reader r) {
        List<String> in = new ArrayList<>();
        List<String> out = new ArrayList<>();
        Map<String, List<Long>> ints = new LinkedHashMap<>();
        String name = "";
        String op = "";
        while (r.more()) {
            int tag = (int) r.varint();
            switch (tag >>> 3) {
                case 1 -> in.add(r.string());
                case 2 -> out.add(r.string());
                case 3 -> name = r.string();
                case 4 -> op = r.string();
                case 5 -> {
                    Reader a = r.message();
                    String attribute = "";
                    List<Long> values = new ArrayList<>();
                    while (a.more()) {
                        int t = (int) a.varint();
                        if (t >>> 3 == 1) {
                            attribute = a.string();
                        } else if ((t >>> 3 == 3 || t >>> 3 == 8) && (t & 7) == 0) {
                            values.add(a.varint());
                        } else {
                            a.skip(t);
                        }
                    }
                    ints.put(attribute, values);
                }
                default -> r.skip(tag);
            }
        }
        return new Node(name, op, in, out, ints);
    }

    private static Initializer initializer(Reader r) {
        List<Long> dims = new ArrayList<>();
        String name = "";
        int type = 0;
        boolean external = false;
        Map<String, String> data = new LinkedHashMap<>();
        while (r.more()) {
            int tag = (int) r.varint();
            switch (tag >>> 3) {
                case 1 -> dims.add(r.varint());
                case 2 -> type = (int) r.varint();
                case 8 -> name = r.string();
                case 13 -> {
                    Reader entry = r.message();
                    String key = "";
                    String value = "";
                    while (entry.more()) {
                        int t = (int) entry.varint();
                        if (t >>> 3 == 1) {
                            key = entry.string();
                        } else {
                            value = entry.string();
                        }
                    }
                    data.put(key, value);
                }
                case 14 -> external = r.varint() == 1;
                default -> r.skip(tag);
            }
        }
        return new Initializer(name, type, dims.stream().mapToLong(Long::longValue).toArray(), external, data);
    }

    private static String valueName(Reader r) {
        String name = "";
        while (r.more()) {
            int tag = (int) r.varint();
            if (tag >>> 3 == 1) {
                name = r.string();
            } else {
                r.skip(tag);
            }
        }
        return name;
    }

    /** Index of producers by output name. */
    Map<String, Node> producers() {
        Map<String, Node> producers = new LinkedHashMap<>();
        for (Node node : nodes) {
            for (String output : node.outputs()) {
                producers.put(output, node);
            }
        }
        return producers;
    }

    /** The initializer feeding {@code value}, directly or through Cast nodes; null when there is none. */
    Initializer weightOf(String value) {
        Map<String, Node> producers = producers();
        for (int depth = 0; depth < 4; depth++) {
            Initializer init = initializers.get(value);
            if (init != null) {
                return init;
            }
            Node producer = producers.get(value);
            if (producer == null || !producer.opType().equals("Cast")) {
                return null;
            }
            value = producer.inputs().get(0);
        }
        return null;
    }

    private static final class Reader {
        private final byte[] bytes;
        private int position;
        private final int end;

        Reader(byte[] bytes, int position, int end) {
            this.bytes = bytes;
            this.position = position;
            this.end = end;
        }

        boolean more() {
            return position < end;
        }

        long varint() {
            long value = 0;
            int shift = 0;
            while (true) {
                byte b = bytes[position++];
                value |= (long) (b & 0x7F) << shift;
                if ((b & 0x80) == 0) {
                    return value;
                }
                shift += 7;
            }
        }

        Reader message() {
            int length = (int) varint();
            Reader r = new Reader(bytes, position, position + length);
            position += length;
            return r;
        }

        String string() {
            int length = (int) varint();
            String s = new String(bytes, position, length, StandardCharsets.UTF_8);
            position += length;
            return s;
        }

        void skip(int tag) {
            switch (tag & 7) {
                case 0 -> varint();
                case 1 -> position += 8;
                case 2 -> {
                    int length = (int) varint();
                    position += length;
                }
                case 5 -> position += 4;
                default -> throw new IllegalStateException("wire type " + (tag & 7));
            }
        }
    }
}
