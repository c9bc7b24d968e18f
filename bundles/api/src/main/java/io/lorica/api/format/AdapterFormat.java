package io.lorica.api.format;

import io.lorica.api.adapter.LoraAdapter;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * A LoRA file format (PEFT/Diffusers, kohya/A1111, LyCORIS, ...), registered as an OSGi service and implemented by
 * Lorica's loader or by third-party bundles. Implementations are stateless and thread-safe. When several formats
 * recognise a file with equal confidence the higher {@code service.ranking} wins.
 */
@ConsumerType
public interface AdapterFormat {

    /** A short stable name, e.g. {@code "kohya"}; recorded as {@link LoraAdapter#format()}. */
    String name();

    /**
     * Whether this format can convert {@code source}, judged from {@link TensorSource#keys()},
     * {@link TensorSource#info(String)} and {@link TensorSource#metadata()} only: never from tensor data. Must not
     * throw for files of other formats.
     */
    Recognition recognise(TensorSource source);

    /**
     * Converts {@code source} to canonical form for {@code context}'s model: every module path resolved against
     * {@link ConversionContext#catalog()}, every tensor shaped as the canonical model requires, every source key
     * accounted for in the {@link io.lorica.api.adapter.LoadReport}.
     *
     * @throws AdapterFormatException naming the source and key when the file is malformed or unsupported (e.g. a
     *                                {@code lora_down} without its {@code lora_up}, a LoHa key the format cannot
     *                                rebuild, or no module matching the target model)
     */
    LoraAdapter convert(TensorSource source, ConversionContext context);
}
