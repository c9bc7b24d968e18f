package io.lorica.loader.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.DType;
import io.lorica.api.TensorData;
import io.lorica.api.TensorInfo;
import io.lorica.api.format.AdapterFormatException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Files shaped like real SDXL LoRAs, and data areas larger than one mapping. Correctness only; no timing. */
class SafetensorsLargeFileTest {

    private static final int MODULES = 1200; // x2 (lora_A, lora_B) = 2,400 tensors
    private static final int RANK = 4;

    @TempDir
    Path folder;

    private static int width(int module) {
        return new int[] {320, 640, 1280, 2048}[module % 4];
    }

    /** A kohya-like SDXL LoRA: 2,400 F16 tensors of rank 4, about 20 MB, plus the Diffusers metadata entry. */
    private static SafetensorsWriter sdxlLikeLora() {
        SafetensorsWriter writer = new SafetensorsWriter()
                .metadata("format", "pt")
                .metadata("lora_adapter_metadata", "{\"r\": 4, \"lora_alpha\": 4}");
        for (int module = 0; module < MODULES; module++) {
            int width = width(module);
            String prefix = "unet.down_blocks." + module % 3 + ".attentions." + module + ".to_q";
            writer.add(prefix + ".lora_A.weight", DType.F16, new long[] {RANK, width}, pattern(RANK * width, module));
            writer.add(prefix + ".lora_B.weight", DType.F16, new long[] {width, RANK},
                    pattern(RANK * width, module + 7));
        }
        return writer;
    }

    private static byte[] pattern(int halves, int seed) {
        ByteBuffer out = ByteBuffer.allocate(2 * halves).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < halves; i++) {
            out.putShort(DTypes.floatToHalf(((i * 31 + seed) % 97 - 48) / 64f));
        }
        return out.array();
    }

    @Test
    void open_whenFileHas2400Tensors_readsEveryOne() throws IOException {
        Path path = folder.resolve("sdxl_lora.safetensors");
        SafetensorsWriter writer = sdxlLikeLora();
        writer.write(path);
        assertTrue(writer.size() > 19_000_000, "about 20 MB: " + writer.size());

        try (SafetensorsFile file = SafetensorsFile.open(path)) {
            assertEquals(2 * MODULES, file.keys().size());
            assertEquals(List.of(), file.warnings());
            assertEquals("{\"r\": 4, \"lora_alpha\": 4}", file.metadata().get("lora_adapter_metadata"));
            int module = 0;
            List<String> keys = new ArrayList<>(file.keys());
            for (int i = 0; i < keys.size(); i += 2, module++) {
                int width = width(module);
                assertTrue(keys.get(i).endsWith(".attentions." + module + ".to_q.lora_A.weight"), keys.get(i));
                TensorData down = file.tensor(keys.get(i));
                TensorData up = file.tensor(keys.get(i + 1));
                assertEquals(new TensorInfo(DType.F16, new long[] {RANK, width}), down.info());
                assertEquals(new TensorInfo(DType.F16, new long[] {width, RANK}), up.info());
                assertEquals(ByteBuffer.wrap(pattern(RANK * width, module)), down.data(), keys.get(i));
                assertEquals(ByteBuffer.wrap(pattern(RANK * width, module + 7)), up.data(), keys.get(i + 1));
            }
        }
    }

    @Test
    void open_withSmallSegments_mapsSeveralWindowsAndReadsTheSameBytes() throws IOException {
        Path path = folder.resolve("segmented.safetensors");
        sdxlLikeLora().write(path);
        try (SafetensorsFile whole = SafetensorsFile.open(path);
             SafetensorsFile segmented = SafetensorsFile.open(path, 64 * 1024)) {
            for (String key : whole.keys()) {
                assertEquals(whole.tensor(key), segmented.tensor(key), key);
            }
        }
    }

    @Test
    void tensor_whenLargerThanOneSegment_rejectsNamingKeyButOthersRead() throws IOException {
        Path path = folder.resolve("big.safetensors");
        new SafetensorsWriter()
                .add("small", DTypes.tensor(DType.F32, new long[] {2}, 1f, 2f))
                .add("big", DType.U8, new long[] {100}, new byte[100])
                .add("after", DTypes.tensor(DType.F32, new long[] {1}, 3f))
                .write(path);
        try (SafetensorsFile file = SafetensorsFile.open(path, 64)) {
            AdapterFormatException e = assertThrows(AdapterFormatException.class, () -> file.tensor("big"));
            assertEquals(Optional.of("big"), e.key());
            assertTrue(e.getMessage().contains("has 100 bytes, expected at most"), e.getMessage());
            assertEquals(new TensorInfo(DType.U8, new long[] {100}), file.info("big"));
            assertArrayEquals(new float[] {1f, 2f}, file.tensor("small").toFloatArray());
            assertArrayEquals(new float[] {3f}, file.tensor("after").toFloatArray());
        }
    }

    /**
     * A sparse file with a data area over 2 GiB and a tensor straddling the 2 GiB offset: mapped in two segments.
     * Only a few KB are written to disk.
     */
    @Test
    void open_whenDataAreaExceeds2GiB_readsTensorsBeyondAndAcrossTheBoundary() throws IOException {
        long twoGiB = 1L << 31;
        long dataSize = twoGiB + 4096;
        long midBegin = twoGiB - 512;
        String header = "{" + RawFiles.entry("head", "F32", "[4]", "[0,16]") + ","
                + RawFiles.entry("mid", "U8", "[1024]", "[" + midBegin + "," + (midBegin + 1024) + "]") + ","
                + RawFiles.entry("tail", "F32", "[4]", "[" + (dataSize - 16) + "," + dataSize + "]") + "}";
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        long dataStart = 8 + json.length;
        byte[] mid = new byte[1024];
        for (int i = 0; i < mid.length; i++) {
            mid[i] = (byte) (i * 7 + 1);
        }
        Path path = folder.resolve("huge.safetensors");
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE,
                StandardOpenOption.SPARSE)) {
            ByteBuffer prefix = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, json.length);
            channel.write(prefix, 0);
            channel.write(ByteBuffer.wrap(json), 8);
            channel.write(DTypes.f32(1f, 2f, 3f, 4f), dataStart);
            channel.write(ByteBuffer.wrap(mid), dataStart + midBegin);
            channel.write(DTypes.f32(5f, 6f, 7f, 8f), dataStart + dataSize - 16);
        }
        try (SafetensorsFile file = SafetensorsFile.open(path)) {
            assertEquals(dataSize, file.dataSize());
            assertArrayEquals(new float[] {1f, 2f, 3f, 4f}, file.tensor("head").toFloatArray());
            assertEquals(ByteBuffer.wrap(mid), file.tensor("mid").data());
            assertArrayEquals(new float[] {5f, 6f, 7f, 8f}, file.tensor("tail").toFloatArray());
            assertEquals(2, file.warnings().size(), "the unused (sparse) bytes are reported: " + file.warnings());
        }
    }
}
