package io.lorica.policy.expand;

import io.lorica.api.ModelFamily;
import io.lorica.api.policy.AdapterWeight.BlockPart;
import io.lorica.api.policy.AdapterWeight.PerBlock;
import io.lorica.api.policy.AdapterWeight.UnetBlocks;
import io.lorica.api.policy.AdapterWeight.Uniform;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A literal, string-based transcription of Diffusers' block-dict expansion (lora-semantics §3.3) and per-layer lookup
 * (§3.4), written independently of the production code and of {@code UnetLayout}: model facts from the §3.2 table,
 * substring matching and the {@code p0.p1.attentions.p3} fallback. Keys for blocks without attention are skipped as
 * Diffusers does (callers only feed valid dicts); the crash row (fewer than 4 name parts) yields 1.0 as Lorica does.
 */
final class DiffusersOracle {

    private final List<Integer> downWithAttention;
    private final List<Integer> upWithAttention;
    private static final int DOWN_LENGTH = 2;
    private static final int UP_LENGTH = 3;

    DiffusersOracle(ModelFamily family) {
        if (family == ModelFamily.SD15) {
            downWithAttention = List.of(0, 1, 2);
            upWithAttention = List.of(1, 2, 3);
        } else {
            downWithAttention = List.of(1, 2);
            upWithAttention = List.of(0, 1);
        }
    }

    /** {@code _maybe_expand_lora_scales_for_one_adapter} + translation to layer names. */
    Map<String, Double> expand(UnetBlocks blocks) {
        Map<String, Double> scales = new LinkedHashMap<>();
        scales.put("mid_block.attentions.0", blocks.mid().orElse(1.0));
        part(scales, "up", "up_blocks.", blocks.up().orElse(null), upWithAttention, UP_LENGTH);
        part(scales, "down", "down_blocks.", blocks.down().orElse(null), downWithAttention, DOWN_LENGTH);
        return scales;
    }

    private static void part(Map<String, Double> scales, String updown, String prefix, BlockPart part,
            List<Integer> withAttention, int length) {
        for (int i : withAttention) {
            List<Double> values;
            if (part == null) {
                values = List.of(1.0);
            } else if (part instanceof Uniform u) {
                values = List.of(u.value());
            } else {
                values = ((PerBlock) part).block(i).orElse(List.of(1.0));
            }
            if (values.size() == 1) {
                values = java.util.Collections.nCopies(length, values.get(0));
            } else if (values.size() != length) {
                throw new IllegalArgumentException("Expected " + length + " scales for " + updown + ".block_" + i
                        + ", got " + values.size() + ".");
            }
            for (int j = 0; j < length; j++) {
                scales.put(prefix + i + ".attentions." + j, values.get(j));
            }
        }
    }

    /** The per-layer lookup of {@code set_weights_and_activate_adapters}. */
    static double lookup(Map<String, Double> expanded, String moduleName) {
        for (Map.Entry<String, Double> entry : expanded.entrySet()) {
            if (moduleName.contains(entry.getKey())) {
                return entry.getValue();
            }
        }
        String[] parts = moduleName.split("\\.");
        if (parts.length < 4) {
            return 1.0; // Diffusers: IndexError; Lorica: 1.0
        }
        String key = parts[0] + "." + parts[1] + ".attentions." + parts[3];
        return expanded.getOrDefault(key, 1.0);
    }
}
