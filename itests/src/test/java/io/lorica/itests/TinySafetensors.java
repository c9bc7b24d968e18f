package io.lorica.itests;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes small F32 safetensors files from inside the container (the test probe cannot see the loader's private
 * writer): 8-byte little-endian header length, JSON header, data.
 */
final class TinySafetensors {

    /** One tensor: its shape and values (row-major). */
    record Tensor(long[] shape, float[] values) {
    }

    private final Map<String, Tensor> tensors = new LinkedHashMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    TinySafetensors tensor(String key, long[] shape, float... values) {
        tensors.put(key, new Tensor(shape, values));
        return this;
    }

    /** A tensor of the shape filled with {@code value}. */
    TinySafetensors filled(String key, long[] shape, float value) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        float[] values = new float[Math.toIntExact(n)];
        java.util.Arrays.fill(values, value);
        return tensor(key, shape, values);
    }

    TinySafetensors metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    /** Writes atomically (temporary file, then move), so a watcher never sees half a file. */
    void write(Path target) throws IOException {
        StringBuilder header = new StringBuilder("{");
        if (!metadata.isEmpty()) {
            header.append("\"__metadata__\":{");
            int i = 0;
            for (Map.Entry<String, String> entry : metadata.entrySet()) {
                header.append(i++ == 0 ? "" : ",").append('"').append(entry.getKey()).append("\":\"").append(entry.getValue()).append('"');
            }
            header.append("},");
        }
        long offset = 0;
        int i = 0;
        for (Map.Entry<String, Tensor> entry : tensors.entrySet()) {
            long bytes = entry.getValue().values().length * 4L;
            header.append(i++ == 0 ? "" : ",").append('"').append(entry.getKey()).append("\":{\"dtype\":\"F32\",\"shape\":")
                    .append(java.util.Arrays.toString(entry.getValue().shape()).replace(" ", ""))
                    .append(",\"data_offsets\":[").append(offset).append(',').append(offset + bytes).append("]}");
            offset += bytes;
        }
        header.append('}');
        while ((header.length() % 8) != 0) {
            header.append(' ');
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer out = ByteBuffer.allocate(8 + json.length + Math.toIntExact(offset)).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(json.length).put(json);
        for (Tensor tensor : tensors.values()) {
            for (float value : tensor.values()) {
                out.putFloat(value);
            }
        }
        Files.createDirectories(target.getParent());
        Path temporary = target.resolveSibling(target.getFileName() + ".part");
        Files.write(temporary, out.array());
        Files.move(temporary, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
