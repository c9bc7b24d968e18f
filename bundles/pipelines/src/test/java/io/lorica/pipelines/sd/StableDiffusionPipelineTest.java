package io.lorica.pipelines.sd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.ModelFamily;
import io.lorica.api.pipeline.GenerationRequest;
import io.lorica.api.pipeline.GenerationResult;
import io.lorica.pipelines.scheduler.Schedulers;
import io.lorica.testkit.ExportOptions;
import io.lorica.testkit.PipelineSpec;
import io.lorica.testkit.WrittenPipeline;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CancellationException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import javax.imageio.ImageIO;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/** The pipelines on the test kit's tiny exports: determinism, export variants, schedulers, progress, errors. */
class StableDiffusionPipelineTest {

    private static GenerationRequest request(StableDiffusionPipeline pipe, String scheduler, long seed, int steps) {
        int size = pipe.directory().defaultImageSize();
        return new GenerationRequest("a photo of an astronaut riding a horse on mars", "", size, size, steps, 7.5,
                seed, scheduler, Optional.empty(), 1);
    }

    private static float[] image(StableDiffusionPipeline pipe, GenerationRequest request) {
        return pipe.generate(request, (s, t, p) -> { }, null, List.of()).images().get(0);
    }

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void sameSeedSameImageOtherSeedOtherImage(ModelFamily family) throws IOException {
        StableDiffusionPipeline pipe = TestLorica.shared(family);
        {
            GenerationRequest request = request(pipe, "default", 7, 3);
            GenerationResult first = pipe.generate(request);
            GenerationResult again = pipe.generate(request);
            assertTrue(java.util.Arrays.equals(first.image(0), again.image(0)), "same seed, same PNG");
            GenerationResult other = pipe.generate(request.withSeed(8));
            assertFalse(java.util.Arrays.equals(first.image(0), other.image(0)), "another seed, another image");
            var decoded = ImageIO.read(new java.io.ByteArrayInputStream(first.image(0)));
            assertEquals(request.width(), decoded.getWidth());
            assertEquals(request.height(), decoded.getHeight());
            String png = new String(first.image(0), StandardCharsets.ISO_8859_1);
            assertTrue(png.contains("parameters\0a photo of an astronaut riding a horse on mars\nSteps: 3"),
                    "the generation parameters are in a tEXt chunk");
            assertTrue(png.contains("Seed: 7"));
            assertEquals(List.of("lora_bind", "text_encoder", "denoise", "vae_decoder"),
                    List.copyOf(first.timings().keySet()));
        }
    }

    static Stream<Arguments> exports() {
        return Stream.of(
                Arguments.of("int64-ids", ModelFamily.SD15, ExportOptions.defaults()
                        .withInputIds(ExportOptions.IdType.INT64)),
                Arguments.of("int64-timestep-1", ModelFamily.SD15, ExportOptions.defaults()
                        .withTimestep(ExportOptions.TimestepType.INT64, ExportOptions.TimestepShape.ONE)),
                Arguments.of("half-timestep-batch", ModelFamily.SD15, ExportOptions.defaults()
                        .withTimestep(ExportOptions.TimestepType.FLOAT16, ExportOptions.TimestepShape.BATCH)),
                Arguments.of("fp16-storage", ModelFamily.SD15, ExportOptions.defaults()
                        .withPrecision(ExportOptions.Precision.FLOAT16_STORAGE)),
                Arguments.of("external", ModelFamily.SD15, ExportOptions.defaults().withUnetExternalData(true)),
                Arguments.of("xl-fp16-storage-int64", ModelFamily.SDXL, ExportOptions.defaults()
                        .withPrecision(ExportOptions.Precision.FLOAT16_STORAGE)
                        .withInputIds(ExportOptions.IdType.INT64)
                        .withTimestep(ExportOptions.TimestepType.INT64, ExportOptions.TimestepShape.BATCH)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("exports")
    void everyExportVariantRunsAndAgreesWithTheDefaultExport(String name, ModelFamily family, ExportOptions options) {
        WrittenPipeline variant = TestLorica.pipeline(name, PipelineSpec.tiny(family), options);
        // DDIM: integer timesteps, which every timestep type holds exactly
        StableDiffusionPipeline shared = TestLorica.shared(family);
        float[] reference = image(shared, request(shared, "ddim", 3, 3));
        try (StableDiffusionPipeline pipe = TestLorica.open(name, variant, StableDiffusionPipeline.Options.DEFAULTS)) {
            float[] image = image(pipe, request(pipe, "ddim", 3, 3));
            // the same weights, rounded to fp16 where the export stores them so
            double tolerance = options.precision() == ExportOptions.Precision.FLOAT32 ? 1e-5 : 5e-2;
            LoraTutorialTest.assertClose(reference, image, tolerance, name + " agrees with the default export");
        }
    }

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void separateGuidanceRunsEqualTheBatchOfTwo(ModelFamily family) {
        WrittenPipeline tiny = TestLorica.tiny(family);
        StableDiffusionPipeline shared = TestLorica.shared(family);
        float[] batched = image(shared, request(shared, "euler", 5, 3));
        try (StableDiffusionPipeline pipe = TestLorica.open("separate", tiny, StableDiffusionPipeline.Options.DEFAULTS
                .withGuidance(StableDiffusionPipeline.Guidance.SEPARATE))) {
            LoraTutorialTest.assertClose(batched, image(pipe, request(pipe, "euler", 5, 3)), 1e-5,
                    "two runs of one == one run of two");
        }
    }

    static Stream<Arguments> schedulers() {
        List<Arguments> all = new ArrayList<>();
        for (ModelFamily family : ModelFamily.values()) {
            for (String name : Schedulers.names()) {
                all.add(Arguments.of(family, name));
            }
        }
        return all.stream();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("schedulers")
    void everySchedulerGenerates(ModelFamily family, String scheduler) {
        StableDiffusionPipeline pipe = TestLorica.shared(family);
        {
            AtomicInteger calls = new AtomicInteger();
            GenerationRequest request = request(pipe, scheduler, 11, 4);
            StableDiffusionPipeline.Generation g = pipe.generate(request, (step, total, preview) -> {
                assertEquals(calls.incrementAndGet(), step);
                assertTrue(total >= 4);
            }, null, List.of());
            assertTrue(calls.get() >= 4, scheduler + " made " + calls.get() + " UNet calls");
            float[] image = g.images().get(0);
            double sum = 0;
            for (float v : image) {
                assertTrue(Float.isFinite(v));
                sum += v;
            }
            assertTrue(sum > 0, "not all black");
        }
    }

    @Test
    void givenLatentsReplaceTheSeedsNoise() {
        StableDiffusionPipeline pipe = TestLorica.shared(ModelFamily.SD15);
        {
            GenerationRequest request = request(pipe, "ddim", 21, 3);
            int cells = pipe.directory().sampleSize();
            float[] noise = new io.lorica.pipelines.noise.TorchGenerator(21).randn(1, 4, cells, cells);
            float[] fromSeed = image(pipe, request);
            float[] fromLatents = pipe.generate(request.withSeed(99), (s, t, p) -> { }, null, List.of(noise))
                    .images().get(0);
            LoraTutorialTest.assertSame(fromSeed, fromLatents, "latents= the seed's noise is the seed's image");
            IllegalArgumentException wrong = assertThrows(IllegalArgumentException.class,
                    () -> pipe.generate(request, (s, t, p) -> { }, null, List.of(new float[5])));
            assertTrue(wrong.getMessage().contains("latents must be [1, 4, " + cells + ", " + cells + "]"),
                    wrong.getMessage());
        }
    }

    @Test
    void interruptionCancelsBetweenSteps() {
        StableDiffusionPipeline pipe = TestLorica.shared(ModelFamily.SD15);
        {
            AtomicInteger steps = new AtomicInteger();
            GenerationRequest request = request(pipe, "euler", 1, 10);
            assertThrows(CancellationException.class, () -> pipe.generate(request, (step, total, preview) -> {
                if (steps.incrementAndGet() == 2) {
                    Thread.currentThread().interrupt();
                }
            }, null, List.of()));
            assertEquals(2, steps.get(), "stopped after the step that asked");
            assertFalse(Thread.currentThread().isInterrupted(), "the interrupt was consumed");
            // the pipeline still works
            image(pipe, request(pipe, "euler", 1, 2));
        }
    }

    @Test
    void unknownSchedulerIsRejectedBeforeAnyWork() {
        StableDiffusionPipeline pipe = TestLorica.shared(ModelFamily.SD15);
        {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> pipe.generate(request(pipe, "heun2", 1, 2)));
            assertTrue(e.getMessage().contains("euler"), e.getMessage());
        }
    }

    @Test
    void aSizeTheUnetCannotTakeIsRejected() {
        StableDiffusionPipeline pipe = TestLorica.shared(ModelFamily.SD15);
        GenerationRequest request = new GenerationRequest("x", "", 64, 72, 2, 7.5, 0, "euler", Optional.empty(), 1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> pipe.generate(request));
        assertTrue(e.getMessage().contains("multiples of 64"), e.getMessage());
        assertEquals(List.of(1, 4, 8, 16), java.util.Arrays.stream(pipe.latentShape(64, 128)).boxed()
                .map(Long::intValue).toList());
    }

    @Test
    void closedPipelineRefusesWork() {
        StableDiffusionPipeline pipe = TestLorica.open("closed", TestLorica.tiny(ModelFamily.SD15),
                StableDiffusionPipeline.Options.DEFAULTS);
        pipe.close();
        pipe.close();
        assertThrows(IllegalStateException.class, () -> pipe.generate(request(pipe, "euler", 1, 2)));
    }

    @Test
    void incompleteExportNamesWhatIsMissing() throws IOException {
        WrittenPipeline tiny = TestLorica.tiny(ModelFamily.SDXL);
        Path copy = TestLorica.folder("incomplete-xl");
        try (Stream<Path> files = Files.walk(tiny.directory())) {
            for (Path file : (Iterable<Path>) files::iterator) {
                Path target = copy.resolve(tiny.directory().relativize(file).toString());
                if (Files.isDirectory(file)) {
                    Files.createDirectories(target);
                } else if (!file.toString().contains("text_encoder_2") && !file.toString().contains("vae_decoder")) {
                    Files.copy(file, target);
                }
            }
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelDirectory.read(copy));
        assertTrue(e.getMessage().contains("missing vae_decoder/model.onnx, text_encoder_2/model.onnx"),
                e.getMessage());
        assertTrue(e.getMessage().contains("sdxl"), e.getMessage());
        IllegalArgumentException none = assertThrows(IllegalArgumentException.class,
                () -> ModelDirectory.read(copy.resolve("nothing-here")));
        assertTrue(none.getMessage().contains("does not exist"), none.getMessage());
    }

    @Test
    void aFamilyMismatchIsRejectedAtOpen() {
        WrittenPipeline xl = TestLorica.tiny(ModelFamily.SDXL);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> StableDiffusionPipeline.open(io.lorica.api.pipeline.PipelineDescriptor.of("x", ModelFamily.SD15,
                        xl.directory()), TestLorica.ENGINE, TestLorica.REGISTRIES, TestLorica.POLICY,
                        StableDiffusionPipeline.Options.DEFAULTS));
        assertTrue(e.getMessage().contains("configured as sd15"), e.getMessage());
    }

    @Test
    void modelDirectoryReadsTheConfigs() {
        ModelDirectory sd = ModelDirectory.read(TestLorica.tiny(ModelFamily.SD15).directory());
        assertEquals(ModelFamily.SD15, sd.family());
        assertEquals(0.18215, sd.vaeScalingFactor(), 1e-9);
        assertTrue(sd.randomWeights());
        ModelDirectory xl = ModelDirectory.read(TestLorica.tiny(ModelFamily.SDXL).directory());
        assertEquals(ModelFamily.SDXL, xl.family());
        assertEquals(0.13025, xl.vaeScalingFactor(), 1e-9);
        assertTrue(xl.forceZerosForEmptyPrompt());
        assertEquals(xl.sampleSize() * xl.vaeScaleFactor(), xl.defaultImageSize());
    }
}
