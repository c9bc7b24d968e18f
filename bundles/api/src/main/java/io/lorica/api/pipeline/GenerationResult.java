package io.lorica.api.pipeline;

import io.lorica.api.policy.AdapterSettings;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The images of one {@link GenerationRequest}, with what produced them.
 *
 * @param images   PNG files, one per image of the batch in order; copied on the way in and out
 * @param seed     the seed of the first image (image {@code i} used {@code seed + i})
 * @param timings  stage -> time spent, in order, e.g. {@code text_encoder}, {@code denoise}, {@code vae_decoder}
 * @param adapters the adapter settings the images were generated with (the request's or the registry defaults
 *                 snapshot)
 */
public record GenerationResult(List<byte[]> images, long seed, Map<String, Duration> timings,
        AdapterSettings adapters) {

    private static final byte[] PNG_SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

    /** @throws IllegalArgumentException naming the image or stage that is missing or invalid */
    public GenerationResult {
        if (images == null || images.isEmpty()) {
            throw new IllegalArgumentException("images must contain at least one PNG, got " + images);
        }
        List<byte[]> copies = new ArrayList<>(images.size());
        for (int i = 0; i < images.size(); i++) {
            byte[] png = images.get(i);
            if (!isPng(png)) {
                throw new IllegalArgumentException("image " + i + " is not a PNG file (missing PNG signature)");
            }
            copies.add(png.clone());
        }
        images = Collections.unmodifiableList(copies);
        if (timings == null) {
            throw new IllegalArgumentException("timings must not be null");
        }
        Map<String, Duration> copy = new LinkedHashMap<>();
        timings.forEach((stage, duration) -> {
            if (stage == null || stage.isBlank()) {
                throw new IllegalArgumentException("timing stage names must not be blank, got '" + stage + "'");
            }
            if (duration == null || duration.isNegative()) {
                throw new IllegalArgumentException("duration of stage '" + stage + "' must be >= 0, got " + duration);
            }
            copy.put(stage, duration);
        });
        timings = Collections.unmodifiableMap(copy);
        if (adapters == null) {
            throw new IllegalArgumentException("adapters must not be null (use AdapterSettings.none())");
        }
    }

    /** Copies of the PNG files. */
    @Override
    public List<byte[]> images() {
        List<byte[]> copies = new ArrayList<>(images.size());
        images.forEach(png -> copies.add(png.clone()));
        return Collections.unmodifiableList(copies);
    }

    /** A copy of the PNG file of image {@code index}. */
    public byte[] image(int index) {
        if (index < 0 || index >= images.size()) {
            throw new IllegalArgumentException("image index " + index + " is out of range, expected 0.."
                    + (images.size() - 1));
        }
        return images.get(index).clone();
    }

    /** The number of images. */
    public int imageCount() {
        return images.size();
    }

    /** The sum of the stage timings. */
    public Duration total() {
        return timings.values().stream().reduce(Duration.ZERO, Duration::plus);
    }

    /** Equal when the images have equal bytes and the other fields are equal. */
    @Override
    public boolean equals(Object other) {
        if (!(other instanceof GenerationResult that) || seed != that.seed || images.size() != that.images.size()
                || !timings.equals(that.timings) || !adapters.equals(that.adapters)) {
            return false;
        }
        for (int i = 0; i < images.size(); i++) {
            if (!java.util.Arrays.equals(images.get(i), that.images.get(i))) {
                return false;
            }
        }
        return true;
    }

    @Override
    public int hashCode() {
        int hash = Long.hashCode(seed) * 31 + timings.hashCode();
        for (byte[] png : images) {
            hash = hash * 31 + java.util.Arrays.hashCode(png);
        }
        return hash * 31 + adapters.hashCode();
    }

    /** Sizes of the images, never their bytes. */
    @Override
    public String toString() {
        return "GenerationResult[images=" + images.stream().map(p -> p.length + " bytes").toList() + ", seed=" + seed
                + ", timings=" + timings + ", adapters=" + adapters + "]";
    }

    private static boolean isPng(byte[] bytes) {
        if (bytes == null || bytes.length < PNG_SIGNATURE.length) {
            return false;
        }
        for (int i = 0; i < PNG_SIGNATURE.length; i++) {
            if (bytes[i] != PNG_SIGNATURE[i]) {
                return false;
            }
        }
        return true;
    }
}
