package io.lorica.testkit;

import io.lorica.api.adapter.LayerGeometry;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The size of a CLIP text transformer ({@code CLIPTextModel}, or {@code CLIPTextModelWithProjection} when
 * {@code projectionDim > 0}): token and position embeddings, {@code layers} pre-LN encoder layers with causal
 * multi-head self-attention and an MLP, {@code final_layer_norm}. The sequence length is 77; the vocabulary is the
 * pipeline's tokenizer's.
 *
 * @param hiddenSize         {@code hidden_size}, divisible by {@code heads}
 * @param layers             {@code num_hidden_layers}, at least 1
 * @param heads              {@code num_attention_heads}
 * @param intermediateSize   {@code intermediate_size} of {@code mlp.fc1}
 * @param projectionDim      output width of {@code text_projection} (no bias) for a model with projection, which
 *                           outputs {@code text_embeds}; 0 for a plain {@code CLIPTextModel}, which outputs
 *                           {@code pooler_output}
 * @param hiddenAct          the MLP activation
 * @param outputHiddenStates whether the graph also outputs {@code hidden_states.0} (embeddings) ...
 *                           {@code hidden_states.<layers>} (each layer's output), as SDXL's exports do
 */
public record TextEncoderSpec(int hiddenSize, int layers, int heads, int intermediateSize, int projectionDim,
        HiddenAct hiddenAct, boolean outputHiddenStates) {

    /** The sequence length of {@code input_ids} ({@code max_position_embeddings}). */
    public static final int SEQUENCE_LENGTH = 77;

    /** The MLP activation ({@code hidden_act}). */
    public enum HiddenAct {
        /** {@code x * sigmoid(1.702 x)}: OpenAI CLIP ViT-L/14 (SD 1.5, SDXL's first encoder). */
        QUICK_GELU("quick_gelu"),
        /** Exact (erf) GELU: OpenCLIP bigG (SDXL's second encoder). */
        GELU("gelu");

        private final String configName;

        HiddenAct(String configName) {
            this.configName = configName;
        }

        /** The {@code hidden_act} value of {@code config.json}. */
        public String configName() {
            return configName;
        }

        /**
         * The activation named {@code name} in a {@code config.json}.
         *
         * @throws IllegalArgumentException when it is neither {@code quick_gelu} nor {@code gelu}
         */
        public static HiddenAct fromConfigName(String name) {
            for (HiddenAct act : values()) {
                if (act.configName.equals(name)) {
                    return act;
                }
            }
            throw new IllegalArgumentException("unsupported hidden_act '" + name + "', expected quick_gelu or gelu");
        }
    }

    /** @throws IllegalArgumentException naming the field when a rule above is broken */
    public TextEncoderSpec {
        if (hiddenSize < 1 || heads < 1 || hiddenSize % heads != 0) {
            throw new IllegalArgumentException("hiddenSize must be a positive multiple of heads, got hiddenSize "
                    + hiddenSize + ", heads " + heads);
        }
        if (layers < 1) {
            throw new IllegalArgumentException("layers must be >= 1, got " + layers);
        }
        if (intermediateSize < 1) {
            throw new IllegalArgumentException("intermediateSize must be >= 1, got " + intermediateSize);
        }
        if (projectionDim < 0) {
            throw new IllegalArgumentException("projectionDim must be >= 0 (0: no text_projection), got "
                    + projectionDim);
        }
        if (hiddenAct == null) {
            throw new IllegalArgumentException("hiddenAct must not be null, expected QUICK_GELU or GELU");
        }
    }

    /** Whether this is a {@code CLIPTextModelWithProjection}. */
    public boolean withProjection() {
        return projectionDim > 0;
    }

    /**
     * Every Linear by module path with its geometry, in {@code named_modules()} order: per layer
     * {@code text_model.encoder.layers.N.self_attn.{k,v,q,out}_proj}, {@code mlp.fc1}, {@code mlp.fc2}; then
     * {@code text_projection}.
     */
    public Map<String, LayerGeometry> modules() {
        Map<String, LayerGeometry> m = new LinkedHashMap<>();
        LayerGeometry square = LayerGeometry.linear(hiddenSize, hiddenSize);
        for (int i = 0; i < layers; i++) {
            String layer = "text_model.encoder.layers." + i;
            m.put(layer + ".self_attn.k_proj", square);
            m.put(layer + ".self_attn.v_proj", square);
            m.put(layer + ".self_attn.q_proj", square);
            m.put(layer + ".self_attn.out_proj", square);
            m.put(layer + ".mlp.fc1", LayerGeometry.linear(hiddenSize, intermediateSize));
            m.put(layer + ".mlp.fc2", LayerGeometry.linear(intermediateSize, hiddenSize));
        }
        if (withProjection()) {
            m.put("text_projection", LayerGeometry.linear(hiddenSize, projectionDim));
        }
        return Collections.unmodifiableMap(m);
    }
}
