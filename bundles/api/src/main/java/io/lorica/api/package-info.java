/**
 * Common values shared by every Lorica contract: the LoRA-loadable pipeline {@link io.lorica.api.Component components}
 * (Diffusers' {@code unet}, {@code text_encoder}, {@code text_encoder_2}), the {@link io.lorica.api.ModelFamily model
 * families} (Stable Diffusion 1.5 and SDXL), the ONNX Runtime {@link io.lorica.api.ExecutionProvider execution
 * providers}, and dense little-endian tensors ({@link io.lorica.api.DType}, {@link io.lorica.api.TensorInfo},
 * {@link io.lorica.api.TensorData}) as they are stored in safetensors files and fed to ONNX Runtime.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.0.0")
package io.lorica.api;
