package io.lorica.engine.onnx;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A read-only memory mapping of one external data file, made lazily in windows: window {@code i} starts at
 * {@code i * chunkSize} and is up to {@code 2 * chunkSize} bytes long (at most {@link Integer#MAX_VALUE}), so every
 * tensor no larger than {@code chunkSize} lies inside the window of its first byte; larger tensors get a mapping of
 * their own. A mapping stays valid after its channel is closed, so no file handle is kept open.
 */
final class MappedDataFile {

    private final Path path;
    private final long size;
    private final long chunkSize;
    private final Map<Long, MappedByteBuffer> windows = new ConcurrentHashMap<>();
    private final Map<String, MappedByteBuffer> dedicated = new ConcurrentHashMap<>();

    MappedDataFile(Path path, long size, long chunkSize) {
        this.path = path;
        this.size = size;
        this.chunkSize = chunkSize;
    }

    Path path() {
        return path;
    }

    long size() {
        return size;
    }

    /** A zero-copy read-only little-endian view of {@code [offset, offset + length)}. */
    ByteBuffer view(long offset, long length) {
        if (offset < 0 || length < 0 || offset + length > size) {
            throw new IllegalArgumentException("range [" + offset + ", " + (offset + length) + ") is outside "
                    + path.getFileName() + " (" + size + " bytes)");
        }
        if (length > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("a tensor of " + length + " bytes in " + path.getFileName()
                    + " exceeds the 2 GiB limit of one buffer");
        }
        if (length == 0) {
            return ByteBuffer.allocate(0).order(ByteOrder.LITTLE_ENDIAN).asReadOnlyBuffer();
        }
        long index = offset / chunkSize;
        long start = index * chunkSize;
        long windowLength = Math.min(size - start, Math.min(Integer.MAX_VALUE, 2 * chunkSize));
        MappedByteBuffer base;
        long relative;
        if (offset + length <= start + windowLength) {
            base = windows.computeIfAbsent(index, i -> map(start, windowLength));
            relative = offset - start;
        } else {
            base = dedicated.computeIfAbsent(offset + ":" + length, k -> map(offset, length));
            relative = 0;
        }
        ByteBuffer view = base.duplicate();
        view.position((int) relative).limit((int) (relative + length));
        return view.slice().asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** How many mappings are held (for tests). */
    int mappingCount() {
        return windows.size() + dedicated.size();
    }

    private MappedByteBuffer map(long position, long length) {
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            return channel.map(FileChannel.MapMode.READ_ONLY, position, length);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot map " + path + " [" + position + ", " + (position + length) + ")",
                    e);
        }
    }
}
