package io.lorica.pipelines.sd;

import io.lorica.api.ModelFamily;
import io.lorica.api.engine.ModelRole;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A Stable Diffusion pipeline exported to ONNX in the Optimum / Diffusers layout, as read from its folder:
 * {@code model_index.json}, {@code scheduler/scheduler_config.json}, {@code tokenizer/} (and {@code tokenizer_2/}),
 * {@code text_encoder/model.onnx} (and {@code text_encoder_2/}), {@code unet/model.onnx} (external data beside it) and
 * {@code vae_decoder/model.onnx}, with the {@code config.json} files Diffusers writes next to them.
 *
 * <p>The family is SDXL when {@code model_index.json} names an XL pipeline class or a second text encoder is present,
 * SD 1.5 otherwise. Settings read from the configs: the VAE's {@code scaling_factor} (Diffusers' defaults 0.18215 /
 * 0.13025 when absent), its number of up-sampling stages ({@code block_out_channels}), and SDXL's
 * {@code force_zeros_for_empty_prompt} (default true).
 *
 * @param folder                   the pipeline folder
 * @param family                   the model family
 * @param pipelineClass            {@code _class_name} of {@code model_index.json}
 * @param vaeScalingFactor         the VAE latent scaling factor
 * @param vaeScaleFactor           pixels per latent cell ({@code 2^(len(block_out_channels) - 1)}, 8 by default)
 * @param forceZerosForEmptyPrompt whether an empty negative prompt gives zero embeddings (SDXL)
 * @param sampleSize               the UNet's {@code sample_size} (latent cells per side it was trained at; 64 for
 *                                 SD 1.5, 128 for SDXL when {@code unet/config.json} does not say)
 * @param unetDownsampling         how much the UNet shrinks the latents ({@code 2^(len(block_out_channels) - 1)}: 8
 *                                 for SD 1.5, 4 for SDXL); an exported graph's up-sampling only meets its skip
 *                                 connections when the latent size is a multiple of it
 * @param randomWeights            whether {@code model_index.json} marks the folder as written by Lorica's test kit
 *                                 (random weights)
 */
public record ModelDirectory(Path folder, ModelFamily family, String pipelineClass, double vaeScalingFactor,
        int vaeScaleFactor, boolean forceZerosForEmptyPrompt, int sampleSize, int unetDownsampling,
        boolean randomWeights) {

    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * Reads and checks a pipeline folder.
     *
     * @throws IllegalArgumentException naming every missing file and what the family needs, or the malformed file
     */
    public static ModelDirectory read(Path folder) {
        if (folder == null) {
            throw new IllegalArgumentException("model directory must not be null");
        }
        if (!Files.isDirectory(folder)) {
            throw new IllegalArgumentException("model directory " + folder + " does not exist or is not a folder");
        }
        Path index = folder.resolve("model_index.json");
        JsonNode modelIndex = Files.isRegularFile(index) ? json(index) : JSON.createObjectNode();
        String pipelineClass = modelIndex.path("_class_name").asText("");
        boolean xl = pipelineClass.contains("XL") || Files.isDirectory(folder.resolve("text_encoder_2"));
        ModelFamily family = xl ? ModelFamily.SDXL : ModelFamily.SD15;
        List<String> missing = new ArrayList<>();
        List<String> required = new ArrayList<>(List.of("model_index.json", "scheduler/scheduler_config.json",
                "tokenizer/vocab.json", "tokenizer/merges.txt", "text_encoder/model.onnx", "unet/model.onnx",
                "vae_decoder/model.onnx"));
        if (xl) {
            required.addAll(List.of("tokenizer_2/vocab.json", "tokenizer_2/merges.txt", "text_encoder_2/model.onnx"));
        }
        for (String file : required) {
            if (!Files.isRegularFile(folder.resolve(file))) {
                missing.add(file);
            }
        }
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException("model directory " + folder + " is not a complete " + family.id()
                    + " ONNX export: missing " + String.join(", ", missing) + " (expected the Optimum / Diffusers layout"
                    + " with model_index.json, scheduler/, tokenizer/, text_encoder/, unet/ and vae_decoder/"
                    + (xl ? ", tokenizer_2/ and text_encoder_2/" : "") + ")");
        }
        JsonNode vae = optionalJson(folder.resolve("vae_decoder/config.json")).orElse(JSON.createObjectNode());
        double scaling = vae.path("scaling_factor").asDouble(xl ? 0.13025 : 0.18215);
        if (!(scaling > 0) || Double.isInfinite(scaling)) {
            throw new IllegalArgumentException(folder.resolve("vae_decoder/config.json") + ": scaling_factor "
                    + scaling + " is invalid, expected a positive number");
        }
        int stages = vae.path("block_out_channels").isArray() ? vae.path("block_out_channels").size() : 4;
        if (stages < 1 || stages > 8) {
            throw new IllegalArgumentException(folder.resolve("vae_decoder/config.json") + ": block_out_channels has "
                    + stages + " entries, expected 1 to 8");
        }
        boolean forceZeros = modelIndex.path("force_zeros_for_empty_prompt").asBoolean(true);
        JsonNode unet = optionalJson(folder.resolve("unet/config.json")).orElse(JSON.createObjectNode());
        int sampleSize = unet.path("sample_size").asInt(xl ? 128 : 64);
        if (sampleSize < 1 || sampleSize > 1024) {
            throw new IllegalArgumentException(folder.resolve("unet/config.json") + ": sample_size " + sampleSize
                    + " is invalid, expected 1 to 1024");
        }
        int unetStages = unet.path("block_out_channels").isArray() ? unet.path("block_out_channels").size()
                : xl ? 3 : 4;
        if (unetStages < 1 || unetStages > 8) {
            throw new IllegalArgumentException(folder.resolve("unet/config.json") + ": block_out_channels has "
                    + unetStages + " entries, expected 1 to 8");
        }
        return new ModelDirectory(folder, family, pipelineClass, scaling, 1 << (stages - 1), forceZeros, sampleSize,
                1 << (unetStages - 1), modelIndex.has("_lorica_testkit"));
    }

    /** Diffusers' default image size: {@code sample_size * vae_scale_factor} pixels per side. */
    public int defaultImageSize() {
        return sampleSize * vaeScaleFactor;
    }

    /** What image widths and heights must be multiples of: {@code vaeScaleFactor * unetDownsampling}. */
    public int sizeMultiple() {
        return vaeScaleFactor * unetDownsampling;
    }

    /**
     * Checks an image size against what the models can take.
     *
     * @throws IllegalArgumentException naming the size and the multiple it must be of, and why
     */
    public void requireImageSize(int width, int height) {
        int multiple = sizeMultiple();
        if (width % multiple != 0 || height % multiple != 0) {
            throw new IllegalArgumentException("width and height must be multiples of " + multiple + " for this model"
                    + " (the VAE scales by " + vaeScaleFactor + ", the UNet down-samples the latents by "
                    + unetDownsampling + "), got " + width + "x" + height);
        }
    }

    /** The ONNX file of a role, e.g. {@code unet/model.onnx}. */
    public Path model(ModelRole role) {
        return folder.resolve(role.id()).resolve("model.onnx");
    }

    /** The tokenizer folder of the first ({@code 1}) or second ({@code 2}) text encoder. */
    public Path tokenizer(int which) {
        return folder.resolve(which == 1 ? "tokenizer" : "tokenizer_2");
    }

    /** {@code scheduler/scheduler_config.json}. */
    public Path schedulerConfig() {
        return folder.resolve("scheduler").resolve("scheduler_config.json");
    }

    static JsonNode json(Path file) {
        try {
            JsonNode node = JSON.readTree(file.toFile());
            if (node == null || !node.isObject()) {
                throw new IllegalArgumentException(file + " is not a JSON object");
            }
            return node;
        } catch (IOException e) {
            throw new IllegalArgumentException(file + " is not valid JSON: " + e.getMessage(), e);
        }
    }

    private static Optional<JsonNode> optionalJson(Path file) {
        return Files.isRegularFile(file) ? Optional.of(json(file)) : Optional.empty();
    }
}
