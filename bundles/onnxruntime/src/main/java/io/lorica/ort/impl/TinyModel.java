package io.lorica.ort.impl;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * A tiny ONNX model written directly in protobuf wire format: {@code y = MatMul(x, W) + b} with {@code x [1,4]},
 * {@code W [4,3]}, {@code b [3]} — the shape of one LoRA target layer. Used by the runtime's self-test, so it needs no
 * ONNX protobuf classes.
 */
final class TinyModel {

    static final float[] WEIGHT = {
        0.5f, -1.0f, 2.0f,
        1.5f, 0.25f, -0.5f,
        -2.0f, 1.0f, 0.75f,
        0.0f, 3.0f, -1.25f};
    static final float[] BIAS = {0.1f, -0.2f, 0.3f};
    static final float[] INPUT = {1.0f, 2.0f, -1.0f, 0.5f};

    private static final int FLOAT = 1;

    private TinyModel() {
    }

    /** The expected output for {@link #INPUT}, computed in Java. */
    static float[] expected() {
        float[] out = new float[3];
        for (int j = 0; j < 3; j++) {
            float sum = BIAS[j];
            for (int i = 0; i < 4; i++) {
                sum += INPUT[i] * WEIGHT[i * 3 + j];
            }
            out[j] = sum;
        }
        return out;
    }

    /** The serialised ModelProto. */
    static byte[] bytes() {
        Proto graph = new Proto()
                .message(1, node("MatMul", "matmul", "y_pre", "x", "W"))
                .message(1, node("Add", "add", "y", "y_pre", "b"))
                .string(2, "lorica_self_test")
                .message(5, tensor("W", WEIGHT, 4, 3))
                .message(5, tensor("b", BIAS, 3))
                .message(11, valueInfo("x", 1, 4))
                .message(12, valueInfo("y", 1, 3));
        Proto opset = new Proto().string(1, "").varint(2, 17);
        return new Proto()
                .varint(1, 8)
                .string(2, "lorica")
                .message(7, graph)
                .message(8, opset)
                .toByteArray();
    }

    private static Proto node(String opType, String name, String output, String... inputs) {
        Proto node = new Proto();
        for (String input : inputs) {
            node.string(1, input);
        }
        return node.string(2, output).string(3, name).string(4, opType);
    }

    private static Proto tensor(String name, float[] values, long... dims) {
        Proto tensor = new Proto();
        for (long dim : dims) {
            tensor.varint(1, dim);
        }
        ByteBuffer raw = ByteBuffer.allocate(values.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (float value : values) {
            raw.putFloat(value);
        }
        return tensor.varint(2, FLOAT).string(8, name).bytes(9, raw.array());
    }

    private static Proto valueInfo(String name, long... dims) {
        Proto shape = new Proto();
        for (long dim : dims) {
            shape.message(1, new Proto().varint(1, dim));
        }
        Proto tensorType = new Proto().varint(1, FLOAT).message(2, shape);
        return new Proto().string(1, name).message(2, new Proto().message(1, tensorType));
    }

    /** Just enough of the protobuf wire format: varints and length-delimited fields. */
    private static final class Proto {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Proto varint(int field, long value) {
            writeVarint((long) field << 3);
            writeVarint(value);
            return this;
        }

        Proto string(int field, String value) {
            return bytes(field, value.getBytes(StandardCharsets.UTF_8));
        }

        Proto bytes(int field, byte[] value) {
            writeVarint(((long) field << 3) | 2);
            writeVarint(value.length);
            out.writeBytes(value);
            return this;
        }

        Proto message(int field, Proto message) {
            return bytes(field, message.toByteArray());
        }

        byte[] toByteArray() {
            return out.toByteArray();
        }

        private void writeVarint(long value) {
            while ((value & ~0x7FL) != 0) {
                out.write((int) ((value & 0x7F) | 0x80));
                value >>>= 7;
            }
            out.write((int) value);
        }
    }
}
