package io.lorica.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Spec validation and derived values. */
class SpecTest {

    private static void rejects(String fragment, Executable executable) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, executable);
        assertTrue(e.getMessage().contains(fragment), "'" + e.getMessage() + "' should mention '" + fragment + "'");
    }

    @Test
    void unetSpecRules() {
        rejects("4 entries", () -> new UnetSpec(ModelFamily.SD15, List.of(16, 32, 64), List.of(1, 1, 1), 32, 8, 0, 0,
                8));
        rejects("multiples of normGroups", () -> new UnetSpec(ModelFamily.SD15, List.of(12, 32, 64, 64),
                List.of(1, 1, 1, 1), 32, 8, 0, 0, 8));
        rejects("attentionHeads[2]", () -> new UnetSpec(ModelFamily.SD15, List.of(16, 32, 64, 64),
                List.of(1, 1, 3, 1), 32, 8, 0, 0, 8));
        rejects("c0 != c1 != c2 == c3", () -> new UnetSpec(ModelFamily.SD15, List.of(32, 32, 64, 64),
                List.of(1, 1, 1, 1), 32, 8, 0, 0, 8));
        rejects("3 different widths", () -> new UnetSpec(ModelFamily.SDXL, List.of(32, 64, 64), List.of(1, 1, 1), 64,
                8, 8, 32, 8));
        rejects("additionTimeEmbedDim", () -> new UnetSpec(ModelFamily.SDXL, List.of(16, 32, 64), List.of(1, 1, 1),
                64, 8, 7, 32, 8));
        rejects("no add_embedding", () -> new UnetSpec(ModelFamily.SD15, List.of(16, 32, 64, 64), List.of(1, 1, 1, 1),
                32, 8, 8, 0, 8));
        rejects("multiple of 8", () -> new UnetSpec(ModelFamily.SD15, List.of(16, 32, 64, 64), List.of(1, 1, 1, 1),
                32, 8, 0, 0, 12));
        rejects("family must not be null", () -> UnetSpec.tiny(null));
        UnetSpec xl = UnetSpec.fullSizeSdxl();
        assertEquals(2816, xl.projectionClassEmbeddingsInputDim());
        assertEquals(1280, xl.timeEmbedDim());
        assertEquals(794, xl.modules().size());
        assertEquals(282, UnetSpec.fullSizeSd15().modules().size());
    }

    @Test
    void pipelineSpecRules() {
        PipelineSpec tiny = PipelineSpec.tiny(ModelFamily.SDXL);
        rejects("crossAttentionDim 64", () -> new PipelineSpec(ModelFamily.SDXL, List.of(tiny.textEncoders().get(0),
                new TextEncoderSpec(64, 2, 2, 128, 32, TextEncoderSpec.HiddenAct.GELU, true)), tiny.unet(), tiny.vae(),
                10));
        rejects("projectionDim", () -> new PipelineSpec(ModelFamily.SDXL, List.of(tiny.textEncoders().get(0),
                new TextEncoderSpec(32, 2, 2, 128, 16, TextEncoderSpec.HiddenAct.GELU, true)), tiny.unet(), tiny.vae(),
                10));
        rejects("has 2 text encoder", () -> new PipelineSpec(ModelFamily.SDXL, List.of(tiny.textEncoders().get(0)),
                tiny.unet(), tiny.vae(), 10));
        rejects("UNet is for SDXL", () -> new PipelineSpec(ModelFamily.SD15, List.of(tiny.textEncoders().get(0)),
                tiny.unet(), tiny.vae(), 10));
        rejects("heads", () -> new TextEncoderSpec(30, 2, 4, 64, 0, TextEncoderSpec.HiddenAct.GELU, false));
        rejects("normGroups", () -> new VaeSpec(List.of(16, 20), 1, 8, true, 0.18));
        rejects("not part of SD15", () -> PipelineSpec.tiny(ModelFamily.SD15).textEncoder(Component.TEXT_ENCODER_2));
        assertEquals(tiny.textEncoders().get(1), tiny.textEncoder(Component.TEXT_ENCODER_2));
        assertEquals(8, tiny.vae().upscaleFactor());
        for (ModelFamily family : ModelFamily.values()) {
            PipelineSpec mid = PipelineSpec.midSize(family);
            assertEquals(family, mid.family());
            assertEquals(mid.unet().modules(), mid.catalog().modules(Component.UNET));
        }
    }

    @Test
    void exportOptions() {
        ExportOptions defaults = ExportOptions.defaults();
        assertEquals(ExportOptions.IdType.INT32, defaults.inputIds());
        assertEquals(ExportOptions.TimestepType.FLOAT, defaults.timestepType());
        assertEquals(ExportOptions.TimestepShape.SCALAR, defaults.timestepShape());
        assertEquals(ExportOptions.Precision.FLOAT32, defaults.precision());
        assertEquals(false, defaults.unetExternalData());
        assertEquals(ExportOptions.Precision.FLOAT16, ExportOptions.fp16().precision());
        assertTrue(ExportOptions.fp16().unetExternalData());
        rejects("must not be null", () -> defaults.withPrecision(null));
    }
}
