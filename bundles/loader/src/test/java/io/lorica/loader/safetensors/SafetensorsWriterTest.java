package io.lorica.loader.safetensors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.DType;
import io.lorica.api.TensorData;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsWriterTest {

    @TempDir
    Path folder;

    private static String headerOf(ByteBuffer file) {
        long length = file.order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        byte[] header = new byte[(int) length];
        file.get(8, header);
        return new String(header, StandardCharsets.UTF_8);
    }

    @Test
    void toByteBuffer_writesTheHeaderAsThePythonLibraryDoes() {
        ByteBuffer file = new SafetensorsWriter()
                .metadata("format", "pt")
                .add("a", DTypes.tensor(DType.F32, new long[] {2}, 1f, 2f))
                .toByteBuffer();
        String header = headerOf(file);
        // safetensors.torch.save_file({"a": torch.tensor([1., 2.])}, f, metadata={"format": "pt"})
        String python = "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
                + "\"data_offsets\":[0,8]}}";
        assertEquals(python + " ".repeat(header.length() - python.length()), header);
        assertEquals(0, header.length() % 8);
        assertTrue(header.length() - python.length() < 8);
        assertEquals(8 + header.length() + 8, file.remaining());
        assertEquals(2f, file.getFloat(8 + header.length() + 4));
    }

    @Test
    void toByteBuffer_alignsEveryTensorToItsElementSize() {
        SafetensorsWriter writer = new SafetensorsWriter()
                .add("bool", DTypes.tensor(DType.BOOL, new long[] {3}, 1f, 0f, 1f))
                .add("half", DTypes.tensor(DType.F16, new long[] {3}, 1f, 2f, 3f))
                .add("double", DTypes.tensor(DType.F64, new long[] {1}, 1f))
                .add("float", DTypes.tensor(DType.F32, new long[] {3}, 1f, 2f, 3f))
                .add("long", DTypes.tensor(DType.I64, new long[] {1}, 5f))
                .add("byte", DTypes.tensor(DType.I8, new long[] {1}, 5f));
        SafetensorsFile file = SafetensorsFile.read("aligned", writer.toByteBuffer());
        assertEquals(List.of("bool", "half", "double", "float", "long", "byte"), List.copyOf(file.keys()));
        assertEquals(0, (8 + file.headerSize()) % 8, "data area starts 8-byte aligned");
        assertEquals(List.of(), file.warnings(), "no gaps");
        long expectedData = 3 + 6 + 8 + 12 + 8 + 1;
        assertEquals(expectedData, file.dataSize());
        assertEquals(8 + file.headerSize() + expectedData, writer.size());
        String header = headerOf(writer.toByteBuffer());
        for (String key : file.keys()) {
            int at = header.indexOf("\"" + key + "\"");
            int offsets = header.indexOf("\"data_offsets\":[", at) + "\"data_offsets\":[".length();
            long begin = Long.parseLong(header.substring(offsets, header.indexOf(',', offsets)));
            assertEquals(0, begin % file.info(key).dtype().byteSize(), key + " at " + begin);
        }
    }

    @Test
    void write_replacesTheTargetAtomicallyAndLeavesNoTemporaryFile() throws IOException {
        Path target = folder.resolve("out.safetensors");
        Files.writeString(target, "old contents");
        new SafetensorsWriter().add("w", DTypes.tensor(DType.BF16, new long[] {2}, 1f, -2f)).write(target);
        try (Stream<Path> files = Files.list(folder)) {
            assertEquals(List.of(target), files.toList());
        }
        try (SafetensorsFile file = SafetensorsFile.open(target)) {
            assertEquals(DTypes.tensor(DType.BF16, new long[] {2}, 1f, -2f), file.tensor("w"));
        }
    }

    @Test
    void write_whenFolderIsMissing_throwsAndLeavesNothing() throws IOException {
        Path target = folder.resolve("missing").resolve("out.safetensors");
        assertThrows(IOException.class,
                () -> new SafetensorsWriter().add("w", DTypes.tensor(DType.F32, new long[] {1}, 1f)).write(target));
        try (Stream<Path> files = Files.list(folder)) {
            assertEquals(0, files.count());
        }
    }

    @Test
    void write_isRepeatableAndTensorDataIsNotConsumed() throws IOException {
        TensorData tensor = DTypes.tensor(DType.F16, new long[] {2, 2}, 1f, 2f, 3f, 4f);
        SafetensorsWriter writer = new SafetensorsWriter().add("w", tensor);
        Path first = folder.resolve("1.safetensors");
        Path second = folder.resolve("2.safetensors");
        writer.write(first);
        writer.write(second);
        assertEquals(-1, Files.mismatch(first, second));
        assertEquals(writer.toByteBuffer(), ByteBuffer.wrap(Files.readAllBytes(first)));
    }

    @Test
    void add_fromRawBytes_validatesTheSize() {
        SafetensorsWriter writer = new SafetensorsWriter();
        assertThrows(IllegalArgumentException.class, () -> writer.add("w", DType.F32, new long[] {2}, new byte[4]));
        writer.add("w", DType.F32, new long[] {1}, ByteBuffer.allocate(4));
        assertEquals(1, SafetensorsFile.read("raw", writer.toByteBuffer()).keys().size());
    }

    @Test
    void add_whenKeyIsInvalidOrRepeated_rejects() {
        TensorData tensor = DTypes.tensor(DType.F32, new long[] {1}, 1f);
        SafetensorsWriter writer = new SafetensorsWriter().add("w", tensor);
        assertThrows(IllegalArgumentException.class, () -> writer.add("w", tensor));
        assertThrows(IllegalArgumentException.class, () -> writer.add("", tensor));
        assertThrows(IllegalArgumentException.class, () -> writer.add(null, tensor));
        assertThrows(IllegalArgumentException.class, () -> writer.add("__metadata__", tensor));
        assertThrows(IllegalArgumentException.class, () -> writer.add("x", null));
        assertThrows(IllegalArgumentException.class, () -> writer.metadata("k", null));
        assertThrows(IllegalArgumentException.class, () -> writer.metadata((Map<String, String>) null));
    }

    @Test
    void metadata_withEscapesAndUnicode_roundTripsVerbatim() {
        String value = "{\"a\": \"line\\nbreak\", \"b\": \"\u00fc\u00df\"}\n\ttrailing \u0001 control";
        ByteBuffer bytes = new SafetensorsWriter().metadata("lora_adapter_metadata", value).toByteBuffer();
        assertEquals(Map.of("lora_adapter_metadata", value), SafetensorsFile.read("meta", bytes).metadata());
    }
}
