package io.lorica.cli;

import io.lorica.api.ModelFamily;
import io.lorica.api.format.ModuleCatalog;
import io.lorica.api.pipeline.PipelineDescriptor;
import io.lorica.api.policy.ScalePolicy;
import io.lorica.api.registry.AdapterReference;
import io.lorica.api.registry.AdapterRegistries;
import io.lorica.api.registry.AdapterRegistry;
import io.lorica.api.registry.FuseBackend;
import io.lorica.engine.impl.OnnxInferenceEngine;
import io.lorica.loader.impl.BuiltInFormats;
import io.lorica.loader.impl.DefaultAdapterLoader;
import io.lorica.loader.impl.FormatRegistry;
import io.lorica.models.ReferenceModels;
import io.lorica.ort.ProviderRequest;
import io.lorica.ort.RuntimeSettings;
import io.lorica.ort.impl.OrtRuntimeImpl;
import io.lorica.pipelines.sd.ModelDirectory;
import io.lorica.pipelines.sd.StableDiffusionPipeline;
import io.lorica.policy.impl.ScalePolicyComponent;
import io.lorica.policy.registry.DefaultAdapterRegistry;

import ai.onnxruntime.OrtSession.SessionOptions.OptLevel;

import java.nio.file.Path;

/**
 * Lorica without a container: the same engine, loader, policy and pipeline classes the bundles run, wired by hand for
 * one-shot use. Adapter references are plain files; the execution provider is CUDA when it initialises, CPU otherwise.
 */
public final class Standalone {

    private final OrtRuntimeImpl runtime;
    private final OnnxInferenceEngine engine;
    private final DefaultAdapterLoader loader;
    private final ScalePolicy policy;

    /** Wires the parts with ONNX Runtime's default thread counts and {@code provider}. */
    public Standalone(ProviderRequest provider) {
        this(new RuntimeSettings(provider, 0, 0L, 0, 0, OptLevel.ALL_OPT, true, true, ""));
    }

    /** Wires the parts on a runtime with these settings (provider, threads, optimisation). */
    public Standalone(RuntimeSettings settings) {
        this.runtime = OrtRuntimeImpl.standalone(settings);
        this.engine = new OnnxInferenceEngine(runtime);
        FormatRegistry formats = new FormatRegistry();
        BuiltInFormats.register(formats);
        this.loader = new DefaultAdapterLoader(formats, Standalone::file, ReferenceModels::catalog);
        this.policy = ScalePolicyComponent.withDefaults();
    }

    private static Path file(AdapterReference reference) {
        if (reference instanceof AdapterReference.FileReference file) {
            return file.path();
        }
        throw new IllegalArgumentException("only LoRA files can be loaded here, got " + reference.describe());
    }

    /** The scale policy (settings grammar, block expansion). */
    public ScalePolicy policy() {
        return policy;
    }

    /** The ONNX Runtime environment and the provider it selected. */
    public OrtRuntimeImpl runtime() {
        return runtime;
    }

    /** The engine. */
    public OnnxInferenceEngine engine() {
        return engine;
    }

    /**
     * Opens the pipeline in {@code folder} under id {@code id}, with the family the folder declares.
     *
     * @throws IllegalArgumentException when the folder is not a complete export
     */
    public StableDiffusionPipeline open(String id, Path folder, StableDiffusionPipeline.Options options) {
        ModelFamily family = ModelDirectory.read(folder).family();
        return StableDiffusionPipeline.open(PipelineDescriptor.of(id, family, folder), engine, registries(), policy,
                options);
    }

    /** Registries that load LoRA files through the built-in formats. */
    public AdapterRegistries registries() {
        return new AdapterRegistries() {
            @Override
            public AdapterRegistry create(String pipelineId, ModelFamily family, FuseBackend backend) {
                return new DefaultAdapterRegistry(pipelineId, family, loader, backend);
            }

            @Override
            public AdapterRegistry create(String pipelineId, ModuleCatalog catalog, FuseBackend backend) {
                return DefaultAdapterRegistry.forCatalog(pipelineId, catalog, loader, backend);
            }
        };
    }
}
