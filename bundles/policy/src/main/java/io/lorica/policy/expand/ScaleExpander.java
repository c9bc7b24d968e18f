package io.lorica.policy.expand;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.adapter.LoraModule;
import io.lorica.api.policy.AdapterSettings;
import io.lorica.api.policy.AdapterWeight;
import io.lorica.api.policy.AdapterWeight.BlockPart;
import io.lorica.api.policy.AdapterWeight.BlockVector;
import io.lorica.api.policy.AdapterWeight.ComponentWeight;
import io.lorica.api.policy.AdapterWeight.LayerOverride;
import io.lorica.api.policy.AdapterWeight.PerBlock;
import io.lorica.api.policy.AdapterWeight.PerComponent;
import io.lorica.api.policy.AdapterWeight.UnetBlocks;
import io.lorica.api.policy.AdapterWeight.Uniform;
import io.lorica.api.policy.AdapterWeight.WithOverrides;
import io.lorica.api.policy.EffectiveScales;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Diffusers' {@code set_adapters} weight expansion as a pure function: for every component, every module an active
 * adapter has and every active adapter, the scale {@code alpha/rank · w(layer) · callScale}
 * (lora-semantics §2.4 steps 5-6, §2.12, §3, §4.3).
 *
 * <h2>Weights</h2>
 * <ul>
 * <li>{@link Uniform}: that number on every layer of every component.</li>
 * <li>{@link PerComponent}: per component its number; a component it leaves out gets 1.0. A UNet block dict
 *     ({@link UnetBlocks}) is expanded as {@code _maybe_expand_lora_scales} does (§3.3), for the blocks of the
 *     family's UNet (SD 1.5: down 0, 1, 2 and up 1, 2, 3 have attentions; SDXL: down 1, 2 and up 0, 1; lists have
 *     {@code layers_per_block} = 2 entries for a down block and 3 for an up block): an absent {@code down}, {@code mid}
 *     or {@code up} means 1.0; a number for {@code down}/{@code up} applies to every attention of every block with
 *     attention; a {@code block_i} left out gets 1.0; a number or one-element list is replicated. Each layer then
 *     receives the value of its attention (§3.4): every layer inside {@code down_blocks.i.attentions.j}; resnet
 *     {@code j} of a block with attention that of attention {@code j}; the block's sampler that of attention 0;
 *     every layer of a block without attention and the mid-block resnets 1.0.</li>
 * <li>{@link BlockVector} (A1111 "LoRA Block Weight"): each UNet module gets {@code unetWeight · ratio(block)} with the
 *     block ids of {@link LbwBlocks} (resnets, attentions and samplers each by their own LDM id, {@code M00} the whole
 *     mid block, modules outside every block ratio 1); the text encoders get {@code teWeight · BASE}. Short vectors
 *     are expanded to 26 slots with the blocks they do not list at 0.</li>
 * <li>{@link WithOverrides}: per module the weight of the first override whose expression is found in the module
 *     path (and whose component, if any, matches); otherwise the base weight. Compiled patterns are cached.</li>
 * </ul>
 *
 * <h2>Deliberate deviations from Diffusers (lora-semantics §8.4)</h2>
 * <ol>
 * <li><b>Unknown blocks are rejected.</b> A {@code block_i} key for a block without attention or beyond the last
 *     block (SD 1.5 {@code down.block_3}, SDXL {@code down.block_0}, {@code block_7}, ...) throws an
 *     {@link IllegalArgumentException} naming the adapter, the key and the valid blocks; Diffusers silently ignores
 *     it (acceptance test A7).</li>
 * <li><b>Wrong list lengths</b> throw Diffusers' {@code "Expected {n} scales for {up|down}.block_{i}, got {m}."},
 *     followed by the adapter name, as an {@link IllegalArgumentException} (Diffusers: {@code ValueError}).</li>
 * <li><b>Layers outside every block</b> ({@code conv_in}, {@code conv_out}, {@code time_embedding.*},
 *     {@code add_embedding.*}) get 1.0 under a block dict; Diffusers crashes with {@code IndexError}.</li>
 * <li><b>A shared component dict applies to every adapter</b>: Diffusers applies a top-level dict shared by several
 *     adapters to the first one only and gives the others 1.0. Here each adapter's own {@link AdapterWeight} is used,
 *     so the same dict given to several adapters acts on each of them.</li>
 * <li><b>The call scale is functional</b>: {@code callScale} multiplies this result only. {@code callScale == 0}
 *     gives zero scales for this call and wipes nothing; Diffusers resets the stored weights to {@code alpha/r}
 *     after such a call.</li>
 * <li><b>Text encoders take numbers only</b> (block dicts for them are rejected when the {@link PerComponent} is
 *     built); Diffusers matches a dict against text-encoder layer names and falls back to 1.0.</li>
 * <li><b>Unknown adapter names</b> throw Diffusers' message {@code "Adapter name(s) {...} not in the list of present
 *     adapters: {...}."}; an adapter loaded for another family is rejected too.</li>
 * <li><b>Disabled settings</b> resolve to {@link EffectiveScales#empty()} without validating the weights.</li>
 * </ol>
 *
 * <p>Every (module, active adapter) pair gets an entry, also when its scale is 0 (a zero weight, an A1111 ratio of 0
 * or a call scale of 0), so the set of entries depends only on which adapters are active. {@code alpha/rank} is
 * computed in double precision ({@link LoraModule#scale()} semantics: 1 for full-delta modules), the product is
 * rounded to float once, and {@code -0.0} is normalised to {@code 0.0}. In the result, modules appear in the order
 * the active adapters first name them and adapters within a module in activation order.
 *
 * <p>Thread-safe: per-family lookup tables are built once and shared, per-call state stays on the calling thread.
 */
public final class ScaleExpander {

    private static final int PATTERN_CACHE_LIMIT = 1024;
    private static final Component[] COMPONENTS = Component.values();

    private static final int UNIFORM = 0;
    private static final int BY_ATTENTION = 1;
    private static final int BY_LBW_BLOCK = 2;

    private final ConcurrentHashMap<String, Pattern> patterns = new ConcurrentHashMap<>();

    /** An expander; instances are independent but may be shared freely. */
    public ScaleExpander() {
    }

    /**
     * The scale of every active adapter on every layer it has.
     *
     * @param settings the active adapters and their weights, the call scale and whether LoRA is enabled
     * @param loaded   the loaded adapters by name; must contain every active adapter
     * @param family   the pipeline's family, which fixes the UNet blocks
     * @return per component, module path and adapter {@code alpha/rank · w(layer) · callScale};
     *         {@link EffectiveScales#empty()} when the settings are disabled or name no adapter
     * @throws IllegalArgumentException when an argument is null, an active adapter is not loaded or was loaded for
     *                                  another family, a block dict names a block without attention or has a list of
     *                                  the wrong length, or a block weight vector's length is not one of the family's
     */
    public EffectiveScales expand(AdapterSettings settings, Map<String, LoraAdapter> loaded, ModelFamily family) {
        if (settings == null || loaded == null || family == null) {
            throw new IllegalArgumentException("settings, loaded adapters and family must not be null");
        }
        if (!settings.isEffective()) {
            return EffectiveScales.empty();
        }
        FamilyTable table = FamilyTable.of(family);
        Map<String, AdapterWeight> active = settings.adapters();
        int count = active.size();
        String[] names = new String[count];
        LoraAdapter[] adapters = new LoraAdapter[count];
        Plan[] plans = new Plan[count];
        List<String> missing = null;
        int i = 0;
        for (Map.Entry<String, AdapterWeight> entry : active.entrySet()) {
            String name = entry.getKey();
            LoraAdapter adapter = loaded.get(name);
            if (adapter == null) {
                if (missing == null) {
                    missing = new ArrayList<>();
                }
                missing.add(name);
            }
            names[i] = name;
            adapters[i] = adapter;
            i++;
        }
        if (missing != null) {
            throw new IllegalArgumentException("Adapter name(s) " + pythonSet(missing)
                    + " not in the list of present adapters: " + pythonSet(loaded.keySet()) + ".");
        }
        i = 0;
        for (AdapterWeight weight : active.values()) {
            if (adapters[i].family() != family) {
                throw new IllegalArgumentException("adapter '" + names[i] + "' was loaded for " + adapters[i].family()
                        + " but the pipeline is " + family);
            }
            plans[i] = plan(names[i], weight, table);
            i++;
        }

        double callScale = settings.callScale();
        EffectiveScales.Builder builder = EffectiveScales.builder();
        for (Component component : family.components()) {
            int ordinal = component.ordinal();
            for (int a = 0; a < count; a++) {
                Map<String, LoraModule> modules = adapters[a].modules(component);
                if (modules.isEmpty()) {
                    continue;
                }
                Plan plan = plans[a];
                int mode = plan.mode[ordinal];
                double value = plan.value[ordinal];
                double[] slots = plan.slots;
                Rule[] overrides = plan.overrides;
                String name = names[a];
                for (Map.Entry<String, LoraModule> entry : modules.entrySet()) {
                    String path = entry.getKey();
                    double w = overrides == null ? Double.NaN : override(overrides, component, path);
                    if (!Double.isNaN(w)) {
                        // the first matching override gives the weight
                    } else if (mode == UNIFORM) {
                        w = value;
                    } else {
                        FamilyTable.UnetModule where = table.unetModule(path);
                        if (mode == BY_ATTENTION) {
                            w = where.attentionSlot < 0 ? 1.0 : slots[where.attentionSlot];
                        } else {
                            w = where.lbwSlot < 0 ? value : value * slots[where.lbwSlot];
                        }
                    }
                    builder.put(component, path, name, scale(entry.getValue(), w, callScale));
                }
            }
        }
        return builder.build();
    }

    /** {@code alpha/rank · w · c} rounded once to float, {@code -0.0} as {@code 0.0}. */
    private static float scale(LoraModule module, double weight, double callScale) {
        double s0 = module.rank() == 0 ? 1.0 : (double) module.alpha() / module.rank();
        return (float) (s0 * weight * callScale) + 0.0f;
    }

    /** The weight of the first matching override, or NaN when none matches. */
    private static double override(Rule[] overrides, Component component, String path) {
        for (Rule candidate : overrides) {
            if ((candidate.component == null || candidate.component == component)
                    && candidate.matcher.reset(path).find()) {
                return candidate.weight;
            }
        }
        return Double.NaN;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Plans: one adapter's weight resolved against the family once per call

    /** Per component (by ordinal) how a module's weight is found, plus the slot table and overrides. */
    private static final class Plan {
        final int[] mode = new int[COMPONENTS.length];
        final double[] value = new double[COMPONENTS.length];
        /** Attention slots (BY_ATTENTION) or the 26 A1111 slots (BY_LBW_BLOCK) of the UNet. */
        double[] slots;
        /** Null when the weight has no overrides; matchers are confined to the calling thread. */
        Rule[] overrides;
    }

    private static final class Rule {
        final Component component;
        final Matcher matcher;
        final double weight;

        Rule(Component component, Matcher matcher, double weight) {
            this.component = component;
            this.matcher = matcher;
            this.weight = weight;
        }
    }

    private Plan plan(String adapter, AdapterWeight weight, FamilyTable table) {
        Plan plan = new Plan();
        AdapterWeight base = weight;
        if (weight instanceof WithOverrides withOverrides) {
            base = withOverrides.base();
            List<LayerOverride> list = withOverrides.overrides();
            plan.overrides = new Rule[list.size()];
            for (int i = 0; i < list.size(); i++) {
                LayerOverride o = list.get(i);
                plan.overrides[i] = new Rule(o.component().orElse(null), pattern(o.regex()).matcher(""),
                        o.weight());
            }
        }
        if (base instanceof Uniform uniform) {
            Arrays.fill(plan.value, uniform.value());
        } else if (base instanceof PerComponent perComponent) {
            for (Component component : table.family.components()) {
                ComponentWeight cw = perComponent.weightFor(component);
                if (cw instanceof Uniform uniform) {
                    plan.value[component.ordinal()] = uniform.value();
                } else {
                    // only the UNet can have a block dict (checked by PerComponent)
                    plan.mode[component.ordinal()] = BY_ATTENTION;
                    plan.slots = expandBlocks(adapter, (UnetBlocks) cw, table);
                }
            }
        } else if (base instanceof BlockVector vector) {
            int length = vector.ratios().size();
            if (!LbwBlocks.fits(table.family, length)) {
                throw new IllegalArgumentException("adapter '" + adapter + "': a block weight vector of " + length
                        + " ratios does not fit " + table.family + ", expected "
                        + (table.family == ModelFamily.SDXL ? "12 or 20 (17 and 26 are for SD15)"
                                : "17 or 26 (12 and 20 are for SDXL)"));
            }
            double[] ratios = LbwBlocks.to26(vector.ratios());
            for (Component component : table.family.components()) {
                plan.value[component.ordinal()] = component == Component.UNET
                        ? vector.unetWeight()
                        : vector.teWeight() * ratios[LbwBlocks.BASE];
            }
            plan.mode[Component.UNET.ordinal()] = BY_LBW_BLOCK;
            plan.slots = ratios;
        } else {
            throw new IllegalArgumentException("adapter '" + adapter + "': unsupported weight " + base);
        }
        return plan;
    }

    /** {@code _maybe_expand_lora_scales_for_one_adapter} into attention slots, with Lorica's stricter key check. */
    private static double[] expandBlocks(String adapter, UnetBlocks blocks, FamilyTable table) {
        double[] slots = new double[table.attentionCount];
        Arrays.fill(slots, 1.0);
        if (table.midSlot >= 0) {
            slots[table.midSlot] = blocks.mid().orElse(1.0);
        }
        // Diffusers handles "up" before "down"; keep that order for which error comes first
        blocks.up().ifPresent(part -> expandPart(adapter, "up", part, table.upSlots, table.validUp, table, slots));
        blocks.down().ifPresent(part -> expandPart(adapter, "down", part, table.downSlots, table.validDown, table,
                slots));
        return slots;
    }

    private static void expandPart(String adapter, String updown, BlockPart part, int[][] blockSlots, String valid,
            FamilyTable table, double[] slots) {
        if (part instanceof Uniform uniform) {
            for (int[] block : blockSlots) {
                if (block != null) {
                    for (int slot : block) {
                        slots[slot] = uniform.value();
                    }
                }
            }
            return;
        }
        for (Map.Entry<String, List<Double>> entry : ((PerBlock) part).blocks().entrySet()) {
            String key = entry.getKey();
            int index = blockIndex(key);
            int[] block = index >= 0 && index < blockSlots.length ? blockSlots[index] : null;
            if (block == null) {
                throw new IllegalArgumentException("adapter '" + adapter + "': unet weight key " + updown + "." + key
                        + " names no " + updown + " block with attentions in the " + table.family
                        + " UNet; valid keys for " + updown + " are " + valid
                        + " (Diffusers silently ignores such keys, Lorica rejects them)");
            }
            List<Double> values = entry.getValue();
            if (values.size() == 1) {
                double v = values.get(0);
                for (int slot : block) {
                    slots[slot] = v;
                }
            } else if (values.size() == block.length) {
                for (int j = 0; j < block.length; j++) {
                    slots[block[j]] = values.get(j);
                }
            } else {
                throw new IllegalArgumentException("Expected " + block.length + " scales for " + updown + "."
                        + key + ", got " + values.size() + ". (adapter '" + adapter + "')");
            }
        }
    }

    /** i of "block_i" (the key syntax is checked by {@link PerBlock}); -1 when it does not parse. */
    private static int blockIndex(String key) {
        try {
            return Integer.parseInt(key.substring("block_".length()));
        } catch (RuntimeException e) {
            return -1;
        }
    }

    private Pattern pattern(String regex) {
        Pattern pattern = patterns.get(regex);
        if (pattern == null) {
            if (patterns.size() >= PATTERN_CACHE_LIMIT) {
                patterns.clear();
            }
            pattern = patterns.computeIfAbsent(regex, Pattern::compile);
        }
        return pattern;
    }

    private static String pythonSet(java.util.Collection<String> names) {
        return names.stream().map(n -> "'" + n + "'").collect(Collectors.joining(", ", "{", "}"));
    }
}
