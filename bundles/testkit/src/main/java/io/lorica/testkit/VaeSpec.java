package io.lorica.testkit;

import io.lorica.api.ModelFamily;

import java.util.List;

/**
 * The size of an {@code AutoencoderKL} decoder (with {@code post_quant_conv}): {@code decoder.conv_in}, a mid block
 * (resnet, optional single-head attention, resnet), one {@code UpDecoderBlock2D} per entry of
 * {@code blockOutChannels} (reversed) with {@code layersPerBlock + 1} resnets, nearest 2x upsampling after all but the
 * last, {@code conv_norm_out}, SiLU, {@code conv_out} to 3 channels. 4 latent channels.
 *
 * @param blockOutChannels {@code block_out_channels}, at least 2 entries, each divisible by {@code normGroups}; the
 *                         image is {@code 2^(entries-1)} times the latent size
 * @param layersPerBlock   {@code layers_per_block}, at least 1
 * @param normGroups       {@code norm_num_groups}
 * @param midAttention     whether {@code decoder.mid_block.attentions.0} exists
 * @param scalingFactor    {@code scaling_factor} of {@code config.json} (0.18215 SD 1.5, 0.13025 SDXL)
 */
public record VaeSpec(List<Integer> blockOutChannels, int layersPerBlock, int normGroups, boolean midAttention,
        double scalingFactor) {

    /** Validates and copies. @throws IllegalArgumentException naming the field when a rule above is broken */
    public VaeSpec {
        if (blockOutChannels == null || blockOutChannels.size() < 2) {
            throw new IllegalArgumentException("blockOutChannels must have at least 2 entries, got "
                    + blockOutChannels);
        }
        blockOutChannels = List.copyOf(blockOutChannels);
        if (normGroups < 1) {
            throw new IllegalArgumentException("normGroups must be >= 1, got " + normGroups);
        }
        for (int channels : blockOutChannels) {
            if (channels < 1 || channels % normGroups != 0) {
                throw new IllegalArgumentException("blockOutChannels must be positive multiples of normGroups ("
                        + normGroups + "), got " + blockOutChannels);
            }
        }
        if (layersPerBlock < 1) {
            throw new IllegalArgumentException("layersPerBlock must be >= 1, got " + layersPerBlock);
        }
        if (!(scalingFactor > 0) || Double.isInfinite(scalingFactor)) {
            throw new IllegalArgumentException("scalingFactor must be a positive number, got " + scalingFactor);
        }
    }

    /** The scaling factor of the family: 0.18215 (SD 1.5) or 0.13025 (SDXL). */
    public static double scalingFactor(ModelFamily family) {
        return UnetSpec.requireFamily(family) == ModelFamily.SDXL ? 0.13025 : 0.18215;
    }

    /** Tiny: (16, 16, 32, 32), 1 layer per block, 8 groups, mid attention; 8x upsampling. */
    public static VaeSpec tiny(ModelFamily family) {
        return new VaeSpec(List.of(16, 16, 32, 32), 1, 8, true, scalingFactor(family));
    }

    /** For CPU benchmarks: (32, 64, 128, 128), 2 layers per block, 32 groups, mid attention; 8x upsampling. */
    public static VaeSpec midSize(ModelFamily family) {
        return new VaeSpec(List.of(32, 64, 128, 128), 2, 32, true, scalingFactor(family));
    }

    /** The factor between image and latent size: {@code 2^(blocks-1)}. */
    public int upscaleFactor() {
        return 1 << (blockOutChannels.size() - 1);
    }
}
