package io.lorica.policy.expand;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.models.ReferenceModels;
import io.lorica.models.UnetLayout;
import io.lorica.models.UnetLayout.BlockPosition;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * What the expansion needs to know about one family's UNet, computed once: the attentions in scale-map order
 * (down, mid, up) as slots of a {@code double[]}, the slots of each block's attentions, and for every module of the
 * reference UNet its governing attention slot (lora-semantics §3.4) and its A1111 block slot (§3.6). Immutable.
 */
final class FamilyTable {

    /** Where a UNet module's scales come from. */
    static final class UnetModule {
        /** Slot of the attention whose block-dict weight the module receives, or -1 for 1.0. */
        final int attentionSlot;
        /** Slot in {@link LbwBlocks#IDS_26}, or {@link LbwBlocks#NONE} for ratio 1. */
        final int lbwSlot;

        UnetModule(int attentionSlot, int lbwSlot) {
            this.attentionSlot = attentionSlot;
            this.lbwSlot = lbwSlot;
        }
    }

    private static final class Sd15 {
        static final FamilyTable TABLE = new FamilyTable(ModelFamily.SD15);
    }

    private static final class Sdxl {
        static final FamilyTable TABLE = new FamilyTable(ModelFamily.SDXL);
    }

    final ModelFamily family;
    final UnetLayout layout;
    /** Number of attentions ({@code down_blocks.i.attentions.j}, {@code mid_block.attentions.0}, ...). */
    final int attentionCount;
    /** [down block][attention index] -> slot; null row for a block without attention. */
    final int[][] downSlots;
    /** [up block][attention index] -> slot; null row for a block without attention. */
    final int[][] upSlots;
    /** Slot of {@code mid_block.attentions.0}, or -1. */
    final int midSlot;
    /** E.g. "block_1, block_2" for the error messages. */
    final String validDown;
    final String validUp;
    private final Map<String, Integer> attentionSlots;
    private final Map<String, UnetModule> unetModules;

    private FamilyTable(ModelFamily family) {
        this.family = family;
        this.layout = UnetLayout.of(family);
        List<String> attentions = layout.attentionPaths();
        this.attentionCount = attentions.size();
        this.attentionSlots = new HashMap<>(attentions.size() * 2);
        for (int i = 0; i < attentions.size(); i++) {
            attentionSlots.put(attentions.get(i), i);
        }
        this.downSlots = blockSlots("down_blocks.", layout.downTransformerDepths(), layout.attentionsPerDownBlock());
        this.upSlots = blockSlots("up_blocks.", layout.upTransformerDepths(), layout.attentionsPerUpBlock());
        this.midSlot = attentionSlots.getOrDefault("mid_block.attentions.0", -1);
        this.validDown = blockNames(layout.downBlocksWithAttention());
        this.validUp = blockNames(layout.upBlocksWithAttention());
        Map<String, ?> catalog = ReferenceModels.catalog(family).modules(Component.UNET);
        this.unetModules = new HashMap<>(catalog.size() * 2);
        for (String path : catalog.keySet()) {
            unetModules.put(path, compute(path));
        }
    }

    /** The table of {@code family}, built on first use. */
    static FamilyTable of(ModelFamily family) {
        return switch (family) {
            case SD15 -> Sd15.TABLE;
            case SDXL -> Sdxl.TABLE;
        };
    }

    /**
     * The lookup data of a UNet module: precomputed for the reference modules, computed on the spot otherwise.
     *
     * @throws IllegalArgumentException when the path names a block, part or index the UNet lacks
     */
    UnetModule unetModule(String path) {
        UnetModule known = unetModules.get(path);
        return known != null ? known : compute(path);
    }

    private UnetModule compute(String path) {
        BlockPosition position = layout.blockOf(path);
        Optional<String> governing = layout.governingAttention(path);
        int attention = governing.map(p -> attentionSlots.getOrDefault(p, -1)).orElse(-1);
        return new UnetModule(attention, LbwBlocks.unetSlot(layout, position, path));
    }

    private int[][] blockSlots(String prefix, List<Integer> depths, int perBlock) {
        int[][] slots = new int[depths.size()][];
        for (int block = 0; block < depths.size(); block++) {
            if (depths.get(block) == 0) {
                continue;
            }
            slots[block] = new int[perBlock];
            for (int j = 0; j < perBlock; j++) {
                slots[block][j] = attentionSlots.get(prefix + block + ".attentions." + j);
            }
        }
        return slots;
    }

    private static String blockNames(List<Integer> blocks) {
        return blocks.stream().map(i -> "block_" + i).collect(Collectors.joining(", "));
    }
}
