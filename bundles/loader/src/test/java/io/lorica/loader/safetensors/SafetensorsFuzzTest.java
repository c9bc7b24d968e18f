package io.lorica.loader.safetensors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.DType;
import io.lorica.api.TensorData;
import io.lorica.api.TensorInfo;
import io.lorica.api.format.AdapterFormatException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.EdgeCasesMode;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.statistics.Statistics;

/**
 * Bounded, seeded fuzzing of the reader: valid files from {@link SafetensorsWriter}, mutated (truncated, bytes flipped,
 * random length prefixes, random or edited JSON headers, random offsets), must either open as a fully consistent file
 * or be rejected with an {@link AdapterFormatException} naming the source: never another exception, never a hang.
 */
class SafetensorsFuzzTest {

    private static final String NAME = "fuzz.safetensors";
    private static final Duration PER_TRY = Duration.ofSeconds(10);
    private static final int MUTATIONS = 10;

    private record Spec(String key, DType dtype, long[] shape) {
    }

    @Provide
    Arbitrary<byte[]> validFiles() {
        Arbitrary<String> keys = Arbitraries.strings().alpha().numeric().withChars("._\"\\/é中 ")
                .ofMinLength(1).ofMaxLength(12);
        Arbitrary<long[]> shapes = Arbitraries.longs().between(0, 5).array(long[].class).ofMaxSize(3);
        Arbitrary<List<Spec>> specs = Combinators.combine(keys, Arbitraries.of(DType.class), shapes).as(Spec::new)
                .list().ofMaxSize(6).uniqueElements(Spec::key);
        Arbitrary<Map<String, String>> metadata = Arbitraries.maps(
                Arbitraries.strings().alpha().withChars("_ ").ofMaxLength(8),
                Arbitraries.strings().alpha().numeric().withChars("{}[]\":,\\\n é").ofMaxLength(24)).ofMaxSize(3);
        return Combinators.combine(specs, metadata).as((tensors, meta) -> {
            SafetensorsWriter writer = new SafetensorsWriter().metadata(meta);
            int fill = 0;
            for (Spec spec : tensors) {
                int size = (int) new TensorInfo(spec.dtype(), spec.shape()).byteSize();
                byte[] bytes = new byte[size];
                for (int i = 0; i < size; i++) {
                    bytes[i] = (byte) (fill++ * 31);
                }
                writer.add(spec.key(), spec.dtype(), spec.shape(), bytes);
            }
            return writer.toByteBuffer().array();
        });
    }

    @Property(tries = 2000, seed = "20240521", edgeCases = EdgeCasesMode.NONE)
    void read_ofMutatedBytes_opensConsistentlyOrRejectsWithFormatException(
            @ForAll("validFiles") byte[] valid,
            @ForAll @IntRange(min = 0, max = MUTATIONS - 1) int mutation,
            @ForAll long seed) {
        byte[] bytes = mutate(valid, mutation, new SplittableRandom(seed));
        String outcome = assertTimeoutPreemptively(PER_TRY, () -> check(ByteBuffer.wrap(bytes)));
        Statistics.label("outcome").collect(outcome);
        Statistics.label("mutation").collect(mutation, outcome);
        Statistics.label("outcome").coverage(coverage -> {
            coverage.check("valid").percentage(p -> p >= 10);
            coverage.check("rejected").percentage(p -> p >= 40);
        });
    }

    @Property(tries = 250, seed = "20240522", edgeCases = EdgeCasesMode.NONE)
    void open_ofMutatedFiles_opensConsistentlyOrRejectsWithFormatException(
            @ForAll("validFiles") byte[] valid,
            @ForAll @IntRange(min = 0, max = MUTATIONS - 1) int mutation,
            @ForAll long seed) throws IOException {
        byte[] bytes = mutate(valid, mutation, new SplittableRandom(seed));
        Path path = Files.createTempFile("lorica-fuzz-", ".safetensors");
        try {
            Files.write(path, bytes);
            assertTimeoutPreemptively(PER_TRY, () -> checkFile(path, bytes));
        } finally {
            Files.deleteIfExists(path);
        }
    }

    @Property(tries = 200, seed = "20240523")
    void read_ofValidFiles_roundTrips(@ForAll("validFiles") byte[] valid) {
        SafetensorsFile file = SafetensorsFile.read(NAME, ByteBuffer.wrap(valid));
        assertEquals(List.of(), file.warnings());
        assertConsistent(file, valid.length);
        ByteBuffer rewritten = rewrite(file).toByteBuffer();
        assertEquals(ByteBuffer.wrap(valid), rewritten, "writing what was read gives the same bytes");
    }

    private static SafetensorsWriter rewrite(SafetensorsFile file) {
        SafetensorsWriter writer = new SafetensorsWriter().metadata(file.metadata());
        for (String key : file.keys()) {
            writer.add(key, file.tensor(key));
        }
        return writer;
    }

    private static String check(ByteBuffer bytes) {
        int length = bytes.remaining();
        SafetensorsFile file;
        try {
            file = SafetensorsFile.read(NAME, bytes);
        } catch (AdapterFormatException e) {
            assertRejection(e);
            return "rejected";
        }
        assertConsistent(file, length);
        return "valid";
    }

    private static void checkFile(Path path, byte[] bytes) throws IOException {
        SafetensorsFile file;
        try {
            file = SafetensorsFile.open(path);
        } catch (AdapterFormatException e) {
            assertRejection(e);
            assertEquals(path.getFileName().toString(), e.source());
            return;
        }
        try (file) {
            assertConsistent(file, bytes.length);
            SafetensorsFile inMemory = SafetensorsFile.read(NAME, ByteBuffer.wrap(bytes));
            assertEquals(List.copyOf(inMemory.keys()), List.copyOf(file.keys()));
            for (String key : file.keys()) {
                assertEquals(inMemory.tensor(key), file.tensor(key), key);
            }
        }
    }

    private static void assertRejection(AdapterFormatException e) {
        assertNotNull(e.getMessage());
        assertTrue(e.key().isPresent(), "every rejection names a key or <header>: " + e.getMessage());
        assertFalse(e.getMessage().isBlank());
    }

    /** Every key has a view of exactly its byte size inside the data area, and the views do not add up to more. */
    private static void assertConsistent(SafetensorsFile file, long fileLength) {
        assertEquals(fileLength, 8 + file.headerSize() + file.dataSize());
        assertNotNull(file.metadata());
        long total = 0;
        for (String key : file.keys()) {
            assertFalse(key.isEmpty());
            TensorInfo info = file.info(key);
            TensorData tensor = file.tensor(key);
            assertEquals(info, tensor.info());
            assertEquals(info.byteSize(), tensor.data().remaining());
            assertTrue(tensor.data().isReadOnly());
            total += info.byteSize();
        }
        assertTrue(total <= file.dataSize(), "disjoint ranges fit the data area");
    }

    // ---- mutations ------------------------------------------------------------------------------------------------

    private static final String[] TOKENS = {"{", "}", "[", "]", ":", ",", " ", "\"dtype\"", "\"shape\"",
        "\"data_offsets\"", "\"__metadata__\"", "\"F32\"", "\"F16\"", "\"BF16\"", "\"U8\"", "\"I64\"", "\"F8_E4M3\"",
        "\"a\"", "\"b\"", "\"\"", "0", "1", "4", "-1", "1.5", "1e3", "9223372036854775807", "18446744073709551616",
        "null", "true", "\"\\u0000\"", "\"\\ud800\"", "\"é\"", "\n", "//", "/*", "'", "\\"};

    private static byte[] mutate(byte[] valid, int mutation, SplittableRandom random) {
        byte[] bytes = valid.clone();
        int headerLength = (int) ByteBuffer.wrap(valid).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        return switch (mutation) {
            case 0 -> bytes; // unchanged: must stay valid
            case 1 -> Arrays.copyOf(bytes, random.nextInt(bytes.length)); // truncated
            case 2 -> flip(bytes, 0, bytes.length, 1 + random.nextInt(8), random);
            case 3 -> flip(bytes, 8, 8 + headerLength, 1 + random.nextInt(3), random);
            case 4 -> withPrefix(bytes, randomLength(bytes.length, random));
            case 5 -> withHeader(randomJson(random), random.nextInt(65), random);
            case 6 -> withHeader(editText(header(valid), random), dataOf(valid), random.nextBoolean(), random);
            case 7 -> withHeader(editNumber(header(valid), random), dataOf(valid), true, random);
            case 8 -> insert(bytes, random);
            case 9 -> withHeader(randomEntries(random, 64), 64, random);
            default -> throw new IllegalArgumentException("mutation " + mutation);
        };
    }

    private static byte[] flip(byte[] bytes, int from, int to, int count, SplittableRandom random) {
        if (to <= from) {
            return bytes;
        }
        for (int i = 0; i < count; i++) {
            int at = from + random.nextInt(to - from);
            bytes[at] ^= (byte) (1 + random.nextInt(255));
        }
        return bytes;
    }

    private static long randomLength(int fileLength, SplittableRandom random) {
        return switch (random.nextInt(6)) {
            case 0 -> random.nextLong();
            case 1 -> random.nextInt(2 * fileLength + 1);
            case 2 -> fileLength - 8 + random.nextInt(-3, 4);
            case 3 -> 0;
            case 4 -> Long.MIN_VALUE + random.nextInt(3);
            default -> SafetensorsFile.MAX_HEADER_SIZE + random.nextInt(-1, 2);
        };
    }

    private static byte[] withPrefix(byte[] bytes, long prefix) {
        if (bytes.length >= 8) {
            ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong(0, prefix);
        }
        return bytes;
    }

    private static String header(byte[] valid) {
        int length = (int) ByteBuffer.wrap(valid).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        return new String(valid, 8, length, StandardCharsets.UTF_8);
    }

    private static byte[] dataOf(byte[] valid) {
        int length = (int) ByteBuffer.wrap(valid).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        return Arrays.copyOfRange(valid, 8 + length, valid.length);
    }

    private static byte[] withHeader(String header, int dataBytes, SplittableRandom random) {
        byte[] data = new byte[dataBytes];
        for (int i = 0; i < dataBytes; i++) {
            data[i] = (byte) random.nextInt(256);
        }
        return withHeader(header, data, true, random);
    }

    private static byte[] withHeader(String header, byte[] data, boolean fixPrefix, SplittableRandom random) {
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        long prefix = fixPrefix ? json.length : json.length + random.nextInt(-4, 5);
        ByteBuffer out = ByteBuffer.allocate(8 + json.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        return out.putLong(prefix).put(json).put(data).array();
    }

    private static String randomJson(SplittableRandom random) {
        StringBuilder json = new StringBuilder(random.nextBoolean() ? "{" : "");
        int count = random.nextInt(60);
        for (int i = 0; i < count; i++) {
            json.append(TOKENS[random.nextInt(TOKENS.length)]);
        }
        return json.toString();
    }

    private static String editText(String header, SplittableRandom random) {
        StringBuilder text = new StringBuilder(header);
        int edits = 1 + random.nextInt(3);
        for (int i = 0; i < edits && text.length() > 0; i++) {
            int at = random.nextInt(text.length());
            int end = Math.min(text.length(), at + 1 + random.nextInt(12));
            switch (random.nextInt(4)) {
                case 0 -> text.delete(at, end);
                case 1 -> text.insert(at, text.substring(at, end));
                case 2 -> text.setCharAt(at, "{}[]:,\"-0123456789.e _".charAt(random.nextInt(22)));
                default -> text.insert(at, TOKENS[random.nextInt(TOKENS.length)]);
            }
        }
        return text.toString();
    }

    private static final Pattern NUMBER = Pattern.compile("\\d+");
    private static final String[] NUMBERS = {"-1", "0", "1", "2", "3", "7", "8", "16", "1.0", "2e0", "-0",
        "99999999999999999999", "9223372036854775807", "4294967296", "64", "1000000"};

    private static String editNumber(String header, SplittableRandom random) {
        Matcher matcher = NUMBER.matcher(header);
        List<int[]> numbers = new ArrayList<>();
        while (matcher.find()) {
            numbers.add(new int[] {matcher.start(), matcher.end()});
        }
        if (numbers.isEmpty()) {
            return header;
        }
        int[] chosen = numbers.get(random.nextInt(numbers.size()));
        String replacement = random.nextInt(3) == 0 ? Long.toString(random.nextLong(-5, 100))
                : NUMBERS[random.nextInt(NUMBERS.length)];
        return header.substring(0, chosen[0]) + replacement + header.substring(chosen[1]);
    }

    private static byte[] insert(byte[] bytes, SplittableRandom random) {
        int count = 1 + random.nextInt(16);
        int at = random.nextInt(bytes.length + 1);
        byte[] out = new byte[bytes.length + count];
        System.arraycopy(bytes, 0, out, 0, at);
        for (int i = 0; i < count; i++) {
            out[at + i] = (byte) random.nextInt(256);
        }
        System.arraycopy(bytes, at, out, at + count, bytes.length - at);
        return out;
    }

    /** A syntactically plausible header with random keys, dtypes, shapes and offsets over {@code dataSize} bytes. */
    private static String randomEntries(SplittableRandom random, int dataSize) {
        String[] keys = {"a", "b", "c", "d", "", "__metadata__", "é"};
        String[] dtypes = {"F32", "F16", "BF16", "U8", "I64", "BOOL", "F8_E4M3", "x"};
        StringBuilder json = new StringBuilder("{");
        int count = random.nextInt(6);
        long next = 0;
        for (int i = 0; i < count; i++) {
            String key = keys[random.nextInt(keys.length)];
            json.append(i == 0 ? "" : ",").append('"').append(key).append("\":");
            if ("__metadata__".equals(key)) {
                json.append(random.nextBoolean() ? "{\"k\":\"v\"}" : "{\"k\":1}");
                continue;
            }
            String dtype = dtypes[random.nextInt(dtypes.length)];
            int elementSize = switch (dtype) {
                case "F32" -> 4;
                case "F16", "BF16" -> 2;
                case "I64" -> 8;
                default -> 1;
            };
            int dims = random.nextInt(3);
            long elements = 1;
            StringBuilder shape = new StringBuilder("[");
            for (int d = 0; d < dims; d++) {
                long dim = random.nextInt(10) == 0 ? -1 : random.nextInt(4);
                elements *= dim;
                shape.append(d == 0 ? "" : ",").append(dim);
            }
            shape.append(']');
            long begin;
            long end;
            if (random.nextBoolean()) { // consistent: sequential, sometimes with a gap
                begin = next + (random.nextInt(4) == 0 ? random.nextInt(8) : 0);
                end = begin + Math.max(0, elements) * elementSize;
                next = end;
            } else {
                begin = random.nextInt(dataSize + 2);
                end = begin + random.nextInt(-2, 20);
            }
            json.append("{\"dtype\":\"").append(dtype).append("\",\"shape\":").append(shape)
                    .append(",\"data_offsets\":[").append(begin).append(',').append(end).append(']');
            if (random.nextInt(10) == 0) {
                json.append(",\"extra\":0");
            }
            json.append('}');
        }
        return json.append('}').append(" ".repeat(random.nextInt(8))).toString();
    }
}
