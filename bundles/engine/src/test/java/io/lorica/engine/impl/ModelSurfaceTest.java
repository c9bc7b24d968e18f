package io.lorica.engine.impl;

import static io.lorica.engine.onnx.LoraTestFixtures.a1;
import static io.lorica.engine.onnx.LoraTestFixtures.unetInputs;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.Component;
import io.lorica.api.DType;
import io.lorica.api.ModelFamily;
import io.lorica.api.TensorData;
import io.lorica.api.engine.ModelHandle;
import io.lorica.api.engine.ModelRole;
import io.lorica.api.engine.TensorSpec;
import io.lorica.api.registry.FuseBackend;
import io.lorica.engine.onnx.TestGraphs;
import io.lorica.engine.onnx.TestGraphs.Style;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a pipeline reads of an opened model (input and output specs, a subset of outputs), a model of a known family
 * at other widths than the reference (graph geometry), and the fuse backend made through the engine API.
 */
class ModelSurfaceTest {

    @TempDir
    Path dir;

    @Test
    void specsDescribeTheGraphsInputsAndOutputs() {
        TestGraphs.Generated g = TestGraphs.unet(dir, Style.LEGACY, false, 3);
        try (OnnxModelHandle handle = OnnxModelHandleTest.openUnet(g.file())) {
            Map<String, TensorSpec> in = handle.inputSpecs();
            assertEquals(List.of("sample", "encoder_hidden_states"), List.copyOf(in.keySet()));
            TensorSpec sample = in.get("sample");
            assertEquals(Optional.of(DType.F32), sample.dtype());
            assertArrayEquals(new long[] {TensorSpec.DYNAMIC, 8, 4, 4}, sample.shape());
            assertTrue(sample.shapeKnown());
            assertEquals(List.of("out_sample", "attn_out"), List.copyOf(handle.outputSpecs().keySet()));
            assertArrayEquals(new long[] {TensorSpec.DYNAMIC, 16, 2, 2}, handle.outputSpecs().get("out_sample").shape());
            assertThrows(UnsupportedOperationException.class, () -> in.put("x", sample));
        }
    }

    @Test
    void runReturnsOnlyTheOutputsAskedFor() {
        TestGraphs.Generated g = TestGraphs.unet(dir, Style.LEGACY, false, 3);
        try (OnnxModelHandle handle = OnnxModelHandleTest.openUnet(g.file())) {
            Map<String, TensorData> all = handle.run(unetInputs());
            Map<String, TensorData> one = handle.run(unetInputs(), handle.base(), Set.of("attn_out"));
            assertEquals(Set.of("attn_out"), one.keySet());
            assertEquals(all.get("attn_out"), one.get("attn_out"));
            IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
                    () -> handle.run(unetInputs(), handle.base(), Set.of("nope")));
            assertTrue(unknown.getMessage().contains("unknown output 'nope'"), unknown.getMessage());
            assertThrows(IllegalArgumentException.class, () -> handle.run(unetInputs(), handle.base(), Set.of()));
        }
    }

    @Test
    void aKnownFamilyAtOtherWidthsIsIndexedWithTheGraphsGeometry() {
        TestGraphs.Generated g = TestGraphs.unet(dir, Style.LEGACY, false, 3);
        // against the SD 1.5 reference catalog these tiny layers do not fit; opened as SD 1.5 they are bound as they are
        try (OnnxModelHandle strict = OnnxModelHandleTest.ENGINE.open(g.file(), ModelRole.UNET)) {
            assertFalse(strict.loraTargets().keySet().containsAll(TestGraphs.UNET_MODULES.keySet()));
        }
        try (ModelHandle handle = OnnxModelHandleTest.ENGINE.open(g.file(), ModelRole.UNET, ModelFamily.SD15)) {
            assertEquals(TestGraphs.UNET_MODULES, handle.loraTargets());
        }
    }

    @Test
    void theEngineMakesAFuseBackendForItsOwnHandlesOnly() {
        TestGraphs.Generated g = TestGraphs.unet(dir, Style.LEGACY, false, 3);
        try (OnnxModelHandle handle = OnnxModelHandleTest.openUnet(g.file())) {
            FuseBackend backend = OnnxModelHandleTest.ENGINE.fuseBackend(Map.of(Component.UNET, handle));
            Map<String, TensorData> base = handle.run(unetInputs());
            assertEquals(List.of(), handle.fusedAdapters());
            backend.fuse(Map.of("a1", a1()), Set.of(Component.UNET), Map.of("a1", 1.0f), false);
            assertEquals(List.of("a1"), handle.fusedAdapters());
            assertFalse(base.get("out_sample").equals(handle.run(unetInputs()).get("out_sample")));
            backend.unfuse(Set.of(Component.UNET));
            assertEquals(List.of(), handle.fusedAdapters());
            assertEquals(base.get("out_sample"), handle.run(unetInputs()).get("out_sample"));
            ModelHandle foreign = new ForeignHandle(handle);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> OnnxModelHandleTest.ENGINE.fuseBackend(Map.of(Component.UNET, foreign)));
            assertTrue(e.getMessage().contains("was not opened by an ONNX Runtime engine"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> OnnxModelHandleTest.ENGINE.fuseBackend(Map.of()));
        }
    }

    /** A handle of another engine implementation. */
    private record ForeignHandle(ModelHandle delegate) implements ModelHandle {
        @Override public ModelRole role() { return delegate.role(); }
        @Override public Path modelFile() { return delegate.modelFile(); }
        @Override public Set<String> inputNames() { return delegate.inputNames(); }
        @Override public Set<String> outputNames() { return delegate.outputNames(); }
        @Override public Map<String, TensorSpec> inputSpecs() { return delegate.inputSpecs(); }
        @Override public Map<String, TensorSpec> outputSpecs() { return delegate.outputSpecs(); }
        @Override public Map<String, io.lorica.api.adapter.LayerGeometry> loraTargets() { return delegate.loraTargets(); }
        @Override public io.lorica.api.engine.LoraBinding bind(io.lorica.api.engine.LoraMode mode,
                io.lorica.api.policy.EffectiveScales s, Map<String, io.lorica.api.adapter.LoraAdapter> a) {
            return delegate.bind(mode, s, a);
        }
        @Override public List<String> fusedAdapters() { return delegate.fusedAdapters(); }
        @Override public io.lorica.api.engine.LoraBinding base() { return delegate.base(); }
        @Override public Map<String, TensorData> run(Map<String, TensorData> inputs,
                io.lorica.api.engine.LoraBinding binding) { return delegate.run(inputs, binding); }
        @Override public Map<String, TensorData> run(Map<String, TensorData> inputs,
                io.lorica.api.engine.LoraBinding binding, Set<String> outputs) {
            return delegate.run(inputs, binding, outputs);
        }
        @Override public void close() { }
    }
}
