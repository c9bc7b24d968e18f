package io.lorica.api;

import java.util.Arrays;
import java.util.Collections;
import java.util.EnumSet;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * A family of Stable Diffusion models sharing one UNet/text-encoder layout, and so one set of LoRA module names.
 * Corresponds to the Diffusers pipelines {@code StableDiffusionPipeline} and {@code StableDiffusionXLPipeline}.
 */
public enum ModelFamily {
    /** Stable Diffusion 1.x: {@code unet} and {@code text_encoder}. */
    SD15("sd15", EnumSet.of(Component.UNET, Component.TEXT_ENCODER)),
    /** Stable Diffusion XL (base): {@code unet}, {@code text_encoder} and {@code text_encoder_2}. */
    SDXL("sdxl", EnumSet.of(Component.UNET, Component.TEXT_ENCODER, Component.TEXT_ENCODER_2));

    private final String id;
    private final Set<Component> components;

    ModelFamily(String id, EnumSet<Component> components) {
        this.id = id;
        this.components = Collections.unmodifiableSet(components);
    }

    /** The configuration name of this family, e.g. {@code "sdxl"}. */
    public String id() {
        return id;
    }

    /**
     * The LoRA-loadable components of this family in Diffusers' load order (UNet first); also the default
     * {@code components} of {@code fuse_lora} / {@code unfuse_lora}.
     */
    public Set<Component> components() {
        return components;
    }

    /** Whether {@code component} is part of this family's pipelines. */
    public boolean has(Component component) {
        return components.contains(component);
    }

    /**
     * Checks that {@code component} belongs to this family.
     *
     * @return the component
     * @throws IllegalArgumentException naming the component, the family and its components otherwise
     */
    public Component requireComponent(Component component) {
        if (!has(component)) {
            throw new IllegalArgumentException("component " + component + " is not part of " + this
                    + ", expected one of " + components);
        }
        return component;
    }

    /**
     * The family with the given configuration name.
     *
     * @throws IllegalArgumentException naming the value and the expected names when {@code id} is not one of them
     */
    public static ModelFamily fromId(String id) {
        for (ModelFamily family : values()) {
            if (family.id.equals(id)) {
                return family;
            }
        }
        throw new IllegalArgumentException("unknown model family '" + id + "', expected one of "
                + Arrays.stream(values()).map(ModelFamily::id).collect(Collectors.joining(", ")));
    }
}
