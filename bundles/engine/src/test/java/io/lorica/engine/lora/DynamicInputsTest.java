package io.lorica.engine.lora;

import static io.lorica.engine.lora.LoraFixtures.ENV;
import static io.lorica.engine.lora.LoraFixtures.a1;
import static io.lorica.engine.lora.LoraFixtures.a2;
import static io.lorica.engine.lora.LoraFixtures.assertClose;
import static io.lorica.engine.lora.LoraFixtures.reference;
import static io.lorica.engine.lora.LoraFixtures.run;
import static io.lorica.engine.lora.LoraFixtures.scales;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
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

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The factor cache: what is reused, what is built, what eviction and forgetting release. */
class DynamicInputsTest {

    @TempDir
    Path dir;

    TestGraphs.Generated g;
    LoraGraphRewriter.Rewritten rewritten;
    Map<String, LoraAdapter> adapters;

    @BeforeEach
    void setUp() {
        g = TestGraphs.unet(dir, Style.LEGACY, false, 31);
        OnnxModel model = OnnxModel.read(g.file());
        rewritten = LoraGraphRewriter.rewrite(model, ModuleIndex.build(model, TestGraphs.catalog(), Component.UNET));
        adapters = Map.of("a1", a1(), "a2", a2());
    }

    @Test
    void switchingBackToAMixReusesItsTensorsAndNewWeightsBuildOnlyTheScaledSide() throws Exception {
        EffectiveScales mixA = scales("a1", adapters.get("a1"), 0.8, "a2", adapters.get("a2"), -0.5);
        EffectiveScales mixB = scales("a2", adapters.get("a2"), 1.5);
        EffectiveScales reweighted = scales("a1", adapters.get("a1"), 0.3, "a2", adapters.get("a2"), -0.5);
        int branches = rewritten.layout().branches().size();
        try (DynamicInputs inputs = new DynamicInputs(ENV, rewritten.layout(), DynamicInputs.DEFAULT_CACHE_BYTES);
                OrtSession session = ENV.createSession(rewritten.model().toBytes(), new OrtSession.SessionOptions())) {
            try (DynamicInputs.Request first = inputs.request(mixA, adapters)) {
                assertEquals(2L * branches, inputs.stats().misses());
                assertClose(reference(g, mixA, adapters), run(session, first.tensors()), 1e-4);
                try (DynamicInputs.Request b = inputs.request(mixB, adapters)) {
                    assertClose(reference(g, mixB, adapters), run(session, b.tensors()), 1e-4);
                }
                long hits = inputs.stats().hits();
                long built = inputs.stats().misses();
                try (DynamicInputs.Request again = inputs.request(mixA, adapters)) {
                    // the same mix again: every tensor from the cache, the very same native tensors
                    assertEquals(hits + 2L * branches, inputs.stats().hits());
                    assertEquals(built, inputs.stats().misses());
                    first.tensors().forEach((name, t) -> assertSame(t, again.tensors().get(name), name));
                    assertClose(reference(g, mixA, adapters), run(session, again.tensors()), 1e-4);
                }
                long misses = inputs.stats().misses();
                try (DynamicInputs.Request r = inputs.request(reweighted, adapters)) {
                    // new weights for a1 only: on the 4 layers a1 acts on, the scaled factor is built and the
                    // (concatenated) unscaled one reused; the 2 layers of a2 alone keep both factors
                    int a1Layers = adapters.get("a1").modules(Component.UNET).size();
                    assertEquals(4, a1Layers);
                    assertEquals(misses + a1Layers, inputs.stats().misses());
                    int shared = 0;
                    for (String name : r.tensors().keySet()) {
                        shared += r.tensors().get(name) == first.tensors().get(name) ? 1 : 0;
                    }
                    assertEquals(2 * branches - a1Layers, shared);
                    assertClose(reference(g, reweighted, adapters), run(session, r.tensors()), 1e-4);
                }
            }
            assertTrue(inputs.stats().cachedBytes() > 0);
        }
    }

    @Test
    void aLoneAdapterFeedsItsPreparedFactorWithoutACopy() {
        EffectiveScales alone = scales("a1", adapters.get("a1"), 0.7);
        try (DynamicInputs inputs = new DynamicInputs(ENV, rewritten.layout(), DynamicInputs.DEFAULT_CACHE_BYTES);
                DynamicInputs.Request r = inputs.request(alone, adapters)) {
            long scaledBytes = 0;
            for (BranchLayout.Branch branch : rewritten.layout().branches().values()) {
                var module = adapters.get("a1").module(Component.UNET, branch.modulePath());
                if (module.isEmpty()) {
                    continue;
                }
                int rank = module.get().rank();
                boolean scaleDown = branch.downWidth() <= branch.outFeatures();
                scaledBytes += 4L * rank * (scaleDown ? branch.downWidth() : branch.outFeatures());
            }
            // only the scaled factors own memory: the unscaled ones are views of the prepared adapter
            assertEquals(scaledBytes, inputs.stats().cachedBytes());
        }
    }

    @Test
    void evictionNeverFreesATensorInUseAndForgetDropsAnAdaptersEntries() throws Exception {
        EffectiveScales mixA = scales("a1", adapters.get("a1"), 0.8, "a2", adapters.get("a2"), -0.5);
        EffectiveScales mixB = scales("a1", adapters.get("a1"), 0.2, "a2", adapters.get("a2"), 0.9);
        try (DynamicInputs inputs = new DynamicInputs(ENV, rewritten.layout(), 0);
                OrtSession session = ENV.createSession(rewritten.model().toBytes(), new OrtSession.SessionOptions())) {
            try (DynamicInputs.Request a = inputs.request(mixA, adapters)) {
                try (DynamicInputs.Request b = inputs.request(mixB, adapters)) {
                    // a budget of 0 keeps only the last entry; a's tensors were evicted but a still holds them
                    assertTrue(inputs.stats().cachedTensors() <= 1 + rewritten.layout().branches().size());
                    assertClose(reference(g, mixA, adapters), run(session, a.tensors()), 1e-4);
                    assertClose(reference(g, mixB, adapters), run(session, b.tensors()), 1e-4);
                }
                try (DynamicInputs.Request a2 = inputs.request(mixA, adapters)) {
                    a.tensors().forEach((name, t) -> {
                        if (!name.isEmpty()) {
                            assertNotSame(null, a2.tensors().get(name));
                        }
                    });
                    assertClose(reference(g, mixA, adapters), run(session, a2.tensors()), 1e-4);
                }
            }
        }
        try (DynamicInputs inputs = new DynamicInputs(ENV, rewritten.layout(), DynamicInputs.DEFAULT_CACHE_BYTES)) {
            inputs.request(mixA, adapters).close();
            assertEquals(2, inputs.stats().adapters());
            int before = inputs.stats().cachedTensors();
            inputs.forget(adapters.get("a2"));
            assertEquals(1, inputs.stats().adapters());
            assertTrue(inputs.stats().cachedTensors() < before);
            // what remains is a1's own view factors
            inputs.forget(adapters.get("a1"));
            assertEquals(0, inputs.stats().cachedTensors());
            assertEquals(0, inputs.stats().cachedBytes());
        }
    }

    @Test
    void closedInputsRefuseRequestsButOpenRequestsKeepTheirTensors() throws Exception {
        EffectiveScales mix = scales("a2", adapters.get("a2"), 1.1);
        DynamicInputs inputs = new DynamicInputs(ENV, rewritten.layout(), DynamicInputs.DEFAULT_CACHE_BYTES);
        try (OrtSession session = ENV.createSession(rewritten.model().toBytes(), new OrtSession.SessionOptions());
                DynamicInputs.Request r = inputs.request(mix, adapters)) {
            inputs.close();
            assertClose(reference(g, mix, adapters), run(session, r.tensors()), 1e-4);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> inputs.request(mix, adapters));
            assertTrue(e.getMessage().contains("closed"), e.getMessage());
        }
    }
}
