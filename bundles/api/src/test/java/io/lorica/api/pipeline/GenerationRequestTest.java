package io.lorica.api.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.ModelFamily;
import io.lorica.api.policy.AdapterSettings;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** GenerationRequest and PipelineDescriptor. */
class GenerationRequestTest {

    static final PipelineDescriptor SD15 = PipelineDescriptor.of("sd15", ModelFamily.SD15, Path.of("/models/sd15"));

    static GenerationRequest request(int width, int height, int steps, double guidance, String scheduler, int batch) {
        return new GenerationRequest("a cat", "", width, height, steps, guidance, 42L, scheduler, Optional.empty(),
                batch);
    }

    @Test
    void of_takesDescriptorDefaults() {
        GenerationRequest request = GenerationRequest.of(SD15, "a cat", 7L);
        assertEquals(512, request.width());
        assertEquals(30, request.steps());
        assertEquals(7.5, request.guidanceScale());
        assertEquals("default", request.scheduler());
        assertEquals(1, request.batchCount());
        assertEquals("", request.negativePrompt());
        assertEquals(Optional.empty(), request.adapters());
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 60, 513, 2056, -8})
    void request_whenWidthNotMultipleOf8InRange_rejectsNamingWidth(int width) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> request(width, 512, 30, 7.5, "euler", 1));
        assertEquals("width must be a multiple of 8 in [64, 2048], got " + width, e.getMessage());
    }

    @Test
    void request_whenHeightOutOfRange_rejectsNamingHeight() {
        assertEquals("height must be a multiple of 8 in [64, 2048], got 4096", assertThrows(
                IllegalArgumentException.class, () -> request(512, 4096, 30, 7.5, "euler", 1)).getMessage());
        assertEquals(2048, request(64, 2048, 30, 7.5, "euler", 1).height());
    }

    @Test
    void request_whenStepsOutside1To1000_rejects() {
        assertEquals("steps must be in [1, 1000], got 0", assertThrows(IllegalArgumentException.class,
                () -> request(512, 512, 0, 7.5, "euler", 1)).getMessage());
        assertThrows(IllegalArgumentException.class, () -> request(512, 512, 1001, 7.5, "euler", 1));
        assertEquals(1000, request(512, 512, 1000, 7.5, "euler", 1).steps());
    }

    @Test
    void request_whenGuidanceNegativeOrNaN_rejects() {
        assertEquals("guidanceScale must be a finite number in [0, 100.0], got NaN", assertThrows(
                IllegalArgumentException.class, () -> request(512, 512, 30, Double.NaN, "euler", 1)).getMessage());
        assertThrows(IllegalArgumentException.class, () -> request(512, 512, 30, -1, "euler", 1));
        assertEquals(0.0, request(512, 512, 30, 0, "euler", 1).guidanceScale());
    }

    @Test
    void request_whenSchedulerMalformedOrBatchOutOfRange_rejects() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> request(512, 512, 30, 7.5, "euler a", 1))
                .getMessage().startsWith("scheduler 'euler a' is not a scheduler name"));
        assertThrows(IllegalArgumentException.class, () -> request(512, 512, 30, 7.5, null, 1));
        assertEquals("batchCount must be in [1, 64], got 0", assertThrows(IllegalArgumentException.class,
                () -> request(512, 512, 30, 7.5, "euler", 0)).getMessage());
    }

    @Test
    void request_whenPromptNullOrAdaptersNull_rejects() {
        assertThrows(IllegalArgumentException.class, () -> new GenerationRequest(null, "", 512, 512, 30, 7.5, 1L,
                "euler", Optional.empty(), 1));
        assertThrows(IllegalArgumentException.class, () -> new GenerationRequest("", "", 512, 512, 30, 7.5, 1L,
                "euler", null, 1));
    }

    @Test
    void seedOf_addsImageIndex_withinBatch() {
        GenerationRequest request = request(512, 512, 30, 7.5, "euler", 3);
        assertEquals(44L, request.seedOf(2));
        assertThrows(IllegalArgumentException.class, () -> request.seedOf(3));
        assertEquals(Long.MIN_VALUE, request.withSeed(Long.MAX_VALUE).seedOf(1));
    }

    @Test
    void withAdapters_setsOverrideForThisRequestOnly() {
        GenerationRequest base = GenerationRequest.of(SD15, "a cat", 1L);
        AdapterSettings settings = AdapterSettings.of(List.of("toy"), (List<io.lorica.api.policy.AdapterWeight>) null);
        assertEquals(Optional.of(settings), base.withAdapters(settings).adapters());
        assertEquals(Optional.empty(), base.adapters());
    }

    @Test
    void descriptorOf_sdxlDefaultsTo1024_andValidatesId() {
        PipelineDescriptor sdxl = PipelineDescriptor.of("sdxl-base", ModelFamily.SDXL, Path.of("/m"));
        assertEquals(1024, sdxl.defaultWidth());
        assertEquals(5.0, sdxl.defaultGuidanceScale());
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> PipelineDescriptor.of("-bad id", ModelFamily.SD15, Path.of("/m"))).getMessage()
                .startsWith("id '-bad id' is invalid"));
        assertThrows(IllegalArgumentException.class, () -> PipelineDescriptor.of("sd", ModelFamily.SD15, null));
    }

    @Test
    void descriptor_whenDefaultSizeInvalid_rejectsNamingDefaultField() {
        assertEquals("defaultWidth must be a multiple of 8 in [64, 2048], got 500", assertThrows(
                IllegalArgumentException.class, () -> new PipelineDescriptor("sd", ModelFamily.SD15, Path.of("/m"),
                        500, 512, 30, 7.5, "euler")).getMessage());
        assertEquals("defaultSteps must be in [1, 1000], got 0", assertThrows(IllegalArgumentException.class,
                () -> new PipelineDescriptor("sd", ModelFamily.SD15, Path.of("/m"), 512, 512, 0, 7.5, "euler"))
                .getMessage());
    }
}
