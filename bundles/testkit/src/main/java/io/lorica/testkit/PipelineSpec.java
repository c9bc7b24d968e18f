package io.lorica.testkit;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.format.ModuleCatalog;
import io.lorica.testkit.internal.Configs;

import java.nio.file.Path;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * The sizes of a whole Stable Diffusion pipeline: its text encoder(s), UNet, VAE decoder and the number of BPE merges
 * of its tokenizer's vocabulary ({@code 512 + merges + 2} tokens).
 *
 * @param family       SD 1.5 or SDXL
 * @param textEncoders one text encoder for SD 1.5; two for SDXL, the second with a projection
 * @param unet         the UNet, of the same family
 * @param vae          the VAE decoder
 * @param bpeMerges    merges to learn for the vocabulary, 0 to 20000 (fewer are learned when the built-in corpus has
 *                     no more pairs)
 */
public record PipelineSpec(ModelFamily family, List<TextEncoderSpec> textEncoders, UnetSpec unet, VaeSpec vae,
        int bpeMerges) {

    /** The default number of BPE merges. */
    public static final int DEFAULT_MERGES = 500;

    /**
     * Validates: the UNet is of {@code family}; its {@code cross_attention_dim} is the text encoder's hidden size (SDXL:
     * the sum of both); SDXL's second encoder has a projection whose width is the UNet's {@code text_embeds} width.
     *
     * @throws IllegalArgumentException naming the mismatch
     */
    public PipelineSpec {
        UnetSpec.requireFamily(family);
        if (unet == null || vae == null || textEncoders == null) {
            throw new IllegalArgumentException("textEncoders, unet and vae must not be null");
        }
        textEncoders = List.copyOf(textEncoders);
        if (unet.family() != family) {
            throw new IllegalArgumentException("the UNet is for " + unet.family() + " but the pipeline is " + family);
        }
        int expected = family == ModelFamily.SDXL ? 2 : 1;
        if (textEncoders.size() != expected) {
            throw new IllegalArgumentException(family + " has " + expected + " text encoder(s), got "
                    + textEncoders.size());
        }
        int hidden = textEncoders.stream().mapToInt(TextEncoderSpec::hiddenSize).sum();
        if (unet.crossAttentionDim() != hidden) {
            throw new IllegalArgumentException("the UNet's crossAttentionDim " + unet.crossAttentionDim()
                    + " must equal the text encoders' hidden size" + (expected > 1 ? "s' sum " : " ") + hidden);
        }
        if (family == ModelFamily.SDXL && textEncoders.get(1).projectionDim() != unet.textEmbedsDim()) {
            throw new IllegalArgumentException("the second text encoder's projectionDim "
                    + textEncoders.get(1).projectionDim() + " must equal the UNet's textEmbedsDim "
                    + unet.textEmbedsDim());
        }
        if (bpeMerges < 0 || bpeMerges > 20000) {
            throw new IllegalArgumentException("bpeMerges must be in [0, 20000], got " + bpeMerges);
        }
    }

    /**
     * Tiny sizes for unit tests: text encoders of width 32 with 2 layers, {@link UnetSpec#tiny}, {@link VaeSpec#tiny};
     * a 64x64 image from 8x8 latents.
     */
    public static PipelineSpec tiny(ModelFamily family) {
        return switch (UnetSpec.requireFamily(family)) {
            case SD15 -> new PipelineSpec(family, List.of(clip(32, 2, 2, 0, false)), UnetSpec.tiny(family),
                    VaeSpec.tiny(family), DEFAULT_MERGES);
            case SDXL -> new PipelineSpec(family, List.of(clip(32, 2, 2, 0, true), bigG(32, 2, 2, 32)),
                    UnetSpec.tiny(family), VaeSpec.tiny(family), DEFAULT_MERGES);
        };
    }

    /**
     * Sizes for CPU benchmarks: SD 1.5 text encoder 256 wide with 4 layers, SDXL encoders 128 + 128 with 4 layers,
     * {@link UnetSpec#midSize}, {@link VaeSpec#midSize}; 256x256 images from 32x32 latents by default.
     */
    public static PipelineSpec midSize(ModelFamily family) {
        return switch (UnetSpec.requireFamily(family)) {
            case SD15 -> new PipelineSpec(family, List.of(clip(256, 4, 4, 0, false)), UnetSpec.midSize(family),
                    VaeSpec.midSize(family), DEFAULT_MERGES);
            case SDXL -> new PipelineSpec(family, List.of(clip(128, 4, 2, 0, true), bigG(128, 4, 2, 128)),
                    UnetSpec.midSize(family), VaeSpec.midSize(family), DEFAULT_MERGES);
        };
    }

    /**
     * The spec of a pipeline written by {@link PipelineWriter}, read back from its {@code config.json} files and
     * {@code model_index.json}.
     *
     * @throws IllegalArgumentException naming the file when a file is missing or not of the expected form
     */
    public static PipelineSpec read(Path directory) {
        return Configs.readPipeline(directory);
    }

    /** The text encoder of {@code component} ({@code text_encoder} or SDXL's {@code text_encoder_2}). */
    public TextEncoderSpec textEncoder(Component component) {
        family.requireComponent(component);
        return switch (component) {
            case TEXT_ENCODER -> textEncoders.get(0);
            case TEXT_ENCODER_2 -> textEncoders.get(1);
            default -> throw new IllegalArgumentException("component " + component + " is not a text encoder, "
                    + "expected text_encoder or text_encoder_2");
        };
    }

    /**
     * The LoRA-targetable modules of this pipeline with their (tiny) geometries, by component: the same paths as
     * {@code ReferenceModels.catalog(family)} for the UNet and a prefix (the first {@code layers} layers) of the text
     * encoders'.
     */
    public ModuleCatalog catalog() {
        Map<Component, Map<String, LayerGeometry>> modules = new EnumMap<>(Component.class);
        modules.put(Component.UNET, unet.modules());
        modules.put(Component.TEXT_ENCODER, textEncoders.get(0).modules());
        if (family == ModelFamily.SDXL) {
            modules.put(Component.TEXT_ENCODER_2, textEncoders.get(1).modules());
        }
        return ModuleCatalog.of(family, modules);
    }

    private static TextEncoderSpec clip(int hidden, int layers, int heads, int projection, boolean hiddenStates) {
        return new TextEncoderSpec(hidden, layers, heads, 4 * hidden, projection, TextEncoderSpec.HiddenAct.QUICK_GELU,
                hiddenStates);
    }

    private static TextEncoderSpec bigG(int hidden, int layers, int heads, int projection) {
        return new TextEncoderSpec(hidden, layers, heads, 4 * hidden, projection, TextEncoderSpec.HiddenAct.GELU, true);
    }
}
