package io.lorica.policy.registry;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.TensorData;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LoadReport;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.adapter.LoraModule;
import io.lorica.models.ReferenceModels;

import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Tiny rank-1 adapters on real module paths of the reference models. */
final class TestAdapters {

    static final String UNET_Q = "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q";
    static final String UNET_K = "mid_block.attentions.0.transformer_blocks.0.attn2.to_k";
    static final String TE_Q = "text_model.encoder.layers.0.self_attn.q_proj";
    static final String TE_FC1 = "text_model.encoder.layers.11.mlp.fc1";

    private TestAdapters() {
    }

    /** An adapter with one rank-1 module per listed path of each listed component. */
    static LoraAdapter adapter(ModelFamily family, Map<Component, List<String>> paths) {
        Map<Component, Map<String, LoraModule>> modules = new EnumMap<>(Component.class);
        paths.forEach((component, list) -> {
            Map<String, LoraModule> perPath = new LinkedHashMap<>();
            for (String path : list) {
                LayerGeometry geometry = ReferenceModels.catalog(family).geometry(component, path).orElseThrow(
                        () -> new AssertionError("no module " + component + "/" + path + " in " + family));
                perPath.put(path, LoraModule.of(component, path, geometry, 1f, filled(geometry.aShape(1)),
                        filled(geometry.bShape(1))));
            }
            modules.put(component, perPath);
        });
        return new LoraAdapter("test", family, modules, Map.of("ss_network_dim", "1"), LoadReport.empty());
    }

    /** An adapter on the UNet only. */
    static LoraAdapter unet(ModelFamily family) {
        return adapter(family, Map.of(Component.UNET, List.of(UNET_Q, UNET_K)));
    }

    /** An adapter on the UNet and the first text encoder. */
    static LoraAdapter unetAndTe(ModelFamily family) {
        return adapter(family, Map.of(Component.UNET, List.of(UNET_Q), Component.TEXT_ENCODER, List.of(TE_Q, TE_FC1)));
    }

    /** An adapter on the text encoders only (both of them for SDXL). */
    static LoraAdapter textEncoders(ModelFamily family) {
        Map<Component, List<String>> paths = new EnumMap<>(Component.class);
        paths.put(Component.TEXT_ENCODER, List.of(TE_Q));
        if (family == ModelFamily.SDXL) {
            paths.put(Component.TEXT_ENCODER_2, List.of(TE_Q, "text_projection"));
        }
        return adapter(family, paths);
    }

    /** An adapter on every component of the family. */
    static LoraAdapter everywhere(ModelFamily family) {
        Map<Component, List<String>> paths = new EnumMap<>(Component.class);
        paths.put(Component.UNET, List.of(UNET_Q));
        paths.put(Component.TEXT_ENCODER, List.of(TE_Q));
        if (family == ModelFamily.SDXL) {
            paths.put(Component.TEXT_ENCODER_2, List.of(TE_Q));
        }
        return adapter(family, paths);
    }

    /** An adapter without modules (a file with nothing for this model). */
    static LoraAdapter empty(ModelFamily family) {
        return new LoraAdapter("test", family, Map.of(), Map.of(), LoadReport.empty());
    }

    private static TensorData filled(long[] shape) {
        int count = 1;
        for (long d : shape) {
            count *= (int) d;
        }
        float[] values = new float[count];
        for (int i = 0; i < count; i++) {
            values[i] = (i % 7) * 0.01f;
        }
        return TensorData.ofFloats(shape, values);
    }
}
