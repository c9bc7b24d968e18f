package io.lorica.ort;

/** Which execution provider the configuration asks for. */
public enum ProviderRequest {
    /** CUDA when it initialises, otherwise CPU with one warning saying why. */
    AUTO,
    /** CPU only, even where CUDA is available. */
    CPU,
    /** CUDA or nothing: the runtime refuses to start without it. */
    CUDA
}
