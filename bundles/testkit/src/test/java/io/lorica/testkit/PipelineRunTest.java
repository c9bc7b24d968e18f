package io.lorica.testkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.TensorInfo;
import io.lorica.api.ModelFamily;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The tiny pipelines run in ONNX Runtime (CPU) with the inputs a pipeline gives them, batch 2. */
class PipelineRunTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int BATCH = 2;
    private static final int LENGTH = 77;

    // ------------------------------------------------------------------ layout

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void layout(ModelFamily family) throws IOException {
        WrittenPipeline pipeline = TinyPipelines.of(family);
        Path dir = pipeline.directory();
        boolean xl = family == ModelFamily.SDXL;
        JsonNode index = JSON.readTree(dir.resolve("model_index.json").toFile());
        assertEquals(xl ? "StableDiffusionXLPipeline" : "StableDiffusionPipeline", index.get("_class_name").asText());
        assertEquals("random weights, seed 42", index.get("_lorica_testkit").asText());
        assertEquals("[\"diffusers\",\"UNet2DConditionModel\"]", index.get("unet").toString());
        assertEquals("[\"transformers\",\"CLIPTextModel\"]", index.get("text_encoder").toString());
        assertEquals("[\"diffusers\",\"AutoencoderKL\"]", index.get("vae_decoder").toString());
        assertEquals(xl ? "EulerDiscreteScheduler" : "PNDMScheduler", index.get("scheduler").get(1).asText());
        assertEquals(xl, index.has("text_encoder_2"));
        if (xl) {
            assertEquals("[\"transformers\",\"CLIPTextModelWithProjection\"]", index.get("text_encoder_2").toString());
            assertEquals("[\"transformers\",\"CLIPTokenizer\"]", index.get("tokenizer_2").toString());
        }

        JsonNode scheduler = JSON.readTree(dir.resolve("scheduler/scheduler_config.json").toFile());
        assertEquals(0.00085, scheduler.get("beta_start").asDouble());
        assertEquals(0.012, scheduler.get("beta_end").asDouble());
        assertEquals("scaled_linear", scheduler.get("beta_schedule").asText());
        assertEquals(1000, scheduler.get("num_train_timesteps").asInt());
        assertEquals(1, scheduler.get("steps_offset").asInt());
        assertFalse(scheduler.get("set_alpha_to_one").asBoolean());
        assertTrue(scheduler.get("trained_betas").isNull());
        if (xl) {
            assertEquals("leading", scheduler.get("timestep_spacing").asText());
        } else {
            assertTrue(scheduler.get("skip_prk_steps").asBoolean());
            assertFalse(scheduler.get("clip_sample").asBoolean());
        }

        JsonNode unet = JSON.readTree(dir.resolve("unet/config.json").toFile());
        assertEquals(4, unet.get("in_channels").asInt());
        assertEquals(4, unet.get("out_channels").asInt());
        assertEquals(2, unet.get("layers_per_block").asInt());
        assertEquals(pipeline.spec().unet().crossAttentionDim(), unet.get("cross_attention_dim").asInt());
        assertEquals(xl ? "text_time" : null, unet.get("addition_embed_type").isNull() ? null
                : unet.get("addition_embed_type").asText());
        JsonNode vae = JSON.readTree(dir.resolve("vae_decoder/config.json").toFile());
        assertEquals(xl ? 0.13025 : 0.18215, vae.get("scaling_factor").asDouble());
        assertEquals(4, vae.get("latent_channels").asInt());
        JsonNode text = JSON.readTree(dir.resolve("text_encoder/config.json").toFile());
        assertEquals(pipeline.vocabularySize(), text.get("vocab_size").asInt());
        assertEquals(32, text.get("hidden_size").asInt());
        assertEquals(2, text.get("num_hidden_layers").asInt());
        assertEquals("quick_gelu", text.get("hidden_act").asText());
        assertEquals(PipelineSpec.read(dir), pipeline.spec(), "the configs describe the spec");
    }

    // ------------------------------------------------------------------ signatures

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void signatures(ModelFamily family) throws OrtException {
        WrittenPipeline pipeline = TinyPipelines.of(family);
        boolean xl = family == ModelFamily.SDXL;
        try (Ort text = new Ort(pipeline.model("text_encoder").model())) {
            assertSignature(text.inputs(), "input_ids", OnnxJavaType.INT32, -1, LENGTH);
            List<String> outputs = new ArrayList<>(List.of("last_hidden_state", "pooler_output"));
            if (xl) {
                outputs.addAll(List.of("hidden_states.0", "hidden_states.1", "hidden_states.2"));
            }
            assertEquals(outputs, new ArrayList<>(text.outputs().keySet()));
            assertSignature(text.outputs(), "last_hidden_state", OnnxJavaType.FLOAT, -1, LENGTH, 32);
            assertSignature(text.outputs(), "pooler_output", OnnxJavaType.FLOAT, -1, 32);
        }
        if (xl) {
            try (Ort text2 = new Ort(pipeline.model("text_encoder_2").model())) {
                assertEquals(List.of("text_embeds", "last_hidden_state", "hidden_states.0", "hidden_states.1",
                        "hidden_states.2"), new ArrayList<>(text2.outputs().keySet()));
                assertSignature(text2.outputs(), "text_embeds", OnnxJavaType.FLOAT, -1, 32);
            }
        }
        try (Ort unet = new Ort(pipeline.model("unet").model())) {
            List<String> inputs = new ArrayList<>(List.of("sample", "timestep", "encoder_hidden_states"));
            if (xl) {
                inputs.addAll(List.of("text_embeds", "time_ids"));
            }
            assertEquals(inputs, new ArrayList<>(unet.inputs().keySet()));
            assertSignature(unet.inputs(), "sample", OnnxJavaType.FLOAT, -1, 4, -1, -1);
            assertSignature(unet.inputs(), "timestep", OnnxJavaType.FLOAT);
            assertSignature(unet.inputs(), "encoder_hidden_states", OnnxJavaType.FLOAT, -1, -1, xl ? 64 : 32);
            if (xl) {
                assertSignature(unet.inputs(), "text_embeds", OnnxJavaType.FLOAT, -1, 32);
                assertSignature(unet.inputs(), "time_ids", OnnxJavaType.FLOAT, -1, 6);
            }
            assertEquals(List.of("out_sample"), new ArrayList<>(unet.outputs().keySet()));
            assertSignature(unet.outputs(), "out_sample", OnnxJavaType.FLOAT, -1, 4, -1, -1);
        }
        try (Ort vae = new Ort(pipeline.model("vae_decoder").model())) {
            assertSignature(vae.inputs(), "latent_sample", OnnxJavaType.FLOAT, -1, 4, -1, -1);
            assertSignature(vae.outputs(), "sample", OnnxJavaType.FLOAT, -1, 3, -1, -1);
        }
    }

    static void assertSignature(Map<String, NodeInfo> values, String name, OnnxJavaType type, long... shape) {
        NodeInfo node = values.get(name);
        assertTrue(node != null, "no value " + name + " in " + values.keySet());
        TensorInfo info = Ort.info(node);
        assertEquals(type, info.type, name);
        assertArrayEquals(shape, info.getShape(), name + " shape " + Arrays.toString(info.getShape()));
    }

    // ------------------------------------------------------------------ text encoders

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void textEncodersPoolAtTheFirstEndToken(ModelFamily family) throws OrtException {
        WrittenPipeline pipeline = TinyPipelines.of(family);
        int eos = pipeline.eosTokenId();
        // row 0: 5 tokens then end token at 6, padded with the end token; row 1: 11 tokens, padded with "!" (id 0)
        int[] ids = ids(pipeline, new int[] {5, 11}, new int[] {eos, 0}, 3);
        for (String folder : pipeline.models().keySet()) {
            if (!folder.startsWith("text_encoder")) {
                continue;
            }
            TextEncoderSpec spec = pipeline.spec().textEncoders().get(folder.equals("text_encoder") ? 0 : 1);
            int hidden = spec.hiddenSize();
            try (Ort model = new Ort(pipeline.model(folder).model())) {
                Map<String, Ort.Output> out = model.run(inputs("input_ids", Ort.ints(ids, BATCH, LENGTH)));
                float[] last = out.get("last_hidden_state").values();
                assertArrayEquals(new long[] {BATCH, LENGTH, hidden}, out.get("last_hidden_state").shape());
                assertUsable(folder + " last_hidden_state", last);
                String pooledName = spec.withProjection() ? "text_embeds" : "pooler_output";
                Ort.Output pooled = out.get(pooledName);
                assertArrayEquals(new long[] {BATCH, spec.withProjection() ? spec.projectionDim() : hidden},
                        pooled.shape());
                assertUsable(folder + " " + pooledName, pooled.values());
                if (!spec.withProjection()) {
                    for (int b = 0; b < BATCH; b++) {
                        int position = b == 0 ? 6 : 12;
                        float[] expected = Arrays.copyOfRange(last, (b * LENGTH + position) * hidden,
                                (b * LENGTH + position + 1) * hidden);
                        assertArrayEquals(expected, Arrays.copyOfRange(pooled.values(), b * hidden, (b + 1) * hidden),
                                folder + " row " + b + " pooled at the first end token");
                    }
                }
                if (spec.outputHiddenStates()) {
                    for (int i = 0; i <= spec.layers(); i++) {
                        Ort.Output state = out.get("hidden_states." + i);
                        assertArrayEquals(new long[] {BATCH, LENGTH, hidden}, state.shape());
                        assertUsable(folder + " hidden_states." + i, state.values());
                    }
                    assertFalse(Arrays.equals(last, out.get("hidden_states." + spec.layers()).values()),
                            "hidden_states.N is before final_layer_norm");
                }

                // causal: tokens after the end token do not change the pooled state; a token before it does
                int[] afterEnd = ids.clone();
                afterEnd[40] = 7;
                afterEnd[LENGTH + 40] = 9;
                float[] same = model.run(inputs("input_ids", Ort.ints(afterEnd, BATCH, LENGTH))).get(pooledName)
                        .values();
                assertArrayEquals(pooled.values(), same, folder + ": tokens after the end token are masked");
                int[] before = ids.clone();
                before[2] = before[2] == 3 ? 4 : 3;
                float[] changed = model.run(inputs("input_ids", Ort.ints(before, BATCH, LENGTH))).get(pooledName)
                        .values();
                assertFalse(Arrays.equals(Arrays.copyOf(pooled.values(), pooled.values().length / 2),
                        Arrays.copyOf(changed, changed.length / 2)), folder + ": the prompt changes the pooled state");
            }
        }
    }

    // ------------------------------------------------------------------ UNet

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void unetDependsOnEveryInput(ModelFamily family) throws OrtException {
        WrittenPipeline pipeline = TinyPipelines.of(family);
        UnetInputs in = UnetInputs.random(pipeline.spec().unet(), 8, 8, 11);
        try (Ort unet = new Ort(pipeline.model("unet").model())) {
            Ort.Output base = run(unet, in.tensors(500f));
            assertArrayEquals(new long[] {BATCH, 4, 8, 8}, base.shape());
            assertUsable("out_sample", base.values());
            assertArrayEquals(base.values(), run(unet, in.tensors(500f)).values(), "deterministic");
            assertDiffers("timestep", base, run(unet, in.tensors(20f)));

            UnetInputs context = in.copy();
            context.encoderHiddenStates[5] += 1f;
            assertDiffers("encoder_hidden_states", base, run(unet, context.tensors(500f)));
            if (family == ModelFamily.SDXL) {
                UnetInputs text = in.copy();
                text.textEmbeds[3] += 1f;
                assertDiffers("text_embeds", base, run(unet, text.tensors(500f)));
                UnetInputs time = in.copy();
                time.timeIds[0] = 1024f;
                assertDiffers("time_ids", base, run(unet, time.tensors(500f)));
            }

            // rows do not mix: row 1 alone gives the same as row 1 of the batch
            UnetInputs second = in.row(1);
            float[] alone = run(unet, second.tensors(500f)).values();
            float[] row1 = Arrays.copyOfRange(base.values(), base.values().length / 2, base.values().length);
            assertClose(row1, alone, 1e-4f, "row 1 alone");

            // other latent sizes: 16x8 (two of the 8x8 downscale factor, any multiple works)
            UnetInputs wide = UnetInputs.random(pipeline.spec().unet(), 16, 8, 3);
            Ort.Output out = run(unet, wide.tensors(999f));
            assertArrayEquals(new long[] {BATCH, 4, 16, 8}, out.shape());
            assertUsable("16x8 out_sample", out.values());
        }
    }

    private static void assertDiffers(String input, Ort.Output base, Ort.Output changed) {
        assertUsable(input + " changed", changed.values());
        double difference = 0;
        for (int i = 0; i < base.values().length; i++) {
            difference = Math.max(difference, Math.abs(base.values()[i] - changed.values()[i]));
        }
        assertTrue(difference > 1e-4, "out_sample must depend on " + input + ", max difference " + difference);
    }

    // ------------------------------------------------------------------ VAE

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void vaeDecodesToEightTimesTheLatentSize(ModelFamily family) throws OrtException {
        WrittenPipeline pipeline = TinyPipelines.of(family);
        float[] latents = normal(new Random(5), BATCH * 4 * 8 * 8);
        try (Ort vae = new Ort(pipeline.model("vae_decoder").model())) {
            Ort.Output image = vae.run(inputs("latent_sample", Ort.floats(latents, BATCH, 4, 8, 8))).get("sample");
            assertArrayEquals(new long[] {BATCH, 3, 64, 64}, image.shape());
            assertUsable("sample", image.values());
        }
    }

    // ------------------------------------------------------------------ a whole generation

    @Test
    void tinySd15GeneratesA64PixelImageQuickly() throws OrtException {
        long start = System.nanoTime();
        WrittenPipeline pipeline = PipelineWriter.write(TinyPipelines.folder("timed-sd15"),
                PipelineSpec.tiny(ModelFamily.SD15), 7);
        long written = System.nanoTime();
        try (Ort text = new Ort(pipeline.model("text_encoder").model());
                Ort unet = new Ort(pipeline.model("unet").model());
                Ort vae = new Ort(pipeline.model("vae_decoder").model())) {
            long opened = System.nanoTime();
            int[] ids = ids(pipeline, new int[] {0, 9}, new int[] {pipeline.eosTokenId(), pipeline.eosTokenId()}, 1);
            float[] context = text.run(inputs("input_ids", Ort.ints(ids, BATCH, LENGTH))).get("last_hidden_state")
                    .values();
            float[] latents = normal(new Random(1), 4 * 8 * 8);
            long[] stepTimes = new long[4];
            for (int step = 0; step < stepTimes.length; step++) {
                float[] doubled = new float[latents.length * 2];
                System.arraycopy(latents, 0, doubled, 0, latents.length);
                System.arraycopy(latents, 0, doubled, latents.length, latents.length);
                Map<String, OnnxTensor> in = new LinkedHashMap<>();
                in.put("sample", Ort.floats(doubled, BATCH, 4, 8, 8));
                in.put("timestep", Ort.floats(new float[] {901 - 250 * step}));
                in.put("encoder_hidden_states", Ort.floats(context, BATCH, LENGTH, 32));
                long t0 = System.nanoTime();
                float[] noise = unet.run(in).get("out_sample").values();
                stepTimes[step] = System.nanoTime() - t0;
                for (int i = 0; i < latents.length; i++) {
                    float guided = noise[i] + 7.5f * (noise[latents.length + i] - noise[i]);
                    latents[i] -= 0.2f * guided;
                }
            }
            for (int i = 0; i < latents.length; i++) {
                latents[i] /= 0.18215f;
            }
            float[] image = vae.run(inputs("latent_sample", Ort.floats(latents, 1, 4, 8, 8))).get("sample").values();
            long done = System.nanoTime();
            assertEquals(3 * 64 * 64, image.length);
            assertUsable("image", image);
            for (long t : stepTimes) {
                assertTrue(t < 1_000_000_000L, "a tiny UNet step takes " + t / 1e6 + " ms");
            }
            System.out.printf("tiny SD 1.5: written in %.0f ms, sessions opened in %.0f ms, UNet steps (batch 2) %s ms,"
                    + " whole generation %.0f ms%n", (written - start) / 1e6, (opened - written) / 1e6,
                    Arrays.toString(Arrays.stream(stepTimes).mapToDouble(t -> Math.round(t / 1e5) / 10.0).toArray()),
                    (done - opened) / 1e6);
        }
    }

    // ------------------------------------------------------------------ helpers

    /** UNet inputs of one batch; arrays may be changed before {@link #tensors}. */
    static final class UnetInputs {
        final UnetSpec spec;
        final int height;
        final int width;
        final int batch;
        float[] sample;
        float[] encoderHiddenStates;
        float[] textEmbeds;
        float[] timeIds;

        /** Random inputs of batch 2 from {@code seed}. */
        static UnetInputs random(UnetSpec spec, int height, int width, long seed) {
            UnetInputs in = new UnetInputs(spec, height, width, BATCH);
            Random random = new Random(seed);
            in.sample = normal(random, BATCH * 4 * height * width);
            in.encoderHiddenStates = normal(random, BATCH * LENGTH * spec.crossAttentionDim());
            in.textEmbeds = normal(random, BATCH * Math.max(spec.textEmbedsDim(), 1));
            in.timeIds = new float[BATCH * 6];
            for (int b = 0; b < BATCH; b++) {
                float[] row = {height * 8f, width * 8f, 0f, 0f, height * 8f, width * 8f};
                System.arraycopy(row, 0, in.timeIds, b * 6, 6);
            }
            return in;
        }

        private UnetInputs(UnetSpec spec, int height, int width, int batch) {
            this.spec = spec;
            this.height = height;
            this.width = width;
            this.batch = batch;
        }

        UnetInputs copy() {
            UnetInputs c = new UnetInputs(spec, height, width, batch);
            c.sample = sample.clone();
            c.encoderHiddenStates = encoderHiddenStates.clone();
            c.textEmbeds = textEmbeds.clone();
            c.timeIds = timeIds.clone();
            return c;
        }

        UnetInputs row(int b) {
            UnetInputs c = new UnetInputs(spec, height, width, 1);
            c.sample = slice(sample, b);
            c.encoderHiddenStates = slice(encoderHiddenStates, b);
            c.textEmbeds = slice(textEmbeds, b);
            c.timeIds = slice(timeIds, b);
            return c;
        }

        private float[] slice(float[] values, int b) {
            int n = values.length / batch;
            return Arrays.copyOfRange(values, b * n, (b + 1) * n);
        }

        Map<String, OnnxTensor> tensors(float timestep) throws OrtException {
            return tensors(false, Ort.floats(new float[] {timestep}));
        }

        Map<String, OnnxTensor> tensors(boolean half, OnnxTensor timestep) throws OrtException {
            Map<String, OnnxTensor> in = new LinkedHashMap<>();
            in.put("sample", Ort.floating(half, sample, batch, 4, height, width));
            in.put("timestep", timestep);
            in.put("encoder_hidden_states", Ort.floating(half, encoderHiddenStates, batch, LENGTH,
                    spec.crossAttentionDim()));
            if (spec.family() == ModelFamily.SDXL) {
                in.put("text_embeds", Ort.floating(half, textEmbeds, batch, spec.textEmbedsDim()));
                in.put("time_ids", Ort.floating(half, timeIds, batch, 6));
            }
            return in;
        }
    }

    /** Runs a UNet and returns out_sample. */
    static Ort.Output run(Ort unet, Map<String, OnnxTensor> inputs) throws OrtException {
        return unet.run(inputs).get("out_sample");
    }

    /** Token ids: start token, {@code lengths[b]} tokens from a fixed stream, end token, then {@code pads[b]}. */
    static int[] ids(WrittenPipeline pipeline, int[] lengths, int[] pads, long seed) {
        Random random = new Random(seed);
        int[] ids = new int[BATCH * LENGTH];
        for (int b = 0; b < BATCH; b++) {
            Arrays.fill(ids, b * LENGTH, (b + 1) * LENGTH, pads[b]);
            ids[b * LENGTH] = pipeline.bosTokenId();
            for (int i = 1; i <= lengths[b]; i++) {
                ids[b * LENGTH + i] = random.nextInt(pipeline.vocabularySize() - 2);
            }
            ids[b * LENGTH + lengths[b] + 1] = pipeline.eosTokenId();
        }
        return ids;
    }

    static Map<String, OnnxTensor> inputs(String name, OnnxTensor tensor) {
        Map<String, OnnxTensor> in = new LinkedHashMap<>();
        in.put(name, tensor);
        return in;
    }

    static float[] normal(Random random, int n) {
        float[] values = new float[n];
        for (int i = 0; i < n; i++) {
            values[i] = (float) random.nextGaussian();
        }
        return values;
    }

    /** Finite, not constant, not exploding. */
    static void assertUsable(String what, float[] values) {
        float min = Float.POSITIVE_INFINITY;
        float max = Float.NEGATIVE_INFINITY;
        for (float v : values) {
            assertTrue(Float.isFinite(v), what + " has a non-finite value " + v);
            min = Math.min(min, v);
            max = Math.max(max, v);
        }
        assertTrue(max - min > 1e-3f, what + " is constant: " + min + " .. " + max);
        assertTrue(max < 1e4f && min > -1e4f, what + " explodes: " + min + " .. " + max);
    }

    static void assertClose(float[] expected, float[] actual, float tolerance, String what) {
        assertEquals(expected.length, actual.length, what + " length");
        float scale = 0;
        for (float v : expected) {
            scale = Math.max(scale, Math.abs(v));
        }
        for (int i = 0; i < expected.length; i++) {
            float difference = Math.abs(expected[i] - actual[i]);
            assertTrue(difference <= tolerance * Math.max(1f, scale), what + ": element " + i + " differs by "
                    + difference + " (" + expected[i] + " vs " + actual[i] + ")");
        }
    }

}
