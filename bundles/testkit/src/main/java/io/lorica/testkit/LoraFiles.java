package io.lorica.testkit;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.format.ModuleCatalog;
import io.lorica.testkit.internal.Configs;
import io.lorica.testkit.internal.SafetensorsWriter;
import io.lorica.testkit.internal.SeededRandom;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.math.BigDecimal;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Writes random LoRA safetensors files for the modules of a pipeline (by default one written by
 * {@link PipelineWriter}, whose geometry they fit), in the key grammar the Lorica loader reads
 * ({@code io.lorica.loader.format.DiffusersFormat} and {@code KohyaFormat}):
 *
 * <ul>
 * <li>{@link LoraFormat#DIFFUSERS}: {@code unet.down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.lora_A.weight}
 *     {@code [r, in]}, {@code ….lora_B.weight} {@code [out, r]} (convolutions {@code [r, in, kh, kw]} and
 *     {@code [out, r, 1, 1]}), {@code text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight}, …;
 *     metadata {@code format = pt} and {@code lora_adapter_metadata} = JSON of the PEFT config per component
 *     ({@code "unet.r"}, {@code "unet.lora_alpha"}, {@code "unet.target_modules"}, …), as Diffusers'
 *     {@code save_lora_weights} writes it.</li>
 * <li>{@link LoraFormat#KOHYA}: {@code lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight},
 *     {@code ….lora_up.weight} and a scalar {@code ….alpha} of the file's dtype; text encoders
 *     {@code lora_te_text_model_encoder_layers_0_self_attn_q_proj…} (SD 1.5) or {@code lora_te1_…} / {@code lora_te2_…}
 *     (SDXL); metadata {@code ss_network_module}, {@code ss_network_dim}, {@code ss_network_alpha},
 *     {@code ss_base_model_version}.</li>
 * </ul>
 * The same spec and catalog always give byte-identical files.
 */
public final class LoraFiles {

    private static final ObjectMapper JSON = new ObjectMapper();

    private LoraFiles() {
    }

    /** Writes a LoRA for the pipeline {@code pipeline}. */
    public static LoraFile write(WrittenPipeline pipeline, Path file, LoraSpec spec) {
        if (pipeline == null) {
            throw new IllegalArgumentException("pipeline must not be null");
        }
        return write(pipeline.catalog(), file, spec);
    }

    /**
     * Writes a LoRA for the pipeline in {@code pipelineDirectory}, sized from its configs ({@link PipelineSpec#read});
     * for a folder holding only {@code unet/} ({@link PipelineWriter#writeUnet}), for its UNet.
     *
     * @throws IllegalArgumentException when the folder was not written by the test kit, or as {@link #write(ModuleCatalog,
     *                                  Path, LoraSpec)}
     */
    public static LoraFile write(Path pipelineDirectory, Path file, LoraSpec spec) {
        return write(Configs.readCatalog(pipelineDirectory), file, spec);
    }

    /**
     * Writes a LoRA for the modules of {@code catalog} that {@code spec.targets()} selects.
     *
     * @throws IllegalArgumentException when an argument is null or no module is selected
     * @throws java.io.UncheckedIOException when the file cannot be written
     */
    public static LoraFile write(ModuleCatalog catalog, Path file, LoraSpec spec) {
        if (catalog == null || file == null || spec == null) {
            throw new IllegalArgumentException("catalog, file and spec must not be null");
        }
        ModelFamily family = catalog.family();
        List<SafetensorsWriter.Tensor> tensors = new ArrayList<>();
        Map<Component, List<String>> selected = new EnumMap<>(Component.class);
        for (Component component : family.components()) {
            for (Map.Entry<String, LayerGeometry> entry : catalog.modules(component).entrySet()) {
                String path = entry.getKey();
                if (!spec.targets().test(component, path)) {
                    continue;
                }
                selected.computeIfAbsent(component, c -> new ArrayList<>()).add(path);
                LayerGeometry g = entry.getValue();
                SeededRandom random = SeededRandom.forKey(spec.seed(), component.id() + "/" + path);
                int fanIn = g.inFeatures() * g.kernelHeight() * g.kernelWidth();
                float[] a = gaussian(random, spec.rank() * fanIn, 1 / Math.sqrt(fanIn));
                float[] b = gaussian(random, g.outFeatures() * spec.rank(), spec.strength());
                if (spec.format() == LoraFormat.DIFFUSERS) {
                    String key = component.id() + "." + path;
                    tensors.add(new SafetensorsWriter.Tensor(key + ".lora_A.weight", spec.dtype(),
                            g.aShape(spec.rank()), a));
                    tensors.add(new SafetensorsWriter.Tensor(key + ".lora_B.weight", spec.dtype(),
                            g.bShape(spec.rank()), b));
                } else {
                    String key = kohyaPrefix(family, component) + path.replace('.', '_');
                    tensors.add(new SafetensorsWriter.Tensor(key + ".lora_down.weight", spec.dtype(),
                            g.aShape(spec.rank()), a));
                    tensors.add(new SafetensorsWriter.Tensor(key + ".lora_up.weight", spec.dtype(),
                            g.bShape(spec.rank()), b));
                    tensors.add(new SafetensorsWriter.Tensor(key + ".alpha", spec.dtype(), new long[0],
                            new float[] {spec.alpha()}));
                }
            }
        }
        if (selected.isEmpty()) {
            throw new IllegalArgumentException("the LoRA targets select none of the " + family + " catalog's modules "
                    + "(e.g. " + catalog.modules(Component.UNET).keySet().stream().findFirst().orElse("none")
                    + "), expected a predicate that accepts at least one");
        }
        Map<String, String> metadata = spec.format() == LoraFormat.DIFFUSERS
                ? diffusersMetadata(spec, selected)
                : kohyaMetadata(spec, family);
        long bytes = SafetensorsWriter.write(file, metadata, tensors);
        return new LoraFile(file, spec, selected, tensors.size(), bytes);
    }

    /** The kohya key prefix of {@code component}: {@code lora_unet_}, {@code lora_te_} / {@code lora_te1_}, {@code lora_te2_}. */
    public static String kohyaPrefix(ModelFamily family, Component component) {
        return switch (family.requireComponent(component)) {
            case UNET -> "lora_unet_";
            case TEXT_ENCODER -> family == ModelFamily.SDXL ? "lora_te1_" : "lora_te_";
            case TEXT_ENCODER_2 -> "lora_te2_";
        };
    }

    private static Map<String, String> diffusersMetadata(LoraSpec spec, Map<Component, List<String>> selected) {
        Map<String, Object> config = new TreeMap<>();
        selected.forEach((component, paths) -> {
            String p = component.id() + ".";
            config.put(p + "r", spec.rank());
            config.put(p + "lora_alpha", new BigDecimal(Float.toString(spec.alpha())));
            config.put(p + "target_modules", paths.stream().sorted().toList());
            config.put(p + "peft_type", "LORA");
            config.put(p + "bias", "none");
            config.put(p + "lora_dropout", new BigDecimal("0.0"));
            config.put(p + "use_dora", false);
            config.put(p + "use_rslora", false);
            config.put(p + "init_lora_weights", true);
            config.put(p + "rank_pattern", Map.of());
            config.put(p + "alpha_pattern", Map.of());
        });
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("format", "pt");
        try {
            metadata.put("lora_adapter_metadata", JSON.writeValueAsString(config));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise the LoRA config", e);
        }
        return metadata;
    }

    private static Map<String, String> kohyaMetadata(LoraSpec spec, ModelFamily family) {
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("ss_base_model_version", family == ModelFamily.SDXL ? "sdxl_base_v1-0" : "sd_v1");
        metadata.put("ss_network_alpha", Float.toString(spec.alpha()));
        metadata.put("ss_network_dim", Integer.toString(spec.rank()));
        metadata.put("ss_network_module", "networks.lora");
        metadata.put("ss_output_name", "lorica_testkit_seed_" + spec.seed());
        return metadata;
    }

    private static float[] gaussian(SeededRandom random, int n, double deviation) {
        float[] values = new float[n];
        for (int i = 0; i < n; i++) {
            values[i] = (float) (random.nextGaussian() * deviation);
        }
        return values;
    }
}
