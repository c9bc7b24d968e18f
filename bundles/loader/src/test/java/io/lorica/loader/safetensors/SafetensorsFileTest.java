package io.lorica.loader.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.DType;
import io.lorica.api.TensorData;
import io.lorica.api.TensorInfo;
import io.lorica.api.format.AdapterFormatException;
import io.lorica.api.format.TensorSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.ReadOnlyBufferException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class SafetensorsFileTest {

    /** A Diffusers {@code lora_adapter_metadata} value: JSON text that must come back byte for byte. */
    private static final String LORA_ADAPTER_METADATA = "{\"unet\": {\"r\": 4, \"lora_alpha\": 4.0, "
            + "\"target_modules\": [\"to_q\", \"to_k\"], \"note\": \"tab\\t quote\\\" \u00e9\u4e2d\ud83d\ude00\"}}";

    @TempDir
    Path folder;

    private static float[] sample(int count) {
        float[] values = new float[count];
        for (int i = 0; i < count; i++) {
            values[i] = (i % 2 == 0 ? 1 : -1) * (i + 0.5f) / 4f; // exact in every float type, and integral for some
        }
        return values;
    }

    @ParameterizedTest
    @EnumSource(DType.class)
    void open_afterWriting_roundTripsEveryDTypeAndMetadata(DType dtype) throws IOException {
        Map<String, TensorData> tensors = new LinkedHashMap<>();
        tensors.put("model.lora_A.weight", DTypes.tensor(dtype, new long[] {2, 3}, sample(6)));
        tensors.put("model.alpha", DTypes.tensor(dtype, new long[0], 4f));
        tensors.put("model.empty", DTypes.tensor(dtype, new long[] {0, 5}));
        tensors.put("model.lora_B.weight", DTypes.tensor(dtype, new long[] {3, 1, 1, 2}, sample(6)));
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("format", "pt");
        metadata.put("lora_adapter_metadata", LORA_ADAPTER_METADATA);
        metadata.put("", "empty key is allowed in metadata");
        Path path = folder.resolve("adapter.safetensors");
        SafetensorsWriter.write(path, tensors, metadata);

        try (SafetensorsFile file = SafetensorsFile.open(path)) {
            assertReads(tensors, metadata, file);
            assertEquals(Optional.of(path), file.path());
            assertEquals("adapter.safetensors", file.name());
        }
        byte[] bytes = new SafetensorsWriter().metadata(metadata).add("model.lora_A.weight",
                tensors.get("model.lora_A.weight")).toByteBuffer().array();
        SafetensorsFile inMemory = SafetensorsFile.read("upload.safetensors", ByteBuffer.wrap(bytes));
        assertEquals(tensors.get("model.lora_A.weight"), inMemory.tensor("model.lora_A.weight"));
        assertEquals(metadata, inMemory.metadata());
        assertEquals(Optional.empty(), inMemory.path());
    }

    private static void assertReads(Map<String, TensorData> expected, Map<String, String> metadata,
                                    SafetensorsFile file) {
        assertEquals(List.copyOf(expected.keySet()), List.copyOf(file.keys()), "keys in header order");
        assertEquals(List.copyOf(metadata.keySet()), List.copyOf(file.metadata().keySet()));
        assertEquals(metadata, file.metadata());
        assertEquals(LORA_ADAPTER_METADATA, file.metadata().get("lora_adapter_metadata"));
        for (Map.Entry<String, TensorData> entry : expected.entrySet()) {
            TensorData read = file.tensor(entry.getKey());
            assertEquals(entry.getValue(), read, entry.getKey());
            assertEquals(entry.getValue().info(), file.info(entry.getKey()));
            assertArrayEquals(entry.getValue().toFloatArray(), read.toFloatArray());
            assertTrue(file.contains(entry.getKey()));
        }
        assertFalse(file.contains("__metadata__"));
        assertEquals(List.of(), file.warnings());
    }

    @Test
    void open_whenTensorHasZeroElements_givesAnEmptyView() throws IOException {
        Path path = folder.resolve("empty.safetensors");
        new SafetensorsWriter()
                .add("zero", DType.F16, new long[] {0}, new byte[0])
                .add("zeros", DType.F32, new long[] {3, 0, 7}, new byte[0])
                .add("one", DType.BF16, new long[] {1}, new byte[] {(byte) 0x80, 0x3f})
                .write(path);
        try (SafetensorsFile file = SafetensorsFile.open(path)) {
            assertEquals(0, file.tensor("zero").elementCount());
            assertEquals(0, file.tensor("zeros").data().remaining());
            assertEquals(new TensorInfo(DType.F32, new long[] {3, 0, 7}), file.info("zeros"));
            assertArrayEquals(new float[] {1f}, file.tensor("one").toFloatArray());
            assertEquals(2, file.dataSize());
        }
    }

    @Test
    void open_whenFileHasNoTensors_isEmpty() throws IOException {
        Path path = folder.resolve("nothing.safetensors");
        new SafetensorsWriter().metadata("format", "pt").write(path);
        try (SafetensorsFile file = SafetensorsFile.open(path)) {
            assertTrue(file.keys().isEmpty());
            assertEquals(Map.of("format", "pt"), file.metadata());
            assertEquals(0, file.dataSize());
        }
    }

    @Test
    void tensor_isAZeroCopyReadOnlyViewOfTheMapping() throws IOException {
        Path path = folder.resolve("mapped.safetensors");
        new SafetensorsWriter().add("w", DTypes.tensor(DType.F32, new long[] {4}, 1f, 2f, 3f, 4f)).write(path);
        try (SafetensorsFile file = SafetensorsFile.open(path)) {
            ByteBuffer view = file.tensor("w").data();
            assertTrue(view.isDirect(), "a view of the mapping, not a heap copy");
            assertInstanceOf(MappedByteBuffer.class, view);
            assertTrue(view.isReadOnly());
            assertEquals(ByteOrder.LITTLE_ENDIAN, view.order());
            assertThrows(ReadOnlyBufferException.class, () -> view.putFloat(0, 9f));

            // the mapping is shared: a write to the file shows through the view that was handed out before
            long dataStart = 8 + file.headerSize();
            try (FileChannel channel = FileChannel.open(path, StandardOpenOption.WRITE)) {
                channel.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(0, 42f), dataStart + 8);
            }
            assertEquals(42f, view.getFloat(8));
            assertArrayEquals(new float[] {1f, 2f, 42f, 4f}, file.tensor("w").toFloatArray());
        }
    }

    @Test
    void read_isAZeroCopyReadOnlyViewOfTheBuffer() {
        ByteBuffer bytes = new SafetensorsWriter().add("w", DTypes.tensor(DType.F32, new long[] {2}, 1f, 2f))
                .toByteBuffer();
        ByteBuffer direct = ByteBuffer.allocateDirect(bytes.remaining()).put(bytes.duplicate()).flip();
        SafetensorsFile file = SafetensorsFile.read("upload", direct);
        ByteBuffer view = file.tensor("w").data();
        assertTrue(view.isDirect());
        assertTrue(view.isReadOnly());
        direct.order(ByteOrder.LITTLE_ENDIAN).putFloat(direct.limit() - 4, 7f);
        assertEquals(7f, view.getFloat(4), "the view shares the caller's bytes");
    }

    @Test
    void tensorAndInfo_whenKeyUnknown_rejectNamingKey() throws IOException {
        Path path = folder.resolve("known.safetensors");
        new SafetensorsWriter().add("known", DTypes.tensor(DType.F32, new long[] {1}, 1f)).write(path);
        try (SafetensorsFile file = SafetensorsFile.open(path)) {
            AdapterFormatException tensor = assertThrows(AdapterFormatException.class, () -> file.tensor("unknown"));
            assertEquals(Optional.of("unknown"), tensor.key());
            assertEquals("known.safetensors", tensor.source());
            assertTrue(tensor.getMessage().contains("no such tensor"), tensor.getMessage());
            AdapterFormatException info = assertThrows(AdapterFormatException.class, () -> file.info("unknown"));
            assertEquals(Optional.of("unknown"), info.key());
            assertThrows(AdapterFormatException.class, () -> file.tensor("__metadata__"));
            assertThrows(AdapterFormatException.class, () -> file.info(null));
        }
    }

    @Test
    void close_isIdempotentAndRefusesNewViews() throws IOException {
        Path path = folder.resolve("closing.safetensors");
        new SafetensorsWriter().add("w", DTypes.tensor(DType.F32, new long[] {2}, 1f, 2f)).write(path);
        SafetensorsFile file = SafetensorsFile.open(path);
        TensorData before = file.tensor("w");
        assertFalse(file.isClosed());
        file.close();
        assertDoesNotThrow(file::close);
        assertTrue(file.isClosed());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> file.tensor("w"));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        assertEquals(new TensorInfo(DType.F32, new long[] {2}), file.info("w"), "header stays available");
        // an implementation detail, not a promise: the mapping is released by the GC, not by close()
        assertArrayEquals(new float[] {1f, 2f}, before.toFloatArray());
    }

    @Test
    void keys_areInHeaderOrderAndUnmodifiable() throws IOException {
        SafetensorsWriter writer = new SafetensorsWriter();
        List<String> order = List.of("z", "a.weight", "m", "b", "__meta", "0");
        DType[] types = {DType.U8, DType.F64, DType.F16, DType.F32, DType.I8, DType.I64};
        for (int i = 0; i < order.size(); i++) {
            writer.add(order.get(i), DTypes.tensor(types[i], new long[] {3}, 1f, 2f, 3f));
        }
        Path path = folder.resolve("order.safetensors");
        writer.write(path);
        try (SafetensorsFile file = SafetensorsFile.open(path)) {
            assertEquals(order, List.copyOf(file.keys()));
            assertThrows(UnsupportedOperationException.class, () -> file.keys().remove("z"));
            assertThrows(UnsupportedOperationException.class, () -> file.metadata().put("a", "b"));
            TensorSource source = file;
            assertTrue(source.contains("m"));
            assertTrue(file.toString().contains("6 tensors"), file.toString());
        }
    }

    @Test
    void open_whenFileIsMissing_throwsIOException() {
        assertThrows(IOException.class, () -> SafetensorsFile.open(folder.resolve("missing.safetensors")));
    }
}
