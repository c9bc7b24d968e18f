package io.lorica.testkit;

import io.lorica.api.ModelFamily;
import io.lorica.testkit.internal.ClipVocabulary;
import io.lorica.testkit.internal.Configs;
import io.lorica.testkit.internal.Net;
import io.lorica.testkit.internal.OnnxGraph;
import io.lorica.testkit.internal.TextEncoderGraph;
import io.lorica.testkit.internal.UnetGraph;
import io.lorica.testkit.internal.VaeDecoderGraph;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Writes complete Stable Diffusion 1.5 / SDXL pipelines with random weights in the Optimum / Diffusers ONNX layout,
 * runnable end to end by ONNX Runtime (CPU):
 *
 * <pre>
 * model_index.json                  StableDiffusionPipeline / StableDiffusionXLPipeline, "_lorica_testkit" marker
 * scheduler/scheduler_config.json   PNDMScheduler (SD 1.5) / EulerDiscreteScheduler "leading" (SDXL)
 * tokenizer/                        vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json
 * tokenizer_2/                      (SDXL) the same, pad token "!"
 * text_encoder/                     model.onnx, config.json (CLIPTextModel)
 * text_encoder_2/                   (SDXL) model.onnx, config.json (CLIPTextModelWithProjection)
 * unet/                             model.onnx (+ model.onnx_data), config.json (UNet2DConditionModel)
 * vae_decoder/                      model.onnx, config.json (AutoencoderKL)
 * </pre>
 *
 * <p>Every file depends only on the spec, the options and the seed: the same arguments write byte-identical files.
 * Weights are uniform in PyTorch's default ranges ({@code ±1/sqrt(fan_in)}), each tensor from its own stream keyed by
 * its module path, so the fp32 and fp16 variants of a seed hold the same values up to rounding. Graphs use opset 17
 * and the legacy TorchScript exporter's node and initializer naming (see {@code ModuleIndex} of the engine).
 *
 * <p>Models are written in constant memory (weights are generated while they are written), so {@link #writeUnet} can
 * write the full-size SDXL UNet ({@link UnetSpec#fullSizeSdxl()}, 2.57 billion parameters) to disk.
 */
public final class PipelineWriter {

    /** Initializers of at least this many bytes go to external data (as {@code onnx.save_model} does). */
    public static final long EXTERNAL_DATA_THRESHOLD = 1024;

    private static final Map<Integer, ClipVocabulary> VOCABULARIES = new ConcurrentHashMap<>();

    private PipelineWriter() {
    }

    /** Writes {@code spec} into {@code directory} with {@link ExportOptions#defaults()}. */
    public static WrittenPipeline write(Path directory, PipelineSpec spec, long seed) {
        return write(directory, spec, ExportOptions.defaults(), seed);
    }

    /**
     * Writes {@code spec} into {@code directory} (created when missing; files of the layout are replaced).
     *
     * @throws IllegalArgumentException       when an argument is null
     * @throws java.io.UncheckedIOException when a file cannot be written
     */
    public static WrittenPipeline write(Path directory, PipelineSpec spec, ExportOptions options, long seed) {
        if (directory == null || spec == null || options == null) {
            throw new IllegalArgumentException("directory, spec and options must not be null");
        }
        ModelFamily family = spec.family();
        boolean xl = family == ModelFamily.SDXL;
        ClipVocabulary vocabulary = vocabulary(spec.bpeMerges());
        String dtype = options.precision() == ExportOptions.Precision.FLOAT32 ? "float32" : "float16";

        Configs.writeJson(directory.resolve("model_index.json"), Configs.modelIndex(family, seed));
        Configs.writeJson(directory.resolve("scheduler").resolve("scheduler_config.json"),
                Configs.schedulerConfig(family));
        writeTokenizer(directory.resolve("tokenizer"), vocabulary, ClipVocabulary.EOS);
        if (xl) {
            writeTokenizer(directory.resolve("tokenizer_2"), vocabulary, "!");
        }

        Map<String, ModelFile> models = new LinkedHashMap<>();
        for (int i = 0; i < spec.textEncoders().size(); i++) {
            String folder = i == 0 ? "text_encoder" : "text_encoder_2";
            TextEncoderSpec encoder = spec.textEncoders().get(i);
            Net net = TextEncoderGraph.build(encoder, vocabulary.size(), options, seed(seed, folder));
            models.put(folder, write(directory.resolve(folder), folder, net, false, seed));
            Configs.writeJson(directory.resolve(folder).resolve("config.json"),
                    Configs.textEncoderConfig(encoder, vocabulary, dtype));
        }
        models.put("unet", writeUnet(directory, spec.unet(), options, seed));
        Net vae = VaeDecoderGraph.build(spec.vae(), options, seed(seed, "vae_decoder"));
        models.put("vae_decoder", write(directory.resolve("vae_decoder"), "vae_decoder", vae, false, seed));
        Configs.writeJson(directory.resolve("vae_decoder").resolve("config.json"),
                Configs.vaeConfig(spec.vae(), spec.unet().sampleSize() * spec.vae().upscaleFactor()));
        return new WrittenPipeline(directory, spec, options, seed, vocabulary.size(), models);
    }

    /**
     * Writes only {@code directory/unet/} ({@code model.onnx}, {@code model.onnx_data} when
     * {@link ExportOptions#unetExternalData()}, {@code config.json}); for full-size models use external data and
     * {@link ExportOptions#fp16()}, which writes the 5.1 GB of the SDXL UNet's fp16 weights chunk by chunk.
     *
     * @throws IllegalArgumentException       when an argument is null
     * @throws java.io.UncheckedIOException when a file cannot be written
     */
    public static ModelFile writeUnet(Path directory, UnetSpec spec, ExportOptions options, long seed) {
        if (directory == null || spec == null || options == null) {
            throw new IllegalArgumentException("directory, spec and options must not be null");
        }
        Net net = UnetGraph.build(spec, options, seed(seed, "unet"));
        Path folder = directory.resolve("unet");
        ModelFile file = write(folder, "unet", net, options.unetExternalData(), seed);
        Configs.writeJson(folder.resolve("config.json"), Configs.unetConfig(spec));
        return file;
    }

    /** The vocabulary learned with {@code merges} merges (cached: learning is deterministic). */
    static ClipVocabulary vocabulary(int merges) {
        return VOCABULARIES.computeIfAbsent(merges, ClipVocabulary::train);
    }

    private static void writeTokenizer(Path folder, ClipVocabulary vocabulary, String padToken) {
        Configs.writeJsonInOrder(folder.resolve("vocab.json"), vocabulary.vocabulary());
        Configs.writeText(folder.resolve("merges.txt"), vocabulary.mergesText());
        Configs.writeJson(folder.resolve("tokenizer_config.json"), Configs.tokenizerConfig(padToken));
        Configs.writeJson(folder.resolve("special_tokens_map.json"), Configs.specialTokens(padToken));
    }

    private static ModelFile write(Path folder, String name, Net net, boolean external, long seed) {
        Path model = folder.resolve("model.onnx");
        Path data = folder.resolve("model.onnx_data");
        try {
            Files.deleteIfExists(data);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot replace " + data, e);
        }
        OnnxGraph.Written written = net.graph().write(model, external ? data : null, EXTERNAL_DATA_THRESHOLD,
                name + ": " + Configs.marker(seed));
        return new ModelFile(name, model, Optional.ofNullable(written.externalData()),
                written.modelBytes() + written.externalBytes(), written.parameters(), net.graph().nodeCount());
    }

    /** Each model has its own seed, so that adding a model never changes another's weights. */
    private static long seed(long seed, String model) {
        return seed * 31 + model.hashCode();
    }
}
