package io.lorica.models;

import io.lorica.api.ModelFamily;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;

/**
 * The block structure of a Diffusers {@code UNet2DConditionModel} as far as LoRA block weights need it: which down and
 * up blocks have attentions ({@code Transformer2DModel}s), how many attentions and resnets each block has, how many
 * inner transformer blocks each attention holds, and whether the mid block has an attention.
 *
 * <p>Down block {@code i} has {@code layersPerBlock} resnets, and as many attentions when
 * {@code downTransformerDepths[i] > 0}; up block {@code i} has {@code layersPerBlock + 1} of each (attentions when
 * {@code upTransformerDepths[i] > 0}); every down block but the last has {@code downsamplers.0}, every up block but the
 * last {@code upsamplers.0}; the mid block has {@code resnets.0}, {@code resnets.1} and, when
 * {@code midTransformerDepth > 0}, {@code attentions.0}. A depth of 0 means the block has no attention
 * ({@code DownBlock2D} / {@code UpBlock2D}).
 *
 * <p>Standard layouts ({@link #of}):
 * <table>
 * <caption>UNet layouts</caption>
 * <tr><th>family</th><th>down blocks with attention</th><th>up blocks with attention</th>
 *     <th>attentions per down / up block</th><th>transformer blocks down / mid / up</th></tr>
 * <tr><td>SD15</td><td>0, 1, 2</td><td>1, 2, 3</td><td>2 / 3</td><td>[1,1,1,0] / 1 / [0,1,1,1]</td></tr>
 * <tr><td>SDXL</td><td>1, 2</td><td>0, 1</td><td>2 / 3</td><td>[0,2,10] / 10 / [10,2,0]</td></tr>
 * </table>
 *
 * @param family               the model family
 * @param layersPerBlock       Diffusers {@code layers_per_block}: resnets (and attentions) per down block; up blocks
 *                             have one more; at least 1
 * @param downTransformerDepths inner transformer blocks per attention of each down block, 0 for a block without
 *                             attention; as many entries as down blocks
 * @param upTransformerDepths  the same for each up block; as many entries as {@code downTransformerDepths}
 * @param midTransformerDepth  inner transformer blocks of {@code mid_block.attentions.0}; 0 when the mid block has no
 *                             attention
 */
public record UnetLayout(ModelFamily family, int layersPerBlock, List<Integer> downTransformerDepths,
        List<Integer> upTransformerDepths, int midTransformerDepth) {

    private static final String DOWN_PREFIX = "down_blocks.";
    private static final String UP_PREFIX = "up_blocks.";
    private static final String MID_PREFIX = "mid_block.";
    private static final String MID_ATTENTION = "mid_block.attentions.0";

    private static final UnetLayout SD15 = new UnetLayout(ModelFamily.SD15, 2, List.of(1, 1, 1, 0),
            List.of(0, 1, 1, 1), 1);
    private static final UnetLayout SDXL = new UnetLayout(ModelFamily.SDXL, 2, List.of(0, 2, 10),
            List.of(10, 2, 0), 10);
    private static final BlockPosition OUTSIDE = new BlockPosition(Region.OTHER, -1, Part.NONE, -1);

    /** Where in the UNet a module lies. */
    public enum Region {
        /** Inside {@code down_blocks.i}. */
        DOWN,
        /** Inside {@code mid_block}. */
        MID,
        /** Inside {@code up_blocks.i}. */
        UP,
        /** Outside all blocks: {@code conv_in}, {@code conv_out}, {@code time_embedding.*}, {@code add_embedding.*}. */
        OTHER
    }

    /** Which part of a block a module belongs to. */
    public enum Part {
        /** {@code attentions.j} (a {@code Transformer2DModel}). */
        ATTENTION,
        /** {@code resnets.j} (a {@code ResnetBlock2D}). */
        RESNET,
        /** {@code downsamplers.0} of a down block or {@code upsamplers.0} of an up block. */
        SAMPLER,
        /** Not inside a block ({@link Region#OTHER}). */
        NONE
    }

    /**
     * The position of a UNet module: e.g. {@code down_blocks.1.resnets.0.conv1} is
     * {@code (DOWN, 1, RESNET, 0)}, {@code mid_block.attentions.0.proj_in} is {@code (MID, -1, ATTENTION, 0)} and
     * {@code conv_in} is {@code (OTHER, -1, NONE, -1)}.
     *
     * @param region where the module lies
     * @param block  the down/up block index; -1 for {@link Region#MID} and {@link Region#OTHER}
     * @param part   the part of the block; {@link Part#NONE} exactly for {@link Region#OTHER}
     * @param index  the attention, resnet or sampler index within the block; -1 for {@link Region#OTHER}
     */
    public record BlockPosition(Region region, int block, Part part, int index) {

        /** @throws IllegalArgumentException when region or part is null */
        public BlockPosition {
            if (region == null || part == null) {
                throw new IllegalArgumentException("region and part must not be null, got " + region + ", " + part);
            }
        }
    }

    /**
     * Validates and copies the lists.
     *
     * @throws IllegalArgumentException naming the field and value when a rule of the class description is broken
     */
    public UnetLayout {
        if (family == null) {
            throw new IllegalArgumentException("family must not be null, expected one of " + List.of(ModelFamily.values()));
        }
        if (layersPerBlock < 1) {
            throw new IllegalArgumentException("layersPerBlock must be >= 1, got " + layersPerBlock);
        }
        downTransformerDepths = depths("downTransformerDepths", downTransformerDepths);
        upTransformerDepths = depths("upTransformerDepths", upTransformerDepths);
        if (downTransformerDepths.size() != upTransformerDepths.size()) {
            throw new IllegalArgumentException("upTransformerDepths must have as many entries as downTransformerDepths ("
                    + downTransformerDepths.size() + "), got " + upTransformerDepths.size());
        }
        if (midTransformerDepth < 0) {
            throw new IllegalArgumentException("midTransformerDepth must be >= 0, got " + midTransformerDepth);
        }
    }

    /**
     * The layout of the standard UNet of {@code family} (SD 1.5, SDXL base).
     *
     * @throws IllegalArgumentException when {@code family} is null
     */
    public static UnetLayout of(ModelFamily family) {
        if (family == null) {
            throw new IllegalArgumentException("model family must not be null, expected one of "
                    + List.of(ModelFamily.values()));
        }
        return switch (family) {
            case SD15 -> SD15;
            case SDXL -> SDXL;
        };
    }

    /** The number of down blocks (equal to the number of up blocks). */
    public int downBlockCount() {
        return downTransformerDepths.size();
    }

    /** The number of up blocks. */
    public int upBlockCount() {
        return upTransformerDepths.size();
    }

    /** Indices of the down blocks that have attentions, ascending (Diffusers {@code blocks_with_transformer["down"]}). */
    public List<Integer> downBlocksWithAttention() {
        return withAttention(downTransformerDepths);
    }

    /** Indices of the up blocks that have attentions, ascending (Diffusers {@code blocks_with_transformer["up"]}). */
    public List<Integer> upBlocksWithAttention() {
        return withAttention(upTransformerDepths);
    }

    /** Attentions (and resnets) per down block: {@code layersPerBlock} (Diffusers {@code transformer_per_block["down"]}). */
    public int attentionsPerDownBlock() {
        return layersPerBlock;
    }

    /** Attentions (and resnets) per up block: {@code layersPerBlock + 1} (Diffusers {@code transformer_per_block["up"]}). */
    public int attentionsPerUpBlock() {
        return layersPerBlock + 1;
    }

    /** Whether {@code mid_block.attentions.0} exists. */
    public boolean midHasAttention() {
        return midTransformerDepth > 0;
    }

    /**
     * The paths of all attentions in model order of the scale map: {@code down_blocks.i.attentions.j}, then
     * {@code mid_block.attentions.0}, then {@code up_blocks.i.attentions.j}; the keys a block-weight dictionary expands to.
     */
    public List<String> attentionPaths() {
        List<String> paths = new ArrayList<>();
        addAttentionPaths(paths, DOWN_PREFIX, downTransformerDepths, attentionsPerDownBlock());
        if (midHasAttention()) {
            paths.add(MID_ATTENTION);
        }
        addAttentionPaths(paths, UP_PREFIX, upTransformerDepths, attentionsPerUpBlock());
        return Collections.unmodifiableList(paths);
    }

    /**
     * Classifies a UNet module by Diffusers module path (relative to the UNet, no {@code unet.} prefix). The path may
     * name a layer ({@code down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q}) or a block part itself
     * ({@code down_blocks.1.attentions.0}); only the block structure is checked, not the layer name below it.
     *
     * @throws IllegalArgumentException naming the path and what was expected when it starts with {@code down_blocks.},
     *                                  {@code up_blocks.} or {@code mid_block.} but names a block, part or index this
     *                                  layout lacks, or when it is null or empty
     */
    public BlockPosition blockOf(String unetModulePath) {
        if (unetModulePath == null || unetModulePath.isEmpty()) {
            throw new IllegalArgumentException("UNet module path must not be null or empty, got "
                    + (unetModulePath == null ? "null" : "''")
                    + ", expected a Diffusers module path such as down_blocks.1.attentions.0.proj_in");
        }
        String path = unetModulePath;
        Region region;
        int pos;
        if (path.startsWith(DOWN_PREFIX)) {
            region = Region.DOWN;
            pos = DOWN_PREFIX.length();
        } else if (path.startsWith(UP_PREFIX)) {
            region = Region.UP;
            pos = UP_PREFIX.length();
        } else if (path.startsWith(MID_PREFIX)) {
            region = Region.MID;
            pos = MID_PREFIX.length();
        } else {
            return OUTSIDE;
        }
        String where;
        int block = -1;
        if (region == Region.MID) {
            where = "the mid block";
        } else {
            String name = region == Region.DOWN ? "down" : "up";
            int count = region == Region.DOWN ? downBlockCount() : upBlockCount();
            int end = segmentEnd(path, pos);
            block = parseIndex(path, pos, end);
            if (block < 0 || block >= count) {
                throw invalid(path, "no " + name + " block '" + path.substring(pos, end) + "'",
                        "a block index 0.." + (count - 1));
            }
            where = name + " block " + block;
            pos = end + 1;
        }
        String samplers = region == Region.DOWN ? "downsamplers" : region == Region.UP ? "upsamplers" : null;
        String expectedParts = samplers == null ? "attentions or resnets" : "attentions, resnets or " + samplers;
        if (pos >= path.length()) {
            throw invalid(path, "no part of " + where, expectedParts + " after the block");
        }
        int end = segmentEnd(path, pos);
        String partName = path.substring(pos, end);
        Part part;
        if (partName.equals("attentions")) {
            part = Part.ATTENTION;
        } else if (partName.equals("resnets")) {
            part = Part.RESNET;
        } else if (partName.equals(samplers)) {
            part = Part.SAMPLER;
        } else {
            throw invalid(path, "unknown part '" + partName + "' of " + where, expectedParts);
        }
        pos = end + 1;
        end = pos > path.length() ? pos : segmentEnd(path, pos);
        int index = pos > path.length() ? -1 : parseIndex(path, pos, end);
        int limit = partCount(region, block, part);
        if (limit == 0) {
            throw invalid(path, where + " of " + family + " has no " + partName,
                    region == Region.MID ? "resnets" : "a block with " + partName);
        }
        if (index < 0 || index >= limit) {
            throw invalid(path, "no " + partName + " '"
                    + (pos > path.length() ? "" : path.substring(pos, end)) + "' in " + where,
                    "an index 0.." + (limit - 1));
        }
        return new BlockPosition(region, block, part, index);
    }

    /**
     * The attention whose block scale a module receives under Diffusers' per-layer resolution (lora-semantics §3.4):
     * the module's own attention; for a resnet {@code j} or the sampler of a block with attentions, attention
     * {@code j} (sampler: 0) of the same block; empty (scale 1.0) for modules of blocks without attention, mid-block
     * resnets and modules outside the blocks (where Diffusers itself fails).
     *
     * @throws IllegalArgumentException as {@link #blockOf}
     */
    public Optional<String> governingAttention(String unetModulePath) {
        BlockPosition position = blockOf(unetModulePath);
        switch (position.region()) {
            case MID:
                return position.part() == Part.ATTENTION ? Optional.of(MID_ATTENTION) : Optional.empty();
            case DOWN:
            case UP:
                List<Integer> depths = position.region() == Region.DOWN ? downTransformerDepths : upTransformerDepths;
                if (depths.get(position.block()) == 0) {
                    return Optional.empty();
                }
                return Optional.of((position.region() == Region.DOWN ? DOWN_PREFIX : UP_PREFIX) + position.block()
                        + ".attentions." + position.index());
            default:
                return Optional.empty();
        }
    }

    private int partCount(Region region, int block, Part part) {
        return switch (region) {
            case MID -> switch (part) {
                case ATTENTION -> midHasAttention() ? 1 : 0;
                case RESNET -> 2;
                default -> 0;
            };
            case DOWN -> switch (part) {
                case ATTENTION -> downTransformerDepths.get(block) > 0 ? attentionsPerDownBlock() : 0;
                case RESNET -> attentionsPerDownBlock();
                case SAMPLER -> block < downBlockCount() - 1 ? 1 : 0;
                default -> 0;
            };
            case UP -> switch (part) {
                case ATTENTION -> upTransformerDepths.get(block) > 0 ? attentionsPerUpBlock() : 0;
                case RESNET -> attentionsPerUpBlock();
                case SAMPLER -> block < upBlockCount() - 1 ? 1 : 0;
                default -> 0;
            };
            default -> 0;
        };
    }

    private IllegalArgumentException invalid(String path, String problem, String expected) {
        return new IllegalArgumentException("UNet module path '" + path + "' of " + family + ": " + problem
                + ", expected " + expected);
    }

    private static int segmentEnd(String path, int from) {
        int dot = path.indexOf('.', from);
        return dot < 0 ? path.length() : dot;
    }

    /** The non-negative decimal number {@code path[from, to)} without leading zeros, or -1. */
    private static int parseIndex(String path, int from, int to) {
        int length = to - from;
        if (length < 1 || length > 4 || (length > 1 && path.charAt(from) == '0')) {
            return -1;
        }
        int value = 0;
        for (int i = from; i < to; i++) {
            char c = path.charAt(i);
            if (c < '0' || c > '9') {
                return -1;
            }
            value = value * 10 + (c - '0');
        }
        return value;
    }

    private static void addAttentionPaths(List<String> paths, String prefix, List<Integer> depths, int perBlock) {
        for (int block = 0; block < depths.size(); block++) {
            if (depths.get(block) > 0) {
                for (int j = 0; j < perBlock; j++) {
                    paths.add(prefix + block + ".attentions." + j);
                }
            }
        }
    }

    private static List<Integer> withAttention(List<Integer> depths) {
        List<Integer> blocks = new ArrayList<>(depths.size());
        for (int block = 0; block < depths.size(); block++) {
            if (depths.get(block) > 0) {
                blocks.add(block);
            }
        }
        return Collections.unmodifiableList(blocks);
    }

    private static List<Integer> depths(String field, List<Integer> depths) {
        if (depths == null || depths.isEmpty()) {
            throw new IllegalArgumentException(field + " must have one entry per block, got " + depths);
        }
        for (Integer depth : depths) {
            if (depth == null || depth < 0) {
                throw new IllegalArgumentException(field + " entries must be >= 0, got " + depths);
            }
        }
        return List.copyOf(depths);
    }
}
