package io.lorica.testkit.internal;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * A protobuf message being encoded into a growable byte array, in the wire format: varint (type 0), 32-bit (type 5)
 * and length-delimited (type 2) fields. Repeated scalar fields are written unpacked, which every parser accepts.
 */
public final class ProtoBuffer {

    private static final int VARINT = 0;
    private static final int LENGTH_DELIMITED = 2;
    private static final int FIXED32 = 5;

    private byte[] bytes = new byte[64];
    private int length;

    /** Adds a varint field (int32, int64, enum, bool). */
    public ProtoBuffer varint(int field, long value) {
        tag(field, VARINT);
        rawVarint(value);
        return this;
    }

    /** Adds a 32-bit float field. */
    public ProtoBuffer float32(int field, float value) {
        tag(field, FIXED32);
        int bits = Float.floatToRawIntBits(value);
        ensure(4);
        bytes[length++] = (byte) bits;
        bytes[length++] = (byte) (bits >>> 8);
        bytes[length++] = (byte) (bits >>> 16);
        bytes[length++] = (byte) (bits >>> 24);
        return this;
    }

    /** Adds a length-delimited bytes field. */
    public ProtoBuffer bytes(int field, byte[] value) {
        return bytes(field, value, 0, value.length);
    }

    /** Adds a length-delimited bytes field from {@code value[offset, offset + count)}. */
    public ProtoBuffer bytes(int field, byte[] value, int offset, int count) {
        tag(field, LENGTH_DELIMITED);
        rawVarint(count);
        append(value, offset, count);
        return this;
    }

    /** Adds a UTF-8 string field. */
    public ProtoBuffer string(int field, String value) {
        return bytes(field, value.getBytes(StandardCharsets.UTF_8));
    }

    /** Adds an embedded message field. */
    public ProtoBuffer message(int field, ProtoBuffer value) {
        return bytes(field, value.bytes, 0, value.length);
    }

    /**
     * Adds only the key and length of a length-delimited field whose {@code length} content bytes the caller writes
     * separately (streamed data).
     */
    public ProtoBuffer lengthPrefix(int field, long contentLength) {
        tag(field, LENGTH_DELIMITED);
        rawVarint(contentLength);
        return this;
    }

    /** Appends already encoded bytes (e.g. fields of an embedded message written flat). */
    public ProtoBuffer append(byte[] value, int offset, int count) {
        ensure(count);
        System.arraycopy(value, offset, bytes, length, count);
        length += count;
        return this;
    }

    /** The number of encoded bytes. */
    public int size() {
        return length;
    }

    /** A copy of the encoded bytes. */
    public byte[] toByteArray() {
        return Arrays.copyOf(bytes, length);
    }

    /** The backing array; only the first {@link #size()} bytes are valid. */
    byte[] array() {
        return bytes;
    }

    /** The encoded size of a varint. */
    public static int varintSize(long value) {
        int size = 1;
        while ((value & ~0x7FL) != 0) {
            value >>>= 7;
            size++;
        }
        return size;
    }

    /** The encoded size of a length-delimited field with {@code contentLength} content bytes. */
    public static long lengthDelimitedSize(int field, long contentLength) {
        return varintSize((long) field << 3) + varintSize(contentLength) + contentLength;
    }

    private void tag(int field, int wireType) {
        rawVarint(((long) field << 3) | wireType);
    }

    private void rawVarint(long value) {
        ensure(10);
        while ((value & ~0x7FL) != 0) {
            bytes[length++] = (byte) ((value & 0x7F) | 0x80);
            value >>>= 7;
        }
        bytes[length++] = (byte) value;
    }

    private void ensure(int more) {
        if (length + more > bytes.length) {
            bytes = Arrays.copyOf(bytes, Math.max(bytes.length * 2, length + more));
        }
    }
}
