package io.lorica.loader.format;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.format.ConversionContext;
import io.lorica.api.format.ModuleCatalog;

import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Module catalogs with the real SD 1.5 / SDXL module paths (§6 of the LoRA semantics reference: 282 and 794 UNet
 * modules) but tiny geometries: every block width 8, cross-attention 12 (SD 1.5) / 20 (SDXL), time embedding 16;
 * SD 1.5 {@code proj_in/out} are 1×1 convolutions, SDXL's are linear. Text encoders have 2 layers (hidden 8, MLP 16;
 * {@code text_encoder_2}: hidden 10, MLP 20, plus {@code text_projection}).
 */
final class TinyModels {

    static final int D = 8;
    static final int SD15_CROSS = 12;
    static final int SDXL_CROSS = 20;
    static final int TIME = 16;

    private TinyModels() {
    }

    static ModuleCatalog sd15() {
        Map<Component, Map<String, LayerGeometry>> modules = new EnumMap<>(Component.class);
        Map<String, LayerGeometry> unet = new LinkedHashMap<>();
        top(unet, false);
        int[] downTb = {1, 1, 1, 0};
        for (int b = 0; b < 4; b++) {
            for (int i = 0; i < 2; i++) {
                resnet(unet, "down_blocks." + b + ".resnets." + i, i == 0 && (b == 1 || b == 2));
                if (downTb[b] > 0) {
                    attention(unet, "down_blocks." + b + ".attentions." + i, downTb[b], false, SD15_CROSS);
                }
            }
            if (b < 3) {
                unet.put("down_blocks." + b + ".downsamplers.0.conv", LayerGeometry.conv(D, D, 3, 2, 1));
            }
        }
        resnet(unet, "mid_block.resnets.0", false);
        attention(unet, "mid_block.attentions.0", 1, false, SD15_CROSS);
        resnet(unet, "mid_block.resnets.1", false);
        int[] upTb = {0, 1, 1, 1};
        for (int b = 0; b < 4; b++) {
            for (int i = 0; i < 3; i++) {
                resnet(unet, "up_blocks." + b + ".resnets." + i, true);
                if (upTb[b] > 0) {
                    attention(unet, "up_blocks." + b + ".attentions." + i, upTb[b], false, SD15_CROSS);
                }
            }
            if (b < 3) {
                unet.put("up_blocks." + b + ".upsamplers.0.conv", LayerGeometry.conv(D, D, 3, 1, 1));
            }
        }
        modules.put(Component.UNET, unet);
        modules.put(Component.TEXT_ENCODER, clip(8, 16, false));
        return ModuleCatalog.of(ModelFamily.SD15, modules);
    }

    static ModuleCatalog sdxl() {
        Map<Component, Map<String, LayerGeometry>> modules = new EnumMap<>(Component.class);
        Map<String, LayerGeometry> unet = new LinkedHashMap<>();
        top(unet, true);
        int[] downTb = {0, 2, 10};
        for (int b = 0; b < 3; b++) {
            for (int i = 0; i < 2; i++) {
                resnet(unet, "down_blocks." + b + ".resnets." + i, i == 0 && b > 0);
                if (downTb[b] > 0) {
                    attention(unet, "down_blocks." + b + ".attentions." + i, downTb[b], true, SDXL_CROSS);
                }
            }
            if (b < 2) {
                unet.put("down_blocks." + b + ".downsamplers.0.conv", LayerGeometry.conv(D, D, 3, 2, 1));
            }
        }
        resnet(unet, "mid_block.resnets.0", false);
        attention(unet, "mid_block.attentions.0", 10, true, SDXL_CROSS);
        resnet(unet, "mid_block.resnets.1", false);
        int[] upTb = {10, 2, 0};
        for (int b = 0; b < 3; b++) {
            for (int i = 0; i < 3; i++) {
                resnet(unet, "up_blocks." + b + ".resnets." + i, true);
                if (upTb[b] > 0) {
                    attention(unet, "up_blocks." + b + ".attentions." + i, upTb[b], true, SDXL_CROSS);
                }
            }
            if (b < 2) {
                unet.put("up_blocks." + b + ".upsamplers.0.conv", LayerGeometry.conv(D, D, 3, 1, 1));
            }
        }
        modules.put(Component.UNET, unet);
        modules.put(Component.TEXT_ENCODER, clip(8, 16, false));
        modules.put(Component.TEXT_ENCODER_2, clip(10, 20, true));
        return ModuleCatalog.of(ModelFamily.SDXL, modules);
    }

    static ConversionContext context(ModuleCatalog catalog) {
        return new ConversionContext(catalog.family(), catalog);
    }

    /** A catalog of just the given modules (e.g. tiny 2x2 layers at real paths for hand-computed tests). */
    static ModuleCatalog of(ModelFamily family, Component component, Map<String, LayerGeometry> modules) {
        return ModuleCatalog.of(family, Map.of(component, modules));
    }

    private static void top(Map<String, LayerGeometry> unet, boolean sdxl) {
        unet.put("conv_in", LayerGeometry.conv(4, D, 3, 1, 1));
        unet.put("time_embedding.linear_1", LayerGeometry.linear(D, TIME));
        unet.put("time_embedding.linear_2", LayerGeometry.linear(TIME, TIME));
        if (sdxl) {
            unet.put("add_embedding.linear_1", LayerGeometry.linear(24, TIME));
            unet.put("add_embedding.linear_2", LayerGeometry.linear(TIME, TIME));
        }
        unet.put("conv_out", LayerGeometry.conv(D, 4, 3, 1, 1));
    }

    private static void resnet(Map<String, LayerGeometry> unet, String prefix, boolean shortcut) {
        unet.put(prefix + ".conv1", LayerGeometry.conv(D, D, 3, 1, 1));
        unet.put(prefix + ".time_emb_proj", LayerGeometry.linear(TIME, D));
        unet.put(prefix + ".conv2", LayerGeometry.conv(D, D, 3, 1, 1));
        if (shortcut) {
            unet.put(prefix + ".conv_shortcut", LayerGeometry.conv(D, D, 1, 1, 0));
        }
    }

    private static void attention(Map<String, LayerGeometry> unet, String prefix, int blocks, boolean linearProj,
            int cross) {
        LayerGeometry proj = linearProj ? LayerGeometry.linear(D, D) : LayerGeometry.conv(D, D, 1, 1, 0);
        unet.put(prefix + ".proj_in", proj);
        for (int t = 0; t < blocks; t++) {
            String tb = prefix + ".transformer_blocks." + t;
            for (String attn : new String[] {"attn1", "attn2"}) {
                int in = attn.equals("attn2") ? cross : D;
                unet.put(tb + "." + attn + ".to_q", LayerGeometry.linear(D, D));
                unet.put(tb + "." + attn + ".to_k", LayerGeometry.linear(in, D));
                unet.put(tb + "." + attn + ".to_v", LayerGeometry.linear(in, D));
                unet.put(tb + "." + attn + ".to_out.0", LayerGeometry.linear(D, D));
            }
            unet.put(tb + ".ff.net.0.proj", LayerGeometry.linear(D, 2 * D));
            unet.put(tb + ".ff.net.2", LayerGeometry.linear(D, D));
        }
        unet.put(prefix + ".proj_out", proj);
    }

    private static Map<String, LayerGeometry> clip(int hidden, int mlp, boolean projection) {
        Map<String, LayerGeometry> te = new LinkedHashMap<>();
        for (int layer = 0; layer < 2; layer++) {
            String p = "text_model.encoder.layers." + layer + ".";
            for (String proj : new String[] {"q_proj", "k_proj", "v_proj", "out_proj"}) {
                te.put(p + "self_attn." + proj, LayerGeometry.linear(hidden, hidden));
            }
            te.put(p + "mlp.fc1", LayerGeometry.linear(hidden, mlp));
            te.put(p + "mlp.fc2", LayerGeometry.linear(mlp, hidden));
        }
        if (projection) {
            te.put("text_projection", LayerGeometry.linear(hidden, hidden));
        }
        return te;
    }

    // ------------------------------------------------------------------------- Diffusers -> LDM (test-side inverse)

    private static final Pattern DOWN = Pattern.compile("down_blocks\\.(\\d+)\\.(resnets|attentions|downsamplers)\\.(\\d+)\\.(.+)");
    private static final Pattern UP = Pattern.compile("up_blocks\\.(\\d+)\\.(resnets|attentions|upsamplers)\\.(\\d+)\\.(.+)");
    private static final Pattern MID = Pattern.compile("mid_block\\.(resnets|attentions)\\.(\\d+)\\.(.+)");

    /**
     * The LDM name of a Diffusers UNet path, written independently of {@link LdmUnetNames} (the inverse direction), to
     * round-trip every module of the tiny catalogs.
     */
    static String toLdm(ModelFamily family, String path) {
        Set<Integer> upAttention = family == ModelFamily.SD15 ? Set.of(1, 2, 3) : Set.of(0, 1);
        switch (path) {
            case "conv_in": return "input_blocks.0.0";
            case "conv_out": return "out.2";
            case "time_embedding.linear_1": return "time_embed.0";
            case "time_embedding.linear_2": return "time_embed.2";
            case "add_embedding.linear_1": return "label_emb.0.0";
            case "add_embedding.linear_2": return "label_emb.0.2";
            default: break;
        }
        Matcher m = DOWN.matcher(path);
        if (m.matches()) {
            int b = Integer.parseInt(m.group(1));
            int i = Integer.parseInt(m.group(3));
            return switch (m.group(2)) {
                case "resnets" -> "input_blocks." + (3 * b + i + 1) + ".0." + ldmResnet(m.group(4));
                case "attentions" -> "input_blocks." + (3 * b + i + 1) + ".1." + m.group(4);
                default -> "input_blocks." + (3 * b + 3) + ".0.op";
            };
        }
        m = UP.matcher(path);
        if (m.matches()) {
            int b = Integer.parseInt(m.group(1));
            int i = Integer.parseInt(m.group(3));
            return switch (m.group(2)) {
                case "resnets" -> "output_blocks." + (3 * b + i) + ".0." + ldmResnet(m.group(4));
                case "attentions" -> "output_blocks." + (3 * b + i) + ".1." + m.group(4);
                default -> "output_blocks." + (3 * b + 2) + "." + (upAttention.contains(b) ? 2 : 1) + ".conv";
            };
        }
        m = MID.matcher(path);
        if (m.matches()) {
            if (m.group(1).equals("attentions")) {
                return "middle_block.1." + m.group(3);
            }
            return "middle_block." + (m.group(2).equals("0") ? 0 : 2) + "." + ldmResnet(m.group(3));
        }
        throw new IllegalArgumentException("no LDM name for " + path);
    }

    private static String ldmResnet(String sub) {
        return switch (sub) {
            case "conv1" -> "in_layers.2";
            case "time_emb_proj" -> "emb_layers.1";
            case "conv2" -> "out_layers.3";
            case "conv_shortcut" -> "skip_connection";
            default -> throw new IllegalArgumentException("not a resnet layer: " + sub);
        };
    }
}
