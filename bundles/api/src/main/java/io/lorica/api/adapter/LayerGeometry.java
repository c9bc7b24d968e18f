package io.lorica.api.adapter;

/**
 * The shape of a LoRA target layer, which fixes the shapes its LoRA tensors must have:
 * for rank {@code r}, A is {@code [r, in]} (conv: {@code [r, in, kh, kw]}, applied with the layer's stride and
 * padding) and B is {@code [out, r]} (conv: {@code [out, r, 1, 1]}).
 *
 * @param kind         linear or convolution
 * @param inFeatures   input features (conv: input channels), at least 1
 * @param outFeatures  output features (conv: output channels), at least 1
 * @param kernelHeight kernel height, at least 1; 1 for linear layers
 * @param kernelWidth  kernel width, at least 1; 1 for linear layers
 * @param stride       convolution stride, at least 1; 1 for linear layers
 * @param padding      convolution padding, at least 0; 0 for linear layers
 */
public record LayerGeometry(LayerKind kind, int inFeatures, int outFeatures, int kernelHeight, int kernelWidth,
        int stride, int padding) {

    /** @throws IllegalArgumentException naming the field and value when a rule above is broken */
    public LayerGeometry {
        if (kind == null) {
            throw new IllegalArgumentException("kind must not be null");
        }
        positive("inFeatures", inFeatures);
        positive("outFeatures", outFeatures);
        positive("kernelHeight", kernelHeight);
        positive("kernelWidth", kernelWidth);
        positive("stride", stride);
        if (padding < 0) {
            throw new IllegalArgumentException("padding must be >= 0, got " + padding);
        }
        if (kind == LayerKind.LINEAR && (kernelHeight != 1 || kernelWidth != 1 || stride != 1 || padding != 0)) {
            throw new IllegalArgumentException("a linear layer must have kernel 1x1, stride 1 and padding 0, got kernel "
                    + kernelHeight + "x" + kernelWidth + ", stride " + stride + ", padding " + padding);
        }
    }

    /** A linear layer {@code in -> out}. */
    public static LayerGeometry linear(int inFeatures, int outFeatures) {
        return new LayerGeometry(LayerKind.LINEAR, inFeatures, outFeatures, 1, 1, 1, 0);
    }

    /** A square-kernel convolution {@code in -> out}. */
    public static LayerGeometry conv(int inChannels, int outChannels, int kernel, int stride, int padding) {
        return new LayerGeometry(LayerKind.CONV, inChannels, outChannels, kernel, kernel, stride, padding);
    }

    /** The base weight shape: {@code [out, in]} or {@code [out, in, kh, kw]}; also the shape of a full delta. */
    public long[] weightShape() {
        return kind == LayerKind.LINEAR
                ? new long[] {outFeatures, inFeatures}
                : new long[] {outFeatures, inFeatures, kernelHeight, kernelWidth};
    }

    /** The shape LoRA A ({@code lora_A} / kohya {@code lora_down}) must have for {@code rank}. */
    public long[] aShape(int rank) {
        return kind == LayerKind.LINEAR
                ? new long[] {rank, inFeatures}
                : new long[] {rank, inFeatures, kernelHeight, kernelWidth};
    }

    /** The shape LoRA B ({@code lora_B} / kohya {@code lora_up}) must have for {@code rank}. */
    public long[] bShape(int rank) {
        return kind == LayerKind.LINEAR ? new long[] {outFeatures, rank} : new long[] {outFeatures, rank, 1, 1};
    }

    private static void positive(String field, int value) {
        if (value < 1) {
            throw new IllegalArgumentException(field + " must be >= 1, got " + value);
        }
    }
}
