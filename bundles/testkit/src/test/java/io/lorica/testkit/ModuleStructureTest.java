package io.lorica.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.models.ReferenceModels;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;

/**
 * The generated graphs have exactly the reference models' LoRA-targetable modules, named as the legacy exporter names
 * them, with the spec's geometry.
 */
class ModuleStructureTest {

    private static final Pattern LAYER = Pattern.compile("^text_model\\.encoder\\.layers\\.(\\d+)\\.");

    /** Module path of a legacy node name: {@code /a/b.3/c/MatMul} → {@code a.b.3.c}. */
    static String modulePath(String nodeName) {
        String[] segments = nodeName.substring(1).split("/");
        return String.join(".", Arrays.copyOf(segments, segments.length - 1));
    }

    /** Every MatMul/Gemm/Conv whose weight is an initializer (possibly behind a Cast), by module path, with geometry. */
    static Map<String, LayerGeometry> layers(OnnxFile onnx) {
        Map<String, LayerGeometry> layers = new LinkedHashMap<>();
        for (OnnxFile.Node node : onnx.nodes) {
            String op = node.opType();
            if (!op.equals("MatMul") && !op.equals("Gemm") && !op.equals("Conv")) {
                continue;
            }
            OnnxFile.Initializer weight = onnx.weightOf(node.inputs().get(1));
            if (weight == null) {
                continue;
            }
            String module = modulePath(node.name());
            long[] s = weight.dims();
            LayerGeometry geometry;
            switch (op) {
                case "Conv" -> {
                    assertEquals(module + ".weight", weight.name(), "Conv weights are named by the module");
                    assertEquals(List.of(s[2], s[3]), node.ints().get("kernel_shape"));
                    long stride = node.ints().get("strides").get(0);
                    long pad = node.ints().get("pads").get(0);
                    geometry = LayerGeometry.conv((int) s[1], (int) s[0], (int) s[2], (int) stride, (int) pad);
                }
                case "Gemm" -> {
                    assertEquals(module + ".weight", weight.name(), "Gemm weights are named by the module");
                    assertEquals(List.of(1L), node.ints().get("transB"));
                    geometry = LayerGeometry.linear((int) s[1], (int) s[0]);
                }
                default -> {
                    assertTrue(weight.name().startsWith("onnx::MatMul_"), "MatMul weights are anonymous: "
                            + weight.name());
                    geometry = LayerGeometry.linear((int) s[0], (int) s[1]);
                }
            }
            assertEquals(null, layers.put(module, geometry), "one node per module: " + module);
        }
        return layers;
    }

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void unetModulesAreTheReferenceModules(ModelFamily family) throws IOException {
        WrittenPipeline pipeline = TinyPipelines.of(family);
        Map<String, LayerGeometry> reference = ReferenceModels.catalog(family).modules(Component.UNET);
        Map<String, LayerGeometry> graph = layers(OnnxFile.read(pipeline.model("unet").model()));
        Map<String, LayerGeometry> spec = pipeline.spec().unet().modules();

        assertEquals(reference.size(), graph.size());
        assertEquals(reference.keySet(), graph.keySet());
        assertEquals(new ArrayList<>(reference.keySet()), new ArrayList<>(spec.keySet()), "catalog order");
        assertEquals(spec, graph, "geometries in the graph are the spec's");
        for (Map.Entry<String, LayerGeometry> entry : reference.entrySet()) {
            LayerGeometry tiny = spec.get(entry.getKey());
            assertEquals(entry.getValue().kind(), tiny.kind(), entry.getKey());
            assertEquals(entry.getValue().kernelHeight(), tiny.kernelHeight(), entry.getKey());
            assertEquals(entry.getValue().stride(), tiny.stride(), entry.getKey());
            assertEquals(entry.getValue().padding(), tiny.padding(), entry.getKey());
        }
    }

    @Test
    void fullSizeSpecsHaveTheReferenceGeometry() {
        assertEquals(ReferenceModels.catalog(ModelFamily.SD15).modules(Component.UNET),
                UnetSpec.fullSizeSd15().modules());
        assertEquals(ReferenceModels.catalog(ModelFamily.SDXL).modules(Component.UNET),
                UnetSpec.fullSizeSdxl().modules());
        TextEncoderSpec clipL = new TextEncoderSpec(768, 12, 12, 3072, 0, TextEncoderSpec.HiddenAct.QUICK_GELU, false);
        TextEncoderSpec bigG = new TextEncoderSpec(1280, 32, 20, 5120, 1280, TextEncoderSpec.HiddenAct.GELU, true);
        assertEquals(ReferenceModels.catalog(ModelFamily.SD15).modules(Component.TEXT_ENCODER), clipL.modules());
        assertEquals(ReferenceModels.catalog(ModelFamily.SDXL).modules(Component.TEXT_ENCODER), clipL.modules());
        assertEquals(ReferenceModels.catalog(ModelFamily.SDXL).modules(Component.TEXT_ENCODER_2), bigG.modules());
    }

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void midSizeUnetsHaveTheReferencePaths(ModelFamily family) {
        assertEquals(new ArrayList<>(ReferenceModels.catalog(family).modules(Component.UNET).keySet()),
                new ArrayList<>(UnetSpec.midSize(family).modules().keySet()));
    }

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void textEncoderModulesAreAPrefixOfTheReference(ModelFamily family) throws IOException {
        WrittenPipeline pipeline = TinyPipelines.of(family);
        for (Component component : family.components()) {
            if (component == Component.UNET) {
                continue;
            }
            TextEncoderSpec spec = pipeline.spec().textEncoder(component);
            Map<String, LayerGeometry> graph = layers(OnnxFile.read(pipeline.model(component.id()).model()));
            List<String> expected = new ArrayList<>();
            for (String path : ReferenceModels.catalog(family).modules(component).keySet()) {
                Matcher layer = LAYER.matcher(path);
                if (!layer.find() || Integer.parseInt(layer.group(1)) < spec.layers()) {
                    expected.add(path);
                }
            }
            assertEquals(expected, new ArrayList<>(spec.modules().keySet()), component + " catalog order");
            assertEquals(spec.modules(), graph, component + " graph");
        }
    }

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void legacyNaming(ModelFamily family) throws IOException {
        OnnxFile unet = OnnxFile.read(TinyPipelines.of(family).model("unet").model());
        assertEquals(17, unet.opset);
        String block = family == ModelFamily.SDXL ? "down_blocks.1" : "down_blocks.0";
        String scope = "/" + block + "/attentions.0/transformer_blocks.0/attn1/to_out.0";
        OnnxFile.Node matmul = find(unet, scope + "/MatMul");
        assertTrue(unet.initializers.get(matmul.inputs().get(1)).name().startsWith("onnx::MatMul_"));
        OnnxFile.Node add = find(unet, scope + "/Add");
        assertTrue(add.inputs().contains(block + ".attentions.0.transformer_blocks.0.attn1.to_out.0.bias"));
        assertTrue(add.inputs().contains(matmul.outputs().get(0)));
        assertEquals(List.of(scope + "/MatMul_output_0"), matmul.outputs());
        OnnxFile.Node conv = find(unet, "/down_blocks.0/resnets.0/conv1/Conv");
        assertEquals(List.of("down_blocks.0.resnets.0.conv1.weight", "down_blocks.0.resnets.0.conv1.bias"),
                conv.inputs().subList(1, 3));
        assertNotNull(find(unet, "/down_blocks.0/resnets.0/norm1/InstanceNormalization"));
        assertNotNull(find(unet, "/time_embedding/linear_1/Gemm"));
        OnnxFile text = OnnxFile.read(TinyPipelines.of(family).model("text_encoder").model());
        OnnxFile.Node q = find(text, "/text_model/encoder/layers.1/self_attn/q_proj/MatMul");
        assertTrue(q.inputs().get(1).startsWith("onnx::MatMul_"));
        assertNotNull(find(text, "/text_model/encoder/layers.1/self_attn/q_proj/Add"));
        assertNotNull(text.initializers.get("text_model.encoder.layers.1.self_attn.q_proj.bias"));
        assertNotNull(text.initializers.get("text_model.embeddings.token_embedding.weight"));
        assertNotNull(text.initializers.get("text_model.final_layer_norm.weight"));
        if (family == ModelFamily.SDXL) {
            OnnxFile text2 = OnnxFile.read(TinyPipelines.of(family).model("text_encoder_2").model());
            assertNotNull(find(text2, "/text_projection/MatMul"));
            assertNotNull(find(unet, "/add_embedding/linear_2/Gemm"));
            assertTrue(find(unet, "/" + block + "/attentions.0/proj_in/MatMul").inputs().get(1)
                    .startsWith("onnx::MatMul_"), "SDXL proj_in is Linear");
        } else {
            assertNotNull(find(unet, "/down_blocks.0/attentions.0/proj_in/Conv"), "SD 1.5 proj_in is a 1x1 Conv");
        }
    }

    private static OnnxFile.Node find(OnnxFile onnx, String name) {
        return onnx.nodes.stream().filter(n -> n.name().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no node " + name));
    }
}
