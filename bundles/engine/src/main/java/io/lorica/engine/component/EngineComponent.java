package io.lorica.engine.component;

import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

import io.lorica.api.ExecutionProvider;
import io.lorica.api.ModelFamily;
import io.lorica.api.engine.InferenceEngine;
import io.lorica.api.engine.ModelHandle;
import io.lorica.api.engine.ModelRole;
import io.lorica.config.LayeredConfiguration;
import io.lorica.engine.impl.OnnxInferenceEngine;
import io.lorica.engine.impl.OnnxModelHandle;
import io.lorica.ort.OrtRuntime;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;
import org.osgi.service.metatype.annotations.Option;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Declarative Services wrapper of {@link OnnxInferenceEngine}: the {@link InferenceEngine} service on the container's
 * ONNX Runtime (whose execution provider and threads come from {@code io.lorica.onnxruntime}), configured through
 * Config Admin (PID {@code io.lorica.engine}): model family, factor cache, idle fused sessions, fused-weight buffers and
 * weight pre-packing.
 * A configuration change applies to models opened afterwards; handles already open keep their sessions.
 */
@Component(service = InferenceEngine.class, configurationPid = EngineComponent.PID)
@Designate(ocd = EngineComponent.Config.class)
public final class EngineComponent implements InferenceEngine {

    static final String PID = "io.lorica.engine";
    static final String SCOPE = "engine";
    static final Map<String, Object> DEFAULTS;

    static {
        Map<String, Object> defaults = new LinkedHashMap<>();
        defaults.put("family", "auto");
        defaults.put("factor.cache.mb", 256);
        defaults.put("fused.session.cache", 1);
        defaults.put("fuse.buffer.mb", 0);
        defaults.put("prepacking", true);
        DEFAULTS = Collections.unmodifiableMap(defaults);
    }

    private static final Logger LOG = LoggerFactory.getLogger(EngineComponent.class);

    @ObjectClassDefinition(name = "Lorica inference engine",
            description = "How the engine opens models. System property lorica.engine.family and environment variable "
                    + "LORICA_ENGINE_FAMILY override the value.")
    @interface Config {
        @AttributeDefinition(name = "Model family",
                description = "auto: detect SD 1.5 or SDXL from each graph's layers; sd15 or sdxl: always that family",
                options = {@Option(label = "auto", value = "auto"), @Option(label = "sd15", value = "sd15"),
                        @Option(label = "sdxl", value = "sdxl")})
        String family() default "auto";

        @AttributeDefinition(name = "Dynamic LoRA factor cache (MB)",
                description = "Bound of the cache of rank-concatenated and scaled LoRA factors per model, and of the "
                        + "released factor buffers kept for reuse: switching back to a mix seen before costs map "
                        + "look-ups only")
        int factor_cache_mb() default 256;

        @AttributeDefinition(name = "Idle fused sessions kept",
                description = "Fused sessions kept per model after their last binding closed, for the next request of "
                        + "the same configuration (each holds a copy of the patched weights)")
        int fused_session_cache() default 1;

        @AttributeDefinition(name = "Fused-weight buffers (MB)",
                description = "Bound of the buffers of computed fused weights kept per model for the next fusion: "
                        + "repeated fusions then skip the cost of fresh memory (zeroing, page faults) at the price of "
                        + "that much idle memory; 0 allocates anew every time")
        int fuse_buffer_mb() default 0;

        @AttributeDefinition(name = "Pre-pack weights",
                description = "true: ONNX Runtime pre-packs weights for its CPU kernels (faster, but every session of a "
                        + "model holds a packed copy of its weights); false: the sessions of a model share its "
                        + "memory-mapped weights (about 1.6x slower MatMuls on CPU)")
        boolean prepacking() default true;
    }

    @Reference
    private OrtRuntime runtime;

    private volatile OnnxInferenceEngine engine;

    @Activate
    void activate(Map<String, Object> properties) {
        engine = build(runtime, properties);
    }

    @Modified
    void modified(Map<String, Object> properties) {
        engine = build(runtime, properties);
    }

    static OnnxInferenceEngine build(OrtRuntime runtime, Map<String, Object> properties) {
        LayeredConfiguration config = LayeredConfiguration.of(SCOPE, DEFAULTS, properties);
        if (!config.unknownKeys().isEmpty()) {
            LOG.warn("inference engine: ignoring unknown configuration keys {} of {}; known keys are {}",
                    config.unknownKeys(), PID, DEFAULTS.keySet());
        }
        String family = config.getString("family").trim().toLowerCase(Locale.ROOT);
        ModelFamily fixed = family.equals("auto") ? null : familyOf(family);
        OnnxModelHandle.Options options = new OnnxModelHandle.Options(megabytes(config, "factor.cache.mb"),
                nonNegative(config, "fused.session.cache"), megabytes(config, "fuse.buffer.mb"),
                config.getBoolean("prepacking"));
        OnnxInferenceEngine engine = new OnnxInferenceEngine(runtime, fixed, options);
        LOG.info("inference engine on ONNX Runtime {} ({}), model family {}, {}", runtime.version(),
                runtime.selectedProvider(), family, options);
        return engine;
    }

    private static int nonNegative(LayeredConfiguration config, String key) {
        int value = config.getInt(key);
        if (value < 0) {
            throw new IllegalArgumentException("configuration " + PID + " key '" + key + "' = " + value
                    + " is not valid: expected a number of 0 or more");
        }
        return value;
    }

    private static long megabytes(LayeredConfiguration config, String key) {
        return (long) nonNegative(config, key) << 20;
    }

    private static ModelFamily familyOf(String value) {
        try {
            return ModelFamily.fromId(value);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("configuration " + PID + " key 'family' = '" + value
                    + "' is not valid: expected one of [auto, sd15, sdxl]", e);
        }
    }

    @Override
    public ExecutionProvider provider() {
        return engine.provider();
    }

    @Override
    public ModelHandle open(Path modelFile, ModelRole role) {
        return engine.open(modelFile, role);
    }

    @Override
    public ModelHandle open(Path modelFile, ModelRole role, io.lorica.api.ModelFamily family) {
        return engine.open(modelFile, role, family);
    }

    @Override
    public io.lorica.api.registry.FuseBackend fuseBackend(
            java.util.Map<io.lorica.api.Component, ModelHandle> handles) {
        return engine.fuseBackend(handles);
    }
}
