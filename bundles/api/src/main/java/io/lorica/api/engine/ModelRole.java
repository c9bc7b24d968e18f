package io.lorica.api.engine;

import io.lorica.api.Component;

import java.util.Optional;

/**
 * The role of an ONNX model in a pipeline, named as the sub-folders of a Diffusers ONNX export
 * ({@code unet/model.onnx}, {@code vae_decoder/model.onnx}, ...).
 */
public enum ModelRole {
    /** The first (SD 1.5: only) text encoder. */
    TEXT_ENCODER("text_encoder", Component.TEXT_ENCODER),
    /** SDXL's second text encoder. */
    TEXT_ENCODER_2("text_encoder_2", Component.TEXT_ENCODER_2),
    /** The denoising UNet. */
    UNET("unet", Component.UNET),
    /** The VAE decoder (latents to image); not LoRA-loadable. */
    VAE_DECODER("vae_decoder", null),
    /** The VAE encoder (image to latents); not LoRA-loadable. */
    VAE_ENCODER("vae_encoder", null);

    private final String id;
    private final Component component;

    ModelRole(String id, Component component) {
        this.id = id;
        this.component = component;
    }

    /** The sub-folder name of the role in a Diffusers ONNX export, e.g. {@code "vae_decoder"}. */
    public String id() {
        return id;
    }

    /** The LoRA-loadable component this model is, if any. */
    public Optional<Component> component() {
        return Optional.ofNullable(component);
    }

    /** The role of a LoRA-loadable component. */
    public static ModelRole of(Component component) {
        if (component == null) {
            throw new IllegalArgumentException("component must not be null");
        }
        for (ModelRole role : values()) {
            if (role.component == component) {
                return role;
            }
        }
        throw new IllegalArgumentException("no model role for component " + component);
    }
}
