/**
 * What an inference engine offers a pipeline: ONNX models opened as {@link io.lorica.api.engine.ModelHandle}s on an
 * {@link io.lorica.api.ExecutionProvider}, run with plain {@link io.lorica.api.TensorData} in and out, and LoRA
 * applied per request through a {@link io.lorica.api.engine.LoraBinding} in {@link io.lorica.api.engine.LoraMode
 * DYNAMIC} mode (runtime LoRA branches fed with rank-concatenated, scale-folded tensors; no session rebuild) or
 * {@link io.lorica.api.engine.LoraMode FUSED} mode (weights patched from the pristine base). ONNX Runtime types do not
 * cross this boundary.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.1.0")
package io.lorica.api.engine;
