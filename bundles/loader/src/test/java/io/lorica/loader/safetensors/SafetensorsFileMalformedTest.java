package io.lorica.loader.safetensors;

import static io.lorica.loader.safetensors.RawFiles.entry;
import static io.lorica.loader.safetensors.RawFiles.file;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.format.AdapterFormatException;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * One scenario per validation rule: each broken file is rejected with an {@link AdapterFormatException} naming the
 * file, the offending key (or {@code <header>}) and what was expected, both by {@link SafetensorsFile#open} and by
 * {@link SafetensorsFile#read}.
 */
class SafetensorsFileMalformedTest {

    private static final String NAME = "bad.safetensors";
    private static final String HEADER = "<header>";

    @TempDir
    Path folder;

    private AdapterFormatException rejects(byte[] bytes, String key, String... fragments) throws IOException {
        Path path = RawFiles.write(folder, NAME, bytes);
        AdapterFormatException opened = assertThrows(AdapterFormatException.class, () -> SafetensorsFile.open(path));
        assertEquals(NAME, opened.source());
        assertEquals(Optional.of(key), opened.key(), opened.getMessage());
        for (String fragment : fragments) {
            assertTrue(opened.getMessage().contains(fragment),
                    "expected '" + fragment + "' in: " + opened.getMessage());
        }
        assertTrue(opened.getMessage().startsWith("LoRA source '" + NAME + "'"), opened.getMessage());

        AdapterFormatException read = assertThrows(AdapterFormatException.class,
                () -> SafetensorsFile.read(NAME, ByteBuffer.wrap(bytes)));
        assertEquals(opened.getMessage(), read.getMessage());
        assertEquals(opened.key(), read.key());
        return opened;
    }

    private static String header(String... entries) {
        return "{" + String.join(",", entries) + "}";
    }

    // ---- length prefix --------------------------------------------------------------------------------------------

    @Test
    void open_whenFileShorterThan8Bytes_rejectsNamingFile() throws IOException {
        rejects(new byte[] {1, 2, 3}, HEADER, "file has 3 bytes", "expected at least 8");
    }

    @Test
    void open_whenFileIsEmpty_rejectsNamingFile() throws IOException {
        rejects(new byte[0], HEADER, "file has 0 bytes", "expected at least 8");
    }

    @Test
    void open_whenHeaderLengthIsZero_rejects() throws IOException {
        rejects(file(0, new byte[0], 16), HEADER, "header length is 0", "expected");
    }

    @Test
    void open_whenHeaderLengthExceedsFile_rejectsNamingFile() throws IOException {
        rejects(file(1000, "{}".getBytes(StandardCharsets.US_ASCII), 10), HEADER,
                "header length 1000 runs beyond the end of the file", "at most the 12 bytes");
    }

    @Test
    void open_whenHeaderLengthHasTopBitSet_rejectsAsUnsignedBeyondFile() throws IOException {
        rejects(file(-1L, "{}".getBytes(StandardCharsets.US_ASCII), 0), HEADER,
                "header length 18446744073709551615 runs beyond the end of the file");
    }

    @Test
    void open_whenOnlyTheLengthPrefixIsPresent_rejects() throws IOException {
        rejects(RawFiles.prefixOnly(2), HEADER, "header length 2 runs beyond", "at most the 0 bytes");
    }

    @Test
    void open_whenHeaderLengthAboveCap_rejects() throws IOException {
        long length = SafetensorsFile.MAX_HEADER_SIZE + 1;
        Path path = folder.resolve(NAME);
        try (RandomAccessFile file = new RandomAccessFile(path.toFile(), "rw")) {
            file.write(RawFiles.prefixOnly(length));
            file.setLength(8 + length + 64); // sparse: nothing but the prefix is written
        }
        AdapterFormatException e = assertThrows(AdapterFormatException.class, () -> SafetensorsFile.open(path));
        assertEquals(NAME, e.source());
        assertEquals(Optional.of(HEADER), e.key());
        assertTrue(e.getMessage().contains("header length 104857601 is above the cap of 104857600"),
                e.getMessage());
    }

    // ---- header as a whole ----------------------------------------------------------------------------------------

    @Test
    void open_whenHeaderIsNotValidJson_rejects() throws IOException {
        rejects(file("{\"a\": {\"dtype\" \"F32\"}}", 0), HEADER, "header is not valid JSON", "expected one JSON");
    }

    @Test
    void open_whenHeaderIsCutInsideTheJson_rejects() throws IOException {
        String whole = header(entry("a", "F32", "[2]", "[0,8]"));
        byte[] json = whole.getBytes(StandardCharsets.UTF_8);
        byte[] cut = java.util.Arrays.copyOf(json, json.length - 5);
        rejects(file(cut.length, cut, 8), HEADER, "header is not valid JSON");
    }

    @Test
    void open_whenHeaderIsNotUtf8_rejects() throws IOException {
        byte[] json = "{\"__metadata__\":{\"x\":\"..\"}}".getBytes(StandardCharsets.US_ASCII);
        json[22] = (byte) 0xc3; // a lead byte followed by '.', not a continuation byte
        rejects(file(json.length, json, 0), HEADER, "header is not valid UTF-8");
    }

    @Test
    void open_whenHeaderHasOverlongUtf8_rejects() throws IOException {
        byte[] json = "{\"__metadata__\":{\"x\":\"..\"}}".getBytes(StandardCharsets.US_ASCII);
        json[22] = (byte) 0xc0; // C0 AF: an overlong '/', which lenient decoders accept
        json[23] = (byte) 0xaf;
        rejects(file(json.length, json, 0), HEADER, "header is not valid UTF-8");
    }

    @ParameterizedTest
    @ValueSource(strings = {"[]", "\"text\"", "42", "null", "true"})
    void open_whenHeaderIsNotAnObject_rejects(String json) throws IOException {
        rejects(file(json, 0), HEADER, "expected a JSON object");
    }

    @Test
    void open_whenHeaderIsOnlySpaces_rejects() throws IOException {
        rejects(file("        ", 0), HEADER, "header is empty, expected a JSON object");
    }

    @Test
    void open_whenTensorKeyIsDuplicated_rejectsNamingKey() throws IOException {
        rejects(file(header(entry("a", "F32", "[1]", "[0,4]"), entry("a", "F32", "[1]", "[4,8]")), 8), "a",
                "duplicate key");
    }

    @Test
    void open_whenMetadataKeyIsDuplicated_rejectsNamingIt() throws IOException {
        rejects(file("{\"__metadata__\":{},\"__metadata__\":{}}", 0), "__metadata__", "duplicate key");
    }

    @Test
    void open_whenKeyIsEmpty_rejects() throws IOException {
        rejects(file(header(entry("", "F32", "[1]", "[0,4]")), 4), HEADER, "empty key",
                "expected non-empty tensor keys");
    }

    @ParameterizedTest
    @ValueSource(strings = {"{}x", "{}{}", "{}}", "{} []", "{}\u0000"})
    void open_whenHeaderHasTrailingGarbage_rejects(String json) throws IOException {
        rejects(file(json, 0), HEADER, "trailing data after the JSON object", "expected only spaces");
    }

    // ---- entries --------------------------------------------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(strings = {"[]", "\"F32\"", "1", "null"})
    void open_whenEntryIsNotAnObject_rejectsNamingKey(String value) throws IOException {
        rejects(file("{\"w\":" + value + "}", 0), "w", "expected an object with dtype, shape and data_offsets");
    }

    @ParameterizedTest
    @ValueSource(strings = {"dtype", "shape", "data_offsets"})
    void open_whenEntryLacksField_rejectsNamingKeyAndField(String missing) throws IOException {
        String dtype = "\"dtype\":\"F32\"";
        String shape = "\"shape\":[1]";
        String offsets = "\"data_offsets\":[0,4]";
        List<String> fields = new java.util.ArrayList<>(List.of(dtype, shape, offsets));
        fields.removeIf(field -> field.startsWith("\"" + missing + "\""));
        rejects(file("{\"w\":{" + String.join(",", fields) + "}}", 4), "w", "entry lacks " + missing,
                "expected dtype, shape and data_offsets");
    }

    @Test
    void open_whenEntryHasExtraField_rejectsNamingKey() throws IOException {
        rejects(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"stride\":[1]}}", 4), "w",
                "unexpected field 'stride'", "expected only dtype, shape and data_offsets");
    }

    @Test
    void open_whenEntryRepeatsField_rejectsNamingKey() throws IOException {
        rejects(file("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "w",
                "field 'dtype' twice");
    }

    @ParameterizedTest
    @ValueSource(strings = {"F8_E4M3", "U16", "f32", "", "float32"})
    void open_whenDTypeIsUnknown_rejectsNamingKey(String dtype) throws IOException {
        rejects(file(header(entry("w", dtype, "[1]", "[0,1]")), 1), "w", "dtype '" + dtype + "' is not supported",
                "expected one of", "BF16");
    }

    @Test
    void open_whenDTypeIsNotAString_rejectsNamingKey() throws IOException {
        rejects(file("{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "w",
                "dtype is an integer, expected a string");
    }

    @Test
    void open_whenShapeDimIsNegative_rejectsNamingKey() throws IOException {
        rejects(file(header(entry("w", "F32", "[2,-1]", "[0,8]")), 8), "w", "shape[1] = -1 is negative",
                "expected a non-negative integer");
    }

    @ParameterizedTest
    @ValueSource(strings = {"1.5", "2.0", "1e2", "\"2\"", "null", "true", "[2]", "{}"})
    void open_whenShapeDimIsNotAnInteger_rejectsNamingKey(String dim) throws IOException {
        rejects(file(header(entry("w", "F32", "[" + dim + "]", "[0,8]")), 8), "w", "shape[0] is",
                "expected a non-negative integer");
    }

    @ParameterizedTest
    @ValueSource(strings = {"4", "\"[4]\"", "null", "{}"})
    void open_whenShapeIsNotAnArray_rejectsNamingKey(String shape) throws IOException {
        rejects(file(header(entry("w", "F32", shape, "[0,16]")), 16), "w", "shape is",
                "expected an array of non-negative integers");
    }

    @Test
    void open_whenShapeDimExceedsLongRange_rejectsNamingKey() throws IOException {
        rejects(file(header(entry("w", "U8", "[9223372036854775808]", "[0,1]")), 1), "w",
                "shape[0] = 9223372036854775808 is out of range");
    }

    @Test
    void open_whenShapeElementCountOverflows_rejectsNamingKey() throws IOException {
        rejects(file(header(entry("w", "U8", "[4294967296,4294967296]", "[0,1]")), 1), "w",
                "more bytes than fit in 64 bits");
    }

    @Test
    void open_whenShapeByteSizeOverflows_rejectsNamingKey() throws IOException {
        rejects(file(header(entry("w", "F64", "[4611686018427387904]", "[0,8]")), 8), "w",
                "more bytes than fit in 64 bits");
    }

    @ParameterizedTest
    @ValueSource(strings = {"[]", "[0]", "[0,4,8]"})
    void open_whenDataOffsetsAreNotTwoValues_rejectsNamingKey(String offsets) throws IOException {
        rejects(file(header(entry("w", "F32", "[1]", offsets)), 8), "w", "expected two: [begin, end]");
    }

    @Test
    void open_whenDataOffsetIsNegative_rejectsNamingKey() throws IOException {
        rejects(file(header(entry("w", "F32", "[1]", "[-4,0]")), 8), "w", "data_offsets[0] = -4 is negative");
    }

    @ParameterizedTest
    @ValueSource(strings = {"[0.0,4]", "[0,\"4\"]", "[0,null]", "{}", "4"})
    void open_whenDataOffsetsAreNotIntegers_rejectsNamingKey(String offsets) throws IOException {
        rejects(file(header(entry("w", "F32", "[1]", offsets)), 8), "w", "data_offsets", "expected");
    }

    @Test
    void open_whenDataOffsetsBeginAfterEnd_rejectsNamingKey() throws IOException {
        rejects(file(header(entry("w", "F32", "[1]", "[8,4]")), 8), "w", "begin after end",
                "expected begin <= end");
    }

    @Test
    void open_whenDataOffsetsEndBeyondDataArea_rejectsNamingKey() throws IOException {
        rejects(file(header(entry("w", "F32", "[4]", "[0,16]")), 12), "w",
                "ends beyond the data area of 12 bytes", "expected end <= 12");
    }

    @Test
    void open_whenByteSizeDoesNotMatchShape_rejectsNamingKey() throws IOException {
        rejects(file(header(entry("w", "F16", "[3,2]", "[0,16]")), 16), "w", "span 16 bytes, expected 12",
                "F16[3, 2]");
    }

    @Test
    void open_whenRangesOverlap_rejectsNamingBothKeys() throws IOException {
        rejects(file(header(entry("a", "F32", "[2]", "[0,8]"), entry("b", "F32", "[2]", "[4,12]")), 12), "b",
                "overlap those of 'a'", "expected disjoint byte ranges");
    }

    @Test
    void open_whenRangesOverlapOutOfHeaderOrder_rejects() throws IOException {
        rejects(file(header(entry("late", "U8", "[8]", "[8,16]"), entry("early", "U8", "[12]", "[0,12]")), 16),
                "late", "overlap those of 'early'");
    }

    @Test
    void open_whenRangeIsContainedInAnother_rejects() throws IOException {
        rejects(file(header(entry("outer", "U8", "[16]", "[0,16]"), entry("inner", "U8", "[4]", "[4,8]")), 16),
                "inner", "overlap those of 'outer'");
    }

    @Test
    void open_whenTwoTensorsShareARange_rejects() throws IOException {
        rejects(file(header(entry("a", "F32", "[2]", "[0,8]"), entry("b", "F16", "[4]", "[0,8]")), 8), "b",
                "overlap those of 'a'");
    }

    // ---- metadata -------------------------------------------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(strings = {"[]", "\"format=pt\"", "1", "[{\"a\":\"b\"}]"})
    void open_whenMetadataIsNotAnObject_rejectsNamingIt(String value) throws IOException {
        rejects(file("{\"__metadata__\":" + value + "}", 0), "__metadata__", "expected an object of string values");
    }

    @ParameterizedTest
    @ValueSource(strings = {"1", "null", "true", "{}", "[\"a\"]"})
    void open_whenMetadataValueIsNotAString_rejectsNamingEntry(String value) throws IOException {
        rejects(file("{\"__metadata__\":{\"format\":\"pt\",\"ss_network_alpha\":" + value + "}}", 0),
                "__metadata__", "entry 'ss_network_alpha' is", "expected a string");
    }

    @Test
    void open_whenMetadataEntryIsDuplicated_rejects() throws IOException {
        rejects(file("{\"__metadata__\":{\"format\":\"pt\",\"format\":\"np\"}}", 0), "__metadata__",
                "duplicate entry 'format'");
    }

    // ---- accepted oddities ----------------------------------------------------------------------------------------

    @Test
    void open_whenMetadataIsNull_readsNoMetadata() throws IOException {
        Path path = RawFiles.write(folder, NAME, file("{\"__metadata__\":null," + entry("w", "U8", "[2]", "[0,2]")
                + "}", 2));
        try (SafetensorsFile file = SafetensorsFile.open(path)) {
            assertEquals(Map.of(), file.metadata());
            assertEquals(List.of("w"), List.copyOf(file.keys()));
        }
    }

    @Test
    void open_whenGapsBetweenTensors_opensAndWarns() throws IOException {
        Path path = RawFiles.write(folder, NAME, file(header(entry("a", "U8", "[2]", "[4,6]"),
                entry("b", "U8", "[2]", "[8,10]")), 12));
        try (SafetensorsFile file = SafetensorsFile.open(path)) {
            assertEquals(List.of("4 unused bytes at data offsets [0, 4) before 'a'",
                    "2 unused bytes at data offsets [6, 8) before 'b'",
                    "2 unused bytes after the last tensor, at data offsets [10, 12)"), file.warnings());
            assertEquals(ByteBuffer.wrap(new byte[] {8, 9}), file.tensor("b").data());
        }
    }

    @Test
    void open_whenManyGaps_summarisesWarnings() throws IOException {
        StringBuilder entries = new StringBuilder();
        for (int i = 0; i < 30; i++) {
            entries.append(i == 0 ? "" : ",").append(entry("t" + i, "U8", "[1]", "[" + (2 * i + 1) + "," + (2 * i + 2)
                    + "]"));
        }
        Path path = RawFiles.write(folder, NAME, file("{" + entries + "}", 60));
        try (SafetensorsFile file = SafetensorsFile.open(path)) {
            assertEquals(21, file.warnings().size(), file.warnings().toString());
            assertEquals("10 more gaps; 30 unused bytes between tensors in all", file.warnings().get(20));
        }
    }

    @Test
    void open_whenEmptyTensorLiesInsideAnother_opensWithoutOverlap() throws IOException {
        Path path = RawFiles.write(folder, NAME, file(header(entry("a", "U8", "[8]", "[0,8]"),
                entry("empty", "F32", "[0,4]", "[4,4]")), 8));
        try (SafetensorsFile file = SafetensorsFile.open(path)) {
            assertEquals(0, file.tensor("empty").data().remaining());
            assertEquals(List.of(), file.warnings());
        }
    }

    @Test
    void open_whenHeaderIsPaddedWithWhitespace_opens() throws IOException {
        Path path = RawFiles.write(folder, NAME, file(" \n\t" + header(entry("w", "U8", "[1]", "[0,1]")) + "  \r\n ",
                1));
        try (SafetensorsFile file = SafetensorsFile.open(path)) {
            assertEquals(List.of("w"), List.copyOf(file.keys()));
        }
    }

    @Test
    void read_whenBufferHasAPosition_readsOnlyTheRemainingBytes() {
        byte[] valid = file(header(entry("w", "U8", "[2]", "[0,2]")), 2);
        ByteBuffer whole = ByteBuffer.allocate(valid.length + 10).order(ByteOrder.BIG_ENDIAN);
        whole.position(7);
        whole.put(valid).position(7).limit(7 + valid.length);
        SafetensorsFile file = SafetensorsFile.read("upload", whole);
        assertEquals(ByteBuffer.wrap(new byte[] {0, 1}), file.tensor("w").data());
        assertEquals(7, whole.position());
        assertEquals(7 + valid.length, whole.limit());

        whole.limit(7 + valid.length - 1); // one data byte short
        AdapterFormatException e = assertThrows(AdapterFormatException.class,
                () -> SafetensorsFile.read("upload", whole));
        assertEquals("upload", e.source());
        assertEquals(Optional.of("w"), e.key());
    }
}
