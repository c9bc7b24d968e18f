package io.lorica.loader.format;

import io.lorica.api.ModelFamily;

import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Maps UNet module names of the original LDM / "sgm" layout ({@code input_blocks}, {@code middle_block},
 * {@code output_blocks}, {@code time_embed}, {@code label_emb}, {@code out}), which kohya-style files of models trained
 * on the original checkpoint use, to Diffusers module paths. The formulas are those of Diffusers'
 * {@code _maybe_map_sgm_blocks_to_diffusers} / {@code convert_ldm_unet_checkpoint}, with {@code L = layers_per_block = 2}:
 *
 * <ul>
 * <li>{@code input_blocks.n} (n ≥ 1): {@code block = (n−1) div (L+1)}, {@code idx = (n−1) mod (L+1)}; inner {@code .0}
 * is {@code down_blocks.block.resnets.idx}, inner {@code .1} is {@code down_blocks.block.attentions.idx}, and
 * {@code input_blocks.n.0.op} (idx = L) is {@code down_blocks.block.downsamplers.0.conv};</li>
 * <li>{@code middle_block.0/.1/.2} are {@code mid_block.resnets.0}, {@code mid_block.attentions.0},
 * {@code mid_block.resnets.1};</li>
 * <li>{@code output_blocks.n}: {@code block = n div (L+1)}, {@code idx = n mod (L+1)}; inner {@code .0} is
 * {@code up_blocks.block.resnets.idx}, {@code .1} is {@code up_blocks.block.attentions.idx}, {@code .2.conv} is
 * {@code up_blocks.block.upsamplers.0.conv}; in a block without attention (SD 1.5 {@code output_blocks.2}) the
 * upsampler sits at {@code .1.conv};</li>
 * <li>pass-through specials: {@code input_blocks.0.0} → {@code conv_in}, {@code out.2} → {@code conv_out},
 * {@code time_embed.0/.2} → {@code time_embedding.linear_1/2}, {@code label_emb.0.0/.0.2} →
 * {@code add_embedding.linear_1/2} (SDXL only);</li>
 * <li>resnet sub-layers: {@code in_layers.2} → {@code conv1}, {@code emb_layers.1} → {@code time_emb_proj},
 * {@code out_layers.3} → {@code conv2}, {@code skip_connection} → {@code conv_shortcut}; attention sub-layers keep
 * their names.</li>
 * </ul>
 *
 * <p>Names that cannot exist in the family's UNet (a block index out of range, an attention in a block without one, a
 * resnet sub-layer that is not a Linear/Conv such as {@code in_layers.0}) map to nothing. Whether the resulting module
 * exists, and its exact sub-path inside an attention, is decided by the caller against the model's module catalog.
 *
 * <p><strong>Deviation from Diffusers</strong>: Diffusers applies this mapping only to SDXL files, and only when no key
 * of the file uses Diffusers block names (mixed files silently lose their LDM-named keys). Lorica also maps SD 1.5
 * files (block layout of §5.4 of the LoRA semantics reference: 4 down blocks with attention in 0–2, up blocks with
 * attention in 1–3) and maps every name on its own, so mixed files keep all their modules.
 */
public final class LdmUnetNames {

    private static final int LAYERS_PER_BLOCK = 2;

    private static final Grammar DOTTED = new Grammar(".");
    private static final Grammar FLAT = new Grammar("_");

    private LdmUnetNames() {
    }

    /**
     * The Diffusers module path for a dotted LDM UNet path, e.g. {@code input_blocks.4.1.transformer_blocks.0.attn1.to_q}
     * → {@code down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q} (SDXL).
     *
     * @param family          the model family whose block layout applies
     * @param ldmPathWithDots the module path in LDM naming, dot-separated
     * @return the Diffusers module path, or empty when the name is not an LDM UNet name that can exist in the family
     */
    public static Optional<String> toDiffusers(ModelFamily family, String ldmPathWithDots) {
        return map(family, ldmPathWithDots, ".");
    }

    /**
     * As {@link #toDiffusers}, for kohya's flattened names ({@code .} replaced by {@code _}) with the {@code lora_unet_}
     * prefix removed, e.g. {@code input_blocks_4_1_transformer_blocks_0_attn1_to_q} →
     * {@code down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q}. Only the block structure is decoded; the
     * remainder stays flat, to be resolved against the model's modules with
     * {@link io.lorica.api.format.ModuleCatalog#resolveFlatName}.
     *
     * @param family      the model family whose block layout applies
     * @param flatLdmName the LDM name with {@code .} replaced by {@code _}, without {@code lora_unet_}
     * @return the Diffusers name in the same flattened form, or empty when the name cannot exist in the family
     */
    public static Optional<String> toDiffusersFlat(ModelFamily family, String flatLdmName) {
        return map(family, flatLdmName, "_");
    }

    /**
     * Whether {@code name} (dotted or flat) starts like an LDM UNet name.
     *
     * @param name a module name, dotted or flattened
     * @return true for {@code input_blocks…}, {@code middle_block…}, {@code output_blocks…}, {@code time_embed…},
     *         {@code label_emb…} and {@code out.2}
     */
    public static boolean looksLikeLdm(String name) {
        return name != null && (name.startsWith("input_blocks") || name.startsWith("middle_block")
                || name.startsWith("output_blocks") || name.startsWith("time_embed") || name.startsWith("label_emb")
                || name.equals("out.2") || name.equals("out_2"));
    }

    private static Optional<String> map(ModelFamily family, String name, String sep) {
        if (family == null || name == null || name.isEmpty()) {
            return Optional.empty();
        }
        Layout layout = Layout.of(family);
        if (layout == null) {
            return Optional.empty();
        }
        Grammar grammar = sep.equals(".") ? DOTTED : FLAT;
        String special = special(family, name, sep);
        if (special != null) {
            return Optional.of(special);
        }
        Matcher input = grammar.input.matcher(name);
        if (input.matches()) {
            return input(layout, number(input.group(1)), number(input.group(2)), input.group(3), sep);
        }
        Matcher middle = grammar.middle.matcher(name);
        if (middle.matches()) {
            return middle(number(middle.group(1)), middle.group(2), sep);
        }
        Matcher output = grammar.output.matcher(name);
        if (output.matches()) {
            return output(layout, number(output.group(1)), number(output.group(2)), output.group(3), sep);
        }
        return Optional.empty();
    }

    private static String special(ModelFamily family, String name, String sep) {
        if (name.equals(join(sep, "input_blocks", "0", "0"))) {
            return "conv_in";
        }
        if (name.equals(join(sep, "out", "2"))) {
            return "conv_out";
        }
        if (name.equals(join(sep, "time_embed", "0"))) {
            return join(sep, "time_embedding", "linear_1");
        }
        if (name.equals(join(sep, "time_embed", "2"))) {
            return join(sep, "time_embedding", "linear_2");
        }
        if (family == ModelFamily.SDXL && name.equals(join(sep, "label_emb", "0", "0"))) {
            return join(sep, "add_embedding", "linear_1");
        }
        if (family == ModelFamily.SDXL && name.equals(join(sep, "label_emb", "0", "2"))) {
            return join(sep, "add_embedding", "linear_2");
        }
        return null;
    }

    private static Optional<String> input(Layout layout, int n, int inner, String rest, String sep) {
        int perBlock = LAYERS_PER_BLOCK + 1;
        if (n < 1 || n >= layout.downBlocks * perBlock) {
            return Optional.empty();
        }
        int block = (n - 1) / perBlock;
        int idx = (n - 1) % perBlock;
        String prefix = join(sep, "down_blocks", Integer.toString(block));
        if (idx == LAYERS_PER_BLOCK) {
            // the downsampler position: only input_blocks.n.0.op, and only for blocks that have one
            if (inner == 0 && "op".equals(rest) && block < layout.downBlocks - 1) {
                return Optional.of(join(sep, prefix, "downsamplers", "0", "conv"));
            }
            return Optional.empty();
        }
        if (inner == 0) {
            return resnet(rest, sep).map(sub -> join(sep, prefix, "resnets", Integer.toString(idx), sub));
        }
        if (inner == 1 && layout.downAttention.contains(block) && rest != null) {
            return Optional.of(join(sep, prefix, "attentions", Integer.toString(idx), rest));
        }
        return Optional.empty();
    }

    private static Optional<String> middle(int inner, String rest, String sep) {
        return switch (inner) {
            case 0 -> resnet(rest, sep).map(sub -> join(sep, "mid_block", "resnets", "0", sub));
            case 1 -> rest == null ? Optional.empty() : Optional.of(join(sep, "mid_block", "attentions", "0", rest));
            case 2 -> resnet(rest, sep).map(sub -> join(sep, "mid_block", "resnets", "1", sub));
            default -> Optional.empty();
        };
    }

    private static Optional<String> output(Layout layout, int n, int inner, String rest, String sep) {
        int perBlock = LAYERS_PER_BLOCK + 1;
        if (n < 0 || n >= layout.upBlocks * perBlock) {
            return Optional.empty();
        }
        int block = n / perBlock;
        int idx = n % perBlock;
        String prefix = join(sep, "up_blocks", Integer.toString(block));
        boolean attention = layout.upAttention.contains(block);
        boolean upsampler = idx == LAYERS_PER_BLOCK && block < layout.upBlocks - 1;
        String upsamplerPath = join(sep, prefix, "upsamplers", "0", "conv");
        switch (inner) {
            case 0:
                return resnet(rest, sep).map(sub -> join(sep, prefix, "resnets", Integer.toString(idx), sub));
            case 1:
                if (attention) {
                    return rest == null ? Optional.empty()
                            : Optional.of(join(sep, prefix, "attentions", Integer.toString(idx), rest));
                }
                return upsampler && "conv".equals(rest) ? Optional.of(upsamplerPath) : Optional.empty();
            case 2:
                return attention && upsampler && "conv".equals(rest) ? Optional.of(upsamplerPath) : Optional.empty();
            default:
                return Optional.empty();
        }
    }

    private static Optional<String> resnet(String rest, String sep) {
        if (rest == null) {
            return Optional.empty();
        }
        if (rest.equals(join(sep, "in_layers", "2"))) {
            return Optional.of("conv1");
        }
        if (rest.equals(join(sep, "emb_layers", "1"))) {
            return Optional.of("time_emb_proj");
        }
        if (rest.equals(join(sep, "out_layers", "3"))) {
            return Optional.of("conv2");
        }
        if (rest.equals("skip_connection")) {
            return Optional.of("conv_shortcut");
        }
        return Optional.empty();
    }

    private static int number(String digits) {
        try {
            return Integer.parseInt(digits);
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private static String join(String sep, String... parts) {
        return String.join(sep, parts);
    }

    /** The block layout of a family's UNet. */
    private record Layout(int downBlocks, int upBlocks, Set<Integer> downAttention, Set<Integer> upAttention) {

        static Layout of(ModelFamily family) {
            if (family == ModelFamily.SD15) {
                return new Layout(4, 4, Set.of(0, 1, 2), Set.of(1, 2, 3));
            }
            if (family == ModelFamily.SDXL) {
                return new Layout(3, 3, Set.of(1, 2), Set.of(0, 1));
            }
            return null;
        }
    }

    /** The block-structure patterns for one separator. */
    private static final class Grammar {
        final Pattern input;
        final Pattern middle;
        final Pattern output;

        Grammar(String sep) {
            String q = Pattern.quote(sep);
            input = Pattern.compile("input_blocks" + q + "(\\d{1,3})" + q + "(\\d{1,3})(?:" + q + "(.+))?");
            middle = Pattern.compile("middle_block" + q + "(\\d{1,3})(?:" + q + "(.+))?");
            output = Pattern.compile("output_blocks" + q + "(\\d{1,3})" + q + "(\\d{1,3})(?:" + q + "(.+))?");
        }
    }
}
