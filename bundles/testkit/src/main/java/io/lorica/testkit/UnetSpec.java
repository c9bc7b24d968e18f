package io.lorica.testkit;

import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LayerGeometry;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The widths of a Diffusers {@code UNet2DConditionModel}; its block structure is the standard one of the family, so
 * that every module path equals the reference model's:
 * <ul>
 * <li>SD 1.5: 4 blocks, {@code CrossAttnDownBlock2D} x3 + {@code DownBlock2D}, {@code layers_per_block} 2, one
 *     transformer block per attention, mid block with attention, Conv2d 1x1 {@code proj_in}/{@code proj_out};</li>
 * <li>SDXL: 3 blocks, {@code DownBlock2D} + {@code CrossAttnDownBlock2D} x2 with 2 and 10 transformer blocks per
 *     attention, mid block with 10, Linear {@code proj_in}/{@code proj_out}, {@code addition_embed_type}
 *     {@code "text_time"} ({@code add_embedding} from {@code text_embeds} and the sinusoidal embedding of
 *     {@code time_ids}).</li>
 * </ul>
 * Up blocks mirror the down blocks with one more resnet each and concatenate skip connections as Diffusers does.
 *
 * @param family               the model family (fixes the block structure)
 * @param blockOutChannels     Diffusers {@code block_out_channels}: 4 entries for SD 1.5, 3 for SDXL; each divisible
 *                             by {@code normGroups} and by its block's head count; the first even; equal and
 *                             different where the reference's are (SD 1.5 {@code c0 != c1 != c2 == c3}, SDXL all
 *                             different), so that the same resnets have a {@code conv_shortcut}
 * @param attentionHeads       heads of each block's attentions (Diffusers' {@code attention_head_dim}, which counts
 *                             heads); one entry per block; the mid block uses the last
 * @param crossAttentionDim    {@code cross_attention_dim}: the width of {@code encoder_hidden_states} (SDXL: the sum of
 *                             both text encoders' hidden sizes)
 * @param normGroups           {@code norm_num_groups} of every GroupNorm
 * @param additionTimeEmbedDim SDXL {@code addition_time_embed_dim} (even); 0 for SD 1.5
 * @param textEmbedsDim        SDXL width of {@code text_embeds} (the second text encoder's projection dim); 0 for SD 1.5
 * @param sampleSize           {@code sample_size}: the default latent height and width, divisible by
 *                             {@code 2^(blocks-1)}
 */
public record UnetSpec(ModelFamily family, List<Integer> blockOutChannels, List<Integer> attentionHeads,
        int crossAttentionDim, int normGroups, int additionTimeEmbedDim, int textEmbedsDim, int sampleSize) {

    /** Latent channels in and out. */
    public static final int LATENT_CHANNELS = 4;
    /** Number of {@code time_ids} per row (SDXL: original size, crop offset, target size). */
    public static final int TIME_IDS = 6;

    /** Validates and copies the lists. @throws IllegalArgumentException naming the field when a rule is broken */
    public UnetSpec {
        if (family == null) {
            throw new IllegalArgumentException("family must not be null, expected one of " + List.of(ModelFamily.values()));
        }
        int blocks = family == ModelFamily.SDXL ? 3 : 4;
        if (blockOutChannels == null || blockOutChannels.size() != blocks) {
            throw new IllegalArgumentException("blockOutChannels of a " + family + " UNet must have " + blocks
                    + " entries, got " + blockOutChannels);
        }
        if (attentionHeads == null || attentionHeads.size() != blocks) {
            throw new IllegalArgumentException("attentionHeads must have one entry per block (" + blocks + "), got "
                    + attentionHeads);
        }
        blockOutChannels = List.copyOf(blockOutChannels);
        attentionHeads = List.copyOf(attentionHeads);
        if (normGroups < 1) {
            throw new IllegalArgumentException("normGroups must be >= 1, got " + normGroups);
        }
        for (int i = 0; i < blocks; i++) {
            int channels = blockOutChannels.get(i);
            int heads = attentionHeads.get(i);
            if (channels < 1 || channels % normGroups != 0) {
                throw new IllegalArgumentException("blockOutChannels must be positive multiples of normGroups ("
                        + normGroups + "), got " + blockOutChannels);
            }
            if (heads < 1 || channels % heads != 0) {
                throw new IllegalArgumentException("attentionHeads[" + i + "] must be >= 1 and divide "
                        + "blockOutChannels[" + i + "] = " + channels + ", got " + attentionHeads);
            }
        }
        boolean sameAsReference = family == ModelFamily.SDXL
                ? !blockOutChannels.get(0).equals(blockOutChannels.get(1))
                        && !blockOutChannels.get(1).equals(blockOutChannels.get(2))
                : !blockOutChannels.get(0).equals(blockOutChannels.get(1))
                        && !blockOutChannels.get(1).equals(blockOutChannels.get(2))
                        && blockOutChannels.get(2).equals(blockOutChannels.get(3));
        if (!sameAsReference) {
            throw new IllegalArgumentException("blockOutChannels " + blockOutChannels + " would give other resnet "
                    + "shortcuts than the reference " + family + " UNet: expected "
                    + (family == ModelFamily.SDXL ? "3 different widths (as 320, 640, 1280)"
                            : "c0 != c1 != c2 == c3 (as 320, 640, 1280, 1280)"));
        }
        if (blockOutChannels.get(0) % 2 != 0) {
            throw new IllegalArgumentException("blockOutChannels[0] (the timestep embedding width) must be even, got "
                    + blockOutChannels.get(0));
        }
        if (crossAttentionDim < 1) {
            throw new IllegalArgumentException("crossAttentionDim must be >= 1, got " + crossAttentionDim);
        }
        if (family == ModelFamily.SDXL) {
            if (additionTimeEmbedDim < 2 || additionTimeEmbedDim % 2 != 0) {
                throw new IllegalArgumentException("additionTimeEmbedDim of an SDXL UNet must be even and >= 2, got "
                        + additionTimeEmbedDim);
            }
            if (textEmbedsDim < 1) {
                throw new IllegalArgumentException("textEmbedsDim of an SDXL UNet must be >= 1, got " + textEmbedsDim);
            }
        } else if (additionTimeEmbedDim != 0 || textEmbedsDim != 0) {
            throw new IllegalArgumentException("an SD 1.5 UNet has no add_embedding: additionTimeEmbedDim and "
                    + "textEmbedsDim must be 0, got " + additionTimeEmbedDim + " and " + textEmbedsDim);
        }
        int factor = 1 << (blocks - 1);
        if (sampleSize < factor || sampleSize % factor != 0) {
            throw new IllegalArgumentException("sampleSize must be a positive multiple of " + factor + ", got "
                    + sampleSize);
        }
    }

    /**
     * Tiny widths for unit tests: SD 1.5 (16, 32, 64, 64) with 2 heads, cross dim 32; SDXL (16, 32, 64) with 1, 2, 2
     * heads, cross dim 64, {@code text_embeds} 32, {@code addition_time_embed_dim} 8; 8 groups; 8x8 latents.
     */
    public static UnetSpec tiny(ModelFamily family) {
        return switch (requireFamily(family)) {
            case SD15 -> new UnetSpec(family, List.of(16, 32, 64, 64), List.of(2, 2, 2, 2), 32, 8, 0, 0, 8);
            case SDXL -> new UnetSpec(family, List.of(16, 32, 64), List.of(1, 2, 2), 64, 8, 8, 32, 8);
        };
    }

    /**
     * Widths for CPU benchmarks: SD 1.5 (64, 128, 256, 256) with head dim 32, cross dim 256; SDXL (64, 128, 256) with
     * head dim 64, cross dim 256, {@code text_embeds} 128, {@code addition_time_embed_dim} 64; 32 groups; 32x32
     * latents.
     */
    public static UnetSpec midSize(ModelFamily family) {
        return switch (requireFamily(family)) {
            case SD15 -> new UnetSpec(family, List.of(64, 128, 256, 256), List.of(2, 4, 8, 8), 256, 32, 0, 0, 32);
            case SDXL -> new UnetSpec(family, List.of(64, 128, 256), List.of(1, 2, 4), 256, 32, 64, 128, 32);
        };
    }

    /** The real widths of SD 1.5 (320, 640, 1280, 1280; 8 heads; cross dim 768; 64x64 latents). */
    public static UnetSpec fullSizeSd15() {
        return new UnetSpec(ModelFamily.SD15, List.of(320, 640, 1280, 1280), List.of(8, 8, 8, 8), 768, 32, 0, 0, 64);
    }

    /**
     * The real widths of SDXL base (320, 640, 1280; heads 5, 10, 20; cross dim 2048; {@code text_embeds} 1280,
     * {@code addition_time_embed_dim} 256; 128x128 latents): 2.57 billion parameters.
     */
    public static UnetSpec fullSizeSdxl() {
        return new UnetSpec(ModelFamily.SDXL, List.of(320, 640, 1280), List.of(5, 10, 20), 2048, 32, 256, 1280, 128);
    }

    /** {@code layers_per_block}: resnets (and attentions) per down block; up blocks have one more. */
    public int layersPerBlock() {
        return 2;
    }

    /** Transformer blocks per attention of each down block; 0 for a block without attentions. */
    public List<Integer> downTransformerDepths() {
        return family == ModelFamily.SDXL ? List.of(0, 2, 10) : List.of(1, 1, 1, 0);
    }

    /** Transformer blocks per attention of each up block (the down depths reversed). */
    public List<Integer> upTransformerDepths() {
        return family == ModelFamily.SDXL ? List.of(10, 2, 0) : List.of(0, 1, 1, 1);
    }

    /** Transformer blocks of {@code mid_block.attentions.0}. */
    public int midTransformerDepth() {
        return family == ModelFamily.SDXL ? 10 : 1;
    }

    /** Whether {@code proj_in}/{@code proj_out} are Linear ({@code use_linear_projection}, SDXL) or Conv2d 1x1. */
    public boolean linearProjection() {
        return family == ModelFamily.SDXL;
    }

    /** The time embedding width: {@code 4 * blockOutChannels[0]}. */
    public int timeEmbedDim() {
        return 4 * blockOutChannels.get(0);
    }

    /** SDXL {@code projection_class_embeddings_input_dim}: {@code textEmbedsDim + 6 * additionTimeEmbedDim}; 0 for SD 1.5. */
    public int projectionClassEmbeddingsInputDim() {
        return family == ModelFamily.SDXL ? textEmbedsDim + TIME_IDS * additionTimeEmbedDim : 0;
    }

    /** The factor between latent size and the smallest feature map: {@code 2^(blocks-1)}. */
    public int downscaleFactor() {
        return 1 << (blockOutChannels.size() - 1);
    }

    /**
     * Every Linear and Conv2d by Diffusers module path with its geometry, in {@code named_modules()} order (conv_in,
     * embeddings, down blocks, up blocks, mid block, conv_out), the same paths as the family's reference catalog.
     */
    public Map<String, LayerGeometry> modules() {
        Map<String, LayerGeometry> m = new LinkedHashMap<>();
        int blocks = blockOutChannels.size();
        int temb = timeEmbedDim();
        m.put("conv_in", LayerGeometry.conv(LATENT_CHANNELS, blockOutChannels.get(0), 3, 1, 1));
        m.put("time_embedding.linear_1", LayerGeometry.linear(blockOutChannels.get(0), temb));
        m.put("time_embedding.linear_2", LayerGeometry.linear(temb, temb));
        if (family == ModelFamily.SDXL) {
            m.put("add_embedding.linear_1", LayerGeometry.linear(projectionClassEmbeddingsInputDim(), temb));
            m.put("add_embedding.linear_2", LayerGeometry.linear(temb, temb));
        }
        int output = blockOutChannels.get(0);
        for (int i = 0; i < blocks; i++) {
            int input = output;
            output = blockOutChannels.get(i);
            String block = "down_blocks." + i;
            int depth = downTransformerDepths().get(i);
            for (int j = 0; depth > 0 && j < layersPerBlock(); j++) {
                attentionModules(m, block + ".attentions." + j, output, depth);
            }
            for (int j = 0; j < layersPerBlock(); j++) {
                resnetModules(m, block + ".resnets." + j, j == 0 ? input : output, output);
            }
            if (i < blocks - 1) {
                m.put(block + ".downsamplers.0.conv", LayerGeometry.conv(output, output, 3, 2, 1));
            }
        }
        output = blockOutChannels.get(blocks - 1);
        for (int i = 0; i < blocks; i++) {
            int previous = output;
            output = blockOutChannels.get(blocks - 1 - i);
            int input = blockOutChannels.get(Math.max(blocks - 2 - i, 0));
            String block = "up_blocks." + i;
            int depth = upTransformerDepths().get(i);
            int layers = layersPerBlock() + 1;
            for (int j = 0; depth > 0 && j < layers; j++) {
                attentionModules(m, block + ".attentions." + j, output, depth);
            }
            for (int j = 0; j < layers; j++) {
                int skip = j == layers - 1 ? input : output;
                resnetModules(m, block + ".resnets." + j, (j == 0 ? previous : output) + skip, output);
            }
            if (i < blocks - 1) {
                m.put(block + ".upsamplers.0.conv", LayerGeometry.conv(output, output, 3, 1, 1));
            }
        }
        int mid = blockOutChannels.get(blocks - 1);
        attentionModules(m, "mid_block.attentions.0", mid, midTransformerDepth());
        resnetModules(m, "mid_block.resnets.0", mid, mid);
        resnetModules(m, "mid_block.resnets.1", mid, mid);
        m.put("conv_out", LayerGeometry.conv(blockOutChannels.get(0), LATENT_CHANNELS, 3, 1, 1));
        return Collections.unmodifiableMap(m);
    }

    private void attentionModules(Map<String, LayerGeometry> m, String prefix, int d, int depth) {
        LayerGeometry projection = linearProjection() ? LayerGeometry.linear(d, d) : LayerGeometry.conv(d, d, 1, 1, 0);
        LayerGeometry square = LayerGeometry.linear(d, d);
        LayerGeometry cross = LayerGeometry.linear(crossAttentionDim, d);
        m.put(prefix + ".proj_in", projection);
        for (int t = 0; t < depth; t++) {
            String block = prefix + ".transformer_blocks." + t;
            m.put(block + ".attn1.to_q", square);
            m.put(block + ".attn1.to_k", square);
            m.put(block + ".attn1.to_v", square);
            m.put(block + ".attn1.to_out.0", square);
            m.put(block + ".attn2.to_q", square);
            m.put(block + ".attn2.to_k", cross);
            m.put(block + ".attn2.to_v", cross);
            m.put(block + ".attn2.to_out.0", square);
            m.put(block + ".ff.net.0.proj", LayerGeometry.linear(d, 8 * d));
            m.put(block + ".ff.net.2", LayerGeometry.linear(4 * d, d));
        }
        m.put(prefix + ".proj_out", projection);
    }

    private void resnetModules(Map<String, LayerGeometry> m, String prefix, int in, int out) {
        m.put(prefix + ".conv1", LayerGeometry.conv(in, out, 3, 1, 1));
        m.put(prefix + ".time_emb_proj", LayerGeometry.linear(timeEmbedDim(), out));
        m.put(prefix + ".conv2", LayerGeometry.conv(out, out, 3, 1, 1));
        if (in != out) {
            m.put(prefix + ".conv_shortcut", LayerGeometry.conv(in, out, 1, 1, 0));
        }
    }

    static ModelFamily requireFamily(ModelFamily family) {
        if (family == null) {
            throw new IllegalArgumentException("family must not be null, expected one of " + List.of(ModelFamily.values()));
        }
        return family;
    }
}
