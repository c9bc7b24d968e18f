/**
 * The inference engine implementation: {@link io.lorica.engine.impl.OnnxInferenceEngine} opens ONNX models as
 * {@link io.lorica.engine.impl.OnnxModelHandle}s, each with one long-lived session over a graph rewritten once with
 * LoRA branches (dynamic mode) and fused sessions owned by their bindings (fused mode). Plain Java, wired by the
 * bundle's component.
 */
package io.lorica.engine.impl;
