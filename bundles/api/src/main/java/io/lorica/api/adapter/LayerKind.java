package io.lorica.api.adapter;

/** The kind of a LoRA target layer: PEFT wraps {@code nn.Linear} and {@code nn.Conv2d}. */
public enum LayerKind {
    /** A fully connected layer, weight {@code [out, in]}. In ONNX often a MatMul with a transposed initializer. */
    LINEAR,
    /** A 2-D convolution, weight {@code [out, in, kh, kw]} (LoCon targets; SD 1.5 {@code proj_in/proj_out} are 1x1). */
    CONV
}
