package io.lorica.engine.onnx;

import static io.lorica.engine.onnx.TestGraphs.CONV1;
import static io.lorica.engine.onnx.TestGraphs.DOWNSAMPLER;
import static io.lorica.engine.onnx.TestGraphs.PROJ_IN;
import static io.lorica.engine.onnx.TestGraphs.TO_K;
import static io.lorica.engine.onnx.TestGraphs.TO_OUT;
import static io.lorica.engine.onnx.TestGraphs.TO_Q;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.lorica.api.DType;
import io.lorica.api.TensorData;
import io.lorica.engine.onnx.TestGraphs.Generated;
import io.lorica.engine.onnx.TestGraphs.Style;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class OnnxModelTest {

    @TempDir
    Path dir;

    @Test
    void readsGraphInputsOutputsNodesAndEmbeddedInitializers() {
        Generated g = TestGraphs.unet(dir, Style.LEGACY, false, 1);
        OnnxModel model = OnnxModel.read(g.file());
        assertEquals(17, model.opsetVersion());
        assertEquals(List.of("sample", "encoder_hidden_states"),
                model.inputs().stream().map(ValueInfo::name).collect(Collectors.toList()));
        ValueInfo sample = model.inputs().get(0);
        assertEquals(DType.F32, sample.dtype().orElseThrow());
        assertEquals("[batch, 8, 4, 4]", sample.shape().toString());
        assertFalse(sample.shape().get(0).isFixed());
        assertEquals(List.of("out_sample", "attn_out"),
                model.outputs().stream().map(ValueInfo::name).collect(Collectors.toList()));
        Node conv = model.nodes().stream().filter(n -> n.name().equals("/down_blocks.0/downsamplers.0/conv/Conv"))
                .findFirst().orElseThrow();
        assertEquals("Conv", conv.opType());
        assertEquals(List.of(2L, 2L), conv.longsAttribute("strides", List.of()));
        assertEquals("down_blocks.0.downsamplers.0.conv.weight", conv.inputs().get(1));
        Initializer w = model.initializer(CONV1 + ".weight").orElseThrow();
        assertEquals(Initializer.Storage.RAW_DATA, w.storage());
        assertEquals(DType.F32, w.dtype());
        assertArrayEquals(new long[] {16, 8, 3, 3}, w.shape());
        assertArrayEquals(g.weights().get(CONV1), w.data().toFloatArray());
        Initializer anonymous = model.initializers().values().stream().filter(i -> i.name().startsWith("onnx::MatMul_"))
                .findFirst().orElseThrow();
        assertArrayEquals(new long[] {12, 16}, anonymous.shape());
    }

    @Test
    void externalDataIsMemoryMappedAndZeroCopy() {
        Generated g = TestGraphs.unet(dir, Style.DYNAMO, true, 2);
        OnnxModel model = OnnxModel.read(g.file());
        Initializer w = model.initializer(PROJ_IN + ".weight").orElseThrow();
        assertEquals(Initializer.Storage.EXTERNAL, w.storage());
        assertEquals("model.onnx_data", w.externalLocation().orElseThrow());
        assertTrue(w.bytes().isDirect(), "a view of the mapping, not a heap copy");
        assertTrue(w.bytes().isReadOnly());
        assertArrayEquals(g.weights().get(PROJ_IN), w.data().toFloatArray());
        Initializer half = model.initializer(TO_OUT + ".weight").orElseThrow();
        assertEquals(DType.F16, half.dtype());
        assertArrayEquals(g.weights().get(TO_OUT), half.data().toFloatArray());
        // small biases stay embedded
        assertEquals(Initializer.Storage.RAW_DATA, model.initializer(PROJ_IN + ".bias").orElseThrow().storage());
        assertEquals(1, model.mappingCount(), "one window covers the whole small file");
    }

    @Test
    void smallMappingWindowsStillGiveEveryTensor() {
        Generated g = TestGraphs.unet(dir, Style.LEGACY, true, 3);
        OnnxModel model = OnnxModel.read(g.file(), 256);
        for (String module : List.of(CONV1, PROJ_IN, DOWNSAMPLER)) {
            assertArrayEquals(g.weights().get(module),
                    model.initializer(module + ".weight").orElseThrow().data().toFloatArray(), module);
        }
        assertTrue(model.mappingCount() > 1, "several windows / dedicated mappings: " + model.mappingCount());
    }

    @Test
    void roundTripKeepsExternalDataExternalAndWritesNoSecondCopy() throws Exception {
        Generated g = TestGraphs.unet(dir, Style.LEGACY, true, 4);
        Path data = dir.resolve("model.onnx_data");
        byte[] before = digest(data);
        OnnxModel model = OnnxModel.read(g.file());
        assertArrayEquals(Files.readAllBytes(g.file()), model.toBytes());
        Path copy = dir.resolve("copy.onnx");
        model.write(copy);
        assertArrayEquals(before, digest(data));
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of("copy.onnx", "model.onnx", "model.onnx_data"),
                    files.map(p -> p.getFileName().toString()).sorted().collect(Collectors.toList()));
        }
        assertTrue(Files.size(copy) < Files.size(data), "the weights are not in the model file");
        OnnxModel reread = OnnxModel.read(copy);
        assertEquals(model.proto(), reread.proto());
        for (Initializer i : model.initializers().values()) {
            Initializer j = reread.initializer(i.name()).orElseThrow();
            assertEquals(i.storage(), j.storage());
            assertEquals(i.bytes(), j.bytes(), i.name());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> model.write(dir.resolve("sub").resolve("x.onnx")));
        assertTrue(e.getMessage().contains("only be written into that folder"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> model.write(data));
        assertTrue(e.getMessage().contains("overwrite the external data"), e.getMessage());
    }

    @Test
    void typedFieldsAreViewedAsBytes() {
        TensorProto floats = TensorProto.newBuilder().setName("f").setDataType(OnnxTypes.FLOAT).addDims(2)
                .addFloatData(1.5f).addFloatData(-2f).build();
        TensorProto longs = TensorProto.newBuilder().setName("l").setDataType(OnnxTypes.INT64).addDims(3)
                .addInt64Data(7).addInt64Data(-1).addInt64Data(1L << 40).build();
        TensorProto halves = TensorProto.newBuilder().setName("h").setDataType(OnnxTypes.FLOAT16).addDims(1)
                .addInt32Data(0x3c00).build();
        TensorProto doubles = TensorProto.newBuilder().setName("d").setDataType(OnnxTypes.DOUBLE).addDims(1)
                .addDoubleData(0.25).build();
        OnnxModel model = OnnxModel.read(writeModel(floats, longs, halves, doubles));
        assertEquals(Initializer.Storage.TYPED_FIELD, model.initializer("f").orElseThrow().storage());
        assertArrayEquals(new float[] {1.5f, -2f}, model.initializer("f").orElseThrow().data().toFloatArray());
        ByteBuffer l = model.initializer("l").orElseThrow().bytes();
        assertEquals(7, l.getLong());
        assertEquals(-1, l.getLong());
        assertEquals(1L << 40, l.getLong());
        assertArrayEquals(new float[] {1f}, model.initializer("h").orElseThrow().data().toFloatArray());
        assertArrayEquals(new float[] {0.25f}, model.initializer("d").orElseThrow().data().toFloatArray());
        TensorProto wrong = floats.toBuilder().setName("w").addDims(2).build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> OnnxModel.read(writeModel(wrong)));
        assertTrue(e.getMessage().contains("'w'") && e.getMessage().contains("4 elements"), e.getMessage());
    }

    @ParameterizedTest
    @CsvSource({
        "model.onnx_data, 0, 999999, 'needs 1024 bytes, but its external data length is 999999'",
        "model.onnx_data, 64, 1024, which has only 1024 bytes",
        "missing.bin, 0, 1024, does not exist",
        "../model.onnx_data, 0, 1024, containing '..'",
        "sub/../../model.onnx_data, 0, 1024, containing '..'",
        "/etc/passwd, 0, 1024, absolute external data location",
    })
    void externalDataErrorsNameFileInitializerAndProblem(String location, long offset, long length, String problem)
            throws IOException {
        Files.write(dir.resolve("model.onnx_data"), new byte[1024]);
        TensorProto tensor = TensorProto.newBuilder().setName("big.weight").setDataType(OnnxTypes.FLOAT).addDims(16)
                .addDims(16).setDataLocation(TensorProto.DataLocation.EXTERNAL)
                .addExternalData(TestGraphs.entry("location", location))
                .addExternalData(TestGraphs.entry("offset", Long.toString(offset)))
                .addExternalData(TestGraphs.entry("length", Long.toString(length))).build();
        Path file = writeModel(tensor);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> OnnxModel.read(file));
        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("'big.weight'"), e.getMessage());
        assertTrue(e.getMessage().contains(problem), e.getMessage());
    }

    @Test
    void rawDataOfWrongSizeAndUnreadableFilesAreRejected() throws IOException {
        TensorProto tensor = TensorProto.newBuilder().setName("x").setDataType(OnnxTypes.FLOAT16).addDims(3)
                .setRawData(com.google.protobuf.ByteString.copyFrom(new byte[4])).build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> OnnxModel.read(writeModel(tensor)));
        assertTrue(e.getMessage().contains("needs 6 bytes, but raw_data has 4"), e.getMessage());
        Path garbage = dir.resolve("garbage.onnx");
        Files.write(garbage, new byte[] {(byte) 0xff, (byte) 0xff, 1, 2, 3});
        e = assertThrows(IllegalArgumentException.class, () -> OnnxModel.read(garbage));
        assertTrue(e.getMessage().contains("garbage.onnx"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> OnnxModel.read(dir.resolve("none.onnx")));
        assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
    }

    @ParameterizedTest
    @CsvSource({"LEGACY, false", "LEGACY, true", "DYNAMO, false", "DYNAMO, true"})
    void modifiedModelRunsInOnnxRuntimeAndMatchesReferenceMath(Style style, boolean external) throws Exception {
        Generated g = TestGraphs.unet(dir, style, external, 5);
        OnnxModel model = OnnxModel.read(g.file());
        // patch proj_in with new weights, embedded; the other weights stay where they were
        float[] patched = new float[16 * 16];
        Random r = new Random(9);
        for (int i = 0; i < patched.length; i++) {
            patched[i] = r.nextFloat() - 0.5f;
        }
        OnnxModel modified = model.withInitializer(PROJ_IN + ".weight",
                TensorData.ofFloats(new long[] {16, 16, 1, 1}, patched));
        Path out = dir.resolve("patched.onnx");
        modified.write(out);
        if (external) {
            assertTrue(OnnxModel.read(out).initializer(CONV1 + ".weight").orElseThrow().isExternal());
        }
        int n = 2;
        float[] sample = random(r, n * 8 * 4 * 4);
        float[] ehs = random(r, n * 3 * 12);
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession session = external ? env.createSession(out.toString(), new OrtSession.SessionOptions())
                : env.createSession(modified.toBytes(), new OrtSession.SessionOptions());
                OnnxTensor s = OnnxTensor.createTensor(env, FloatBuffer.wrap(sample), new long[] {n, 8, 4, 4});
                OnnxTensor e = OnnxTensor.createTensor(env, FloatBuffer.wrap(ehs), new long[] {n, 3, 12});
                OrtSession.Result result = session.run(Map.of("sample", s, "encoder_hidden_states", e))) {
            float[] convOut = flat(((OnnxTensor) result.get("out_sample").orElseThrow()).getFloatBuffer());
            float[] attnOut = flat(((OnnxTensor) result.get("attn_out").orElseThrow()).getFloatBuffer());
            Map<String, float[]> w = g.weights();
            Map<String, float[]> b = g.biases();
            float[] x = Reference.conv(sample, n, 8, 4, 4, w.get(CONV1), b.get(CONV1), 16, 3, 1, 1);
            x = Reference.conv(x, n, 16, 4, 4, patched, b.get(PROJ_IN), 16, 1, 1, 0);
            x = Reference.conv(x, n, 16, 4, 4, w.get(DOWNSAMPLER), b.get(DOWNSAMPLER), 16, 3, 2, 1);
            assertClose(x, convOut);
            float[] h = Reference.linear(ehs, n * 3, w.get(TO_K), null, 12, 16);
            h = Reference.linear(h, n * 3, w.get(TO_Q), null, 16, 16);
            h = Reference.linear(h, n * 3, w.get(TO_OUT), b.get(TO_OUT), 16, 16);
            assertClose(h, attnOut);
        }
    }

    @Test
    void dataFilesAbove2GiBAreMappedInWindows() throws Exception {
        // a sparse 3 GiB data file: tensors before, across and after the 2 GiB mark
        Path data = dir.resolve("model.onnx_data");
        long[] offsets = {0, (1L << 30) - 512, (2L << 30) - 100, (3L << 30) - 1024};
        float[][] values = new float[offsets.length][];
        try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(data,
                java.nio.file.StandardOpenOption.CREATE_NEW, java.nio.file.StandardOpenOption.WRITE)) {
            for (int t = 0; t < offsets.length; t++) {
                values[t] = new float[256];
                ByteBuffer bytes = ByteBuffer.allocate(1024).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < 256; i++) {
                    values[t][i] = t * 1000 + i;
                    bytes.putFloat(values[t][i]);
                }
                bytes.flip();
                channel.write(bytes, offsets[t]);
            }
        }
        assertEquals(3L << 30, Files.size(data));
        TensorProto[] tensors = new TensorProto[offsets.length];
        for (int t = 0; t < offsets.length; t++) {
            tensors[t] = TensorProto.newBuilder().setName("t" + t).setDataType(OnnxTypes.FLOAT).addDims(256)
                    .setDataLocation(TensorProto.DataLocation.EXTERNAL)
                    .addExternalData(TestGraphs.entry("location", "model.onnx_data"))
                    .addExternalData(TestGraphs.entry("offset", Long.toString(offsets[t])))
                    .addExternalData(TestGraphs.entry("length", "1024")).build();
        }
        OnnxModel model = OnnxModel.read(writeModel(tensors));
        for (int t = 0; t < offsets.length; t++) {
            assertArrayEquals(values[t], model.initializer("t" + t).orElseThrow().data().toFloatArray(), "t" + t);
        }
        assertTrue(model.mappingCount() >= 3, "windows: " + model.mappingCount());
    }

    @Test
    void modelFilesAboveTheProtobufLimitAreRejected() throws Exception {
        Path huge = dir.resolve("huge.onnx");
        try (java.io.RandomAccessFile file = new java.io.RandomAccessFile(huge.toFile(), "rw")) {
            file.setLength(Integer.MAX_VALUE + 10L);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> OnnxModel.read(huge));
        assertTrue(e.getMessage().contains("huge.onnx") && e.getMessage().contains("2 GB protobuf limit"),
                e.getMessage());
    }

    @ParameterizedTest
    @CsvSource({"LEGACY", "DYNAMO"})
    void textEncoderGraphsRunInOnnxRuntime(Style style) throws Exception {
        Generated g = TestGraphs.textEncoder(dir, style, true, 7);
        OnnxModel model = OnnxModel.read(g.file());
        Path out = dir.resolve("te.onnx");
        model.write(out);
        float[] hidden = random(new Random(3), 5 * 8);
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession session = env.createSession(out.toString(), new OrtSession.SessionOptions());
                OnnxTensor h = OnnxTensor.createTensor(env, FloatBuffer.wrap(hidden), new long[] {5, 8});
                OrtSession.Result result = session.run(Map.of("hidden", h))) {
            float[] actual = flat(((OnnxTensor) result.get(0)).getFloatBuffer());
            String q = TestGraphs.Q_PROJ;
            assertClose(Reference.linear(hidden, 5, g.weights().get(q), g.biases().get(q), 8, 8), actual);
        }
    }

    @Test
    void withInitializerRejectsUnknownNames() {
        OnnxModel model = OnnxModel.read(TestGraphs.unet(dir, Style.LEGACY, false, 6).file());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> model.withInitializer("nope", TensorData.ofFloats(new long[] {1}, 1f)));
        assertTrue(e.getMessage().contains("'nope'"), e.getMessage());
    }

    private Path writeModel(TensorProto... initializers) {
        try {
            ModelProto model = ModelProto.newBuilder().setIrVersion(8)
                    .setGraph(GraphProto.newBuilder().setName("g").addAllInitializer(List.of(initializers))).build();
            Path file = Files.createTempFile(dir, "model", ".onnx");
            Files.write(file, model.toByteArray());
            return file;
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static float[] random(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = r.nextFloat() * 2 - 1;
        }
        return v;
    }

    private static float[] flat(FloatBuffer buffer) {
        float[] out = new float[buffer.remaining()];
        buffer.get(out);
        return out;
    }

    private static void assertClose(float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], 1e-4, "element " + i);
        }
    }

    private static byte[] digest(Path file) throws Exception {
        return MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file));
    }
}
