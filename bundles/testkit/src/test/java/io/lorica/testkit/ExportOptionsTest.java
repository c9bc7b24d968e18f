package io.lorica.testkit;

import static io.lorica.testkit.PipelineRunTest.assertClose;
import static io.lorica.testkit.PipelineRunTest.assertSignature;
import static io.lorica.testkit.PipelineRunTest.assertUsable;
import static io.lorica.testkit.PipelineRunTest.inputs;
import static io.lorica.testkit.PipelineRunTest.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import io.lorica.api.ModelFamily;
import io.lorica.testkit.ExportOptions.IdType;
import io.lorica.testkit.ExportOptions.Precision;
import io.lorica.testkit.ExportOptions.TimestepShape;
import io.lorica.testkit.ExportOptions.TimestepType;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Export options change the graphs' interface, not their weights: every variant of a seed computes the same function
 * (exactly, or up to fp16 rounding).
 */
class ExportOptionsTest {

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void int64IdsGiveTheSameEmbeddings(ModelFamily family) throws OrtException {
        WrittenPipeline base = TinyPipelines.of(family);
        WrittenPipeline int64 = PipelineWriter.write(TinyPipelines.folder(family.id() + "-int64"),
                PipelineSpec.tiny(family), ExportOptions.defaults().withInputIds(IdType.INT64), TinyPipelines.SEED);
        int[] ids = PipelineRunTest.ids(base, new int[] {4, 20}, new int[] {base.eosTokenId(), 0}, 9);
        long[] longs = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            longs[i] = ids[i];
        }
        for (String folder : base.models().keySet()) {
            if (!folder.startsWith("text_encoder")) {
                continue;
            }
            try (Ort a = new Ort(base.model(folder).model()); Ort b = new Ort(int64.model(folder).model())) {
                assertSignature(b.inputs(), "input_ids", OnnxJavaType.INT64, -1, 77);
                Map<String, Ort.Output> expected = a.run(inputs("input_ids", Ort.ints(ids, 2, 77)));
                Map<String, Ort.Output> actual = b.run(inputs("input_ids", Ort.longs(longs, 2, 77)));
                assertEquals(expected.keySet(), actual.keySet());
                expected.forEach((name, output) -> assertArrayEquals(output.values(), actual.get(name).values(),
                        folder + " " + name));
            }
        }
    }

    @Test
    void everyTimestepTypeAndShapeIsBroadcastToTheBatch() throws OrtException {
        ModelFamily family = ModelFamily.SD15;
        WrittenPipeline base = TinyPipelines.of(family);
        PipelineRunTest.UnetInputs in = PipelineRunTest.UnetInputs.random(base.spec().unet(), 8, 8, 4);
        float[] expected;
        try (Ort unet = new Ort(base.model("unet").model())) {
            expected = run(unet, in.tensors(false, Ort.floats(new float[] {500f}))).values();
        }
        for (TimestepType type : TimestepType.values()) {
            for (TimestepShape shape : TimestepShape.values()) {
                ExportOptions options = ExportOptions.defaults().withTimestep(type, shape);
                ModelFile file = PipelineWriter.writeUnet(TinyPipelines.folder("timestep-" + type + "-" + shape),
                        base.spec().unet(), options, TinyPipelines.SEED);
                try (Ort unet = new Ort(file.model())) {
                    OnnxJavaType javaType = switch (type) {
                        case FLOAT -> OnnxJavaType.FLOAT;
                        case FLOAT16 -> OnnxJavaType.FLOAT16;
                        case INT64 -> OnnxJavaType.INT64;
                    };
                    long[] dims = switch (shape) {
                        case SCALAR -> new long[0];
                        case ONE -> new long[] {1};
                        case BATCH -> new long[] {-1};
                    };
                    assertSignature(unet.inputs(), "timestep", javaType, dims);
                    long[] one = shape == TimestepShape.SCALAR ? new long[0] : new long[] {1};
                    assertArrayEquals(expected, run(unet, in.tensors(false, timestep(type, 500, one))).values(),
                            type + " " + shape);
                    if (shape == TimestepShape.BATCH) {
                        float[] perRow = run(unet, in.tensors(false, timestep(type, 500, 2))).values();
                        assertArrayEquals(expected, perRow, type + " one timestep per row");
                    }
                }
            }
        }
    }

    private static OnnxTensor timestep(TimestepType type, int value, long... shape) throws OrtException {
        int n = shape.length == 0 ? 1 : (int) shape[0];
        float[] floats = new float[n];
        long[] longs = new long[n];
        java.util.Arrays.fill(floats, value);
        java.util.Arrays.fill(longs, value);
        return switch (type) {
            case FLOAT -> Ort.floats(floats, shape);
            case FLOAT16 -> Ort.halfs(floats, shape);
            case INT64 -> Ort.longs(longs, shape);
        };
    }

    @Test
    void externalDataHoldsTheSameWeights() throws IOException, OrtException {
        ModelFamily family = ModelFamily.SD15;
        WrittenPipeline base = TinyPipelines.of(family);
        Path folder = TinyPipelines.folder(family.id() + "-external");
        ModelFile file = PipelineWriter.writeUnet(folder, base.spec().unet(),
                ExportOptions.defaults().withUnetExternalData(true), TinyPipelines.SEED);
        Path data = folder.resolve("unet").resolve("model.onnx_data");
        assertEquals(data, file.externalData().orElseThrow());
        assertTrue(Files.size(data) > 9 * Files.size(file.model()), "the weights are in model.onnx_data");
        assertEquals(Files.size(file.model()) + Files.size(data), file.bytes());
        OnnxFile onnx = OnnxFile.read(file.model());
        OnnxFile.Initializer conv = onnx.initializers.get("down_blocks.0.resnets.0.conv1.weight");
        assertTrue(conv.external());
        assertEquals("model.onnx_data", conv.externalData().get("location"), "a relative location");
        String text = new String(Files.readAllBytes(file.model()), StandardCharsets.ISO_8859_1);
        assertFalse(text.contains(folder.toString()), "no absolute path in model.onnx");

        PipelineRunTest.UnetInputs in = PipelineRunTest.UnetInputs.random(base.spec().unet(), 8, 8, 6);
        try (Ort inline = new Ort(base.model("unet").model()); Ort external = new Ort(file.model())) {
            assertArrayEquals(run(inline, in.tensors(700f)).values(), run(external, in.tensors(700f)).values());
        }
    }

    @ParameterizedTest
    @EnumSource(value = Precision.class, names = {"FLOAT16_STORAGE", "FLOAT16"})
    void halfPrecisionComputesTheSameFunction(Precision precision) throws IOException, OrtException {
        for (ModelFamily family : ModelFamily.values()) {
            WrittenPipeline base = TinyPipelines.of(family);
            WrittenPipeline half = PipelineWriter.write(TinyPipelines.folder(family.id() + "-" + precision),
                    PipelineSpec.tiny(family), ExportOptions.defaults().withPrecision(precision), TinyPipelines.SEED);
            // weights stored as FLOAT16, Cast nodes only where computation is FLOAT
            OnnxFile unetFile = OnnxFile.read(half.model("unet").model());
            assertEquals(10, unetFile.initializers.get("conv_in.weight").dataType());
            boolean casts = unetFile.nodes.stream().anyMatch(n -> n.name().equals("/conv_in/Cast"));
            assertEquals(precision == Precision.FLOAT16_STORAGE, casts, "Cast before conv_in");
            assertEquals(base.model("unet").parameters(), half.model("unet").parameters());
            assertTrue(half.model("unet").bytes() < base.model("unet").bytes() * 0.6, "fp16 halves the size");

            // an fp16 SDXL UNet takes ~15 s to open on the CPU provider (a Cast inserted around thousands of nodes);
            // FLOAT16_STORAGE covers SDXL's half-precision inputs, SD 1.5 covers FLOAT16 compute
            boolean unetToo = family == ModelFamily.SD15 || precision == Precision.FLOAT16_STORAGE;
            if (unetToo) {
                PipelineRunTest.UnetInputs in = PipelineRunTest.UnetInputs.random(base.spec().unet(), 8, 8, 8);
                try (Ort full = new Ort(base.model("unet").model()); Ort unet = new Ort(half.model("unet").model())) {
                    assertSignature(unet.inputs(), "sample", OnnxJavaType.FLOAT16, -1, 4, -1, -1);
                    assertSignature(unet.outputs(), "out_sample", OnnxJavaType.FLOAT16, -1, 4, -1, -1);
                    float[] expected = run(full, in.tensors(300f)).values();
                    float[] actual = run(unet, in.tensors(true, Ort.floats(new float[] {300f}))).values();
                    assertUsable(precision + " out_sample", actual);
                    assertClose(expected, actual, 0.05f, family + " " + precision + " UNet");
                }
            }
            int[] ids = PipelineRunTest.ids(base, new int[] {3, 8}, new int[] {base.eosTokenId(), 0}, 2);
            try (Ort full = new Ort(base.model("text_encoder").model());
                    Ort text = new Ort(half.model("text_encoder").model())) {
                assertSignature(text.outputs(), "last_hidden_state", OnnxJavaType.FLOAT16, -1, 77, 32);
                assertClose(full.run(inputs("input_ids", Ort.ints(ids, 2, 77))).get("last_hidden_state").values(),
                        text.run(inputs("input_ids", Ort.ints(ids, 2, 77))).get("last_hidden_state").values(),
                        0.05f, family + " " + precision + " text encoder");
            }
            float[] latents = PipelineRunTest.normal(new java.util.Random(3), 2 * 4 * 8 * 8);
            try (Ort full = new Ort(base.model("vae_decoder").model());
                    Ort vae = new Ort(half.model("vae_decoder").model())) {
                assertClose(full.run(inputs("latent_sample", Ort.floats(latents, 2, 4, 8, 8))).get("sample").values(),
                        vae.run(inputs("latent_sample", Ort.halfs(latents, 2, 4, 8, 8))).get("sample").values(),
                        0.05f, family + " " + precision + " VAE");
            }
        }
    }
}
