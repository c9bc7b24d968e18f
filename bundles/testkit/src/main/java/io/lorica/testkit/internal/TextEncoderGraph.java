package io.lorica.testkit.internal;

import io.lorica.testkit.ExportOptions;
import io.lorica.testkit.TextEncoderSpec;
import io.lorica.testkit.internal.OnnxGraph.Init;

/**
 * Builds a CLIP text transformer graph ({@code CLIPTextModel} / {@code CLIPTextModelWithProjection}) with the legacy
 * exporter's naming: {@code input_ids [batch_size, 77]} → token + position embeddings → pre-LN encoder layers with
 * causal self-attention → {@code final_layer_norm}.
 *
 * <p>Outputs: {@code last_hidden_state [batch_size, 77, hidden]}; {@code pooler_output [batch_size, hidden]} (the
 * final-LN state at the first end token, found as the argmax of the ids since the end token has the highest id) or,
 * with a projection, {@code text_embeds [batch_size, projection_dim]} ({@code text_projection} of that state, first);
 * with {@code outputHiddenStates}, {@code hidden_states.0} (the embeddings) to {@code hidden_states.<layers>} (the last
 * layer's output, before {@code final_layer_norm}).
 */
public final class TextEncoderGraph {

    private static final float LAYER_NORM_EPS = 1e-5f;
    private static final String[] PROJECTIONS = {"q_proj", "k_proj", "v_proj", "out_proj"};

    private TextEncoderGraph() {
    }

    /** Builds the graph for a vocabulary of {@code vocabularySize} tokens. */
    public static Net build(TextEncoderSpec spec, int vocabularySize, ExportOptions options, long seed) {
        Types types = Types.of(options.precision());
        OnnxGraph g = new OnnxGraph("main_graph", seed);
        Net net = types.net(g);
        int length = TextEncoderSpec.SEQUENCE_LENGTH;
        int hidden = spec.hiddenSize();
        boolean int64 = options.inputIds() == ExportOptions.IdType.INT64;
        g.input("input_ids", int64 ? OnnxGraph.INT64 : OnnxGraph.INT32, "batch_size", length);

        String tokenTable = net.parameter("text_model.embeddings.token_embedding",
                "text_model.embeddings.token_embedding.weight", "text_model.embeddings.token_embedding.weight",
                new Init(0f, 1f), vocabularySize, hidden);
        String tokens = g.node("/text_model/embeddings/token_embedding", "Gather").in(tokenTable, "input_ids")
                .attr("axis", 0L).out();
        String positionTable = net.parameter("text_model.embeddings.position_embedding",
                "text_model.embeddings.position_embedding.weight", "text_model.embeddings.position_embedding.weight",
                new Init(0f, 0.5f), length, hidden);
        long[] positionIds = new long[length];
        for (int i = 0; i < length; i++) {
            positionIds[i] = i;
        }
        String positions = g.node("/text_model/embeddings/position_embedding", "Gather")
                .in(positionTable, g.longs("Gather", positionIds, 1, length)).attr("axis", 0L).out();
        String h = g.node("/text_model/embeddings", "Add").in(tokens, positions).out();

        float masked = types.compute() == OnnxGraph.FLOAT16 ? -65504f : -Float.MAX_VALUE;
        float[] causal = new float[length * length];
        for (int row = 0; row < length; row++) {
            for (int column = row + 1; column < length; column++) {
                causal[row * length + column] = masked;
            }
        }
        String mask = g.floats("Add", types.compute(), causal, 1, 1, length, length);

        String[] hiddenStates = new String[spec.layers() + 1];
        hiddenStates[0] = h;
        for (int i = 0; i < spec.layers(); i++) {
            String layer = "text_model.encoder.layers." + i;
            String scope = Net.scope(layer);
            String n = net.layerNorm(layer + ".layer_norm1", h, hidden, LAYER_NORM_EPS);
            String a = net.attention(layer + ".self_attn", n, n, hidden, hidden, spec.heads(), PROJECTIONS, true, mask);
            h = g.node(scope, "Add").in(h, a).out();
            n = net.layerNorm(layer + ".layer_norm2", h, hidden, LAYER_NORM_EPS);
            String f = net.linear(layer + ".mlp.fc1", n, hidden, spec.intermediateSize(), true);
            String act = Net.scope(layer + ".mlp.activation_fn");
            f = spec.hiddenAct() == TextEncoderSpec.HiddenAct.GELU ? net.gelu(act, f) : net.quickGelu(act, f);
            f = net.linear(layer + ".mlp.fc2", f, spec.intermediateSize(), hidden, true);
            h = g.node(scope, "Add").in(h, f).out();
            hiddenStates[i + 1] = h;
        }
        String last = net.layerNorm("text_model.final_layer_norm", h, hidden, LAYER_NORM_EPS);

        // pooled: last[arange(batch), argmax(ids)]
        String ids32 = int64 ? g.node("/text_model", "Cast").in("input_ids").attr("to", (long) OnnxGraph.INT32).out()
                : "input_ids";
        String eos = g.node("/text_model", "ArgMax").in(ids32).attr("axis", -1L).attr("keepdims", 0L)
                .attr("select_last_index", 0L).out();
        String shape = g.node("/text_model", "Shape").in("input_ids").out();
        String batch = g.node("/text_model", "Gather").in(shape, g.longScalar("Gather", 0)).attr("axis", 0L).out();
        String rows = g.node("/text_model", "Range").in(g.longScalar("Range", 0), batch, g.longScalar("Range", 1))
                .out();
        String starts = g.node("/text_model", "Mul").in(rows, g.longScalar("Mul", length)).out();
        String index = g.node("/text_model", "Add").in(starts, eos).out();
        String flat = g.node("/text_model", "Reshape").in(last, g.longs("Reshape", -1, hidden)).out();
        String pooled = g.node("/text_model", "Gather").in(flat, index).attr("axis", 0L).out();

        if (spec.withProjection()) {
            String embeds = net.linear("text_projection", pooled, hidden, spec.projectionDim(), false);
            types.output(net, embeds, "text_embeds", "batch_size", spec.projectionDim());
            types.output(net, last, "last_hidden_state", "batch_size", length, hidden);
        } else {
            types.output(net, last, "last_hidden_state", "batch_size", length, hidden);
            types.output(net, pooled, "pooler_output", "batch_size", hidden);
        }
        if (spec.outputHiddenStates()) {
            for (int i = 0; i < hiddenStates.length; i++) {
                types.output(net, hiddenStates[i], "hidden_states." + i, "batch_size", length, hidden);
            }
        }
        return net;
    }
}
