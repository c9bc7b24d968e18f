package io.lorica.testkit.internal;

import io.lorica.api.DType;

import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a safetensors file: an 8-byte little-endian header length, the JSON header ({@code __metadata__} first,
 * then per tensor {@code dtype}, {@code shape}, {@code data_offsets}, keys sorted; padded with spaces to a multiple of
 * 8 bytes), then the tensors' little-endian data back to back in header order.
 */
public final class SafetensorsWriter {

    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * One tensor.
     *
     * @param key    its name
     * @param dtype  F32 or F16
     * @param shape  its shape ({@code []} for a scalar)
     * @param values its values, row-major; converted to {@code dtype}
     */
    public record Tensor(String key, DType dtype, long[] shape, float[] values) {

        /** @throws IllegalArgumentException when the dtype is not F32/F16 or the value count does not fit the shape */
        public Tensor {
            if (dtype != DType.F32 && dtype != DType.F16) {
                throw new IllegalArgumentException("tensor " + key + ": dtype must be F32 or F16, got " + dtype);
            }
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            if (n != values.length) {
                throw new IllegalArgumentException("tensor " + key + ": shape " + Arrays.toString(shape) + " has " + n
                        + " elements, got " + values.length + " values");
            }
        }
    }

    private SafetensorsWriter() {
    }

    /** Writes the file; returns its size in bytes. */
    public static long write(Path file, Map<String, String> metadata, List<Tensor> tensors) {
        List<Tensor> sorted = new ArrayList<>(tensors);
        sorted.sort(Comparator.comparing(Tensor::key));
        Map<String, Object> header = new LinkedHashMap<>();
        if (!metadata.isEmpty()) {
            header.put("__metadata__", new LinkedHashMap<>(metadata));
        }
        long offset = 0;
        for (Tensor t : sorted) {
            long length = (long) t.values().length * t.dtype().byteSize();
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("dtype", t.dtype().safetensorsName());
            entry.put("shape", t.shape());
            entry.put("data_offsets", new long[] {offset, offset + length});
            if (header.put(t.key(), entry) != null) {
                throw new IllegalArgumentException("duplicate tensor key " + t.key());
            }
            offset += length;
        }
        try {
            StringBuilder json = new StringBuilder(JSON.writeValueAsString(header));
            while (json.toString().getBytes(StandardCharsets.UTF_8).length % 8 != 0) {
                json.append(' ');
            }
            byte[] headerBytes = json.toString().getBytes(StandardCharsets.UTF_8);
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(file), 1 << 16)) {
                ByteBuffer length = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(headerBytes.length);
                out.write(length.array());
                out.write(headerBytes);
                for (Tensor t : sorted) {
                    ByteBuffer data = ByteBuffer.allocate(t.values().length * t.dtype().byteSize())
                            .order(ByteOrder.LITTLE_ENDIAN);
                    for (float v : t.values()) {
                        if (t.dtype() == DType.F16) {
                            data.putShort(Half.fromFloat(v));
                        } else {
                            data.putFloat(v);
                        }
                    }
                    out.write(data.array());
                }
            }
            return 8L + headerBytes.length + offset;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }
}
