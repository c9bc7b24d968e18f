package io.lorica.models;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.format.ModuleCatalog;

import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The built-in module catalogs of the standard models: every Linear and Conv2d a LoRA can target in SD 1.5 and SDXL
 * base, by Diffusers module path, with exact geometry, in model order (the order of {@code named_modules()}).
 *
 * <ul>
 * <li>{@code unet}: 282 modules for SD 1.5, 794 for SDXL: in every attention {@code proj_in}/{@code proj_out}
 *     (Conv2d 1x1 in SD 1.5, Linear in SDXL) and per inner transformer block {@code attn1}/{@code attn2}
 *     {@code to_q}, {@code to_k}, {@code to_v}, {@code to_out.0} ({@code attn2.to_k}/{@code to_v} read the
 *     cross-attention dim 768 / 2048), {@code ff.net.0.proj} (GEGLU, {@code d -> 8d}) and {@code ff.net.2}
 *     ({@code 4d -> d}); in every resnet {@code conv1}, {@code time_emb_proj}, {@code conv2} and, where input and
 *     output channels differ, {@code conv_shortcut}; the samplers' {@code conv}; {@code conv_in}, {@code conv_out},
 *     {@code time_embedding.linear_1/2} and for SDXL {@code add_embedding.linear_1/2}.</li>
 * <li>{@code text_encoder} (CLIP ViT-L/14, both families): 12 layers x {@code self_attn.{k,v,q,out}_proj},
 *     {@code mlp.fc1}, {@code mlp.fc2} under {@code text_model.encoder.layers.N.}: 72 modules.</li>
 * <li>{@code text_encoder_2} (SDXL, OpenCLIP bigG with projection): 32 such layers at width 1280 plus
 *     {@code text_projection}: 193 modules.</li>
 * </ul>
 *
 * <p>Catalogs are built once per family on first use (thread-safe) and are immutable; every lookup, the flat
 * (kohya) name included, is a hash-map access.
 */
public final class ReferenceModels {

    private static final int LATENT_CHANNELS = 4;

    private ReferenceModels() {
    }

    /**
     * The catalog of the standard model of {@code family}; the same instance on every call.
     *
     * @throws IllegalArgumentException when {@code family} is null
     */
    public static ModuleCatalog catalog(ModelFamily family) {
        return reference(family);
    }

    /**
     * The module path of {@code component} whose dots-to-underscores form is {@code flatName}, as in kohya's
     * {@code down_blocks_0_attentions_0_proj_in} or {@code text_model_encoder_layers_0_mlp_fc1} (prefix such as
     * {@code lora_unet_} / {@code lora_te1_} already removed). Flat names of the reference models are unambiguous.
     *
     * @return the path, empty when the model has no such module
     * @throws IllegalArgumentException when an argument is null or {@code component} is not part of {@code family}
     */
    public static Optional<String> resolveFlat(ModelFamily family, Component component, String flatName) {
        ReferenceCatalog catalog = reference(family);
        if (component == null) {
            throw new IllegalArgumentException("component must not be null, expected one of " + family.components());
        }
        family.requireComponent(component);
        return catalog.resolveFlatName(component, flatName);
    }

    private static ReferenceCatalog reference(ModelFamily family) {
        if (family == null) {
            throw new IllegalArgumentException("model family must not be null, expected one of "
                    + List.of(ModelFamily.values()));
        }
        return switch (family) {
            case SD15 -> Sd15.CATALOG;
            case SDXL -> Sdxl.CATALOG;
        };
    }

    /** Holder: built on first access to SD 1.5 (class initialisation is thread-safe and happens once). */
    private static final class Sd15 {
        static final ReferenceCatalog CATALOG = build(ModelFamily.SD15);
    }

    /** Holder: built on first access to SDXL. */
    private static final class Sdxl {
        static final ReferenceCatalog CATALOG = build(ModelFamily.SDXL);
    }

    private static ReferenceCatalog build(ModelFamily family) {
        Map<Component, Map<String, LayerGeometry>> modules = new EnumMap<>(Component.class);
        boolean xl = family == ModelFamily.SDXL;
        UnetSpec unet = xl
                ? new UnetSpec(new int[] {320, 640, 1280}, 2048, true, 2816)
                : new UnetSpec(new int[] {320, 640, 1280, 1280}, 768, false, 0);
        modules.put(Component.UNET, unet(UnetLayout.of(family), unet));
        modules.put(Component.TEXT_ENCODER, textEncoder(12, 768, 3072, false));
        if (xl) {
            modules.put(Component.TEXT_ENCODER_2, textEncoder(32, 1280, 5120, true));
        }
        return new ReferenceCatalog(family, modules);
    }

    /**
     * The channel facts of a UNet config besides its layout.
     *
     * @param blockOutChannels      Diffusers {@code block_out_channels}
     * @param crossAttentionDim     {@code cross_attention_dim}
     * @param linearProjection      {@code use_linear_projection}: proj_in/out are Linear (else Conv2d 1x1)
     * @param addEmbeddingInput     input features of {@code add_embedding.linear_1}; 0 when there is none
     */
    private record UnetSpec(int[] blockOutChannels, int crossAttentionDim, boolean linearProjection,
            int addEmbeddingInput) {
    }

    /** Mirrors {@code UNet2DConditionModel.__init__}: conv_in, embeddings, down blocks, up blocks, mid block, conv_out. */
    private static Map<String, LayerGeometry> unet(UnetLayout layout, UnetSpec spec) {
        Modules m = new Modules();
        int[] channels = spec.blockOutChannels();
        int blocks = channels.length;
        int timeEmbedDim = channels[0] * 4;
        m.add("conv_in", LayerGeometry.conv(LATENT_CHANNELS, channels[0], 3, 1, 1));
        m.add("time_embedding.linear_1", LayerGeometry.linear(channels[0], timeEmbedDim));
        m.add("time_embedding.linear_2", LayerGeometry.linear(timeEmbedDim, timeEmbedDim));
        if (spec.addEmbeddingInput() > 0) {
            m.add("add_embedding.linear_1", LayerGeometry.linear(spec.addEmbeddingInput(), timeEmbedDim));
            m.add("add_embedding.linear_2", LayerGeometry.linear(timeEmbedDim, timeEmbedDim));
        }

        int output = channels[0];
        for (int i = 0; i < blocks; i++) {
            int input = output;
            output = channels[i];
            String block = "down_blocks." + i;
            int depth = layout.downTransformerDepths().get(i);
            int layers = layout.attentionsPerDownBlock();
            if (depth > 0) {
                for (int j = 0; j < layers; j++) {
                    attention(m, block + ".attentions." + j, output, depth, spec);
                }
            }
            for (int j = 0; j < layers; j++) {
                resnet(m, block + ".resnets." + j, j == 0 ? input : output, output, timeEmbedDim);
            }
            if (i < blocks - 1) {
                m.add(block + ".downsamplers.0.conv", LayerGeometry.conv(output, output, 3, 2, 1));
            }
        }

        output = channels[blocks - 1];
        for (int i = 0; i < blocks; i++) {
            int previousOutput = output;
            output = channels[blocks - 1 - i];
            int input = channels[Math.max(blocks - 2 - i, 0)];
            String block = "up_blocks." + i;
            int depth = layout.upTransformerDepths().get(i);
            int layers = layout.attentionsPerUpBlock();
            if (depth > 0) {
                for (int j = 0; j < layers; j++) {
                    attention(m, block + ".attentions." + j, output, depth, spec);
                }
            }
            for (int j = 0; j < layers; j++) {
                int skip = j == layers - 1 ? input : output;
                int resnetInput = j == 0 ? previousOutput : output;
                resnet(m, block + ".resnets." + j, resnetInput + skip, output, timeEmbedDim);
            }
            if (i < blocks - 1) {
                m.add(block + ".upsamplers.0.conv", LayerGeometry.conv(output, output, 3, 1, 1));
            }
        }

        int mid = channels[blocks - 1];
        if (layout.midHasAttention()) {
            attention(m, "mid_block.attentions.0", mid, layout.midTransformerDepth(), spec);
        }
        resnet(m, "mid_block.resnets.0", mid, mid, timeEmbedDim);
        resnet(m, "mid_block.resnets.1", mid, mid, timeEmbedDim);

        m.add("conv_out", LayerGeometry.conv(channels[0], LATENT_CHANNELS, 3, 1, 1));
        return m.paths;
    }

    /** A {@code Transformer2DModel} of width {@code d}: proj_in, the inner transformer blocks, proj_out. */
    private static void attention(Modules m, String prefix, int d, int depth, UnetSpec spec) {
        LayerGeometry projection = spec.linearProjection()
                ? LayerGeometry.linear(d, d)
                : LayerGeometry.conv(d, d, 1, 1, 0);
        LayerGeometry square = LayerGeometry.linear(d, d);
        LayerGeometry cross = LayerGeometry.linear(spec.crossAttentionDim(), d);
        m.add(prefix + ".proj_in", projection);
        for (int t = 0; t < depth; t++) {
            String block = prefix + ".transformer_blocks." + t;
            m.add(block + ".attn1.to_q", square);
            m.add(block + ".attn1.to_k", square);
            m.add(block + ".attn1.to_v", square);
            m.add(block + ".attn1.to_out.0", square);
            m.add(block + ".attn2.to_q", square);
            m.add(block + ".attn2.to_k", cross);
            m.add(block + ".attn2.to_v", cross);
            m.add(block + ".attn2.to_out.0", square);
            m.add(block + ".ff.net.0.proj", LayerGeometry.linear(d, 8 * d));
            m.add(block + ".ff.net.2", LayerGeometry.linear(4 * d, d));
        }
        m.add(prefix + ".proj_out", projection);
    }

    /** A {@code ResnetBlock2D}: conv1, time_emb_proj, conv2 and conv_shortcut when the channels change. */
    private static void resnet(Modules m, String prefix, int in, int out, int timeEmbedDim) {
        m.add(prefix + ".conv1", LayerGeometry.conv(in, out, 3, 1, 1));
        m.add(prefix + ".time_emb_proj", LayerGeometry.linear(timeEmbedDim, out));
        m.add(prefix + ".conv2", LayerGeometry.conv(out, out, 3, 1, 1));
        if (in != out) {
            m.add(prefix + ".conv_shortcut", LayerGeometry.conv(in, out, 1, 1, 0));
        }
    }

    /** A CLIP text transformer; {@code projection}: {@code CLIPTextModelWithProjection}'s text_projection. */
    private static Map<String, LayerGeometry> textEncoder(int layers, int hidden, int mlp, boolean projection) {
        Modules m = new Modules();
        LayerGeometry square = LayerGeometry.linear(hidden, hidden);
        LayerGeometry fc1 = LayerGeometry.linear(hidden, mlp);
        LayerGeometry fc2 = LayerGeometry.linear(mlp, hidden);
        for (int i = 0; i < layers; i++) {
            String layer = "text_model.encoder.layers." + i;
            m.add(layer + ".self_attn.k_proj", square);
            m.add(layer + ".self_attn.v_proj", square);
            m.add(layer + ".self_attn.q_proj", square);
            m.add(layer + ".self_attn.out_proj", square);
            m.add(layer + ".mlp.fc1", fc1);
            m.add(layer + ".mlp.fc2", fc2);
        }
        if (projection) {
            m.add("text_projection", square);
        }
        return m.paths;
    }

    /** Insertion-ordered module list that rejects duplicates (a table bug). */
    private static final class Modules {
        final Map<String, LayerGeometry> paths = new LinkedHashMap<>();

        void add(String path, LayerGeometry geometry) {
            if (paths.put(path, geometry) != null) {
                throw new IllegalStateException("duplicate module path " + path);
            }
        }
    }
}
