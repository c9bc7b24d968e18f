package io.lorica.pipelines.image;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Objects;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import java.util.zip.DeflaterOutputStream;

/**
 * The last step of a Diffusers pipeline: from the VAE decoder's output to PNG bytes.
 *
 * <p>{@link #toHwc} is Diffusers' {@code VaeImageProcessor.postprocess(image, output_type="np")} for one image:
 * {@code (x / 2 + 0.5).clamp(0, 1)} in float32, permuted from {@code [3, H, W]} to {@code [H, W, 3]}.
 * {@link #encode} is {@code numpy_to_pil} followed by a PNG save: {@code (image * 255).round().astype("uint8")}
 * (float32 product, round half to even), as an 8-bit RGB PNG with text metadata.
 */
public final class Png {

    private static final byte[] SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    private static final int MAX_IDAT_BYTES = 1 << 20;
    private static final int MAX_KEYWORD_LENGTH = 79;

    private Png() {
    }

    /**
     * Encodes an RGB image as an 8-bit PNG (colour type 2, no interlacing) with text chunks.
     *
     * <p>Each value {@code v} becomes the byte {@code round_half_even(v * 255f)} clamped to [0, 255]; NaN becomes 0.
     * Each map entry, in the map's iteration order, becomes a {@code tEXt} chunk when its text is Latin-1, else an
     * uncompressed {@code iTXt} chunk with the text in UTF-8. The chunks come before the image data.
     *
     * @param hwc the image, {@code [height, width, 3]} in row-major order, values in [0, 1]
     * @param height the image height in pixels
     * @param width the image width in pixels
     * @param textChunks keyword to text, for example {@code parameters} to the generation settings; may be empty
     * @return the PNG file
     * @throws IllegalArgumentException when the size does not match the array, or a keyword is not 1 to 79 printable
     *         Latin-1 characters without leading, trailing or double spaces, or a text contains U+0000
     */
    public static byte[] encode(float[] hwc, int height, int width, Map<String, String> textChunks) {
        Objects.requireNonNull(hwc, "hwc");
        Objects.requireNonNull(textChunks, "textChunks");
        if (height < 1 || width < 1) {
            throw new IllegalArgumentException("image size " + height + "x" + width
                    + " is not valid: expected a height and a width of at least 1");
        }
        long expected = (long) height * width * 3;
        if (hwc.length != expected) {
            throw new IllegalArgumentException("image of " + hwc.length + " values does not match " + height + "x"
                    + width + "x3: expected " + expected + " values in [H, W, 3] order");
        }
        ByteArrayOutputStream png = new ByteArrayOutputStream((int) Math.min(Integer.MAX_VALUE - 8, expected / 2 + 1024));
        png.writeBytes(SIGNATURE);

        byte[] ihdr = new byte[13];
        putInt(ihdr, 0, width);
        putInt(ihdr, 4, height);
        ihdr[8] = 8; // bit depth
        ihdr[9] = 2; // colour type: RGB
        // compression 0, filter method 0, interlace 0
        chunk(png, "IHDR", ihdr, 0, ihdr.length);

        for (Map.Entry<String, String> e : textChunks.entrySet()) {
            textChunk(png, e.getKey(), e.getValue());
        }

        byte[] compressed = compress(hwc, height, width);
        for (int offset = 0; offset < compressed.length; offset += MAX_IDAT_BYTES) {
            chunk(png, "IDAT", compressed, offset, Math.min(MAX_IDAT_BYTES, compressed.length - offset));
        }
        chunk(png, "IEND", new byte[0], 0, 0);
        return png.toByteArray();
    }

    /**
     * One image of a decoded VAE batch as Diffusers' {@code output_type="np"} returns it.
     *
     * @param nchw the VAE decoder output {@code [N, channels, height, width]}, values about [-1, 1]
     * @param index which image of the batch
     * @param channels the channel count (3 for RGB)
     * @param height the image height
     * @param width the image width
     * @return {@code (x / 2 + 0.5).clamp(0, 1)} as {@code [height, width, channels]}; NaN stays NaN, as in torch
     * @throws IllegalArgumentException when a size is not positive, the array is not a whole batch of such images or
     *         the index is outside the batch
     */
    public static float[] toHwc(float[] nchw, int index, int channels, int height, int width) {
        Objects.requireNonNull(nchw, "nchw");
        if (channels < 1 || height < 1 || width < 1) {
            throw new IllegalArgumentException("image shape [" + channels + ", " + height + ", " + width
                    + "] is not valid: expected channels, height and width of at least 1");
        }
        long imageSize = (long) channels * height * width;
        if (imageSize > Integer.MAX_VALUE || nchw.length % imageSize != 0) {
            throw new IllegalArgumentException("decoded batch of " + nchw.length + " values is not a whole number of ["
                    + channels + ", " + height + ", " + width + "] images: expected a multiple of " + imageSize);
        }
        long batch = nchw.length / imageSize;
        if (index < 0 || index >= batch) {
            throw new IllegalArgumentException("image index " + index + " is outside the batch of " + batch
                    + ": expected 0 to " + (batch - 1));
        }
        int plane = height * width;
        int base = (int) (index * imageSize);
        float[] hwc = new float[(int) imageSize];
        for (int c = 0; c < channels; c++) {
            int from = base + c * plane;
            for (int p = 0; p < plane; p++) {
                float v = nchw[from + p] / 2f + 0.5f;
                hwc[p * channels + c] = v < 0f ? 0f : v > 1f ? 1f : v;
            }
        }
        return hwc;
    }

    /**
     * numpy's {@code np.uint8(np.round(v * np.float32(255)))} for a value in [0, 1]: float32 product, round half to
     * even, clamped to [0, 255]; NaN gives 0.
     *
     * @param v a value of the image
     * @return the byte value, 0 to 255
     */
    static int toUint8(float v) {
        float scaled = v * 255f;
        if (Float.isNaN(scaled) || scaled <= 0f) {
            return 0;
        }
        if (scaled >= 255f) {
            return 255;
        }
        return (int) Math.rint(scaled);
    }

    /** Filtered scanlines (adaptive filter per row: the one with the smallest sum of absolute values), deflated. */
    private static byte[] compress(float[] hwc, int height, int width) {
        int stride = width * 3;
        byte[] previous = new byte[stride];
        byte[] current = new byte[stride];
        byte[][] candidates = new byte[5][stride + 1];
        for (int f = 0; f < candidates.length; f++) {
            candidates[f][0] = (byte) f;
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(Math.max(64, height * (stride + 1) / 4));
        Deflater deflater = new Deflater(Deflater.DEFAULT_COMPRESSION);
        try (DeflaterOutputStream zlib = new DeflaterOutputStream(out, deflater, 1 << 16)) {
            for (int y = 0; y < height; y++) {
                int rowStart = y * stride;
                for (int i = 0; i < stride; i++) {
                    current[i] = (byte) toUint8(hwc[rowStart + i]);
                }
                byte[] best = filterRow(current, previous, candidates, y == 0);
                zlib.write(best, 0, best.length);
                byte[] swap = previous;
                previous = current;
                current = swap;
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot deflate the image data", e); // cannot happen in memory
        } finally {
            deflater.end();
        }
        return out.toByteArray();
    }

    private static byte[] filterRow(byte[] row, byte[] above, byte[][] candidates, boolean firstRow) {
        int n = row.length;
        for (int i = 0; i < n; i++) {
            int x = row[i] & 0xff;
            int a = i >= 3 ? row[i - 3] & 0xff : 0;
            int b = firstRow ? 0 : above[i] & 0xff;
            int c = i >= 3 && !firstRow ? above[i - 3] & 0xff : 0;
            candidates[0][i + 1] = (byte) x;
            candidates[1][i + 1] = (byte) (x - a);
            candidates[2][i + 1] = (byte) (x - b);
            candidates[3][i + 1] = (byte) (x - ((a + b) >>> 1));
            candidates[4][i + 1] = (byte) (x - paeth(a, b, c));
        }
        byte[] best = candidates[0];
        long bestScore = Long.MAX_VALUE;
        for (byte[] candidate : candidates) {
            long score = 0;
            for (int i = 1; i <= n; i++) {
                score += Math.abs(candidate[i]);
            }
            if (score < bestScore) {
                bestScore = score;
                best = candidate;
            }
        }
        return best;
    }

    private static int paeth(int a, int b, int c) {
        int p = a + b - c;
        int pa = Math.abs(p - a);
        int pb = Math.abs(p - b);
        int pc = Math.abs(p - c);
        if (pa <= pb && pa <= pc) {
            return a;
        }
        return pb <= pc ? b : c;
    }

    private static void textChunk(ByteArrayOutputStream png, String keyword, String text) {
        Objects.requireNonNull(keyword, "text chunk keyword");
        Objects.requireNonNull(text, () -> "text of chunk '" + keyword + "'");
        validateKeyword(keyword);
        if (text.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("text of chunk '" + keyword
                    + "' contains U+0000: expected text without NUL characters");
        }
        boolean latin1 = text.chars().allMatch(ch -> ch <= 0xff);
        ByteArrayOutputStream data = new ByteArrayOutputStream(keyword.length() + text.length() + 8);
        data.writeBytes(keyword.getBytes(StandardCharsets.ISO_8859_1));
        data.write(0);
        if (latin1) {
            data.writeBytes(text.getBytes(StandardCharsets.ISO_8859_1));
            chunk(png, "tEXt", data.toByteArray(), 0, data.size());
        } else {
            data.write(0); // compression flag: uncompressed
            data.write(0); // compression method
            data.write(0); // empty language tag
            data.write(0); // empty translated keyword
            data.writeBytes(text.getBytes(StandardCharsets.UTF_8));
            chunk(png, "iTXt", data.toByteArray(), 0, data.size());
        }
    }

    private static void validateKeyword(String keyword) {
        boolean valid = !keyword.isEmpty() && keyword.length() <= MAX_KEYWORD_LENGTH
                && !keyword.startsWith(" ") && !keyword.endsWith(" ") && !keyword.contains("  ");
        for (int i = 0; valid && i < keyword.length(); i++) {
            char c = keyword.charAt(i);
            valid = (c >= 32 && c <= 126) || (c >= 161 && c <= 255);
        }
        if (!valid) {
            throw new IllegalArgumentException("PNG text keyword '" + keyword + "' is not valid: expected 1 to "
                    + MAX_KEYWORD_LENGTH + " printable Latin-1 characters without leading, trailing or consecutive spaces");
        }
    }

    private static void chunk(ByteArrayOutputStream png, String type, byte[] data, int offset, int length) {
        byte[] header = new byte[8];
        putInt(header, 0, length);
        byte[] typeBytes = type.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(typeBytes, 0, header, 4, 4);
        png.write(header, 0, 8);
        png.write(data, offset, length);
        CRC32 crc = new CRC32();
        crc.update(typeBytes);
        crc.update(data, offset, length);
        byte[] trailer = new byte[4];
        putInt(trailer, 0, (int) crc.getValue());
        png.write(trailer, 0, 4);
    }

    private static void putInt(byte[] target, int offset, int value) {
        target[offset] = (byte) (value >>> 24);
        target[offset + 1] = (byte) (value >>> 16);
        target[offset + 2] = (byte) (value >>> 8);
        target[offset + 3] = (byte) value;
    }
}
