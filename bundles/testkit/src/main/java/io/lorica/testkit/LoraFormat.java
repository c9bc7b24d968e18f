package io.lorica.testkit;

/** The key layout of a LoRA file written by {@link LoraFiles}. */
public enum LoraFormat {
    /**
     * Diffusers / PEFT, as {@code save_lora_weights} writes it: {@code <component>.<module>.lora_A.weight}
     * ({@code [r, in]}, conv {@code [r, in, kh, kw]}) and {@code .lora_B.weight} ({@code [out, r]}, conv
     * {@code [out, r, 1, 1]}) with component {@code unet}, {@code text_encoder} or {@code text_encoder_2}; the rank and
     * alpha in the metadata entry {@code lora_adapter_metadata} ({@code "unet.r"}, {@code "unet.lora_alpha"}, ...).
     */
    DIFFUSERS("diffusers"),
    /**
     * kohya-ss: {@code <prefix><module with '_' for '.'>.lora_down.weight} (A), {@code .lora_up.weight} (B) and a
     * scalar {@code .alpha}, with prefix {@code lora_unet_}, {@code lora_te_} (SD 1.5) or {@code lora_te1_} /
     * {@code lora_te2_} (SDXL); UNet modules under their Diffusers names.
     */
    KOHYA("kohya");

    private final String id;

    LoraFormat(String id) {
        this.id = id;
    }

    /** The command-line name, e.g. {@code "kohya"}. */
    public String id() {
        return id;
    }

    /**
     * The format named {@code id}.
     *
     * @throws IllegalArgumentException naming the value and the expected names otherwise
     */
    public static LoraFormat fromId(String id) {
        for (LoraFormat format : values()) {
            if (format.id.equals(id)) {
                return format;
            }
        }
        throw new IllegalArgumentException("unknown LoRA format '" + id + "', expected diffusers or kohya");
    }
}
