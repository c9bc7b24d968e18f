/**
 * Applying LoRA adapters to ONNX component graphs, in the two ways Diffusers/PEFT offer: <em>dynamic</em> (unfused)
 * mode, where {@link io.lorica.engine.lora.LoraGraphRewriter} adds a low-rank branch per bound layer whose factors are
 * required graph inputs and {@link io.lorica.engine.lora.DynamicInputs} builds those inputs per request (several
 * adapters by rank concatenation, no new session when adapters or scales change), and <em>fused</em> mode, where
 * {@link io.lorica.engine.lora.WeightFuser} computes patched weights {@code W' = W + Σ s·ΔW} from the pristine base.
 *
 * <p>Limitations (future work): the branch factors are float32 inputs, so graphs whose activations are fp16 need a
 * Cast or fp16 factors; grouped or dilated convolutions and Gemm with {@code alpha != 1} or {@code transA} are not
 * given a branch (reported by the rewriter).
 */
package io.lorica.engine.lora;
