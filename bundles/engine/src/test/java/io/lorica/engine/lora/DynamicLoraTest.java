package io.lorica.engine.lora;

import static io.lorica.engine.lora.LoraFixtures.ENV;
import static io.lorica.engine.lora.LoraFixtures.a1;
import static io.lorica.engine.lora.LoraFixtures.a2;
import static io.lorica.engine.lora.LoraFixtures.assertClose;
import static io.lorica.engine.lora.LoraFixtures.reference;
import static io.lorica.engine.lora.LoraFixtures.run;
import static io.lorica.engine.lora.LoraFixtures.scales;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtSession;
import io.lorica.api.Component;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.policy.EffectiveScales;
import io.lorica.engine.index.ModuleIndex;
import io.lorica.engine.onnx.OnnxModel;
import io.lorica.engine.onnx.TestGraphs;
import io.lorica.engine.onnx.TestGraphs.Style;

import java.nio.file.Path;
import java.util.Map;

import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class DynamicLoraTest {

    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(Style.class)
    void branchesMatchReferenceAndSwitchWithoutNewSession(Style style) throws Exception {
        TestGraphs.Generated g = TestGraphs.unet(dir, style, false, 3);
        OnnxModel model = OnnxModel.read(g.file());
        ModuleIndex index = ModuleIndex.build(model, TestGraphs.catalog(), Component.UNET);
        LoraGraphRewriter.Rewritten rewritten = LoraGraphRewriter.rewrite(model, index);
        assertEquals(TestGraphs.UNET_MODULES.keySet(), rewritten.layout().branches().keySet());
        Map<String, LoraAdapter> adapters = Map.of("a1", a1(), "a2", a2());
        float[][] base;
        try (OrtSession plain = ENV.createSession(model.toBytes(), new OrtSession.SessionOptions())) {
            base = run(plain, Map.of());
        }
        try (OrtSession session = ENV.createSession(rewritten.model().toBytes(), new OrtSession.SessionOptions())) {
            // no adapter: zero-rank factors, exactly the base output
            float[][] none = runWith(session, rewritten.layout(), EffectiveScales.empty(), adapters);
            assertArrayEquals(base[0], none[0]);
            assertArrayEquals(base[1], none[1]);
            assertClose(reference(g, EffectiveScales.empty(), adapters), none, 1e-4);
            EffectiveScales[] requests = {scales("a1", adapters.get("a1"), 1.0), scales("a2", adapters.get("a2"), 0.7),
                scales("a1", adapters.get("a1"), 0.8, "a2", adapters.get("a2"), -0.5),
                scales("a2", adapters.get("a2"), 1.5, "a1", adapters.get("a1"), 0.25)};
            for (EffectiveScales request : requests) {
                float[][] actual = runWith(session, rewritten.layout(), request, adapters);
                assertClose(reference(g, request, adapters), actual, 1e-4);
                assertTrue(differs(base, actual), "the adapter changed nothing");
            }
            float[][] again = runWith(session, rewritten.layout(), EffectiveScales.empty(), adapters);
            assertArrayEquals(base[0], again[0]);
            assertArrayEquals(base[1], again[1]);
        }
    }

    static float[][] runWith(OrtSession session, BranchLayout layout, EffectiveScales scales,
            Map<String, LoraAdapter> adapters) throws Exception {
        try (DynamicInputs.Request request = LoraFixtures.inputs(layout, scales, adapters)) {
            assertEquals(java.util.List.of(), request.unapplied());
            return run(session, request.tensors());
        }
    }

    static boolean differs(float[][] a, float[][] b) {
        return !java.util.Arrays.equals(a[0], b[0]) && !java.util.Arrays.equals(a[1], b[1]);
    }
}
