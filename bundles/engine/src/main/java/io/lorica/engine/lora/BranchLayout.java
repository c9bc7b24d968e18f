package io.lorica.engine.lora;

import io.lorica.api.Component;
import io.lorica.api.DType;
import io.lorica.api.adapter.LayerKind;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The LoRA branches a {@link LoraGraphRewriter} added to one component graph: per Diffusers module path, the names of
 * the two required graph inputs holding that layer's factors, and the layer's kind and sizes.
 *
 * @param component the component the graph implements
 * @param branches  module path -> branch, in graph order
 * @param skipped   module path -> reason, for bound layers that got no branch (they need the fused path)
 */
public record BranchLayout(Component component, Map<String, Branch> branches, Map<String, String> skipped) {

    /** Copies the maps (order kept). */
    public BranchLayout {
        if (component == null || branches == null || skipped == null) {
            throw new IllegalArgumentException("component, branches and skipped must not be null");
        }
        branches = Collections.unmodifiableMap(new LinkedHashMap<>(branches));
        skipped = Collections.unmodifiableMap(new LinkedHashMap<>(skipped));
    }

    /** The branch of {@code modulePath}, if the rewriter added one. */
    public Optional<Branch> branch(String modulePath) {
        return Optional.ofNullable(branches.get(modulePath));
    }

    /**
     * One LoRA branch.
     *
     * <p>Linear: {@code y' = y + (x · downᵀ) · up}, {@code down [R, in]}, {@code up [R, out]} (both rank-major). Conv:
     * {@code y' = y + conv1x1(conv(x, down), up)}, {@code down [R, in, kh, kw]} (the base layer's strides and pads),
     * {@code up [out, R, 1, 1]}. {@code R} is the symbolic dimension {@link #rankSymbol()}, chosen per request; the
     * scales are folded into one of the factors by the caller ({@link DynamicInputs}).
     *
     * @param modulePath   the Diffusers module path
     * @param kind         linear or conv
     * @param dtype        the element type of both factors (the layer's compute type)
     * @param downInput    the name of the graph input holding the down factor
     * @param upInput      the name of the graph input holding the up factor
     * @param rankSymbol   the symbolic dimension name of {@code R}
     * @param inFeatures   input features / channels
     * @param outFeatures  output features / channels
     * @param kernelHeight kernel height (1 for linear layers)
     * @param kernelWidth  kernel width (1 for linear layers)
     */
    public record Branch(String modulePath, LayerKind kind, DType dtype, String downInput, String upInput,
            String rankSymbol, int inFeatures, int outFeatures, int kernelHeight, int kernelWidth) {

        /** The shape of the down input for rank {@code rank}. */
        public long[] downShape(int rank) {
            return kind == LayerKind.LINEAR ? new long[] {rank, inFeatures}
                    : new long[] {rank, inFeatures, kernelHeight, kernelWidth};
        }

        /** Elements of the down factor per unit of rank ({@code in·kh·kw}). */
        public int downWidth() {
            return inFeatures * kernelHeight * kernelWidth;
        }

        /** The shape of the up input for rank {@code rank}. */
        public long[] upShape(int rank) {
            return kind == LayerKind.LINEAR ? new long[] {rank, outFeatures} : new long[] {outFeatures, rank, 1, 1};
        }
    }
}
