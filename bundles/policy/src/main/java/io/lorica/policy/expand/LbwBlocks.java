package io.lorica.policy.expand;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.models.UnetLayout;
import io.lorica.models.UnetLayout.BlockPosition;

import java.util.List;
import java.util.Optional;

/**
 * The block ids of hako-mikan's A1111 "LoRA Block Weight" extension (lora-semantics §3.6) and the mapping of Diffusers
 * module paths onto them.
 *
 * <p>A vector of 12, 17, 20 or 26 ratios names the blocks of {@link #ids(int)} in order; it is expanded to the 26
 * slots of {@link #IDS_26} with every block it does not list set to 0 (the extension's {@code to26}). 12 and 20 are
 * SDXL vectors, 17 and 26 SD 1.5 vectors.
 *
 * <p>Block ids are those of the original (LDM/"compvis") UNet, found by running the formulas of lora-semantics §5.4
 * backwards, with {@code L = layers_per_block = 2}:
 * <ul>
 * <li>{@code BASE}: every module of {@code text_encoder} and {@code text_encoder_2};</li>
 * <li>{@code IN00}: {@code conv_in} (LDM {@code input_blocks.0.0}: A1111 converts the kohya name
 *     {@code lora_unet_conv_in} to {@code diffusion_model_input_blocks_0_0}, so the extension's {@code input_blocks_0_}
 *     prefix covers it; lora-semantics §3.6 counts {@code conv_in} among the modules outside every block, but the
 *     extension's behaviour is followed here, so a 12- or 17-ratio vector, which does not list IN00, gives
 *     {@code conv_in} ratio 0);</li>
 * <li>{@code IN(1 + b·(L+1) + j)}: {@code down_blocks.b.resnets.j} and {@code down_blocks.b.attentions.j};
 *     {@code IN((b+1)·(L+1))}: {@code down_blocks.b.downsamplers.0} (IN03, IN06, IN09);</li>
 * <li>{@code M00}: the whole {@code mid_block}, resnets included;</li>
 * <li>{@code OUT(b·(L+1) + j)}: {@code up_blocks.b.resnets.j} and {@code up_blocks.b.attentions.j};
 *     {@code OUT(b·(L+1) + L)} also {@code up_blocks.b.upsamplers.0}, which LDM stores at that index (OUT02, OUT05,
 *     OUT08);</li>
 * <li>no block: {@code conv_out} ({@code out.2}), {@code time_embedding.*} ({@code time_embed.*}) and SDXL
 *     {@code add_embedding.*} ({@code label_emb.*}); their ratio is 1.</li>
 * </ul>
 *
 * <p>Stateless; all methods are thread-safe.
 */
public final class LbwBlocks {

    /** All 26 block ids: BASE, IN00..IN11, M00, OUT00..OUT11; the slot order of expanded vectors. */
    public static final List<String> IDS_26 = List.of("BASE", "IN00", "IN01", "IN02", "IN03", "IN04", "IN05", "IN06",
            "IN07", "IN08", "IN09", "IN10", "IN11", "M00", "OUT00", "OUT01", "OUT02", "OUT03", "OUT04", "OUT05",
            "OUT06", "OUT07", "OUT08", "OUT09", "OUT10", "OUT11");

    /** The 17 blocks of an SD 1.5 LoRA vector (the blocks a plain kohya LoRA trains). */
    public static final List<String> IDS_17 = List.of("BASE", "IN01", "IN02", "IN04", "IN05", "IN07", "IN08", "M00",
            "OUT03", "OUT04", "OUT05", "OUT06", "OUT07", "OUT08", "OUT09", "OUT10", "OUT11");

    /** The 12 blocks of an SDXL LoRA vector. */
    public static final List<String> IDS_12 = List.of("BASE", "IN04", "IN05", "IN07", "IN08", "M00", "OUT00", "OUT01",
            "OUT02", "OUT03", "OUT04", "OUT05");

    /** The 20 blocks of an SDXL vector with all blocks. */
    public static final List<String> IDS_20 = List.of("BASE", "IN00", "IN01", "IN02", "IN03", "IN04", "IN05", "IN06",
            "IN07", "IN08", "M00", "OUT00", "OUT01", "OUT02", "OUT03", "OUT04", "OUT05", "OUT06", "OUT07", "OUT08");

    /** Slot of {@code BASE} in the 26 slots. */
    static final int BASE = 0;
    /** Slot of {@code IN00}. */
    static final int IN00 = 1;
    /** Slot of {@code M00}. */
    static final int M00 = 13;
    /** Slot of {@code OUT00}. */
    static final int OUT00 = 14;
    /** No block: ratio 1. */
    static final int NONE = -1;

    private static final int[] SLOTS_17 = slots(IDS_17);
    private static final int[] SLOTS_12 = slots(IDS_12);
    private static final int[] SLOTS_20 = slots(IDS_20);
    private static final int[] SLOTS_26 = slots(IDS_26);

    private LbwBlocks() {
    }

    /**
     * The block ids a vector of {@code length} ratios names, in order.
     *
     * @throws IllegalArgumentException when {@code length} is not 12, 17, 20 or 26
     */
    public static List<String> ids(int length) {
        return switch (length) {
            case 12 -> IDS_12;
            case 17 -> IDS_17;
            case 20 -> IDS_20;
            case 26 -> IDS_26;
            default -> throw new IllegalArgumentException("a block weight vector needs 12, 17, 20 or 26 ratios, got "
                    + length);
        };
    }

    /** Whether a vector of {@code length} ratios is meant for {@code family}: 17 and 26 for SD 1.5, 12 and 20 for SDXL. */
    public static boolean fits(ModelFamily family, int length) {
        return switch (family) {
            case SD15 -> length == 17 || length == 26;
            case SDXL -> length == 12 || length == 20;
        };
    }

    /**
     * The vector expanded to the 26 slots of {@link #IDS_26}; blocks it does not list get 0.
     *
     * @throws IllegalArgumentException when the list is null, has a null entry or a length other than 12, 17, 20, 26
     */
    public static double[] to26(List<Double> ratios) {
        if (ratios == null) {
            throw new IllegalArgumentException("ratios must not be null");
        }
        int[] slots = switch (ratios.size()) {
            case 12 -> SLOTS_12;
            case 17 -> SLOTS_17;
            case 20 -> SLOTS_20;
            case 26 -> SLOTS_26;
            default -> throw new IllegalArgumentException("a block weight vector needs 12, 17, 20 or 26 ratios, got "
                    + ratios.size());
        };
        double[] out = new double[IDS_26.size()];
        for (int i = 0; i < slots.length; i++) {
            Double ratio = ratios.get(i);
            if (ratio == null) {
                throw new IllegalArgumentException("ratio " + i + " (" + ids(ratios.size()).get(i) + ") is null");
            }
            out[slots[i]] = ratio;
        }
        return out;
    }

    /**
     * The block id of a module of {@code family}: {@code BASE} for the text encoders, {@code IN..}, {@code M00} or
     * {@code OUT..} for the UNet; empty for UNet modules outside every block ({@code conv_out},
     * {@code time_embedding.*}, {@code add_embedding.*}, whose ratio is 1).
     *
     * @throws IllegalArgumentException when an argument is null, the component is not part of the family, or a UNet
     *                                  path names a block, part or index the family's UNet lacks
     */
    public static Optional<String> blockId(ModelFamily family, Component component, String modulePath) {
        if (family == null || component == null || modulePath == null) {
            throw new IllegalArgumentException("family, component and module path must not be null");
        }
        family.requireComponent(component);
        int slot = component == Component.UNET ? unetSlot(UnetLayout.of(family), modulePath) : BASE;
        return slot == NONE ? Optional.empty() : Optional.of(IDS_26.get(slot));
    }

    /**
     * The slot (index into {@link #IDS_26}) of a UNet module, or {@link #NONE}.
     *
     * @throws IllegalArgumentException as {@link UnetLayout#blockOf}
     */
    static int unetSlot(UnetLayout layout, String unetModulePath) {
        return unetSlot(layout, layout.blockOf(unetModulePath), unetModulePath);
    }

    /** The slot of a UNet module at {@code position}, or {@link #NONE}. */
    static int unetSlot(UnetLayout layout, BlockPosition position, String unetModulePath) {
        int stride = layout.layersPerBlock() + 1;
        return switch (position.region()) {
            case DOWN -> IN00 + (position.part() == UnetLayout.Part.SAMPLER
                    ? (position.block() + 1) * stride
                    : 1 + position.block() * stride + position.index());
            case UP -> OUT00 + position.block() * stride
                    + (position.part() == UnetLayout.Part.SAMPLER ? layout.layersPerBlock() : position.index());
            case MID -> M00;
            case OTHER -> unetModulePath.equals("conv_in") || unetModulePath.startsWith("conv_in.") ? IN00 : NONE;
        };
    }

    private static int[] slots(List<String> ids) {
        int[] slots = new int[ids.size()];
        for (int i = 0; i < slots.length; i++) {
            slots[i] = IDS_26.indexOf(ids.get(i));
        }
        return slots;
    }
}
