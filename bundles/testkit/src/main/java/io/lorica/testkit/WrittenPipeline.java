package io.lorica.testkit;

import io.lorica.api.format.ModuleCatalog;

import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A pipeline written by {@link PipelineWriter}.
 *
 * @param directory      the pipeline folder (holds {@code model_index.json})
 * @param spec           its sizes
 * @param options        how its graphs were exported
 * @param seed           the seed of its random weights
 * @param vocabularySize the number of tokens of its tokenizer(s), the text encoders' {@code vocab_size}
 * @param models         the ONNX models by folder name, in pipeline order
 */
public record WrittenPipeline(Path directory, PipelineSpec spec, ExportOptions options, long seed,
        int vocabularySize, Map<String, ModelFile> models) {

    /** Copies the map. @throws IllegalArgumentException when a reference is null */
    public WrittenPipeline {
        if (directory == null || spec == null || options == null || models == null) {
            throw new IllegalArgumentException("directory, spec, options and models must not be null");
        }
        models = Collections.unmodifiableMap(new LinkedHashMap<>(models));
    }

    /**
     * The model in {@code folder}.
     *
     * @throws IllegalArgumentException naming the folders written when there is none of that name
     */
    public ModelFile model(String folder) {
        ModelFile model = models.get(folder);
        if (model == null) {
            throw new IllegalArgumentException("no model '" + folder + "', expected one of " + models.keySet());
        }
        return model;
    }

    /** The LoRA-targetable modules with this pipeline's geometries ({@link PipelineSpec#catalog()}). */
    public ModuleCatalog catalog() {
        return spec.catalog();
    }

    /** The end token id: the highest id, also the padding id of the first tokenizer. */
    public int eosTokenId() {
        return vocabularySize - 1;
    }

    /** The start token id. */
    public int bosTokenId() {
        return vocabularySize - 2;
    }
}
