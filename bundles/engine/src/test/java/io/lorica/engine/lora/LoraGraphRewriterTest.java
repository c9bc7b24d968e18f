package io.lorica.engine.lora;

import static io.lorica.engine.lora.LoraFixtures.ENV;
import static io.lorica.engine.lora.LoraFixtures.a1;
import static io.lorica.engine.lora.LoraFixtures.a2;
import static io.lorica.engine.lora.LoraFixtures.scales;
import static io.lorica.engine.onnx.TestGraphs.CONV1;
import static io.lorica.engine.onnx.TestGraphs.Q_PROJ;
import static io.lorica.engine.onnx.TestGraphs.TO_K;
import static io.lorica.engine.onnx.TestGraphs.TO_OUT;
import static io.lorica.engine.onnx.TestGraphs.TO_Q;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtSession;
import io.lorica.api.Component;
import io.lorica.api.DType;
import io.lorica.api.ModelFamily;
import io.lorica.api.TensorData;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LayerKind;
import io.lorica.api.adapter.LoadReport;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.adapter.LoraModule;
import io.lorica.api.policy.EffectiveScales;
import io.lorica.engine.index.ModuleIndex;
import io.lorica.engine.onnx.OnnxModel;
import io.lorica.engine.onnx.Reference;
import io.lorica.engine.onnx.TestGraphs;
import io.lorica.engine.onnx.TestGraphs.Style;
import io.lorica.engine.onnx.ValueInfo;

import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.stream.Collectors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class LoraGraphRewriterTest {

    @TempDir
    Path dir;

    @Test
    void namesInputsWithSymbolicRankAndKeepsOutputs() {
        OnnxModel model = OnnxModel.read(TestGraphs.unet(dir, Style.LEGACY, false, 1).file());
        ModuleIndex index = ModuleIndex.build(model, TestGraphs.catalog(), Component.UNET);
        LoraGraphRewriter.Rewritten rewritten = LoraGraphRewriter.rewrite(model, index);
        BranchLayout layout = rewritten.layout();
        assertEquals(Component.UNET, layout.component());
        assertEquals(Map.of(), layout.skipped());
        BranchLayout.Branch toK = layout.branch(TO_K).orElseThrow();
        assertEquals(new BranchLayout.Branch(TO_K, LayerKind.LINEAR, DType.F32, "lora_down::" + TO_K, "lora_up::" + TO_K,
                "lora_rank::" + TO_K, 12, 16, 1, 1), toK);
        BranchLayout.Branch conv = layout.branch(CONV1).orElseThrow();
        assertEquals(new BranchLayout.Branch(CONV1, LayerKind.CONV, DType.F32, "lora_down::" + CONV1, "lora_up::" + CONV1,
                "lora_rank::" + CONV1, 8, 16, 3, 3), conv);
        Map<String, ValueInfo> inputs = rewritten.model().inputs().stream()
                .collect(Collectors.toMap(ValueInfo::name, v -> v));
        assertEquals("[lora_rank::" + TO_K + ", 12]", inputs.get(toK.downInput()).shape().toString());
        assertEquals("[lora_rank::" + TO_K + ", 16]", inputs.get(toK.upInput()).shape().toString());
        assertEquals("[lora_rank::" + CONV1 + ", 8, 3, 3]", inputs.get(conv.downInput()).shape().toString());
        assertEquals("[16, lora_rank::" + CONV1 + ", 1, 1]", inputs.get(conv.upInput()).shape().toString());
        assertEquals(2 + 2 * 6, inputs.size());
        assertEquals(model.outputs(), rewritten.model().outputs());
        IllegalArgumentException twice = assertThrows(IllegalArgumentException.class,
                () -> LoraGraphRewriter.rewrite(rewritten.model(), ModuleIndex.build(rewritten.model(),
                        TestGraphs.catalog(), Component.UNET)));
        assertTrue(twice.getMessage().contains("already exists"), twice.getMessage());
    }

    @Test
    void layersWithoutBranchAreReportedNotDropped() throws Exception {
        OnnxModel model = OnnxModel.read(TestGraphs.unet(dir, Style.DYNAMO, false, 2).file());
        ModuleIndex index = ModuleIndex.build(model, TestGraphs.catalog(), Component.UNET);
        LoraGraphRewriter.Rewritten rewritten = LoraGraphRewriter.rewrite(model, index, List.of(CONV1, TO_Q));
        Map<String, LoraAdapter> adapters = Map.of("a1", a1());
        try (DynamicInputs.Request request = LoraFixtures.inputs(rewritten.layout(),
                scales("a1", adapters.get("a1"), 1), adapters)) {
            assertEquals(4, request.tensors().size());
            assertEquals(List.of(), request.needsFusedPath());
            assertEquals(2, request.unapplied().size());
            assertTrue(request.unapplied().stream().allMatch(u -> u.reason() == DynamicInputs.Reason.NO_BRANCH));
        }
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class, () -> LoraFixtures.inputs(
                rewritten.layout(), scales("a2", a2(), 1), adapters));
        assertTrue(missing.getMessage().contains("'a2'"), missing.getMessage());
    }

    @Test
    void gemmWithAlphaIsSkippedWithReason() {
        OnnxModel model = OnnxModel.read(TestGraphs.textEncoder(dir, Style.DYNAMO, false, 3).file());
        GraphProto.Builder graph = model.proto().getGraph().toBuilder();
        for (int i = 0; i < graph.getNodeCount(); i++) {
            NodeProto node = graph.getNode(i);
            if (node.getOpType().equals("Gemm")) {
                graph.setNode(i, node.toBuilder().addAttribute(AttributeProto.newBuilder().setName("alpha")
                        .setType(AttributeProto.AttributeType.FLOAT).setF(2f)));
            }
        }
        OnnxModel scaled = model.withProto(model.proto().toBuilder().setGraph(graph).build());
        ModuleIndex index = ModuleIndex.build(scaled, TestGraphs.catalog(), Component.TEXT_ENCODER);
        LoraGraphRewriter.Rewritten rewritten = LoraGraphRewriter.rewrite(scaled, index);
        assertEquals(Map.of(), rewritten.layout().branches());
        assertEquals(Map.of(Q_PROJ, "Gemm with alpha=2.0"), rewritten.layout().skipped());
    }

    /** Text encoder: MatMul + Add bias (legacy) and Gemm transB=1 (dynamo), dynamic == fused == reference. */
    @ParameterizedTest
    @EnumSource(Style.class)
    void textEncoderLinearAndGemm(Style style) throws Exception {
        TestGraphs.Generated g = TestGraphs.textEncoder(dir, style, false, 4);
        OnnxModel model = OnnxModel.read(g.file());
        ModuleIndex index = ModuleIndex.build(model, TestGraphs.catalog(), Component.TEXT_ENCODER);
        LayerGeometry geometry = TestGraphs.TEXT_MODULES.get(Q_PROJ);
        Random random = new Random(8);
        float[] a = LoraFixtures.random(random, geometry.aShape(3));
        float[] b = LoraFixtures.random(random, geometry.bShape(3));
        LoraModule module = LoraModule.of(Component.TEXT_ENCODER, Q_PROJ, geometry, 6f,
                TensorData.ofFloats(geometry.aShape(3), a), TensorData.ofFloats(geometry.bShape(3), b));
        LoraAdapter adapter = new LoraAdapter("peft", ModelFamily.SD15, Map.of(Component.TEXT_ENCODER,
                Map.of(Q_PROJ, module)), Map.of(), LoadReport.empty());
        float s = 0.7f * module.scale();
        EffectiveScales scales = EffectiveScales.builder().put(Component.TEXT_ENCODER, Q_PROJ, "te", s).build();
        Map<String, LoraAdapter> adapters = Map.of("te", adapter);
        float[] w = g.weights().get(Q_PROJ).clone();
        for (int o = 0; o < 8; o++) {
            for (int i = 0; i < 8; i++) {
                for (int k = 0; k < 3; k++) {
                    w[o * 8 + i] += s * b[o * 3 + k] * a[k * 8 + i];
                }
            }
        }
        float[] hidden = LoraFixtures.random(random, new long[] {5, 8});
        float[] expected = Reference.linear(hidden, 5, w, g.biases().get(Q_PROJ), 8, 8);
        LoraGraphRewriter.Rewritten rewritten = LoraGraphRewriter.rewrite(model, index);
        OnnxModel fused = WeightFuser.apply(model, new WeightFuser(model, index).fuse(scales, adapters, true));
        try (OrtSession dynamic = ENV.createSession(rewritten.model().toBytes(), new OrtSession.SessionOptions());
                OrtSession merged = ENV.createSession(fused.toBytes(), new OrtSession.SessionOptions());
                DynamicInputs.Request request = LoraFixtures.inputs(rewritten.layout(), scales, adapters);
                OnnxTensor h = OnnxTensor.createTensor(ENV, FloatBuffer.wrap(hidden), new long[] {5, 8})) {
            Map<String, OnnxTensor> inputs = new HashMap<>(request.tensors());
            inputs.put("hidden", h);
            float[] dynamicOut;
            try (OrtSession.Result result = dynamic.run(inputs)) {
                dynamicOut = LoraFixtures.flat(((OnnxTensor) result.get(0)).getFloatBuffer());
            }
            float[] fusedOut;
            try (OrtSession.Result result = merged.run(Map.of("hidden", h))) {
                fusedOut = LoraFixtures.flat(((OnnxTensor) result.get(0)).getFloatBuffer());
            }
            LoraFixtures.assertClose(new float[][] {expected}, new float[][] {dynamicOut}, 1e-4);
            LoraFixtures.assertClose(new float[][] {expected}, new float[][] {fusedOut}, 1e-4);
        }
    }

    /** lora_B.bias: reported by the dynamic path; merged into the base bias; refused where the layer has none. */
    @Test
    void loraBias() throws Exception {
        TestGraphs.Generated g = TestGraphs.unet(dir, Style.LEGACY, false, 5);
        OnnxModel model = OnnxModel.read(g.file());
        ModuleIndex index = ModuleIndex.build(model, TestGraphs.catalog(), Component.UNET);
        LoraModule plain = LoraFixtures.lora(TO_OUT, 2, 2f, 41);
        float[] loraBias = LoraFixtures.random(new Random(42), new long[] {16});
        LoraModule withBias = new LoraModule(Component.UNET, TO_OUT, plain.geometry(), 2, 2f, plain.a(), plain.b(),
                Optional.of(TensorData.ofFloats(new long[] {16}, loraBias)), Optional.empty(), Optional.empty());
        LoraAdapter adapter = LoraFixtures.adapter(withBias);
        Map<String, LoraAdapter> adapters = Map.of("biased", adapter);
        EffectiveScales scales = scales("biased", adapter, 0.5);
        try (DynamicInputs.Request request = LoraFixtures.inputs(
                LoraGraphRewriter.rewrite(model, index).layout(), scales, adapters)) {
            assertEquals(List.of(new DynamicInputs.Unapplied("biased", TO_OUT, DynamicInputs.Reason.LORA_BIAS)),
                    request.needsFusedPath());
        }
        Map<String, TensorData> fused = new WeightFuser(model, index).fuse(scales, adapters, true);
        float[] bias = fused.get(TO_OUT + ".bias").toFloatArray();
        for (int o = 0; o < 16; o++) {
            assertEquals(g.biases().get(TO_OUT)[o] + 0.5f * loraBias[o], bias[o], 1e-6);
        }
        LoraModule onToQ = new LoraModule(Component.UNET, TO_Q, plain.geometry(), 2, 2f, plain.a(), plain.b(),
                Optional.of(TensorData.ofFloats(new long[] {16}, loraBias)), Optional.empty(), Optional.empty());
        LoraAdapter noBase = LoraFixtures.adapter(onToQ);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new WeightFuser(model, index)
                .fuse(scales("nb", noBase, 1), Map.of("nb", noBase), true));
        assertTrue(e.getMessage().contains(
                "Impossible to merge LoRA with `lora_bias=True` because the base layer has no bias."), e.getMessage());
    }
}
