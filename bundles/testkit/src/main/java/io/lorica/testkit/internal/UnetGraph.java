package io.lorica.testkit.internal;

import io.lorica.api.ModelFamily;
import io.lorica.testkit.ExportOptions;
import io.lorica.testkit.UnetSpec;

import java.util.ArrayDeque;
import java.util.Deque;

/**
 * Builds a Diffusers {@code UNet2DConditionModel} graph (the forward pass of {@code unet_2d_condition.py} with
 * {@code CrossAttnDownBlock2D}, {@code DownBlock2D}, {@code UNetMidBlock2DCrossAttn}, {@code CrossAttnUpBlock2D},
 * {@code UpBlock2D}, {@code Transformer2DModel}, {@code BasicTransformerBlock}, {@code ResnetBlock2D}) with the legacy
 * exporter's naming.
 *
 * <p>Inputs {@code sample [batch_size, 4, height, width]}, {@code timestep}, {@code encoder_hidden_states
 * [batch_size, sequence_length, cross_attention_dim]}, for SDXL {@code text_embeds [batch_size, text_embeds_dim]} and
 * {@code time_ids [batch_size, 6]}; output {@code out_sample [batch_size, 4, height, width]}.
 */
public final class UnetGraph {

    private static final float RESNET_EPS = 1e-5f;
    private static final float TRANSFORMER_NORM_EPS = 1e-6f;
    private static final float LAYER_NORM_EPS = 1e-5f;
    private static final String[] ATTENTION = {"to_q", "to_k", "to_v", "to_out.0"};

    private final UnetSpec spec;
    private final Net net;
    private final OnnxGraph g;
    private final int groups;
    private String context;
    private String temb;

    private UnetGraph(UnetSpec spec, Net net) {
        this.spec = spec;
        this.net = net;
        this.g = net.graph();
        this.groups = spec.normGroups();
    }

    /** Builds the graph; the returned net lists the modules written. */
    public static Net build(UnetSpec spec, ExportOptions options, long seed) {
        Types types = Types.of(options.precision());
        OnnxGraph graph = new OnnxGraph("main_graph", seed);
        Net net = types.net(graph);
        new UnetGraph(spec, net).build(types, options);
        return net;
    }

    private void build(Types types, ExportOptions options) {
        boolean xl = spec.family() == ModelFamily.SDXL;
        int[] channels = spec.blockOutChannels().stream().mapToInt(Integer::intValue).toArray();
        int blocks = channels.length;

        g.input("sample", types.io(), "batch_size", UnetSpec.LATENT_CHANNELS, "height", "width");
        int timestepType = switch (options.timestepType()) {
            case FLOAT -> OnnxGraph.FLOAT;
            case FLOAT16 -> OnnxGraph.FLOAT16;
            case INT64 -> OnnxGraph.INT64;
        };
        switch (options.timestepShape()) {
            case SCALAR -> g.input("timestep", timestepType);
            case ONE -> g.input("timestep", timestepType, 1);
            case BATCH -> g.input("timestep", timestepType, "steps");
        }
        g.input("encoder_hidden_states", types.io(), "batch_size", "sequence_length", spec.crossAttentionDim());
        if (xl) {
            g.input("text_embeds", types.io(), "batch_size", spec.textEmbedsDim());
            g.input("time_ids", types.io(), "batch_size", UnetSpec.TIME_IDS);
        }

        // time: timesteps.expand(batch) -> time_proj -> time_embedding
        String sample = net.cast("", "sample", types.io());
        String t = net.castTo("", "timestep", timestepType, OnnxGraph.FLOAT);
        t = g.node("", "Reshape").in(t, g.longs("Reshape", -1)).out();
        String sampleShape = g.node("", "Shape").in(sample).out();
        String batch = g.node("", "Slice").in(sampleShape, g.longs("Slice", 0), g.longs("Slice", 1),
                g.longs("Slice", 0)).out();
        t = g.node("", "Expand").in(t, batch).out();
        String tEmb = sinusoid("/time_proj", t, channels[0]);
        tEmb = net.cast("/time_proj", tEmb, OnnxGraph.FLOAT);
        String emb = net.gemm("time_embedding.linear_1", tEmb, channels[0], spec.timeEmbedDim());
        emb = net.silu("/time_embedding/act", emb);
        emb = net.gemm("time_embedding.linear_2", emb, spec.timeEmbedDim(), spec.timeEmbedDim());
        if (xl) {
            String ids = net.castTo("", "time_ids", types.io(), OnnxGraph.FLOAT);
            ids = g.node("", "Reshape").in(ids, g.longs("Reshape", -1)).out();
            String timeEmbeds = sinusoid("/add_time_proj", ids, spec.additionTimeEmbedDim());
            timeEmbeds = g.node("", "Reshape").in(timeEmbeds,
                    g.longs("Reshape", -1, (long) UnetSpec.TIME_IDS * spec.additionTimeEmbedDim())).out();
            timeEmbeds = net.cast("", timeEmbeds, OnnxGraph.FLOAT);
            String textEmbeds = net.cast("", "text_embeds", types.io());
            String addEmbeds = g.node("", "Concat").in(textEmbeds, timeEmbeds).attr("axis", -1L).out();
            String aug = net.gemm("add_embedding.linear_1", addEmbeds, spec.projectionClassEmbeddingsInputDim(),
                    spec.timeEmbedDim());
            aug = net.silu("/add_embedding/act", aug);
            aug = net.gemm("add_embedding.linear_2", aug, spec.timeEmbedDim(), spec.timeEmbedDim());
            emb = g.node("", "Add").in(emb, aug).out();
        }
        temb = emb;
        context = net.cast("", "encoder_hidden_states", types.io());

        String h = net.conv("conv_in", sample, UnetSpec.LATENT_CHANNELS, channels[0], 3, 1, 1);
        Deque<String> skips = new ArrayDeque<>();
        Deque<Integer> skipChannels = new ArrayDeque<>();
        skips.push(h);
        skipChannels.push(channels[0]);
        int width = channels[0];
        for (int i = 0; i < blocks; i++) {
            String block = "down_blocks." + i;
            int out = channels[i];
            int depth = spec.downTransformerDepths().get(i);
            for (int j = 0; j < spec.layersPerBlock(); j++) {
                h = resnet(block + ".resnets." + j, h, width, out);
                width = out;
                if (depth > 0) {
                    h = transformer(block + ".attentions." + j, h, out, spec.attentionHeads().get(i), depth);
                }
                skips.push(h);
                skipChannels.push(out);
            }
            if (i < blocks - 1) {
                h = net.conv(block + ".downsamplers.0.conv", h, out, out, 3, 2, 1);
                skips.push(h);
                skipChannels.push(out);
            }
        }

        int mid = channels[blocks - 1];
        h = resnet("mid_block.resnets.0", h, mid, mid);
        h = transformer("mid_block.attentions.0", h, mid, spec.attentionHeads().get(blocks - 1),
                spec.midTransformerDepth());
        h = resnet("mid_block.resnets.1", h, mid, mid);

        for (int i = 0; i < blocks; i++) {
            String block = "up_blocks." + i;
            int index = blocks - 1 - i;
            int out = channels[index];
            int depth = spec.upTransformerDepths().get(i);
            for (int j = 0; j < spec.layersPerBlock() + 1; j++) {
                String skip = skips.pop();
                int skipWidth = skipChannels.pop();
                h = g.node(Net.scope(block), "Concat").in(h, skip).attr("axis", 1L).out();
                h = resnet(block + ".resnets." + j, h, width + skipWidth, out);
                width = out;
                if (depth > 0) {
                    h = transformer(block + ".attentions." + j, h, out, spec.attentionHeads().get(index), depth);
                }
            }
            if (i < blocks - 1) {
                String scope = Net.scope(block + ".upsamplers.0");
                h = g.node(scope, "Resize").in(h, "", g.floats("Resize", OnnxGraph.FLOAT, new float[] {1, 1, 2, 2}, 4))
                        .attr("coordinate_transformation_mode", "asymmetric").attr("cubic_coeff_a", -0.75f)
                        .attr("mode", "nearest").attr("nearest_mode", "floor").out();
                h = net.conv(block + ".upsamplers.0.conv", h, out, out, 3, 1, 1);
            }
        }
        if (!skips.isEmpty()) {
            throw new IllegalStateException(skips.size() + " skip connections left over");
        }

        h = net.groupNorm("conv_norm_out", h, channels[0], groups, RESNET_EPS);
        h = net.silu("/conv_act", h);
        h = net.conv("conv_out", h, channels[0], UnetSpec.LATENT_CHANNELS, 3, 1, 1);
        types.output(net, h, "out_sample", "batch_size", UnetSpec.LATENT_CHANNELS, "height", "width");
    }

    /**
     * Diffusers' {@code get_timestep_embedding(t, dim, flip_sin_to_cos=True, downscale_freq_shift=0)} of a FLOAT
     * vector: {@code [cos(t·f), sin(t·f)]} with {@code f_i = exp(-ln(10000)·i/(dim/2))}; returns FLOAT {@code [n, dim]}.
     */
    private String sinusoid(String scope, String t, int dim) {
        int half = dim / 2;
        float[] frequencies = new float[half];
        for (int i = 0; i < half; i++) {
            frequencies[i] = (float) Math.exp(-Math.log(10000) * i / half);
        }
        String column = g.node(scope, "Unsqueeze").in(t, g.longs("Unsqueeze", 1)).out();
        String args = g.node(scope, "Mul").in(column, g.floats("Mul", OnnxGraph.FLOAT, frequencies, 1, half)).out();
        String sin = g.node(scope, "Sin").in(args).out();
        String cos = g.node(scope, "Cos").in(args).out();
        return g.node(scope, "Concat").in(cos, sin).attr("axis", -1L).out();
    }

    /** {@code ResnetBlock2D} with the time embedding added after conv1, a 1x1 conv shortcut when widths differ. */
    private String resnet(String module, String x, int in, int out) {
        String scope = Net.scope(module);
        String h = net.groupNorm(module + ".norm1", x, in, groups, RESNET_EPS);
        h = net.silu(scope + "/nonlinearity", h);
        h = net.conv(module + ".conv1", h, in, out, 3, 1, 1);
        String t = net.silu(scope + "/nonlinearity", temb);
        t = net.gemm(module + ".time_emb_proj", t, spec.timeEmbedDim(), out);
        t = g.node(scope, "Unsqueeze").in(t, g.longs("Unsqueeze", 2, 3)).out();
        h = g.node(scope, "Add").in(h, t).out();
        h = net.groupNorm(module + ".norm2", h, out, groups, RESNET_EPS);
        h = net.silu(scope + "/nonlinearity", h);
        h = net.conv(module + ".conv2", h, out, out, 3, 1, 1);
        String shortcut = in == out ? x : net.conv(module + ".conv_shortcut", x, in, out, 1, 1, 0);
        return g.node(scope, "Add").in(shortcut, h).out();
    }

    /** {@code Transformer2DModel}: GroupNorm, proj_in, {@code depth} transformer blocks, proj_out, residual. */
    private String transformer(String module, String x, int c, int heads, int depth) {
        String scope = Net.scope(module);
        String h = net.groupNorm(module + ".norm", x, c, groups, TRANSFORMER_NORM_EPS);
        String tokens = g.longs("Reshape", 0, -1, c);
        if (spec.linearProjection()) {
            h = g.node(scope, "Transpose").in(h).ints("perm", 0, 2, 3, 1).out();
            h = g.node(scope, "Reshape").in(h, tokens).out();
            h = net.linear(module + ".proj_in", h, c, c, true);
        } else {
            h = net.conv(module + ".proj_in", h, c, c, 1, 1, 0);
            h = g.node(scope, "Transpose").in(h).ints("perm", 0, 2, 3, 1).out();
            h = g.node(scope, "Reshape").in(h, tokens).out();
        }
        for (int t = 0; t < depth; t++) {
            h = block(module + ".transformer_blocks." + t, h, c, heads);
        }
        String shape = g.node(scope, "Shape").in(x).out();
        if (spec.linearProjection()) {
            h = net.linear(module + ".proj_out", h, c, c, true);
            h = g.node(scope, "Transpose").in(h).ints("perm", 0, 2, 1).out();
            h = g.node(scope, "Reshape").in(h, shape).out();
        } else {
            h = g.node(scope, "Transpose").in(h).ints("perm", 0, 2, 1).out();
            h = g.node(scope, "Reshape").in(h, shape).out();
            h = net.conv(module + ".proj_out", h, c, c, 1, 1, 0);
        }
        return g.node(scope, "Add").in(h, x).out();
    }

    /** {@code BasicTransformerBlock}: self-attention, cross-attention, GEGLU feed-forward, each pre-LN with residual. */
    private String block(String module, String x, int c, int heads) {
        String scope = Net.scope(module);
        String n = net.layerNorm(module + ".norm1", x, c, LAYER_NORM_EPS);
        String a = net.attention(module + ".attn1", n, n, c, c, heads, ATTENTION, false, null);
        String h = g.node(scope, "Add").in(a, x).out();
        n = net.layerNorm(module + ".norm2", h, c, LAYER_NORM_EPS);
        a = net.attention(module + ".attn2", n, context, c, spec.crossAttentionDim(), heads, ATTENTION, false, null);
        h = g.node(scope, "Add").in(a, h).out();
        n = net.layerNorm(module + ".norm3", h, c, LAYER_NORM_EPS);
        String projected = net.linear(module + ".ff.net.0.proj", n, c, 8 * c, true);
        String geglu = Net.scope(module + ".ff.net.0");
        String[] halves = g.node(geglu, "Split").in(projected).attr("axis", -1L).outputs(2);
        String gated = g.node(geglu, "Mul").in(halves[0], net.gelu(geglu, halves[1])).out();
        String f = net.linear(module + ".ff.net.2", gated, 4 * c, c, true);
        return g.node(scope, "Add").in(f, h).out();
    }
}
