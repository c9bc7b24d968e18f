/**
 * Text processing of the Stable Diffusion pipelines: {@link io.lorica.pipelines.text.ClipTokenizer}, the CLIP
 * byte-level BPE tokenizer that turns prompts into the token ids of the CLIP text encoders, with the same ids as Hugging
 * Face's {@code CLIPTokenizer} on a Diffusers export's {@code tokenizer/} and {@code tokenizer_2/} folders.
 *
 * <p>Private implementation package of the pipelines bundle; plain Java (and Jackson), no OSGi.
 */
package io.lorica.pipelines.text;
