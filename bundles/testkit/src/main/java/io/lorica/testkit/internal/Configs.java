package io.lorica.testkit.internal;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.format.ModuleCatalog;
import io.lorica.testkit.PipelineSpec;
import io.lorica.testkit.TextEncoderSpec;
import io.lorica.testkit.UnetSpec;
import io.lorica.testkit.VaeSpec;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The JSON and text files of a pipeline: {@code model_index.json}, the scheduler, tokenizer and model configs, as
 * Diffusers and transformers write them (keys sorted, two-space indent), and reading the sizes back.
 */
public final class Configs {

    /** The Diffusers version recorded in the configs. */
    public static final String DIFFUSERS_VERSION = "0.30.0";
    /** The transformers version recorded in the text encoder configs. */
    public static final String TRANSFORMERS_VERSION = "4.44.0";
    /** The key of the marker in {@code model_index.json}. */
    public static final String MARKER_KEY = "_lorica_testkit";

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(SerializationFeature.INDENT_OUTPUT)
            .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS)
            .enable(JsonGenerator.Feature.WRITE_BIGDECIMAL_AS_PLAIN);

    private static final ObjectMapper JSON_IN_ORDER = new ObjectMapper()
            .enable(SerializationFeature.INDENT_OUTPUT);

    private Configs() {
    }

    /** Writes {@code content} as indented JSON in its own key order (vocabularies: by id) with a final newline. */
    public static void writeJsonInOrder(Path file, Map<String, ?> content) {
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            Files.write(file, (JSON_IN_ORDER.writeValueAsString(content) + "\n").getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }

    /** Writes {@code content} as sorted, indented JSON with a final newline. */
    public static void writeJson(Path file, Object content) {
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            Files.write(file, (JSON.writeValueAsString(content) + "\n").getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }

    /** Writes UTF-8 text. */
    public static void writeText(Path file, String text) {
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            Files.write(file, text.getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }

    /** The marker value of {@code model_index.json}. */
    public static String marker(long seed) {
        return "random weights, seed " + seed;
    }

    /** {@code model_index.json}. */
    public static Map<String, Object> modelIndex(ModelFamily family, long seed) {
        Map<String, Object> m = new LinkedHashMap<>();
        boolean xl = family == ModelFamily.SDXL;
        m.put("_class_name", xl ? "StableDiffusionXLPipeline" : "StableDiffusionPipeline");
        m.put("_diffusers_version", DIFFUSERS_VERSION);
        m.put(MARKER_KEY, marker(seed));
        m.put("scheduler", List.of("diffusers", xl ? "EulerDiscreteScheduler" : "PNDMScheduler"));
        m.put("text_encoder", List.of("transformers", "CLIPTextModel"));
        m.put("tokenizer", List.of("transformers", "CLIPTokenizer"));
        m.put("unet", List.of("diffusers", "UNet2DConditionModel"));
        m.put("vae_decoder", List.of("diffusers", "AutoencoderKL"));
        if (xl) {
            m.put("text_encoder_2", List.of("transformers", "CLIPTextModelWithProjection"));
            m.put("tokenizer_2", List.of("transformers", "CLIPTokenizer"));
            m.put("force_zeros_for_empty_prompt", true);
        }
        return m;
    }

    /** {@code scheduler/scheduler_config.json}: SD 1.5's PNDM or SDXL's Euler discrete ("leading") scheduler. */
    public static Map<String, Object> schedulerConfig(ModelFamily family) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("_diffusers_version", DIFFUSERS_VERSION);
        m.put("beta_start", new BigDecimal("0.00085"));
        m.put("beta_end", new BigDecimal("0.012"));
        m.put("beta_schedule", "scaled_linear");
        m.put("num_train_timesteps", 1000);
        m.put("set_alpha_to_one", false);
        m.put("skip_prk_steps", true);
        m.put("steps_offset", 1);
        m.put("clip_sample", false);
        m.put("trained_betas", null);
        if (family == ModelFamily.SDXL) {
            m.put("_class_name", "EulerDiscreteScheduler");
            m.put("interpolation_type", "linear");
            m.put("prediction_type", "epsilon");
            m.put("sample_max_value", new BigDecimal("1.0"));
            m.put("timestep_spacing", "leading");
            m.put("use_karras_sigmas", false);
        } else {
            m.put("_class_name", "PNDMScheduler");
        }
        return m;
    }

    /** {@code tokenizer_config.json} of a CLIPTokenizer padding with {@code padToken}. */
    public static Map<String, Object> tokenizerConfig(String padToken) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("add_prefix_space", false);
        m.put("bos_token", ClipVocabulary.BOS);
        m.put("clean_up_tokenization_spaces", true);
        m.put("do_lower_case", true);
        m.put("eos_token", ClipVocabulary.EOS);
        m.put("errors", "replace");
        m.put("model_max_length", TextEncoderSpec.SEQUENCE_LENGTH);
        m.put("pad_token", padToken);
        m.put("tokenizer_class", "CLIPTokenizer");
        m.put("unk_token", ClipVocabulary.EOS);
        return m;
    }

    /** {@code special_tokens_map.json}. */
    public static Map<String, Object> specialTokens(String padToken) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("bos_token", ClipVocabulary.BOS);
        m.put("eos_token", ClipVocabulary.EOS);
        m.put("pad_token", padToken);
        m.put("unk_token", ClipVocabulary.EOS);
        return m;
    }

    /** A text encoder's {@code config.json} (transformers' CLIPTextConfig). */
    public static Map<String, Object> textEncoderConfig(TextEncoderSpec spec, ClipVocabulary vocabulary, String dtype) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("architectures", List.of(spec.withProjection() ? "CLIPTextModelWithProjection" : "CLIPTextModel"));
        m.put("attention_dropout", new BigDecimal("0.0"));
        m.put("bos_token_id", vocabulary.bos());
        m.put("eos_token_id", vocabulary.eos());
        m.put("pad_token_id", vocabulary.eos());
        m.put("hidden_act", spec.hiddenAct().configName());
        m.put("hidden_size", spec.hiddenSize());
        m.put("initializer_factor", new BigDecimal("1.0"));
        m.put("initializer_range", new BigDecimal("0.02"));
        m.put("intermediate_size", spec.intermediateSize());
        m.put("layer_norm_eps", new BigDecimal("0.00001"));
        m.put("max_position_embeddings", TextEncoderSpec.SEQUENCE_LENGTH);
        m.put("model_type", "clip_text_model");
        m.put("num_attention_heads", spec.heads());
        m.put("num_hidden_layers", spec.layers());
        m.put("output_hidden_states", spec.outputHiddenStates());
        m.put("projection_dim", spec.withProjection() ? spec.projectionDim() : spec.hiddenSize());
        m.put("torch_dtype", dtype);
        m.put("transformers_version", TRANSFORMERS_VERSION);
        m.put("vocab_size", vocabulary.size());
        return m;
    }

    /** The UNet's {@code config.json} (Diffusers' UNet2DConditionModel). */
    public static Map<String, Object> unetConfig(UnetSpec spec) {
        boolean xl = spec.family() == ModelFamily.SDXL;
        int blocks = spec.blockOutChannels().size();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("_class_name", "UNet2DConditionModel");
        m.put("_diffusers_version", DIFFUSERS_VERSION);
        m.put("act_fn", "silu");
        m.put("addition_embed_type", xl ? "text_time" : null);
        m.put("addition_embed_type_num_heads", 64);
        m.put("addition_time_embed_dim", xl ? spec.additionTimeEmbedDim() : null);
        List<Integer> heads = spec.attentionHeads();
        m.put("attention_head_dim", heads.stream().distinct().count() == 1 ? heads.get(0) : heads);
        m.put("block_out_channels", spec.blockOutChannels());
        m.put("center_input_sample", false);
        m.put("cross_attention_dim", spec.crossAttentionDim());
        List<String> down = new ArrayList<>();
        List<String> up = new ArrayList<>();
        for (int i = 0; i < blocks; i++) {
            down.add(spec.downTransformerDepths().get(i) > 0 ? "CrossAttnDownBlock2D" : "DownBlock2D");
            up.add(spec.upTransformerDepths().get(i) > 0 ? "CrossAttnUpBlock2D" : "UpBlock2D");
        }
        m.put("down_block_types", down);
        m.put("downsample_padding", 1);
        m.put("dual_cross_attention", false);
        m.put("flip_sin_to_cos", true);
        m.put("freq_shift", 0);
        m.put("in_channels", UnetSpec.LATENT_CHANNELS);
        m.put("layers_per_block", spec.layersPerBlock());
        m.put("mid_block_scale_factor", 1);
        m.put("mid_block_type", "UNetMidBlock2DCrossAttn");
        m.put("norm_eps", new BigDecimal("0.00001"));
        m.put("norm_num_groups", spec.normGroups());
        m.put("num_attention_heads", null);
        m.put("out_channels", UnetSpec.LATENT_CHANNELS);
        m.put("projection_class_embeddings_input_dim", xl ? spec.projectionClassEmbeddingsInputDim() : null);
        m.put("sample_size", spec.sampleSize());
        if (xl) {
            List<Integer> depths = new ArrayList<>();
            for (int depth : spec.downTransformerDepths()) {
                depths.add(Math.max(depth, 1));
            }
            m.put("transformer_layers_per_block", depths);
        } else {
            m.put("transformer_layers_per_block", 1);
        }
        m.put("up_block_types", up);
        m.put("upcast_attention", false);
        m.put("use_linear_projection", spec.linearProjection());
        return m;
    }

    /** The VAE decoder's {@code config.json} (Diffusers' AutoencoderKL). */
    public static Map<String, Object> vaeConfig(VaeSpec spec, int sampleSize) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("_class_name", "AutoencoderKL");
        m.put("_diffusers_version", DIFFUSERS_VERSION);
        m.put("act_fn", "silu");
        m.put("block_out_channels", spec.blockOutChannels());
        m.put("down_block_types", Collections.nCopies(spec.blockOutChannels().size(), "DownEncoderBlock2D"));
        m.put("force_upcast", true);
        m.put("in_channels", 3);
        m.put("latent_channels", UnetSpec.LATENT_CHANNELS);
        m.put("layers_per_block", spec.layersPerBlock());
        m.put("mid_block_add_attention", spec.midAttention());
        m.put("norm_num_groups", spec.normGroups());
        m.put("out_channels", 3);
        m.put("sample_size", sampleSize);
        m.put("scaling_factor", BigDecimal.valueOf(spec.scalingFactor()));
        m.put("up_block_types", Collections.nCopies(spec.blockOutChannels().size(), "UpDecoderBlock2D"));
        return m;
    }

    /** Reads the spec of a pipeline written by the test kit back from its configs. */
    public static PipelineSpec readPipeline(Path directory) {
        if (directory == null) {
            throw new IllegalArgumentException("pipeline directory must not be null");
        }
        JsonNode index = read(directory.resolve("model_index.json"));
        String className = text(index, "_class_name", directory.resolve("model_index.json"));
        ModelFamily family = switch (className) {
            case "StableDiffusionPipeline" -> ModelFamily.SD15;
            case "StableDiffusionXLPipeline" -> ModelFamily.SDXL;
            default -> throw new IllegalArgumentException(directory.resolve("model_index.json") + ": _class_name '"
                    + className + "' is not StableDiffusionPipeline or StableDiffusionXLPipeline");
        };
        List<TextEncoderSpec> encoders = new ArrayList<>();
        encoders.add(readTextEncoder(directory.resolve("text_encoder").resolve("config.json")));
        if (family == ModelFamily.SDXL) {
            encoders.add(readTextEncoder(directory.resolve("text_encoder_2").resolve("config.json")));
        }
        UnetSpec unet = readUnet(directory.resolve("unet").resolve("config.json"), family);
        VaeSpec vae = readVae(directory.resolve("vae_decoder").resolve("config.json"));
        Path merges = directory.resolve("tokenizer").resolve("merges.txt");
        int mergeCount;
        try {
            mergeCount = (int) Files.readAllLines(merges, StandardCharsets.UTF_8).stream()
                    .filter(line -> !line.isEmpty() && !line.startsWith("#version")).count();
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + merges + ": " + e.getMessage(), e);
        }
        return new PipelineSpec(family, encoders, unet, vae, mergeCount);
    }

    /**
     * The module catalog of a folder written by the test kit: a whole pipeline ({@code model_index.json}), or only
     * {@code unet/} ({@code PipelineWriter.writeUnet}), whose family is SDXL when its config has
     * {@code addition_embed_type "text_time"}.
     *
     * @throws IllegalArgumentException when the folder holds neither
     */
    public static ModuleCatalog readCatalog(Path directory) {
        if (directory == null) {
            throw new IllegalArgumentException("pipeline directory must not be null");
        }
        if (Files.exists(directory.resolve("model_index.json"))) {
            return readPipeline(directory).catalog();
        }
        Path unetConfig = directory.resolve("unet").resolve("config.json");
        if (!Files.exists(unetConfig)) {
            throw new IllegalArgumentException(directory + " holds neither model_index.json nor unet/config.json, "
                    + "expected a folder written by the test kit");
        }
        ModelFamily family = "text_time".equals(read(unetConfig).path("addition_embed_type").asText())
                ? ModelFamily.SDXL : ModelFamily.SD15;
        return ModuleCatalog.of(family, Map.of(Component.UNET, readUnet(unetConfig, family).modules()));
    }

    /** Reads a UNet {@code config.json} written by the test kit. */
    public static UnetSpec readUnet(Path file, ModelFamily family) {
        JsonNode c = read(file);
        List<Integer> channels = ints(c, "block_out_channels", file);
        JsonNode headsNode = require(c, "attention_head_dim", file);
        List<Integer> heads = headsNode.isArray() ? ints(c, "attention_head_dim", file)
                : new ArrayList<>(Collections.nCopies(channels.size(), headsNode.asInt()));
        int addTime = 0;
        int textEmbeds = 0;
        if (family == ModelFamily.SDXL) {
            addTime = integer(c, "addition_time_embed_dim", file);
            textEmbeds = integer(c, "projection_class_embeddings_input_dim", file) - UnetSpec.TIME_IDS * addTime;
        }
        return new UnetSpec(family, channels, heads, integer(c, "cross_attention_dim", file),
                integer(c, "norm_num_groups", file), addTime, textEmbeds, integer(c, "sample_size", file));
    }

    private static TextEncoderSpec readTextEncoder(Path file) {
        JsonNode c = read(file);
        boolean projection = require(c, "architectures", file).toString().contains("CLIPTextModelWithProjection");
        return new TextEncoderSpec(integer(c, "hidden_size", file), integer(c, "num_hidden_layers", file),
                integer(c, "num_attention_heads", file), integer(c, "intermediate_size", file),
                projection ? integer(c, "projection_dim", file) : 0,
                TextEncoderSpec.HiddenAct.fromConfigName(text(c, "hidden_act", file)),
                c.path("output_hidden_states").asBoolean(false));
    }

    private static VaeSpec readVae(Path file) {
        JsonNode c = read(file);
        return new VaeSpec(ints(c, "block_out_channels", file), integer(c, "layers_per_block", file),
                integer(c, "norm_num_groups", file), c.path("mid_block_add_attention").asBoolean(true),
                require(c, "scaling_factor", file).asDouble());
    }

    private static JsonNode read(Path file) {
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private static JsonNode require(JsonNode node, String field, Path file) {
        JsonNode value = node.get(field);
        if (value == null || value.isNull()) {
            throw new IllegalArgumentException(file + " has no '" + field + "'");
        }
        return value;
    }

    private static int integer(JsonNode node, String field, Path file) {
        JsonNode value = require(node, field, file);
        if (!value.canConvertToInt()) {
            throw new IllegalArgumentException(file + ": '" + field + "' must be an integer, got " + value);
        }
        return value.asInt();
    }

    private static String text(JsonNode node, String field, Path file) {
        return require(node, field, file).asText();
    }

    private static List<Integer> ints(JsonNode node, String field, Path file) {
        JsonNode value = require(node, field, file);
        if (!value.isArray()) {
            throw new IllegalArgumentException(file + ": '" + field + "' must be a list of integers, got " + value);
        }
        List<Integer> result = new ArrayList<>();
        value.forEach(v -> result.add(v.asInt()));
        return result;
    }
}
