package io.lorica.api.adapter;

import io.lorica.api.Component;
import io.lorica.api.DType;
import io.lorica.api.TensorData;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The LoRA weights of one adapter for one target layer, in canonical (PEFT) form. The layer's delta is
 * {@code ΔW = B·A} (conv: {@code ΔW[o,i,y,x] = Σ_k B[o,k] A[k,i,y,x]}) and it acts with
 * {@code s = scale() · w(layer) · c}, where {@code w} is the {@code set_adapters} weight and {@code c} the per-call
 * scale.
 *
 * <p>A module whose delta cannot be factored (LyCORIS full/LoHa/LoKr, rebuilt by their format) is a <em>full-delta</em>
 * module: rank 0, empty A {@code [0, in(, kh, kw)]} and B {@code [out, 0(, 1, 1)]} (so {@code B·A} is the zero matrix)
 * and {@code delta} holding the already-scaled {@code ΔW}; its {@link #scale()} is 1.
 *
 * @param component  the component the layer belongs to
 * @param modulePath the Diffusers module path of the layer, e.g.
 *                   {@code down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q}, or
 *                   {@code text_model.encoder.layers.3.self_attn.q_proj} for a text encoder
 * @param geometry   the target layer's geometry, which the tensor shapes must match
 * @param rank       {@code r}: rows of A and columns of B; 0 only for a full-delta module
 * @param alpha      the LoRA alpha. <strong>Deliberate deviation from Diffusers</strong>: an alpha that is missing
 *                   (pass 0) or 0 means {@code alpha = rank}, as kohya defines it; Diffusers would use 0 literally and
 *                   disable the module. The constructor stores the resolved value
 * @param a          LoRA A (PEFT {@code lora_A.weight}, kohya {@code lora_down.weight}): {@code [r, in]} or
 *                   {@code [r, in, kh, kw]}, floating point
 * @param b          LoRA B (PEFT {@code lora_B.weight}, kohya {@code lora_up.weight}): {@code [out, r]} or
 *                   {@code [out, r, 1, 1]}, floating point
 * @param bias       PEFT {@code lora_B.bias} ({@code lora_bias=True}): {@code [out]}, added as {@code s·bias}
 * @param magnitude  PEFT DoRA {@code lora_magnitude_vector} in canonical shape {@code [out]} (the format reshapes
 *                   PEFT's conv {@code [1, out, 1, 1]})
 * @param delta      the full {@code ΔW} of a full-delta module, shape {@link LayerGeometry#weightShape()}
 */
public record LoraModule(Component component, String modulePath, LayerGeometry geometry, int rank, float alpha,
        TensorData a, TensorData b, Optional<TensorData> bias, Optional<TensorData> magnitude,
        Optional<TensorData> delta) {

    private static final Pattern MODULE_PATH = Pattern.compile("[A-Za-z0-9_]+(\\.[A-Za-z0-9_]+)*");

    /**
     * @throws IllegalArgumentException naming the module and what was found and expected when a field is missing or a
     *                                  tensor does not fit the rank and geometry
     */
    public LoraModule {
        if (component == null) {
            throw new IllegalArgumentException("component must not be null");
        }
        if (modulePath == null || !MODULE_PATH.matcher(modulePath).matches()) {
            throw new IllegalArgumentException("modulePath '" + modulePath
                    + "' is not a Diffusers module path, expected dot-separated names like down_blocks.0.resnets.1.conv1");
        }
        String where = "module " + modulePath + ": ";
        if (geometry == null) {
            throw new IllegalArgumentException(where + "geometry must not be null");
        }
        if (a == null || b == null) {
            throw new IllegalArgumentException(where + (a == null ? "A" : "B") + " must not be null");
        }
        if (bias == null || magnitude == null || delta == null) {
            throw new IllegalArgumentException(where + "bias, magnitude and delta must be Optional, not null");
        }
        if (rank < 0) {
            throw new IllegalArgumentException(where + "rank must be >= 0, got " + rank);
        }
        if (!Float.isFinite(alpha) || alpha < 0) {
            throw new IllegalArgumentException(where + "alpha must be a finite number >= 0, got " + alpha);
        }
        if (alpha == 0f) {
            alpha = rank;
        }
        floating(where, "A", a);
        floating(where, "B", b);
        int dims = geometry.kind() == LayerKind.LINEAR ? 2 : 4;
        if (a.dimensions() != dims || b.dimensions() != dims) {
            TensorData bad = a.dimensions() != dims ? a : b;
            throw new IllegalArgumentException(where + (bad == a ? "A" : "B") + " is " + bad.info() + " but a "
                    + geometry.kind().name().toLowerCase() + " layer needs " + dims + "-D LoRA tensors");
        }
        if (a.dim(0) != b.dim(1)) {
            throw new IllegalArgumentException(where + "A has rank " + a.dim(0) + " but B has rank " + b.dim(1));
        }
        if (a.dim(0) != rank) {
            throw new IllegalArgumentException(where + "A and B have rank " + a.dim(0) + " but the module declares rank "
                    + rank);
        }
        expectShape(where, "A", a, geometry.aShape(rank), geometry);
        expectShape(where, "B", b, geometry.bShape(rank), geometry);
        bias.ifPresent(t -> {
            floating(where, "bias", t);
            expectShape(where, "bias", t, new long[] {geometry.outFeatures()}, geometry);
        });
        magnitude.ifPresent(t -> {
            floating(where, "DoRA magnitude", t);
            expectShape(where, "DoRA magnitude", t, new long[] {geometry.outFeatures()}, geometry);
        });
        delta.ifPresent(t -> {
            floating(where, "delta", t);
            expectShape(where, "delta", t, geometry.weightShape(), geometry);
        });
        if (rank == 0 && delta.isEmpty()) {
            throw new IllegalArgumentException(where + "rank 0 is only allowed for a full-delta module, but delta is absent");
        }
        if (rank > 0 && delta.isPresent()) {
            throw new IllegalArgumentException(where + "a full-delta module must have rank 0 (empty A and B), got rank "
                    + rank);
        }
    }

    /** A plain low-rank module (no bias, DoRA magnitude or delta); alpha 0 means {@code alpha = rank}. */
    public static LoraModule of(Component component, String modulePath, LayerGeometry geometry, float alpha,
            TensorData a, TensorData b) {
        int rank = a == null || a.dimensions() == 0 ? 0 : (int) Math.min(a.dim(0), Integer.MAX_VALUE);
        return new LoraModule(component, modulePath, geometry, rank, alpha, a, b, Optional.empty(), Optional.empty(),
                Optional.empty());
    }

    /** A full-delta module: rank 0, empty A and B of {@code delta}'s type, and {@code delta} as the whole change. */
    public static LoraModule fullDelta(Component component, String modulePath, LayerGeometry geometry,
            TensorData delta) {
        if (geometry == null || delta == null) {
            throw new IllegalArgumentException("module " + modulePath + ": geometry and delta must not be null");
        }
        DType type = delta.dtype();
        TensorData emptyA = new TensorData(type, geometry.aShape(0), ByteBuffer.allocate(0));
        TensorData emptyB = new TensorData(type, geometry.bShape(0), ByteBuffer.allocate(0));
        return new LoraModule(component, modulePath, geometry, 0, 0f, emptyA, emptyB, Optional.empty(),
                Optional.empty(), Optional.of(delta));
    }

    /** The intrinsic scale {@code alpha / rank}; 1 for a full-delta module. */
    public float scale() {
        return rank == 0 ? 1f : alpha / rank;
    }

    /** Whether this module is DoRA (carries a magnitude vector), which only the fused path can apply exactly. */
    public boolean isDora() {
        return magnitude.isPresent();
    }

    /** Whether this module's change is a full delta rather than {@code B·A}. */
    public boolean isFullDelta() {
        return delta.isPresent();
    }

    private static void floating(String where, String what, TensorData tensor) {
        if (!tensor.dtype().isFloatingPoint()) {
            throw new IllegalArgumentException(where + what + " is " + tensor.info()
                    + " but LoRA weights must be F16, BF16, F32 or F64");
        }
    }

    private static void expectShape(String where, String what, TensorData tensor, long[] expected,
            LayerGeometry geometry) {
        if (!tensor.hasShape(expected)) {
            throw new IllegalArgumentException(where + what + " has shape " + Arrays.toString(tensor.shape())
                    + " but the layer (" + describe(geometry) + ") needs " + Arrays.toString(expected));
        }
    }

    private static String describe(LayerGeometry g) {
        return g.kind() == LayerKind.LINEAR
                ? "linear " + g.inFeatures() + "->" + g.outFeatures()
                : "conv " + g.inFeatures() + "->" + g.outFeatures() + " " + g.kernelHeight() + "x" + g.kernelWidth();
    }
}
