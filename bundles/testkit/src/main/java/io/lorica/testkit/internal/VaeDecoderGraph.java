package io.lorica.testkit.internal;

import io.lorica.testkit.ExportOptions;
import io.lorica.testkit.UnetSpec;
import io.lorica.testkit.VaeSpec;

import java.util.List;

/**
 * Builds the decoder half of a Diffusers {@code AutoencoderKL} as Optimum exports it ({@code vae_decoder}):
 * {@code latent_sample [batch_size, 4, latent_height, latent_width]} → {@code post_quant_conv} → {@code decoder.*} →
 * {@code sample [batch_size, 3, height, width]} (no scaling, no clamping), with the legacy exporter's naming.
 */
public final class VaeDecoderGraph {

    private static final float EPS = 1e-6f;
    private static final String[] ATTENTION = {"to_q", "to_k", "to_v", "to_out.0"};

    private VaeDecoderGraph() {
    }

    /** Builds the graph. */
    public static Net build(VaeSpec spec, ExportOptions options, long seed) {
        Types types = Types.of(options.precision());
        OnnxGraph g = new OnnxGraph("main_graph", seed);
        Net net = types.net(g);
        int latent = UnetSpec.LATENT_CHANNELS;
        int groups = spec.normGroups();
        List<Integer> channels = spec.blockOutChannels();
        int blocks = channels.size();
        g.input("latent_sample", types.io(), "batch_size", latent, "latent_height", "latent_width");

        String h = net.cast("", "latent_sample", types.io());
        h = net.conv("post_quant_conv", h, latent, latent, 1, 1, 0);
        int top = channels.get(blocks - 1);
        h = net.conv("decoder.conv_in", h, latent, top, 3, 1, 1);
        h = resnet(net, "decoder.mid_block.resnets.0", h, top, top, groups);
        if (spec.midAttention()) {
            h = attention(net, "decoder.mid_block.attentions.0", h, top, groups);
        }
        h = resnet(net, "decoder.mid_block.resnets.1", h, top, top, groups);
        int out = top;
        for (int i = 0; i < blocks; i++) {
            int in = out;
            out = channels.get(blocks - 1 - i);
            String block = "decoder.up_blocks." + i;
            for (int j = 0; j < spec.layersPerBlock() + 1; j++) {
                h = resnet(net, block + ".resnets." + j, h, j == 0 ? in : out, out, groups);
            }
            if (i < blocks - 1) {
                h = g.node(Net.scope(block + ".upsamplers.0"), "Resize")
                        .in(h, "", g.floats("Resize", OnnxGraph.FLOAT, new float[] {1, 1, 2, 2}, 4))
                        .attr("coordinate_transformation_mode", "asymmetric").attr("cubic_coeff_a", -0.75f)
                        .attr("mode", "nearest").attr("nearest_mode", "floor").out();
                h = net.conv(block + ".upsamplers.0.conv", h, out, out, 3, 1, 1);
            }
        }
        h = net.groupNorm("decoder.conv_norm_out", h, channels.get(0), groups, EPS);
        h = net.silu("/decoder/conv_act", h);
        h = net.conv("decoder.conv_out", h, channels.get(0), 3, 3, 1, 1);
        types.output(net, h, "sample", "batch_size", 3, "height", "width");
        return net;
    }

    /** {@code ResnetBlock2D} without time embedding. */
    private static String resnet(Net net, String module, String x, int in, int out, int groups) {
        OnnxGraph g = net.graph();
        String scope = Net.scope(module);
        String h = net.groupNorm(module + ".norm1", x, in, groups, EPS);
        h = net.silu(scope + "/nonlinearity", h);
        h = net.conv(module + ".conv1", h, in, out, 3, 1, 1);
        h = net.groupNorm(module + ".norm2", h, out, groups, EPS);
        h = net.silu(scope + "/nonlinearity", h);
        h = net.conv(module + ".conv2", h, out, out, 3, 1, 1);
        String shortcut = in == out ? x : net.conv(module + ".conv_shortcut", x, in, out, 1, 1, 0);
        return g.node(scope, "Add").in(shortcut, h).out();
    }

    /** The single-head spatial self-attention of the mid block, with group norm and residual. */
    private static String attention(Net net, String module, String x, int c, int groups) {
        OnnxGraph g = net.graph();
        String scope = Net.scope(module);
        String h = net.groupNorm(module + ".group_norm", x, c, groups, EPS);
        h = g.node(scope, "Reshape").in(h, g.longs("Reshape", 0, c, -1)).out();
        h = g.node(scope, "Transpose").in(h).ints("perm", 0, 2, 1).out();
        h = net.attention(module, h, h, c, c, 1, ATTENTION, true, null);
        h = g.node(scope, "Transpose").in(h).ints("perm", 0, 2, 1).out();
        String shape = g.node(scope, "Shape").in(x).out();
        h = g.node(scope, "Reshape").in(h, shape).out();
        return g.node(scope, "Add").in(h, x).out();
    }
}
