package io.lorica.pipelines.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.zip.CRC32;

import javax.imageio.ImageIO;

import org.junit.jupiter.api.Test;

class PngTest {

    /** One chunk of a PNG file. */
    private record Chunk(String type, byte[] data) {
    }

    /** Parses a PNG by hand, checking the signature, lengths and CRCs. */
    private static List<Chunk> chunks(byte[] png) {
        assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, Arrays.copyOf(png, 8));
        ByteBuffer in = ByteBuffer.wrap(png, 8, png.length - 8);
        List<Chunk> chunks = new ArrayList<>();
        while (in.hasRemaining()) {
            int length = in.getInt();
            byte[] type = new byte[4];
            in.get(type);
            byte[] data = new byte[length];
            in.get(data);
            CRC32 crc = new CRC32();
            crc.update(type);
            crc.update(data);
            assertEquals((int) crc.getValue(), in.getInt(), "CRC of " + new String(type, StandardCharsets.US_ASCII));
            chunks.add(new Chunk(new String(type, StandardCharsets.US_ASCII), data));
        }
        return chunks;
    }

    private static BufferedImage decode(byte[] png) throws IOException {
        BufferedImage image = ImageIO.read(new ByteArrayInputStream(png));
        assertTrue(image != null, "ImageIO could not read the PNG");
        return image;
    }

    /** numpy's {@code (v * 255).round().astype(uint8)} written independently: float32 product, half to even. */
    private static int expectedByte(float v) {
        float scaled = v * 255f;
        if (!(scaled > 0f)) {
            return 0;
        }
        if (scaled >= 255f) {
            return 255;
        }
        double floor = Math.floor(scaled);
        double fraction = scaled - floor;
        if (fraction > 0.5 || (fraction == 0.5 && ((long) floor) % 2 == 1)) {
            return (int) floor + 1;
        }
        return (int) floor;
    }

    private static void assertPixels(float[] hwc, int height, int width, BufferedImage image) {
        assertEquals(width, image.getWidth());
        assertEquals(height, image.getHeight());
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                int i = (y * width + x) * 3;
                int expected = expectedByte(hwc[i]) << 16 | expectedByte(hwc[i + 1]) << 8 | expectedByte(hwc[i + 2]);
                int actual = image.getRGB(x, y) & 0xffffff;
                final int px = x;
                final int py = y;
                assertEquals(expected, actual, () -> "pixel (" + px + ", " + py + ")");
            }
        }
    }

    @Test
    void encode_smallImage_decodesToTheSamePixels() throws IOException {
        int height = 3;
        int width = 4;
        float[] hwc = new float[height * width * 3];
        for (int i = 0; i < hwc.length; i++) {
            hwc[i] = i / (float) (hwc.length - 1);
        }
        byte[] png = Png.encode(hwc, height, width, Map.of());

        assertPixels(hwc, height, width, decode(png));
        List<Chunk> chunks = chunks(png);
        assertEquals("IHDR", chunks.get(0).type());
        assertArrayEquals(new byte[] {0, 0, 0, 4, 0, 0, 0, 3, 8, 2, 0, 0, 0}, chunks.get(0).data());
        assertEquals("IEND", chunks.get(chunks.size() - 1).type());
        assertEquals(0, chunks.get(chunks.size() - 1).data().length);
    }

    @Test
    void encode_randomImage_decodesToTheSamePixels() throws IOException {
        // random noise, smooth gradients and flat areas so that every row filter gets chosen somewhere
        int height = 67;
        int width = 45;
        float[] hwc = new float[height * width * 3];
        SplittableRandom random = new SplittableRandom(7);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                for (int c = 0; c < 3; c++) {
                    int i = (y * width + x) * 3 + c;
                    hwc[i] = switch (y % 4) {
                        case 0 -> (float) random.nextDouble();
                        case 1 -> x / (float) width;
                        case 2 -> (x + y) / (float) (width + height);
                        default -> 0.25f * c;
                    };
                }
            }
        }
        assertPixels(hwc, height, width, decode(Png.encode(hwc, height, width, Map.of())));
    }

    @Test
    void encode_largeImage_splitsImageDataAndStillDecodes() throws IOException {
        int height = 700;
        int width = 700;
        float[] hwc = new float[height * width * 3];
        SplittableRandom random = new SplittableRandom(11);
        for (int i = 0; i < hwc.length; i++) {
            hwc[i] = (float) random.nextDouble();
        }
        byte[] png = Png.encode(hwc, height, width, Map.of("parameters", "noise"));
        long idats = chunks(png).stream().filter(c -> c.type().equals("IDAT")).count();
        assertTrue(idats > 1, "random data of 1.4 MB must need several 1 MiB IDAT chunks, got " + idats);
        assertPixels(hwc, height, width, decode(png));
    }

    @Test
    void encode_textChunks_areWrittenInOrderBeforeTheImageData() throws IOException {
        Map<String, String> text = new LinkedHashMap<>();
        text.put("parameters", "toy_face of a hacker, pixel art\nSteps: 30, Sampler: Euler a, CFG scale: 7.5, Seed: 42");
        text.put("Software", "Lorica");
        text.put("prompt", "café crème — 日本の桜 🚀");
        text.put("Comment", "naïve façade ±½");
        float[] hwc = new float[2 * 2 * 3];
        Arrays.fill(hwc, 0.5f);

        byte[] png = Png.encode(hwc, 2, 2, text);

        List<Chunk> chunks = chunks(png);
        List<String> types = chunks.stream().map(Chunk::type).toList();
        assertEquals(List.of("IHDR", "tEXt", "tEXt", "iTXt", "tEXt", "IDAT", "IEND"), types);
        assertArrayEquals(("parameters\0" + text.get("parameters")).getBytes(StandardCharsets.ISO_8859_1), chunks.get(1).data());
        assertArrayEquals("Software\0Lorica".getBytes(StandardCharsets.ISO_8859_1), chunks.get(2).data());
        byte[] itxt = chunks.get(3).data();
        byte[] itxtHeader = "prompt\0\0\0\0\0".getBytes(StandardCharsets.ISO_8859_1);
        assertArrayEquals(itxtHeader, Arrays.copyOf(itxt, itxtHeader.length));
        assertEquals(text.get("prompt"), new String(itxt, itxtHeader.length, itxt.length - itxtHeader.length, StandardCharsets.UTF_8));
        assertArrayEquals(("Comment\0" + text.get("Comment")).getBytes(StandardCharsets.ISO_8859_1), chunks.get(4).data());
        assertPixels(hwc, 2, 2, decode(png));
    }

    @Test
    void toUint8_roundsHalfToEvenLikeNumpy() {
        int exactHalves = 0;
        for (int k = 0; k < 255; k++) {
            float v = (k + 0.5f) / 255f;
            if (v * 255f == k + 0.5f) {
                exactHalves++;
                assertEquals(k % 2 == 0 ? k : k + 1, Png.toUint8(v), "(" + k + ".5) / 255");
            }
            // the neighbouring floats round away from the half in the direction they lie
            float below = Math.nextDown(v);
            float above = Math.nextUp(v);
            assertEquals(expectedByte(below), Png.toUint8(below));
            assertEquals(expectedByte(above), Png.toUint8(above));
        }
        assertTrue(exactHalves > 100, "only " + exactHalves + " exact halves");
        assertEquals(0, Png.toUint8(0.5f / 255f));
        assertEquals(2, Png.toUint8(1.5f / 255f));
        assertEquals(2, Png.toUint8(2.5f / 255f));
        assertEquals(128, Png.toUint8(0.5f)); // 127.5 -> 128 (even)
        assertEquals(0, Png.toUint8(0f));
        assertEquals(255, Png.toUint8(1f));
    }

    @Test
    void toUint8_outOfRangeAndNaN_areClamped() {
        assertEquals(0, Png.toUint8(Float.NaN));
        assertEquals(0, Png.toUint8(-0.3f));
        assertEquals(0, Png.toUint8(Float.NEGATIVE_INFINITY));
        assertEquals(255, Png.toUint8(1.7f));
        assertEquals(255, Png.toUint8(Float.POSITIVE_INFINITY));
    }

    @Test
    void encode_halfBoundaryPixels_roundHalfToEven() throws IOException {
        float[] hwc = {0.5f / 255f, 1.5f / 255f, 2.5f / 255f, 0.5f, 253.5f / 255f, Float.NaN};
        BufferedImage image = decode(Png.encode(hwc, 1, 2, Map.of()));
        int[] expected = new int[6];
        for (int i = 0; i < 6; i++) {
            expected[i] = Png.toUint8(hwc[i]);
        }
        assertEquals(expected[0] << 16 | expected[1] << 8 | expected[2], image.getRGB(0, 0) & 0xffffff);
        assertEquals(expected[3] << 16 | expected[4] << 8 | expected[5], image.getRGB(1, 0) & 0xffffff);
        assertArrayEquals(new int[] {0, 2, 2, 128, 254, 0}, expected);
    }

    @Test
    void encode_sizeMismatch_isRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Png.encode(new float[10], 2, 2, Map.of()));
        assertEquals("image of 10 values does not match 2x2x3: expected 12 values in [H, W, 3] order", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Png.encode(new float[0], 0, 2, Map.of()));
    }

    @Test
    void encode_invalidKeywords_areRejected() {
        float[] hwc = new float[3];
        for (String keyword : List.of("", "x".repeat(80), " lead", "trail ", "two  spaces", "tab\there", "日本")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Png.encode(hwc, 1, 1, Map.of(keyword, "text")), keyword);
            assertTrue(e.getMessage().contains("keyword"), e.getMessage());
        }
        Png.encode(hwc, 1, 1, Map.of("x".repeat(79), "ok", "Æsthetic score", "ok"));
    }

    @Test
    void encode_nulInText_isRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Png.encode(new float[3], 1, 1, Map.of("parameters", "a\0b")));
        assertTrue(e.getMessage().contains("'parameters'") && e.getMessage().contains("NUL"), e.getMessage());
    }

    @Test
    void toHwc_secondImageOfBatch_isDenormalisedAndPermuted() {
        int channels = 3;
        int height = 2;
        int width = 3;
        int size = channels * height * width;
        float[] nchw = new float[2 * size];
        for (int i = 0; i < nchw.length; i++) {
            nchw[i] = -1.2f + i * 0.07f;
        }
        float[] hwc = Png.toHwc(nchw, 1, channels, height, width);

        assertEquals(size, hwc.length);
        for (int c = 0; c < channels; c++) {
            for (int y = 0; y < height; y++) {
                for (int x = 0; x < width; x++) {
                    float v = nchw[size + (c * height + y) * width + x] / 2f + 0.5f;
                    float expected = Math.max(0f, Math.min(1f, v));
                    assertEquals(expected, hwc[(y * width + x) * channels + c]);
                }
            }
        }
    }

    @Test
    void toHwc_clampsAndKeepsNaN() {
        float[] nchw = {
            -3f, -1f, 0f, 0.5f, // red plane of a 2x2 image
            1f, 2.5f, Float.NaN, -0f, // green
            0.999f, -0.999f, 0.25f, 1e-8f, // blue
        };
        float[] hwc = Png.toHwc(nchw, 0, 3, 2, 2);
        assertArrayEquals(new float[] {
            0f, 1f, 0.999f / 2f + 0.5f,
            0f, 1f, -0.999f / 2f + 0.5f,
            0.5f, Float.NaN, 0.625f,
            0.75f, 0.5f, 0.5f,
        }, hwc);
    }

    @Test
    void toHwc_badArguments_areRejected() {
        float[] batch = new float[2 * 3 * 4 * 4];
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Png.toHwc(batch, 2, 3, 4, 4));
        assertEquals("image index 2 is outside the batch of 2: expected 0 to 1", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Png.toHwc(new float[50], 0, 3, 4, 4));
        assertTrue(e.getMessage().contains("expected a multiple of 48"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Png.toHwc(batch, 0, 0, 4, 4));
    }
}
