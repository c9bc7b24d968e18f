package io.lorica.engine.index;

import io.lorica.api.DType;
import io.lorica.api.adapter.LayerGeometry;

import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * Where one Diffusers module lives in an ONNX graph: the node computing it, its weight initializer and how that
 * weight is laid out, and the geometry this implies.
 *
 * @param modulePath        the Diffusers module path, e.g. {@code down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q}
 * @param nodeName          the MatMul, Gemm or Conv node
 * @param op                the operator of that node
 * @param weightInitializer the initializer holding the weight (reached through Transpose/Cast/Identity nodes when the
 *                          graph has them, see {@code weightPath})
 * @param layout            how the initializer's dimensions map to the layer's: {@link WeightLayout#IN_OUT} for the
 *                          transposed MatMul constants of the legacy exporter
 * @param weightShape       the initializer's shape
 * @param weightDType       the initializer's element type (the stored type, before any Cast)
 * @param weightPath        the nodes between the initializer and the layer node (Transpose, Cast, Identity), in data
 *                          flow order; empty when the initializer feeds the node directly
 * @param bias              the bias initializer: Gemm/Conv input C/B, or for MatMul the other input of the Add that
 *                          consumes its output
 * @param strides           Conv strides (empty for linear layers)
 * @param pads              Conv pads in ONNX order {@code [top, left, bottom, right]} (empty for linear layers)
 * @param dilations         Conv dilations (empty for linear layers)
 * @param group             Conv group (1 for linear layers)
 * @param geometry          the layer geometry implied by the weight and the attributes
 */
public record LayerBinding(String modulePath, String nodeName, LayerOp op, String weightInitializer,
        WeightLayout layout, long[] weightShape, DType weightDType, List<String> weightPath, Optional<String> bias,
        List<Long> strides, List<Long> pads, List<Long> dilations, long group, LayerGeometry geometry) {

    /** Copies the arrays and lists. */
    public LayerBinding {
        weightShape = weightShape.clone();
        weightPath = List.copyOf(weightPath);
        strides = List.copyOf(strides);
        pads = List.copyOf(pads);
        dilations = List.copyOf(dilations);
    }

    /** The operator of a bound layer. */
    public enum LayerOp {
        /** {@code MatMul(x, W)}: a linear layer. */
        MATMUL,
        /** {@code Gemm(x, W, b)}: a linear layer. */
        GEMM,
        /** {@code Conv(x, W, b)}: a 2-D convolution. */
        CONV
    }

    /** How the stored weight's dimensions relate to the PyTorch weight {@code [out, in(, kh, kw)]}. */
    public enum WeightLayout {
        /** {@code [in, out]}: the transpose of the PyTorch weight (MatMul, Gemm with transB=0). */
        IN_OUT,
        /** {@code [out, in]}: the PyTorch layout (Gemm with transB=1, or a MatMul fed through a Transpose). */
        OUT_IN,
        /** {@code [out, in/group, kh, kw]}: a convolution kernel. */
        OUT_IN_KH_KW
    }

    /** A copy of the weight shape. */
    @Override
    public long[] weightShape() {
        return weightShape.clone();
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof LayerBinding)) {
            return false;
        }
        LayerBinding that = (LayerBinding) other;
        return modulePath.equals(that.modulePath) && nodeName.equals(that.nodeName) && op == that.op
                && weightInitializer.equals(that.weightInitializer) && layout == that.layout
                && Arrays.equals(weightShape, that.weightShape) && weightDType == that.weightDType
                && weightPath.equals(that.weightPath) && bias.equals(that.bias) && strides.equals(that.strides)
                && pads.equals(that.pads) && dilations.equals(that.dilations) && group == that.group
                && geometry.equals(that.geometry);
    }

    @Override
    public int hashCode() {
        return modulePath.hashCode() * 31 + nodeName.hashCode();
    }

    @Override
    public String toString() {
        return "LayerBinding[" + modulePath + " -> " + op + " '" + nodeName + "', weight '" + weightInitializer + "' "
                + weightDType + Arrays.toString(weightShape) + " " + layout
                + (weightPath.isEmpty() ? "" : " via " + weightPath) + bias.map(b -> ", bias '" + b + "'").orElse("")
                + ", " + geometry + "]";
    }
}
