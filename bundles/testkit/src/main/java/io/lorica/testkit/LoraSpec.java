package io.lorica.testkit;

import io.lorica.api.DType;

/**
 * What {@link LoraFiles} writes: format, rank, alpha, precision, seed, targets and magnitude.
 *
 * <p>Per module, A is drawn normal with standard deviation {@code 1/sqrt(fan_in)} ({@code fan_in = in·kh·kw}) and B
 * normal with standard deviation {@code strength}, so the delta {@code (alpha/r)·B·A} has a standard deviation of about
 * {@code strength·sqrt(3r)·alpha/r} times the base weights' (whose PyTorch-default range is {@code ±1/sqrt(fan_in)}):
 * 0.35 for the defaults, a clearly visible but finite change.
 *
 * @param format   the key layout
 * @param rank     the LoRA rank, at least 1
 * @param alpha    alpha (scale {@code alpha / rank}), a finite number above 0
 * @param dtype    F32 or F16
 * @param strength the standard deviation of B, a finite number above 0
 * @param seed     the seed of the values
 * @param targets  the modules to adapt
 */
public record LoraSpec(LoraFormat format, int rank, float alpha, DType dtype, float strength, long seed,
        LoraTargets targets) {

    /** @throws IllegalArgumentException naming the field when a rule above is broken */
    public LoraSpec {
        if (format == null || dtype == null || targets == null) {
            throw new IllegalArgumentException("format, dtype and targets must not be null");
        }
        if (rank < 1) {
            throw new IllegalArgumentException("rank must be >= 1, got " + rank);
        }
        if (!(alpha > 0) || Float.isInfinite(alpha)) {
            throw new IllegalArgumentException("alpha must be a finite number > 0, got " + alpha);
        }
        if (dtype != DType.F32 && dtype != DType.F16) {
            throw new IllegalArgumentException("dtype must be F32 or F16, got " + dtype);
        }
        if (!(strength > 0) || Float.isInfinite(strength)) {
            throw new IllegalArgumentException("strength must be a finite number > 0, got " + strength);
        }
    }

    /** Diffusers format, rank 4, alpha 4, F32, strength 0.1, seed 0, {@link LoraTargets#attention()}. */
    public static LoraSpec defaults() {
        return new LoraSpec(LoraFormat.DIFFUSERS, 4, 4f, DType.F32, 0.1f, 0L, LoraTargets.attention());
    }

    /** A copy with {@code value} as the format. */
    public LoraSpec withFormat(LoraFormat value) {
        return new LoraSpec(value, rank, alpha, dtype, strength, seed, targets);
    }

    /** A copy with {@code value} as rank and alpha. */
    public LoraSpec withRank(int value, float alphaValue) {
        return new LoraSpec(format, value, alphaValue, dtype, strength, seed, targets);
    }

    /** A copy with {@code value} as dtype. */
    public LoraSpec withDtype(DType value) {
        return new LoraSpec(format, rank, alpha, value, strength, seed, targets);
    }

    /** A copy with {@code value} as the seed. */
    public LoraSpec withSeed(long value) {
        return new LoraSpec(format, rank, alpha, dtype, strength, value, targets);
    }

    /** A copy with {@code value} as the strength. */
    public LoraSpec withStrength(float value) {
        return new LoraSpec(format, rank, alpha, dtype, value, seed, targets);
    }

    /** A copy with {@code value} as the targets. */
    public LoraSpec withTargets(LoraTargets value) {
        return new LoraSpec(format, rank, alpha, dtype, strength, seed, value);
    }
}
