/**
 * Applying LoRA adapters to ONNX component graphs, in the two ways Diffusers/PEFT offer: <em>dynamic</em> (unfused)
 * mode, where {@link io.lorica.engine.lora.LoraGraphRewriter} adds a low-rank branch per bound layer whose factors are
 * required graph inputs in the layer's compute type (fp16 graphs get fp16 factors) and
 * {@link io.lorica.engine.lora.DynamicInputs} builds and caches those inputs per request (several adapters by rank
 * concatenation, no new session when adapters or scales change), and <em>fused</em> mode, where
 * {@link io.lorica.engine.lora.WeightFuser} computes patched weights {@code W' = W + Σ s·ΔW} from the pristine base,
 * the low-rank products as GEMMs on ONNX Runtime ({@link io.lorica.engine.lora.OrtFuseKernel}).
 *
 * <p>Limitations: grouped or dilated convolutions and Gemm with {@code alpha != 1} or {@code transA} are not given a
 * branch (reported by the rewriter; such layers are served by the fused path).
 */
package io.lorica.engine.lora;
