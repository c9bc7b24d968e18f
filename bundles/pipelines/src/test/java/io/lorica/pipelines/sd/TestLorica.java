package io.lorica.pipelines.sd;

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
import io.lorica.policy.impl.ScalePolicyComponent;
import io.lorica.policy.registry.DefaultAdapterRegistry;
import io.lorica.testkit.ExportOptions;
import io.lorica.testkit.LoraFile;
import io.lorica.testkit.LoraFiles;
import io.lorica.testkit.LoraFormat;
import io.lorica.testkit.LoraSpec;
import io.lorica.testkit.PipelineSpec;
import io.lorica.testkit.PipelineWriter;
import io.lorica.testkit.WrittenPipeline;

import ai.onnxruntime.OrtSession.SessionOptions.OptLevel;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The real engine, loader and policy wired by hand for the pipeline tests (CPU, two threads), and the test kit's tiny
 * pipelines and LoRA files written once per test JVM into a temporary folder.
 */
final class TestLorica {

    static final OnnxInferenceEngine ENGINE = new OnnxInferenceEngine(OrtRuntimeImpl.standalone(new RuntimeSettings(
            ProviderRequest.CPU, 0, 0L, 2, 1, OptLevel.ALL_OPT, true, true, "")));
    static final ScalePolicy POLICY = ScalePolicyComponent.withDefaults();
    private static final DefaultAdapterLoader LOADER;
    private static final Path ROOT;
    private static final Map<String, WrittenPipeline> PIPELINES = new HashMap<>();

    static {
        FormatRegistry formats = new FormatRegistry();
        BuiltInFormats.register(formats);
        LOADER = new DefaultAdapterLoader(formats, TestLorica::file, ReferenceModels::catalog);
        try {
            ROOT = Files.createTempDirectory("lorica-pipelines-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> delete(ROOT)));
    }

    private TestLorica() {
    }

    private static Path file(AdapterReference reference) {
        return ((AdapterReference.FileReference) reference).path();
    }

    /** Registries loading files through the real loader. */
    static final AdapterRegistries REGISTRIES = new AdapterRegistries() {
        @Override
        public AdapterRegistry create(String pipelineId, ModelFamily family, FuseBackend backend) {
            return new DefaultAdapterRegistry(pipelineId, family, LOADER, backend);
        }

        @Override
        public AdapterRegistry create(String pipelineId, ModuleCatalog catalog, FuseBackend backend) {
            return DefaultAdapterRegistry.forCatalog(pipelineId, catalog, LOADER, backend);
        }
    };

    /** The tiny pipeline of {@code family} with default export options (seed 42). */
    static WrittenPipeline tiny(ModelFamily family) {
        return pipeline(family.id(), PipelineSpec.tiny(family), ExportOptions.defaults());
    }

    /** A tiny pipeline written once under {@code name} with these export options. */
    static synchronized WrittenPipeline pipeline(String name, PipelineSpec spec, ExportOptions options) {
        return PIPELINES.computeIfAbsent(name, n -> PipelineWriter.write(ROOT.resolve(n), spec, options, 42));
    }

    /** A LoRA file for {@code pipeline}, written once per name. */
    static synchronized Path lora(WrittenPipeline pipeline, String name, LoraFormat format, long seed) {
        Path file = ROOT.resolve(pipeline.directory().getFileName() + "-" + name + ".safetensors");
        if (!Files.exists(file)) {
            LoraFile written = LoraFiles.write(pipeline, file, LoraSpec.defaults().withFormat(format).withSeed(seed)
                    .withStrength(0.5f));
            if (written.moduleCount() == 0) {
                throw new IllegalStateException("no module written for " + name);
            }
        }
        return file;
    }

    private static final Map<ModelFamily, StableDiffusionPipeline> SHARED = new java.util.EnumMap<>(ModelFamily.class);

    /**
     * The tiny pipeline of {@code family} opened once per test JVM with the default options, for tests that leave its
     * adapter registry alone (opening the tiny SDXL sessions takes seconds).
     */
    static synchronized StableDiffusionPipeline shared(ModelFamily family) {
        return SHARED.computeIfAbsent(family, f -> open("shared-" + f.id(), tiny(f),
                StableDiffusionPipeline.Options.DEFAULTS));
    }

    /** Opens a pipeline over {@code pipeline}'s folder. */
    static StableDiffusionPipeline open(String id, WrittenPipeline pipeline, StableDiffusionPipeline.Options options) {
        ModelFamily family = pipeline.spec().family();
        return StableDiffusionPipeline.open(PipelineDescriptor.of(id, family, pipeline.directory()), ENGINE,
                REGISTRIES, POLICY, options);
    }

    /** A fresh empty folder. */
    static Path folder(String name) {
        try {
            return Files.createDirectories(ROOT.resolve(name));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void delete(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // best effort
        }
    }
}
