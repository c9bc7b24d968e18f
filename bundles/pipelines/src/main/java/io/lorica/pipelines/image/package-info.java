/**
 * Image and array files of the Stable Diffusion pipelines: {@link io.lorica.pipelines.image.Png} turns the VAE decoder
 * output into PNG bytes exactly as Diffusers converts it ({@code output_type="np"}, then {@code numpy_to_pil}), with
 * text metadata chunks; {@link io.lorica.pipelines.image.Npy} reads and writes NumPy {@code .npy} files
 * ({@link io.lorica.pipelines.image.NpyArray}) to exchange latents and images with Python reference runs.
 *
 * <p>Private implementation package of the pipelines bundle; plain Java, no OSGi.
 */
package io.lorica.pipelines.image;
