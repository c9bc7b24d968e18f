package io.lorica.loader.safetensors;

import io.lorica.api.TensorData;
import io.lorica.api.TensorInfo;
import io.lorica.api.format.AdapterFormatException;
import io.lorica.api.format.TensorSource;
import io.lorica.loader.safetensors.HeaderParser.Entry;
import io.lorica.loader.safetensors.HeaderParser.Header;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * A validated safetensors file whose tensors are zero-copy, read-only, little-endian views of a read-only memory
 * mapping (or of the caller's buffer, for {@link #read(String, ByteBuffer)}).
 *
 * <h2>Format</h2>
 * An 8-byte little-endian unsigned header length {@code N}, {@code N} bytes of UTF-8 JSON, then the data area. The
 * JSON is one object mapping each tensor key to {@code {"dtype": "F16", "shape": [4, 320], "data_offsets": [begin,
 * end]}} (offsets relative to the start of the data area), plus an optional {@code "__metadata__"} object of strings.
 *
 * <h2>Validation</h2>
 * Nothing in the file is trusted before it is checked; every problem is an {@link AdapterFormatException} naming the
 * file ({@link #name()}) and the offending key, or {@code "<header>"} when no key is to blame:
 * <ul>
 *   <li>the file is shorter than 8 bytes; the header length is 0, runs beyond the end of the file, or is above
 *       {@link #MAX_HEADER_SIZE};</li>
 *   <li>the header is not UTF-8, not JSON, not an object, has duplicate or empty keys, or has anything but spaces
 *       after the object;</li>
 *   <li>an entry is not an object, lacks {@code dtype}, {@code shape} or {@code data_offsets}, has another field or
 *       one of them twice; the dtype is not a {@link io.lorica.api.DType}; the shape is not an array of non-negative
 *       integers or its byte size overflows 64 bits; {@code data_offsets} is not two non-negative integers
 *       {@code begin <= end}; {@code end} is beyond the data area; {@code end - begin} differs from the shape's
 *       element count times the dtype size;</li>
 *   <li>two non-empty byte ranges overlap;</li>
 *   <li>{@code __metadata__} is not an object of string values ({@code null} is taken as no metadata, as the
 *       reference implementation does).</li>
 * </ul>
 * Unused bytes between tensors, before the first or after the last one are allowed (the reference implementation
 * rejects them) and reported in {@link #warnings()}. Empty (0-byte) ranges overlap nothing.
 *
 * <h2>Lifetime</h2>
 * Opening maps the data area and closes the file handle at once. {@link #close()} is idempotent; afterwards
 * {@link #tensor(String)} throws {@link IllegalStateException}, while keys, infos and metadata stay available.
 * <b>Views must not be used after {@code close()}.</b> In this implementation they happen to stay readable, because
 * Java 17 cannot unmap safely and the mapping is released by the garbage collector once neither this object nor any
 * view is reachable; code that needs tensors beyond the file's life should keep the file open for as long, or copy.
 * If another process truncates the file while it is mapped, reading a view may fail with an {@link InternalError}, as
 * for any memory mapping in Java.
 *
 * <p>Instances are safe for concurrent use.
 */
public final class SafetensorsFile implements TensorSource, AutoCloseable {

    /** The largest header accepted, in bytes (100 MiB), as a guard against hostile length prefixes. */
    public static final long MAX_HEADER_SIZE = 100L * 1024 * 1024;

    /** The key named in exceptions about the file or header as a whole, rather than one entry. */
    public static final String HEADER_KEY = HeaderParser.HEADER;

    /** The largest mapping made at once; files with a larger data area are mapped in several segments. */
    static final long MAX_SEGMENT = Integer.MAX_VALUE;

    private static final int MAX_WARNINGS = 20;
    private static final int NOT_MAPPABLE = -1;

    private final String name;
    private final Path path;
    private final Header header;
    private final Map<String, Placement> placements;
    private final long headerSize;
    private final long dataSize;
    private final List<String> warnings;
    private volatile ByteBuffer[] segments;

    /** Where an entry's bytes are: segment index ({@link #NOT_MAPPABLE} when too large) and offset in it. */
    private record Placement(Entry entry, int segment, int offset) {
    }

    private SafetensorsFile(String name, Path path, Header header, Map<String, Placement> placements,
                            ByteBuffer[] segments, long headerSize, long dataSize, List<String> warnings) {
        this.name = name;
        this.path = path;
        this.header = header;
        this.placements = placements;
        this.segments = segments;
        this.headerSize = headerSize;
        this.dataSize = dataSize;
        this.warnings = List.copyOf(warnings);
    }

    /**
     * Opens, validates and memory-maps the safetensors file at {@code path}. The file handle is closed before this
     * returns; {@link #name()} is the file name.
     *
     * @throws AdapterFormatException when the file is not a valid safetensors file (see the class description)
     * @throws IOException            when the file cannot be read or mapped
     */
    public static SafetensorsFile open(Path path) throws IOException {
        return open(path, MAX_SEGMENT);
    }

    /** As {@link #open(Path)}, with mappings of at most {@code maxSegment} bytes (tests use small ones). */
    static SafetensorsFile open(Path path, long maxSegment) throws IOException {
        Objects.requireNonNull(path, "path");
        Path fileName = path.getFileName();
        String name = fileName == null ? path.toString() : fileName.toString();
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = channel.size();
            ByteBuffer prefix = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            if (size >= 8) {
                readFully(name, channel, prefix, 0);
            }
            int headerSize = checkHeaderLength(name, size, size >= 8 ? prefix.getLong(0) : 0);
            ByteBuffer headerBytes = ByteBuffer.allocate(headerSize);
            readFully(name, channel, headerBytes, 8);
            long dataStart = 8L + headerSize;
            long dataSize = size - dataStart;
            Header header = HeaderParser.parse(name, headerBytes.flip(), dataSize);
            return create(name, path, header, headerSize, dataSize, maxSegment,
                    (begin, length) -> channel.map(FileChannel.MapMode.READ_ONLY, dataStart + begin, length));
        }
    }

    /**
     * Validates the safetensors bytes {@code whole} (its remaining bytes: position to limit) and returns a view of
     * them, for in-memory or uploaded files. Tensors are zero-copy, read-only views of {@code whole}: the caller must
     * not modify those bytes afterwards. The position and limit of {@code whole} are not changed.
     *
     * @param name the name to use in messages and as {@link #name()}, e.g. the uploaded file name
     * @throws AdapterFormatException when the bytes are not a valid safetensors file (see the class description)
     */
    public static SafetensorsFile read(String name, ByteBuffer whole) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(whole, "whole");
        ByteBuffer all = whole.slice().order(ByteOrder.LITTLE_ENDIAN);
        long size = all.remaining();
        int headerSize = checkHeaderLength(name, size, size >= 8 ? all.getLong(0) : 0);
        long dataSize = size - 8 - headerSize;
        Header header = HeaderParser.parse(name, all.slice(8, headerSize), dataSize);
        ByteBuffer data = all.slice(8 + headerSize, (int) dataSize).asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
        try {
            return create(name, null, header, headerSize, dataSize, MAX_SEGMENT,
                    (begin, length) -> data.slice((int) begin, (int) length));
        } catch (IOException e) {
            throw new IllegalStateException("slicing a buffer does no I/O", e);
        }
    }

    /** Checks the length prefix against the file size and the cap; returns it as an int. */
    private static int checkHeaderLength(String name, long fileSize, long length) {
        if (fileSize < 8) {
            throw new AdapterFormatException(name, HEADER_KEY, "file has " + fileSize
                    + " bytes, expected at least 8 for the header length and a header");
        }
        if (length == 0) {
            throw new AdapterFormatException(name, HEADER_KEY,
                    "header length is 0, expected the length of a JSON header of at least 2 bytes ({})");
        }
        long available = fileSize - 8;
        if (Long.compareUnsigned(length, available) > 0) {
            throw new AdapterFormatException(name, HEADER_KEY, "header length " + Long.toUnsignedString(length)
                    + " runs beyond the end of the file, expected at most the " + available
                    + " bytes after the 8-byte length (truncated file, or not a safetensors file?)");
        }
        if (length > MAX_HEADER_SIZE) {
            throw new AdapterFormatException(name, HEADER_KEY, "header length " + length + " is above the cap of "
                    + MAX_HEADER_SIZE + " bytes, expected a smaller header");
        }
        return (int) length;
    }

    private static void readFully(String name, FileChannel channel, ByteBuffer target, long position)
            throws IOException {
        long at = position;
        while (target.hasRemaining()) {
            int read = channel.read(target, at);
            if (read < 0) {
                throw new AdapterFormatException(name, HEADER_KEY, "file ended at byte " + at + " while reading the "
                        + "header, expected " + target.remaining() + " more bytes (was it truncated while opening?)");
            }
            at += read;
        }
    }

    @FunctionalInterface
    private interface Mapper {
        ByteBuffer map(long begin, long length) throws IOException;
    }

    /**
     * Checks the byte ranges for overlaps (reporting gaps), groups them into segments of at most {@code maxSegment}
     * bytes in file order, and maps each segment once.
     */
    private static SafetensorsFile create(String name, Path path, Header header, long headerSize, long dataSize,
                                          long maxSegment, Mapper mapper) throws IOException {
        Entry[] sorted = header.entries().values().toArray(new Entry[0]);
        if (!isSorted(sorted)) {
            Arrays.sort(sorted, Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        }
        List<String> warnings = checkRanges(name, sorted, dataSize);

        Placement[] placed = new Placement[sorted.length];
        List<ByteBuffer> segments = new ArrayList<>();
        long segmentBegin = -1;
        long segmentEnd = -1;
        for (int i = 0; i < sorted.length; i++) {
            Entry entry = sorted[i];
            if (entry.length() > maxSegment) {
                placed[i] = new Placement(entry, NOT_MAPPABLE, 0);
                continue;
            }
            if (segmentBegin < 0 || entry.end() - segmentBegin > maxSegment) {
                if (segmentBegin >= 0) {
                    segments.add(mapSegment(mapper, segmentBegin, segmentEnd));
                }
                segmentBegin = entry.begin();
                segmentEnd = entry.end();
            } else {
                segmentEnd = Math.max(segmentEnd, entry.end());
            }
            placed[i] = new Placement(entry, segments.size(), (int) (entry.begin() - segmentBegin));
        }
        if (segmentBegin >= 0) {
            segments.add(mapSegment(mapper, segmentBegin, segmentEnd));
        }

        Map<String, Placement> placements = new HashMap<>(Math.max(16, sorted.length * 4 / 3 + 1));
        for (Placement placement : placed) {
            placements.put(placement.entry().key(), placement);
        }
        return new SafetensorsFile(name, path, header, placements, segments.toArray(new ByteBuffer[0]), headerSize,
                dataSize, warnings);
    }

    private static ByteBuffer mapSegment(Mapper mapper, long begin, long end) throws IOException {
        return mapper.map(begin, end - begin).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static boolean isSorted(Entry[] entries) {
        for (int i = 1; i < entries.length; i++) {
            Entry previous = entries[i - 1];
            Entry current = entries[i];
            if (previous.begin() > current.begin()
                    || previous.begin() == current.begin() && previous.end() > current.end()) {
                return false;
            }
        }
        return true;
    }

    /** Rejects overlapping non-empty ranges (entries sorted by begin); returns warnings for unused bytes. */
    private static List<String> checkRanges(String name, Entry[] sorted, long dataSize) {
        List<String> warnings = new ArrayList<>();
        int gaps = 0;
        long unused = 0;
        long coveredUpTo = 0;
        Entry last = null;
        for (Entry entry : sorted) {
            if (entry.length() == 0) {
                continue;
            }
            if (last != null && entry.begin() < coveredUpTo) {
                throw new AdapterFormatException(name, entry.key(), "data_offsets [" + entry.begin() + ", "
                        + entry.end() + "] overlap those of '" + last.key() + "' [" + last.begin() + ", " + last.end()
                        + "], expected disjoint byte ranges");
            }
            if (entry.begin() > coveredUpTo) {
                gaps++;
                unused += entry.begin() - coveredUpTo;
                if (gaps <= MAX_WARNINGS) {
                    warnings.add((entry.begin() - coveredUpTo) + " unused bytes at data offsets [" + coveredUpTo
                            + ", " + entry.begin() + ") before '" + entry.key() + "'");
                }
            }
            coveredUpTo = entry.end();
            last = entry;
        }
        if (gaps > MAX_WARNINGS) {
            warnings.add((gaps - MAX_WARNINGS) + " more gaps; " + unused + " unused bytes between tensors in all");
        }
        if (coveredUpTo < dataSize) {
            warnings.add((dataSize - coveredUpTo) + " unused bytes after the last tensor, at data offsets ["
                    + coveredUpTo + ", " + dataSize + ")");
        }
        return warnings;
    }

    /** The file name, or the name given to {@link #read(String, ByteBuffer)}. */
    @Override
    public String name() {
        return name;
    }

    /** The file, or empty for {@link #read(String, ByteBuffer) in-memory} bytes. */
    public Optional<Path> path() {
        return Optional.ofNullable(path);
    }

    /** The tensor keys in header order (without {@code __metadata__}); unmodifiable. */
    @Override
    public Set<String> keys() {
        return header.entries().keySet();
    }

    /** Whether {@code key} is a tensor of this file. */
    @Override
    public boolean contains(String key) {
        return header.entries().containsKey(key);
    }

    /**
     * The type and shape of {@code key}; does not touch the data.
     *
     * @throws AdapterFormatException naming the key and file when the key is not present
     */
    @Override
    public TensorInfo info(String key) {
        return placement(key).entry().info();
    }

    /**
     * A zero-copy, read-only, little-endian view of the bytes of {@code key}.
     *
     * @throws AdapterFormatException when the key is not present, or its data is larger than one buffer can hold
     *                                ({@value Integer#MAX_VALUE} bytes)
     * @throws IllegalStateException  after {@link #close()}
     */
    @Override
    public TensorData tensor(String key) {
        ByteBuffer[] mapped = segments;
        if (mapped == null) {
            throw new IllegalStateException("safetensors file '" + name + "' is closed, cannot read tensor '" + key
                    + "'");
        }
        Placement placement = placement(key);
        Entry entry = placement.entry();
        if (placement.segment() == NOT_MAPPABLE) {
            throw new AdapterFormatException(name, key, "tensor " + entry.info() + " has " + entry.length()
                    + " bytes, expected at most " + Integer.MAX_VALUE + " to fit one buffer");
        }
        ByteBuffer view = mapped[placement.segment()].slice(placement.offset(), (int) entry.length());
        return new TensorData(entry.info().dtype(), entry.info().shape(), view);
    }

    /** The {@code __metadata__} entries in header order, values exactly as stored; empty when absent. */
    @Override
    public Map<String, String> metadata() {
        return header.metadata();
    }

    /** The number of bytes after the header: the file size minus 8 minus {@link #headerSize()}. */
    public long dataSize() {
        return dataSize;
    }

    /** The length of the JSON header in bytes, as the length prefix gives it. */
    public long headerSize() {
        return headerSize;
    }

    /**
     * Findings that do not prevent reading the file: unused bytes between, before or after tensors (the reference
     * implementation rejects such files). Empty for files written by the Python library or {@link SafetensorsWriter}.
     */
    public List<String> warnings() {
        return warnings;
    }

    /** Whether {@link #close()} has been called. */
    public boolean isClosed() {
        return segments == null;
    }

    /**
     * Ends the use of this file: {@link #tensor(String)} throws from now on, and views obtained earlier must no longer
     * be used. Drops this object's reference to the mapping, which the garbage collector releases once no view is
     * reachable either. Idempotent.
     */
    @Override
    public void close() {
        segments = null;
    }

    private Placement placement(String key) {
        Placement placement = key == null ? null : placements.get(key);
        if (placement == null) {
            throw new AdapterFormatException(name, key, "no such tensor, expected one of the " + placements.size()
                    + " keys in the header");
        }
        return placement;
    }

    /** E.g. {@code SafetensorsFile[pytorch_lora_weights.safetensors, 2400 tensors, 228000000 data bytes]}. */
    @Override
    public String toString() {
        return "SafetensorsFile[" + name + ", " + placements.size() + " tensors, " + dataSize + " data bytes"
                + (isClosed() ? ", closed" : "") + "]";
    }
}
