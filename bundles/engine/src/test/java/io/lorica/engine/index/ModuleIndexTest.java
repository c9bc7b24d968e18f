package io.lorica.engine.index;

import static io.lorica.engine.onnx.TestGraphs.CONV1;
import static io.lorica.engine.onnx.TestGraphs.DOWNSAMPLER;
import static io.lorica.engine.onnx.TestGraphs.PROJ_IN;
import static io.lorica.engine.onnx.TestGraphs.Q_PROJ;
import static io.lorica.engine.onnx.TestGraphs.TO_K;
import static io.lorica.engine.onnx.TestGraphs.TO_OUT;
import static io.lorica.engine.onnx.TestGraphs.TO_Q;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.TensorProto;
import io.lorica.api.Component;
import io.lorica.api.DType;
import io.lorica.api.ModelFamily;
import io.lorica.api.TensorData;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LoadReport;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.adapter.LoraModule;
import io.lorica.api.format.ModuleCatalog;
import io.lorica.engine.index.LayerBinding.LayerOp;
import io.lorica.engine.index.LayerBinding.WeightLayout;
import io.lorica.engine.onnx.OnnxModel;
import io.lorica.engine.onnx.TestGraphs;
import io.lorica.engine.onnx.TestGraphs.Style;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ModuleIndexTest {

    @TempDir
    Path dir;

    @ParameterizedTest
    @CsvSource({"LEGACY, false", "LEGACY, true", "DYNAMO, false", "DYNAMO, true"})
    void findsEveryUnetModuleWithLayoutAndGeometry(Style style, boolean external) {
        OnnxModel model = OnnxModel.read(TestGraphs.unet(dir, style, external, 1).file());
        ModuleIndex index = ModuleIndex.build(model, TestGraphs.catalog(), Component.UNET);
        assertEquals(Map.of(), index.problems());
        assertEquals(List.copyOf(TestGraphs.UNET_MODULES.keySet()), List.copyOf(index.bindings().keySet()));
        for (Map.Entry<String, LayerGeometry> e : TestGraphs.UNET_MODULES.entrySet()) {
            assertEquals(e.getValue(), index.bindings().get(e.getKey()).geometry(), e.getKey());
        }
        LayerBinding conv1 = index.binding(CONV1).orElseThrow();
        assertEquals(LayerOp.CONV, conv1.op());
        assertEquals(WeightLayout.OUT_IN_KH_KW, conv1.layout());
        assertEquals(CONV1 + ".weight", conv1.weightInitializer());
        assertEquals(Optional.of(CONV1 + ".bias"), conv1.bias());
        assertArrayEquals(new long[] {16, 8, 3, 3}, conv1.weightShape());
        assertEquals(List.of(1L, 1L, 1L, 1L), conv1.pads());
        assertEquals(1, conv1.group());
        LayerBinding down = index.binding(DOWNSAMPLER).orElseThrow();
        assertEquals(List.of(2L, 2L), down.strides());
        assertEquals(LayerGeometry.conv(16, 16, 3, 2, 1), down.geometry());
        LayerBinding toK = index.binding(TO_K).orElseThrow();
        LayerBinding toOut = index.binding(TO_OUT).orElseThrow();
        assertEquals(LayerOp.MATMUL, toK.op());
        assertEquals(Optional.empty(), toK.bias());
        assertEquals(Optional.of(TO_OUT + ".bias"), toOut.bias());
        if (style == Style.LEGACY) {
            assertEquals("/down_blocks.0/attentions.0/transformer_blocks.0/attn2/to_k/MatMul", toK.nodeName());
            assertTrue(toK.weightInitializer().startsWith("onnx::MatMul_"), toK.weightInitializer());
            assertEquals(WeightLayout.IN_OUT, toK.layout());
            assertArrayEquals(new long[] {12, 16}, toK.weightShape());
            assertEquals(List.of(), toK.weightPath());
            assertEquals("/down_blocks.0/resnets.0/conv1/Conv", conv1.nodeName());
        } else {
            assertTrue(toK.nodeName().startsWith("node_MatMul_"), toK.nodeName());
            assertEquals(TO_K + ".weight", toK.weightInitializer());
            assertEquals(WeightLayout.OUT_IN, toK.layout());
            assertArrayEquals(new long[] {16, 12}, toK.weightShape());
            assertEquals(1, toK.weightPath().size());
            assertEquals(DType.F16, toOut.weightDType());
            assertEquals(2, toOut.weightPath().size(), "Cast then Transpose: " + toOut.weightPath());
            assertTrue(conv1.nodeName().startsWith("node_Conv_"));
        }
    }

    @ParameterizedTest
    @CsvSource({"LEGACY, MATMUL, IN_OUT", "DYNAMO, GEMM, OUT_IN"})
    void findsTheTextEncoderProjection(Style style, LayerOp op, WeightLayout layout) {
        OnnxModel model = OnnxModel.read(TestGraphs.textEncoder(dir, style, false, 2).file());
        ModuleIndex index = ModuleIndex.build(model, TestGraphs.catalog(), Component.TEXT_ENCODER);
        assertEquals(Map.of(), index.problems());
        LayerBinding q = index.binding(Q_PROJ).orElseThrow();
        assertEquals(op, q.op());
        assertEquals(layout, q.layout());
        assertEquals(LayerGeometry.linear(8, 8), q.geometry());
        assertEquals(Optional.of(Q_PROJ + ".bias"), q.bias());
        if (style == Style.LEGACY) {
            assertEquals("/text_model/encoder/layers.0/self_attn/q_proj/MatMul", q.nodeName());
        }
    }

    @Test
    void againstTheReferenceCatalogTinyLayersDisagreeAndTheRestIsMissing() {
        OnnxModel model = OnnxModel.read(TestGraphs.unet(dir, Style.LEGACY, false, 3).file());
        ModuleIndex index = ModuleIndex.build(model, ModelFamily.SD15, Component.UNET);
        assertTrue(index.bindings().isEmpty());
        assertEquals(282, index.problems().size());
        String conv1 = index.problems().get(CONV1);
        assertTrue(conv1.contains("shape disagrees with the catalog") && conv1.contains("conv 8->16 3x3")
                && conv1.contains("conv 320->320 3x3"), conv1);
        String missing = index.problems().get("up_blocks.3.attentions.2.transformer_blocks.0.attn1.to_v");
        assertTrue(missing.startsWith("no node") && missing.contains(
                "/up_blocks.3/attentions.2/transformer_blocks.0/attn1/to_v/<op>"), missing);
    }

    @Test
    void reportsMissingAmbiguousNonInitializerAndMismatchedModules() {
        String toV = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_v";
        String ff = "down_blocks.0.attentions.0.transformer_blocks.0.ff.net.2";
        TestGraphs.Graph g = new TestGraphs.Graph(4);
        g.input("x", TensorProto.DataType.FLOAT, "batch", 16);
        g.input("w_in", TensorProto.DataType.FLOAT, 16, 16);
        // two nodes scoped to to_q
        g.initializer("onnx::MatMul_1", false, g.random(256), 16, 16);
        g.initializer("onnx::MatMul_2", false, g.random(256), 16, 16);
        g.node("MatMul", TestGraphs.scope(TO_Q) + "/MatMul", new String[] {"x", "onnx::MatMul_1"}, new String[] {"q1"});
        g.node("MatMul", TestGraphs.scope(TO_Q) + "/MatMul_1", new String[] {"x", "onnx::MatMul_2"},
                new String[] {"q2"});
        // to_k's weight is a graph input
        g.node("MatMul", TestGraphs.scope(TO_K) + "/MatMul", new String[] {"x", "w_in"}, new String[] {"k"});
        // to_out.0 is 16 -> 8 where the catalog says 16 -> 16
        g.initializer("onnx::MatMul_3", false, g.random(128), 16, 8);
        g.node("MatMul", TestGraphs.scope(TO_OUT) + "/MatMul", new String[] {"x", "onnx::MatMul_3"},
                new String[] {"o"});
        // ff.net.2's weight is computed (Mul), not an initializer
        g.node("Mul", "/mul", new String[] {"w_in", "w_in"}, new String[] {"w_mul"});
        g.node("MatMul", TestGraphs.scope(ff) + "/MatMul", new String[] {"x", "w_mul"}, new String[] {"f"});
        g.output("o", "y", "batch", 8);
        OnnxModel model = OnnxModel.read(g.write(dir, false).file());
        Map<String, LayerGeometry> modules = new LinkedHashMap<>();
        modules.put(TO_Q, LayerGeometry.linear(16, 16));
        modules.put(TO_K, LayerGeometry.linear(16, 16));
        modules.put(toV, LayerGeometry.linear(16, 16));
        modules.put(TO_OUT, LayerGeometry.linear(16, 16));
        modules.put(ff, LayerGeometry.linear(16, 16));
        ModuleIndex index = ModuleIndex.build(model, ModuleCatalog.of(ModelFamily.SD15, Map.of(Component.UNET,
                modules)), Component.UNET);
        assertTrue(index.bindings().isEmpty(), index.bindings().toString());
        Map<String, String> p = index.problems();
        assertTrue(p.get(TO_Q).startsWith("ambiguous: 2 nodes") && p.get(TO_Q).contains("onnx::MatMul_2"), p.get(TO_Q));
        assertTrue(p.get(TO_K).contains("not an initializer") && p.get(TO_K).contains("'w_in' is a graph input"),
                p.get(TO_K));
        assertTrue(p.get(toV).startsWith("no node"), p.get(toV));
        assertTrue(p.get(TO_OUT).contains("shape disagrees with the catalog") && p.get(TO_OUT).contains("linear 16->8")
                && p.get(TO_OUT).contains("expects linear 16->16"), p.get(TO_OUT));
        assertTrue(p.get(ff).contains("computed by Mul '/mul'"), p.get(ff));
    }

    @Test
    void checkListsUnknownModulesShapeMismatchesAndUnboundModules() {
        OnnxModel model = OnnxModel.read(TestGraphs.unet(dir, Style.DYNAMO, true, 5).file());
        Map<String, LayerGeometry> modules = new LinkedHashMap<>(TestGraphs.UNET_MODULES);
        String toV = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_v";
        modules.put(toV, LayerGeometry.linear(16, 16));
        ModuleIndex index = ModuleIndex.build(model, ModuleCatalog.of(ModelFamily.SD15, Map.of(Component.UNET,
                modules)), Component.UNET);
        Map<String, LoraModule> unet = new LinkedHashMap<>();
        unet.put(TO_Q, lora(TO_Q, LayerGeometry.linear(16, 16)));
        unet.put(PROJ_IN, lora(PROJ_IN, LayerGeometry.conv(16, 16, 1, 1, 0)));
        unet.put(TO_K, lora(TO_K, LayerGeometry.linear(768, 16)));
        unet.put("down_blocks.0.attentions.0.nope", lora("down_blocks.0.attentions.0.nope", LayerGeometry.linear(4, 4)));
        unet.put(toV, lora(toV, LayerGeometry.linear(16, 16)));
        LoraAdapter adapter = new LoraAdapter("peft", ModelFamily.SD15, Map.of(Component.UNET, unet), Map.of(),
                LoadReport.empty());
        List<String> problems = index.check(adapter);
        assertEquals(3, problems.size(), problems.toString());
        assertTrue(problems.get(0).startsWith("unet/" + TO_K + ": shape mismatch")
                && problems.get(0).contains("linear 768->16") && problems.get(0).contains("A [2, 768]")
                && problems.get(0).contains("A [2, 12]"), problems.get(0));
        assertTrue(problems.get(1).contains("down_blocks.0.attentions.0.nope: unknown module"), problems.get(1));
        assertTrue(problems.get(2).contains(toV + ": not found in the ONNX graph: no node"), problems.get(2));

        LoraAdapter good = new LoraAdapter("peft", ModelFamily.SD15, Map.of(Component.UNET,
                Map.of(TO_Q, lora(TO_Q, LayerGeometry.linear(16, 16)))), Map.of(), LoadReport.empty());
        assertEquals(List.of(), index.check(good));
        LoraAdapter xl = new LoraAdapter("peft", ModelFamily.SDXL, Map.of(), Map.of(), LoadReport.empty());
        assertFalse(index.check(xl).isEmpty());
    }

    private static LoraModule lora(String path, LayerGeometry geometry) {
        int rank = 2;
        return LoraModule.of(Component.UNET, path, geometry, 0f, zeros(geometry.aShape(rank)),
                zeros(geometry.bShape(rank)));
    }

    private static TensorData zeros(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return TensorData.ofFloats(shape, new float[(int) n]);
    }
}
