package io.lorica.testkit;

import io.lorica.api.Component;

/** Which modules of a pipeline a LoRA file written by {@link LoraFiles} adapts. */
@FunctionalInterface
public interface LoraTargets {

    /** Whether the module {@code modulePath} of {@code component} gets LoRA tensors. */
    boolean test(Component component, String modulePath);

    /**
     * The usual attention LoRA: the UNet's {@code to_q}, {@code to_k}, {@code to_v}, {@code to_out.0} and the text
     * encoders' {@code q_proj}, {@code k_proj}, {@code v_proj}, {@code out_proj}.
     */
    static LoraTargets attention() {
        return (component, path) -> component == Component.UNET
                ? path.endsWith(".to_q") || path.endsWith(".to_k") || path.endsWith(".to_v")
                        || path.endsWith(".to_out.0")
                : path.endsWith(".q_proj") || path.endsWith(".k_proj") || path.endsWith(".v_proj")
                        || path.endsWith(".out_proj");
    }

    /** Every Linear and Conv2d of every component (LoCon-style). */
    static LoraTargets all() {
        return (component, path) -> true;
    }

    /** Only the modules of {@code only} that {@code targets} selects. */
    static LoraTargets onlyIn(Component only, LoraTargets targets) {
        return (component, path) -> component == only && targets.test(component, path);
    }
}
