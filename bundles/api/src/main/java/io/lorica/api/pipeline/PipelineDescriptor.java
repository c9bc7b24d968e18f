package io.lorica.api.pipeline;

import io.lorica.api.ModelFamily;

import java.nio.file.Path;
import java.util.regex.Pattern;

/**
 * A configured pipeline: which model directory (a Diffusers ONNX export with {@code text_encoder/},
 * {@code unet/}, {@code vae_decoder/}, ... sub-folders and tokenizer files) to serve as which family, under which id,
 * with which request defaults.
 *
 * @param id                   a stable id for URLs and shell commands: 1-64 letters, digits, {@code .}, {@code _},
 *                             {@code -}, starting with a letter or digit
 * @param family               the model family
 * @param modelDirectory       the model directory
 * @param defaultWidth         default width, as {@link GenerationRequest#width()} (512 for SD 1.5, 1024 for SDXL)
 * @param defaultHeight        default height, as {@link GenerationRequest#height()}
 * @param defaultSteps         default number of steps, as {@link GenerationRequest#steps()}
 * @param defaultGuidanceScale default guidance scale, as {@link GenerationRequest#guidanceScale()}
 * @param defaultScheduler     default scheduler name, as {@link GenerationRequest#scheduler()}
 */
public record PipelineDescriptor(String id, ModelFamily family, Path modelDirectory, int defaultWidth,
        int defaultHeight, int defaultSteps, double defaultGuidanceScale, String defaultScheduler) {

    private static final Pattern ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");

    /** @throws IllegalArgumentException naming the field, the value and what was expected */
    public PipelineDescriptor {
        if (id == null || !ID.matcher(id).matches()) {
            throw new IllegalArgumentException("id '" + id
                    + "' is invalid, expected 1-64 letters, digits, '.', '_' or '-' starting with a letter or digit");
        }
        if (family == null || modelDirectory == null) {
            throw new IllegalArgumentException("family and modelDirectory of pipeline '" + id + "' must not be null");
        }
        GenerationRequest.checkSize("defaultWidth", defaultWidth);
        GenerationRequest.checkSize("defaultHeight", defaultHeight);
        GenerationRequest.checkSteps("defaultSteps", defaultSteps);
        GenerationRequest.checkGuidance("defaultGuidanceScale", defaultGuidanceScale);
        GenerationRequest.checkScheduler("defaultScheduler", defaultScheduler);
    }

    /**
     * A descriptor with the family's usual defaults: SD 1.5 512x512, SDXL 1024x1024; 30 steps, guidance 7.5 (SD 1.5)
     * or 5.0 (SDXL), scheduler {@code "default"} (the one the model's {@code scheduler_config.json} names, as a
     * Diffusers pipeline loaded from the folder uses).
     */
    public static PipelineDescriptor of(String id, ModelFamily family, Path modelDirectory) {
        if (family == null) {
            throw new IllegalArgumentException("family of pipeline '" + id + "' must not be null");
        }
        int size = family == ModelFamily.SDXL ? 1024 : 512;
        double guidance = family == ModelFamily.SDXL ? 5.0 : 7.5;
        return new PipelineDescriptor(id, family, modelDirectory, size, size, 30, guidance, "default");
    }
}
