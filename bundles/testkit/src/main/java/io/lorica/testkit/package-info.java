/**
 * Writes tiny, mid-size and full-size Stable Diffusion 1.5 / SDXL pipelines in the Optimum / Diffusers ONNX export
 * layout, with random weights from a seed, that ONNX Runtime runs end to end ({@link io.lorica.testkit.PipelineWriter},
 * sized by {@link io.lorica.testkit.PipelineSpec}, {@link io.lorica.testkit.UnetSpec},
 * {@link io.lorica.testkit.TextEncoderSpec} and {@link io.lorica.testkit.VaeSpec}, shaped by
 * {@link io.lorica.testkit.ExportOptions}), and LoRA files for them ({@link io.lorica.testkit.LoraFiles}). Used by
 * unit tests, benchmarks, the integration tests and as the embedded default model; depends only on the Lorica API and
 * Jackson. {@link io.lorica.testkit.Main} is the command line.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.0.0")
package io.lorica.testkit;
