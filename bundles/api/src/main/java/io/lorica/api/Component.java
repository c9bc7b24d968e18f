package io.lorica.api;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * A LoRA-loadable sub-model of a pipeline, named as in Diffusers' {@code _lora_loadable_modules} and used as the key
 * prefix of Diffusers/PEFT LoRA files ({@code unet.}, {@code text_encoder.}, {@code text_encoder_2.}).
 */
public enum Component {
    /** The denoising UNet ({@code UNet2DConditionModel}). */
    UNET("unet"),
    /** The CLIP ViT-L/14 text encoder ({@code CLIPTextModel}); the only text encoder of SD 1.5, the first of SDXL. */
    TEXT_ENCODER("text_encoder"),
    /** SDXL's second text encoder, OpenCLIP bigG ({@code CLIPTextModelWithProjection}). */
    TEXT_ENCODER_2("text_encoder_2");

    private final String id;

    Component(String id) {
        this.id = id;
    }

    /** The Diffusers name of this component, e.g. {@code "text_encoder_2"}. */
    public String id() {
        return id;
    }

    /**
     * The component with the given Diffusers name.
     *
     * @throws IllegalArgumentException naming the value and the expected names when {@code id} is not one of them
     */
    public static Component fromId(String id) {
        for (Component component : values()) {
            if (component.id.equals(id)) {
                return component;
            }
        }
        throw new IllegalArgumentException("unknown component '" + id + "', expected one of "
                + Arrays.stream(values()).map(Component::id).collect(Collectors.joining(", ")));
    }

    @Override
    public String toString() {
        return id;
    }
}
