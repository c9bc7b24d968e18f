package io.lorica.api.format;

import io.lorica.api.TensorData;
import io.lorica.api.TensorInfo;

import java.util.Map;
import java.util.Set;

import org.osgi.annotation.versioning.ProviderType;

/**
 * A named collection of tensors with string metadata, as a safetensors file presents it; provided by the loader (a
 * validated, memory-mapped file) to {@link AdapterFormat}s. Reading keys and infos is cheap; {@link #tensor(String)}
 * touches the data. Valid for the duration of the {@code recognise}/{@code convert} call it is passed to; tensors read
 * from it stay valid after that.
 */
@ProviderType
public interface TensorSource {

    /** The name to use in messages, usually the file path or hub id and file name. */
    String name();

    /** The tensor keys, in header order. */
    Set<String> keys();

    /**
     * The type and shape of {@code key}, without reading data.
     *
     * @throws AdapterFormatException naming the key and source when the key is not present
     */
    TensorInfo info(String key);

    /**
     * The tensor stored under {@code key}.
     *
     * @throws AdapterFormatException naming the key and source when the key is not present
     */
    TensorData tensor(String key);

    /** The safetensors {@code __metadata__} entries (e.g. {@code lora_adapter_metadata}, {@code ss_network_alpha}). */
    Map<String, String> metadata();

    /** Whether {@code key} is present. */
    default boolean contains(String key) {
        return keys().contains(key);
    }
}
