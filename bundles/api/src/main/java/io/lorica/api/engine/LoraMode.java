package io.lorica.api.engine;

/** How an engine applies LoRA to a model. */
public enum LoraMode {
    /**
     * Unfused, like PEFT's LoRA layers: the graph carries LoRA branches whose A, B and scale are inputs, fed per run
     * with the rank-concatenated {@code [s1·A1; s2·A2]} and {@code [B1 B2]} of the request; switching adapters or
     * weights costs no session rebuild. Cannot express DoRA or full-delta modules.
     */
    DYNAMIC,
    /**
     * Fused, like {@code fuse_lora}: {@code W' = W + Σ s·ΔW} computed in fp32 from the pristine base weights and
     * handed to a new session; exact for every module kind, costs a session build per distinct configuration.
     */
    FUSED
}
