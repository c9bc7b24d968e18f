package io.lorica.api.pipeline;

import io.lorica.api.policy.AdapterSettings;

import java.util.Optional;
import java.util.regex.Pattern;

/**
 * One text-to-image request: the arguments of a Diffusers pipeline call ({@code prompt}, {@code negative_prompt},
 * {@code width}, {@code height}, {@code num_inference_steps}, {@code guidance_scale}, {@code generator} seed,
 * scheduler, {@code num_images_per_prompt}) plus optional adapter settings for this request only.
 *
 * @param prompt          the prompt; may be empty (unconditional)
 * @param negativePrompt  the negative prompt; empty for none
 * @param width           image width in pixels, a multiple of 8 in [{@value #MIN_SIZE}, {@value #MAX_SIZE}]
 * @param height          image height in pixels, a multiple of 8 in [{@value #MIN_SIZE}, {@value #MAX_SIZE}]
 * @param steps           denoising steps, in [1, {@value #MAX_STEPS}]
 * @param guidanceScale   classifier-free guidance scale, finite and in [0, {@value #MAX_GUIDANCE}]; at most 1
 *                        disables guidance, as in Diffusers
 * @param seed            the seed of the first image; image {@code i} of the batch uses {@code seed + i}
 * @param scheduler       the scheduler name, e.g. {@code "euler"} or {@code "ddim"}; letters, digits, {@code _},
 *                        {@code -}; the pipeline rejects names it does not support
 * @param adapters        adapter settings replacing the registry defaults for this request (adapters must be
 *                        loaded); absent to use the defaults as they are when the request starts
 * @param batchCount      the number of images, in [1, {@value #MAX_BATCH}]
 */
public record GenerationRequest(String prompt, String negativePrompt, int width, int height, int steps,
        double guidanceScale, long seed, String scheduler, Optional<AdapterSettings> adapters, int batchCount) {

    /** The smallest width or height. */
    public static final int MIN_SIZE = 64;
    /** The largest width or height. */
    public static final int MAX_SIZE = 2048;
    /** The most denoising steps. */
    public static final int MAX_STEPS = 1000;
    /** The largest guidance scale. */
    public static final double MAX_GUIDANCE = 100.0;
    /** The most images per request. */
    public static final int MAX_BATCH = 64;

    private static final Pattern SCHEDULER = Pattern.compile("[A-Za-z0-9_-]{1,64}");

    /** @throws IllegalArgumentException naming the field, the value and the expected range */
    public GenerationRequest {
        if (prompt == null) {
            throw new IllegalArgumentException("prompt must not be null (use \"\" for an unconditional prompt)");
        }
        if (negativePrompt == null) {
            throw new IllegalArgumentException("negativePrompt must not be null (use \"\" for none)");
        }
        checkSize("width", width);
        checkSize("height", height);
        checkSteps("steps", steps);
        checkGuidance("guidanceScale", guidanceScale);
        checkScheduler("scheduler", scheduler);
        if (adapters == null) {
            throw new IllegalArgumentException("adapters must be Optional, not null");
        }
        if (batchCount < 1 || batchCount > MAX_BATCH) {
            throw new IllegalArgumentException("batchCount must be in [1, " + MAX_BATCH + "], got " + batchCount);
        }
    }

    /** A request for {@code prompt} with the descriptor's defaults, no negative prompt, one image. */
    public static GenerationRequest of(PipelineDescriptor descriptor, String prompt, long seed) {
        if (descriptor == null) {
            throw new IllegalArgumentException("descriptor must not be null");
        }
        return new GenerationRequest(prompt, "", descriptor.defaultWidth(), descriptor.defaultHeight(),
                descriptor.defaultSteps(), descriptor.defaultGuidanceScale(), seed, descriptor.defaultScheduler(),
                Optional.empty(), 1);
    }

    /** This request with adapter settings for itself only. */
    public GenerationRequest withAdapters(AdapterSettings settings) {
        return new GenerationRequest(prompt, negativePrompt, width, height, steps, guidanceScale, seed, scheduler,
                Optional.ofNullable(settings), batchCount);
    }

    /** This request with another seed. */
    public GenerationRequest withSeed(long newSeed) {
        return new GenerationRequest(prompt, negativePrompt, width, height, steps, guidanceScale, newSeed, scheduler,
                adapters, batchCount);
    }

    /** The seed of image {@code index} of the batch: {@code seed + index}. */
    public long seedOf(int index) {
        if (index < 0 || index >= batchCount) {
            throw new IllegalArgumentException("image index " + index + " is out of range, expected 0.." + (batchCount - 1));
        }
        return seed + index;
    }

    static void checkSize(String field, int value) {
        if (value < MIN_SIZE || value > MAX_SIZE || value % 8 != 0) {
            throw new IllegalArgumentException(field + " must be a multiple of 8 in [" + MIN_SIZE + ", " + MAX_SIZE
                    + "], got " + value);
        }
    }

    static void checkSteps(String field, int value) {
        if (value < 1 || value > MAX_STEPS) {
            throw new IllegalArgumentException(field + " must be in [1, " + MAX_STEPS + "], got " + value);
        }
    }

    static void checkGuidance(String field, double value) {
        if (!(value >= 0 && value <= MAX_GUIDANCE)) {
            throw new IllegalArgumentException(field + " must be a finite number in [0, " + MAX_GUIDANCE + "], got "
                    + value);
        }
    }

    static void checkScheduler(String field, String value) {
        if (value == null || !SCHEDULER.matcher(value).matches()) {
            throw new IllegalArgumentException(field + " '" + value
                    + "' is not a scheduler name, expected 1-64 letters, digits, '_' or '-'");
        }
    }
}
