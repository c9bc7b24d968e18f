package io.lorica.testkit.internal;

import java.nio.charset.StandardCharsets;

/**
 * A small, fast, reproducible random generator (SplitMix64). Every tensor gets its own stream, seeded from the global
 * seed and the tensor's logical name ({@link #forKey}), so its values do not depend on the order tensors are written
 * in, on the storage precision or on whether the tensor is stored inline or as external data.
 */
public final class SeededRandom {

    private static final long GOLDEN_GAMMA = 0x9E3779B97F4A7C15L;
    private static final float UNIT = 0x1.0p-24f;

    private long state;
    private double spareGaussian = Double.NaN;

    /** A stream seeded with {@code seed}. */
    public SeededRandom(long seed) {
        this.state = mix(seed);
    }

    /** The stream of the tensor (or other item) named {@code key} under the global {@code seed}. */
    public static SeededRandom forKey(long seed, String key) {
        long hash = 0xCBF29CE484222325L;
        for (byte b : key.getBytes(StandardCharsets.UTF_8)) {
            hash = (hash ^ (b & 0xFF)) * 0x100000001B3L;
        }
        return new SeededRandom(mix(seed) ^ mix(hash + GOLDEN_GAMMA));
    }

    /** The next 64 random bits. */
    public long nextLong() {
        state += GOLDEN_GAMMA;
        return mix(state);
    }

    /** A uniform value in {@code [-1, 1)} with 24 random bits. */
    public float nextSymmetric() {
        return ((nextLong() >>> 40) * UNIT) * 2f - 1f;
    }

    /** A standard normal value (Box-Muller, two per pair of uniforms). */
    public double nextGaussian() {
        if (!Double.isNaN(spareGaussian)) {
            double value = spareGaussian;
            spareGaussian = Double.NaN;
            return value;
        }
        double u1 = ((nextLong() >>> 11) + 1) * 0x1.0p-53;
        double u2 = (nextLong() >>> 11) * 0x1.0p-53;
        double radius = Math.sqrt(-2 * Math.log(u1));
        spareGaussian = radius * Math.sin(2 * Math.PI * u2);
        return radius * Math.cos(2 * Math.PI * u2);
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
