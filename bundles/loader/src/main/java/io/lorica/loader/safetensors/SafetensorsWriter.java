package io.lorica.loader.safetensors;

import io.lorica.api.DType;
import io.lorica.api.TensorData;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * Writes safetensors files as the Python library does: the JSON header (with {@code __metadata__} first when there is
 * metadata, then the tensors in the order they were added) padded with spaces to a multiple of 8 bytes, so the data
 * area starts 8-byte aligned; the data laid out without gaps, tensors with larger elements first (stable otherwise),
 * so every tensor starts at a multiple of its element size. Files are written to a temporary file in the target's
 * folder and moved into place, so readers never see a partial file.
 *
 * <p>Not thread-safe; a writer may be written out several times.
 *
 * <pre>{@code
 * new SafetensorsWriter()
 *         .metadata("format", "pt")
 *         .add("unet.down.lora_A.weight", DTypes.tensor(DType.F16, new long[] {4, 320}, values))
 *         .write(target);
 * }</pre>
 */
public final class SafetensorsWriter {

    private static final JsonFactory FACTORY = new JsonFactory();

    private final Map<String, TensorData> tensors = new LinkedHashMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    /** An empty writer: no tensors, no metadata. */
    public SafetensorsWriter() {
    }

    /**
     * Writes {@code tensors} (in map order) and {@code metadata} to {@code target} atomically.
     *
     * @throws IllegalArgumentException as {@link #add(String, TensorData)} and {@link #metadata(String, String)}
     * @throws IOException              when the file cannot be written
     */
    public static void write(Path target, Map<String, TensorData> tensors, Map<String, String> metadata)
            throws IOException {
        SafetensorsWriter writer = new SafetensorsWriter();
        if (tensors != null) {
            tensors.forEach(writer::add);
        }
        if (metadata != null) {
            writer.metadata(metadata);
        }
        writer.write(target);
    }

    /**
     * Adds a tensor.
     *
     * @throws IllegalArgumentException when the key is null, empty, {@code __metadata__} or already added, or the
     *                                  tensor is null
     */
    public SafetensorsWriter add(String key, TensorData tensor) {
        if (key == null || key.isEmpty()) {
            throw new IllegalArgumentException("tensor key must not be null or empty, got '" + key + "'");
        }
        if (HeaderParser.METADATA_KEY.equals(key)) {
            throw new IllegalArgumentException("tensor key '" + key + "' is reserved for the metadata");
        }
        if (tensor == null) {
            throw new IllegalArgumentException("tensor '" + key + "' must not be null");
        }
        if (tensors.containsKey(key)) {
            throw new IllegalArgumentException("tensor key '" + key + "' was already added, expected unique keys");
        }
        tensors.put(key, tensor);
        return this;
    }

    /**
     * Adds a tensor from raw little-endian bytes (the remaining bytes of {@code bytes}, which are not copied: do not
     * change them before writing).
     *
     * @throws IllegalArgumentException as {@link #add(String, TensorData)}, or when the byte count does not match the
     *                                  shape and type
     */
    public SafetensorsWriter add(String key, DType dtype, long[] shape, ByteBuffer bytes) {
        return add(key, new TensorData(dtype, shape, bytes));
    }

    /**
     * Adds a tensor from raw little-endian bytes (copied).
     *
     * @throws IllegalArgumentException as {@link #add(String, DType, long[], ByteBuffer)}
     */
    public SafetensorsWriter add(String key, DType dtype, long[] shape, byte[] bytes) {
        return add(key, TensorData.of(dtype, shape, bytes));
    }

    /**
     * Sets a {@code __metadata__} entry (e.g. {@code lora_adapter_metadata}, stored verbatim).
     *
     * @throws IllegalArgumentException when the key or value is null
     */
    public SafetensorsWriter metadata(String key, String value) {
        if (key == null || value == null) {
            throw new IllegalArgumentException("metadata key and value must not be null, got " + key + " = "
                    + value);
        }
        metadata.put(key, value);
        return this;
    }

    /**
     * Sets all entries of {@code entries} as by {@link #metadata(String, String)}, in map order.
     *
     * @throws IllegalArgumentException when the map, a key or a value is null
     */
    public SafetensorsWriter metadata(Map<String, String> entries) {
        if (entries == null) {
            throw new IllegalArgumentException("metadata must not be null");
        }
        entries.forEach(this::metadata);
        return this;
    }

    /** The size of the file in bytes. */
    public long size() {
        return layout().size();
    }

    /**
     * Writes the file to {@code target} atomically: to a temporary file in the same folder, synced, then moved over
     * {@code target} (replacing it). The temporary file is removed if anything fails.
     *
     * @throws IOException when the file cannot be written or moved
     */
    public void write(Path target) throws IOException {
        Path absolute = target.toAbsolutePath();
        Path folder = absolute.getParent();
        Path temporary = folder.resolve("." + absolute.getFileName() + "." + UUID.randomUUID() + ".tmp");
        try {
            try (FileChannel channel = FileChannel.open(temporary, StandardOpenOption.CREATE_NEW,
                    StandardOpenOption.WRITE)) {
                writeTo(channel);
                channel.force(true);
            }
            try {
                Files.move(temporary, absolute, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temporary, absolute, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException | RuntimeException | Error e) {
            try {
                Files.deleteIfExists(temporary);
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    /**
     * Writes the file's bytes to {@code channel}.
     *
     * @throws IOException when the channel fails
     */
    public void writeTo(WritableByteChannel channel) throws IOException {
        writeTo(channel, layout());
    }

    private void writeTo(WritableByteChannel channel, Layout layout) throws IOException {
        ByteBuffer prefix = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(0, layout.header().length);
        writeFully(channel, prefix);
        writeFully(channel, ByteBuffer.wrap(layout.header()));
        for (String key : layout.dataOrder()) {
            writeFully(channel, tensors.get(key).data());
        }
    }

    /**
     * The file's bytes in a new heap buffer (little-endian, positioned at 0), e.g. for
     * {@link SafetensorsFile#read(String, ByteBuffer)} in tests.
     *
     * @throws IllegalStateException when the file would be larger than a Java array
     */
    public ByteBuffer toByteBuffer() {
        Layout layout = layout();
        long size = layout.size();
        if (size > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException("safetensors file of " + size + " bytes does not fit a heap buffer");
        }
        ByteBuffer out = ByteBuffer.allocate((int) size);
        try {
            writeTo(new WritableByteChannel() {
                @Override
                public int write(ByteBuffer source) {
                    int count = source.remaining();
                    out.put(source);
                    return count;
                }

                @Override
                public boolean isOpen() {
                    return true;
                }

                @Override
                public void close() {
                }
            }, layout);
        } catch (IOException e) {
            throw new UncheckedIOException("writing to a heap buffer does no I/O", e);
        }
        return out.flip().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** The header bytes (padded), the order of the data, and the total size. */
    private record Layout(byte[] header, List<String> dataOrder, long dataSize) {

        long size() {
            return 8L + header.length + dataSize;
        }
    }

    private Layout layout() {
        List<String> order = new ArrayList<>(tensors.keySet());
        order.sort(Comparator.comparingInt((String key) -> tensors.get(key).dtype().byteSize()).reversed());
        Map<String, long[]> offsets = new LinkedHashMap<>();
        long at = 0;
        for (String key : order) {
            long length = tensors.get(key).info().byteSize();
            offsets.put(key, new long[] {at, at + length});
            at += length;
        }
        ByteArrayOutputStream json = new ByteArrayOutputStream(64 + 128 * tensors.size());
        try (JsonGenerator generator = FACTORY.createGenerator(json)) {
            generator.writeStartObject();
            if (!metadata.isEmpty()) {
                generator.writeObjectFieldStart(HeaderParser.METADATA_KEY);
                for (Map.Entry<String, String> entry : metadata.entrySet()) {
                    generator.writeStringField(entry.getKey(), entry.getValue());
                }
                generator.writeEndObject();
            }
            for (Map.Entry<String, TensorData> entry : tensors.entrySet()) {
                TensorData tensor = entry.getValue();
                generator.writeObjectFieldStart(entry.getKey());
                generator.writeStringField("dtype", tensor.dtype().safetensorsName());
                long[] shape = tensor.shape();
                generator.writeArrayFieldStart("shape");
                for (long dim : shape) {
                    generator.writeNumber(dim);
                }
                generator.writeEndArray();
                long[] range = offsets.get(entry.getKey());
                generator.writeArrayFieldStart("data_offsets");
                generator.writeNumber(range[0]);
                generator.writeNumber(range[1]);
                generator.writeEndArray();
                generator.writeEndObject();
            }
            generator.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException("writing JSON to memory does no I/O", e);
        }
        int padding = (8 - json.size() % 8) % 8;
        for (int i = 0; i < padding; i++) {
            json.write(' ');
        }
        byte[] header = json.toByteArray();
        if (header.length > SafetensorsFile.MAX_HEADER_SIZE) {
            throw new IllegalStateException("header of " + header.length + " bytes is above the cap of "
                    + SafetensorsFile.MAX_HEADER_SIZE + " that readers accept");
        }
        return new Layout(header, order, at);
    }

    private static void writeFully(WritableByteChannel channel, ByteBuffer source) throws IOException {
        while (source.hasRemaining()) {
            channel.write(source);
        }
    }
}
