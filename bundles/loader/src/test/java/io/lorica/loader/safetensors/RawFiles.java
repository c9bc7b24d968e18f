package io.lorica.loader.safetensors;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Builds safetensors bytes by hand, including broken ones. */
final class RawFiles {

    private RawFiles() {
    }

    /** Length prefix of the header's UTF-8 bytes, the header, then {@code dataBytes} bytes {@code 0, 1, 2, ...}. */
    static byte[] file(String header, int dataBytes) {
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        return file(json.length, json, dataBytes);
    }

    /** The given length prefix, header bytes and {@code dataBytes} bytes {@code 0, 1, 2, ...}. */
    static byte[] file(long lengthPrefix, byte[] header, int dataBytes) {
        ByteBuffer out = ByteBuffer.allocate(8 + header.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(lengthPrefix).put(header);
        for (int i = 0; i < dataBytes; i++) {
            out.put((byte) i);
        }
        return out.array();
    }

    /** The first 8 bytes as a little-endian long. */
    static byte[] prefixOnly(long lengthPrefix) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(lengthPrefix).array();
    }

    /** One header entry, e.g. {@code "a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}. */
    static String entry(String key, String dtype, String shape, String offsets) {
        return "\"" + key + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
    }

    static Path write(Path folder, String name, byte[] bytes) throws IOException {
        return Files.write(folder.resolve(name), bytes);
    }
}
