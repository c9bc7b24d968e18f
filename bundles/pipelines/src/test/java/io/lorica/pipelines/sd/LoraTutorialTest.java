package io.lorica.pipelines.sd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.pipeline.GenerationRequest;
import io.lorica.api.policy.AdapterSettings;
import io.lorica.api.policy.AdapterWeight;
import io.lorica.api.registry.AdapterReference;
import io.lorica.api.registry.AdapterRegistry;
import io.lorica.api.registry.FuseRequest;
import io.lorica.testkit.LoraFormat;
import io.lorica.testkit.WrittenPipeline;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Diffusers' "Load LoRAs for inference" tutorial, step by step, on the test kit's tiny pipelines: every step changes
 * the image when it should and leaves it unchanged when it should.
 */
class LoraTutorialTest {

    /** Fused weights are rounded once, the dynamic branch is not: a little apart. */
    private static final double FUSED_TOLERANCE = 1e-4;
    /** What "changed" means: far above float noise. */
    private static final double CHANGED = 1e-3;

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void theTutorialSequence(ModelFamily family) {
        WrittenPipeline written = TestLorica.tiny(family);
        try (StableDiffusionPipeline pipe = TestLorica.open("tutorial-" + family.id(), written,
                StableDiffusionPipeline.Options.DEFAULTS)) {
            AdapterRegistry registry = pipe.adapters();
            float[] base = image(pipe);

            // pipe.load_lora_weights(..., adapter_name="pixel"); the new adapter is the active one
            registry.load(new AdapterReference.FileReference(TestLorica.lora(written, "pixel", LoraFormat.DIFFUSERS,
                    1)), "pixel");
            assertEquals(List.of("pixel"), registry.getActiveAdapters());
            float[] pixel = image(pipe);
            assertChanged(base, pixel, "pixel differs from the base model");

            // cross_attention_kwargs={"scale": 0.9}: the call scale acts on the UNet and the text encoders
            float[] pixel09 = image(pipe, registry.defaults().withCallScale(0.9));
            assertChanged(pixel, pixel09, "scale 0.9 differs from 1.0");
            assertSame(pixel, image(pipe), "the call scale does not stick to the pipeline");
            float[] pixel0 = image(pipe, registry.defaults().withCallScale(0.0));
            assertSame(base, pixel0, "scale 0 is the base model");

            // pipe.load_lora_weights(..., adapter_name="toy") (kohya format); then set_adapters("toy")
            registry.load(new AdapterReference.FileReference(TestLorica.lora(written, "toy", LoraFormat.KOHYA, 2)),
                    "toy");
            assertEquals(List.of("toy"), registry.getActiveAdapters());
            float[] toy = image(pipe);
            registry.setAdapters(List.of("toy"));
            assertSame(toy, image(pipe), "set_adapters(\"toy\") after loading toy changes nothing");
            assertChanged(pixel, toy, "toy differs from pixel");

            // set_adapters(["pixel", "toy"], adapter_weights=[0.5, 1.0])
            registry.setAdapters(List.of("pixel", "toy"), List.of(AdapterWeight.of(0.5), AdapterWeight.of(1.0)));
            assertEquals(List.of("pixel", "toy"), registry.getActiveAdapters());
            float[] blend = image(pipe);
            assertChanged(toy, blend, "the blend differs from toy");
            assertChanged(pixel, blend, "the blend differs from pixel");

            // per-block scales: all blocks at 1.0 is the plain weight 1.0; other values change the image
            registry.setAdapters(List.of("pixel"), List.of(weight("pixel", "{\"unet\": {\"down\": 1.0, \"mid\": 1.0,"
                    + " \"up\": 1.0}, \"text_encoder\": 1.0" + (family == ModelFamily.SDXL
                            ? ", \"text_encoder_2\": 1.0" : "") + "}")));
            assertSame(pixel, image(pipe), "per-block scales of 1.0 equal weight 1.0");
            String blocks = family == ModelFamily.SDXL
                    ? "{\"unet\": {\"down\": {\"block_2\": [0.0, 1.0]}, \"up\": {\"block_0\": [0.2, 0.6, 1.0]}}}"
                    : "{\"unet\": {\"down\": {\"block_1\": [0.0, 1.0]}, \"up\": {\"block_1\": [0.2, 0.6, 1.0]}}}";
            registry.setAdapters(List.of("pixel"), List.of(weight("pixel", blocks)));
            float[] perBlock = image(pipe);
            assertChanged(pixel, perBlock, "per-block scales change the image");

            // back to one adapter
            registry.setAdapters(List.of("pixel"));
            assertSame(pixel, image(pipe), "back to pixel alone");

            // get_active_adapters / get_list_adapters
            assertEquals(List.of("pixel"), registry.getActiveAdapters());
            Map<Component, List<String>> lists = registry.getListAdapters();
            assertEquals(List.of("pixel", "toy"), lists.get(Component.UNET));
            assertEquals(List.of("pixel", "toy"), lists.get(Component.TEXT_ENCODER));

            // disable_lora(): the base model; enable_lora(): back
            registry.disableLora();
            assertSame(base, image(pipe), "disabled LoRA is the base model");
            registry.enableLora();
            assertSame(pixel, image(pipe), "enabled again");

            // fuse_lora() at the current weights: the same image as dynamic, within rounding
            registry.setAdapters(List.of("pixel", "toy"), List.of(AdapterWeight.of(0.5), AdapterWeight.of(1.0)));
            registry.fuseLora(FuseRequest.defaults(family));
            assertEquals(java.util.Set.of("pixel", "toy"), registry.getFusedAdapters());
            assertClose(blend, image(pipe), FUSED_TOLERANCE, "fused == dynamic");
            registry.unfuseLora();
            assertSame(blend, image(pipe), "unfused: dynamic again, pristine weights");

            // delete_adapters("pixel"): the others are untouched and toy becomes active
            registry.deleteAdapters(List.of("pixel"));
            assertEquals(List.of("toy"), registry.getActiveAdapters());
            assertEquals(List.of("toy"), registry.getListAdapters().get(Component.UNET));
            assertSame(toy, image(pipe), "deleting pixel restores toy alone");

            // bad input leaves the state unchanged
            assertThrows(IllegalArgumentException.class, () -> registry.setAdapters(List.of("pixel")));
            assertEquals(List.of("toy"), registry.getActiveAdapters());
            assertSame(toy, image(pipe), "a rejected set_adapters changed nothing");
        }
    }

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void requestSettingsDoNotTouchTheDefaults(ModelFamily family) {
        WrittenPipeline written = TestLorica.tiny(family);
        try (StableDiffusionPipeline pipe = TestLorica.open("request-" + family.id(), written,
                StableDiffusionPipeline.Options.DEFAULTS)) {
            AdapterRegistry registry = pipe.adapters();
            registry.load(new AdapterReference.FileReference(TestLorica.lora(written, "pixel", LoraFormat.DIFFUSERS,
                    1)), "pixel");
            registry.disableLora();
            float[] base = image(pipe);
            float[] pixel = image(pipe, AdapterSettings.of(List.of("pixel"), AdapterWeight.of(1.0)));
            assertChanged(base, pixel, "the request's adapters act");
            assertSame(base, image(pipe), "the registry is still disabled");
            assertFalse(registry.defaults().enabled());
        }
    }

    static AdapterWeight weight(String name, String json) {
        AdapterSettings settings = TestLorica.POLICY.parse("{\"adapters\": {\"" + name + "\": " + json + "}}");
        return settings.weight(name).orElseThrow();
    }

    static float[] image(StableDiffusionPipeline pipe) {
        return image(pipe, null);
    }

    static float[] image(StableDiffusionPipeline pipe, AdapterSettings settings) {
        int size = pipe.directory().defaultImageSize();
        GenerationRequest request = new GenerationRequest("toy_face of a hacker with a hoodie, pixel art",
                "blurry", size, size, 3, 7.5, 0, "euler", Optional.ofNullable(settings), 1);
        List<float[]> images = pipe.generate(request, (s, t, p) -> { }, null, new ArrayList<>()).images();
        float[] image = images.get(0);
        for (float v : image) {
            assertTrue(v >= 0 && v <= 1, "pixel values in [0, 1]");
        }
        return image;
    }

    static double maxDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        double max = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs(a[i] - b[i]));
        }
        return max;
    }

    /** Images of one configuration are computed by the same sessions from the same inputs: equal bit for bit. */
    static void assertSame(float[] expected, float[] actual, String what) {
        assertArrayEquals(expected, actual, what + " (max difference " + maxDiff(expected, actual) + ")");
    }

    static void assertClose(float[] expected, float[] actual, double tolerance, String what) {
        double diff = maxDiff(expected, actual);
        assertTrue(diff <= tolerance, what + ": max difference " + diff + " > " + tolerance);
    }

    static void assertChanged(float[] a, float[] b, String what) {
        double diff = maxDiff(a, b);
        assertTrue(diff > CHANGED, what + ": max difference only " + diff);
    }
}
