package io.lorica.itests;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Writes a one-layer ONNX model shaped like the legacy exporter's output, from inside the container (the test probe
 * cannot see the engine's private protobuf classes), in protobuf's wire format by hand: {@code x [rows, in]} through a
 * MatMul named after a Diffusers module ({@code /down_blocks.0/attentions.0/transformer_blocks.0/attn1/to_q/MatMul})
 * with an anonymous transposed weight {@code onnx::MatMul_7 [in, out]} to {@code y [rows, out]}.
 */
final class TinyOnnx {

    private static final int FLOAT = 1;

    private TinyOnnx() {
    }

    /**
     * Writes the model.
     *
     * @param weight the weight as stored, {@code [in, out]} row-major
     */
    static void matmul(Path file, String nodeName, int rows, int in, int out, float[] weight) throws IOException {
        ByteBuffer raw = ByteBuffer.allocate(weight.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : weight) {
            raw.putFloat(v);
        }
        Message initializer = new Message().varint(1, in).varint(1, out).varint(2, FLOAT).string(8, "onnx::MatMul_7")
                .bytes(9, raw.array());
        Message node = new Message().string(1, "x").string(1, "onnx::MatMul_7").string(2, "y").string(3, nodeName)
                .string(4, "MatMul");
        Message graph = new Message().message(1, node).string(2, "tiny").message(5, initializer)
                .message(11, value("x", rows, in)).message(12, value("y", rows, out));
        Message opset = new Message().string(1, "").varint(2, 17);
        Message model = new Message().varint(1, 8).string(2, "lorica-itests").message(7, graph).message(8, opset);
        Files.createDirectories(file.getParent());
        Files.write(file, model.toByteArray());
    }

    /** A FLOAT ValueInfoProto with fixed dimensions. */
    private static Message value(String name, long... dims) {
        Message shape = new Message();
        for (long d : dims) {
            shape.message(1, new Message().varint(1, d));
        }
        Message tensor = new Message().varint(1, FLOAT).message(2, shape);
        return new Message().string(1, name).message(2, new Message().message(1, tensor));
    }

    /** A protobuf message being written: varint and length-delimited fields. */
    private static final class Message {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Message varint(int field, long value) {
            raw((long) field << 3);
            raw(value);
            return this;
        }

        Message bytes(int field, byte[] value) {
            raw(((long) field << 3) | 2);
            raw(value.length);
            out.writeBytes(value);
            return this;
        }

        Message string(int field, String value) {
            return bytes(field, value.getBytes(StandardCharsets.UTF_8));
        }

        Message message(int field, Message value) {
            return bytes(field, value.toByteArray());
        }

        byte[] toByteArray() {
            return out.toByteArray();
        }

        private void raw(long value) {
            while ((value & ~0x7FL) != 0) {
                out.write((int) ((value & 0x7F) | 0x80));
                value >>>= 7;
            }
            out.write((int) value);
        }
    }
}
