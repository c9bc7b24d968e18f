package io.lorica.engine.lora;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.lorica.api.Component;
import io.lorica.api.adapter.LayerKind;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.adapter.LoraModule;
import io.lorica.api.policy.EffectiveScales;
import io.lorica.engine.onnx.LoraTestFixtures;
import io.lorica.engine.onnx.TestGraphs;

import java.nio.FloatBuffer;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;

/** Adapters, scales and reference outputs for the tiny UNet of {@link TestGraphs}. */
final class LoraFixtures {

    static final int BATCH = LoraTestFixtures.BATCH;
    static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();

    private LoraFixtures() {
    }

    /** The branch inputs of one request from a throw-away {@link DynamicInputs} (the request keeps its tensors). */
    static DynamicInputs.Request inputs(BranchLayout layout, EffectiveScales scales, Map<String, LoraAdapter> adapters) {
        try (DynamicInputs store = new DynamicInputs(ENV, layout, DynamicInputs.DEFAULT_CACHE_BYTES)) {
            return store.request(scales, adapters);
        }
    }

    static LoraModule lora(String path, int rank, float alpha, long seed) {
        return LoraTestFixtures.lora(path, rank, alpha, seed);
    }

    static float[] random(Random random, long[] shape) {
        return LoraTestFixtures.random(random, shape);
    }

    static LoraAdapter adapter(LoraModule... modules) {
        return LoraTestFixtures.adapter(Component.UNET, modules);
    }

    static LoraAdapter a1() {
        return LoraTestFixtures.a1();
    }

    static LoraAdapter a2() {
        return LoraTestFixtures.a2();
    }

    static EffectiveScales scales(Object... nameAdapterWeight) {
        return LoraTestFixtures.scales(nameAdapterWeight);
    }

    static float[] sample() {
        return LoraTestFixtures.sample();
    }

    static float[] hidden() {
        return LoraTestFixtures.hidden();
    }

    /** Runs the UNet graph: [out_sample, attn_out]. */
    static float[][] run(OrtSession session, Map<String, OnnxTensor> extra) throws OrtException {
        try (OnnxTensor s = OnnxTensor.createTensor(ENV, FloatBuffer.wrap(sample()), new long[] {BATCH, 8, 4, 4});
                OnnxTensor e = OnnxTensor.createTensor(ENV, FloatBuffer.wrap(hidden()), new long[] {BATCH, 3, 12})) {
            Map<String, OnnxTensor> inputs = new HashMap<>(extra);
            inputs.put("sample", s);
            inputs.put("encoder_hidden_states", e);
            try (OrtSession.Result result = session.run(inputs)) {
                return new float[][] {flat(((OnnxTensor) result.get("out_sample").orElseThrow()).getFloatBuffer()),
                        flat(((OnnxTensor) result.get("attn_out").orElseThrow()).getFloatBuffer())};
            }
        }
    }

    static float[] flat(FloatBuffer buffer) {
        float[] out = new float[buffer.remaining()];
        buffer.get(out);
        return out;
    }

    /** Plain-Java reference: every layer with {@code W + Σ s·B·A}, s from {@code scales}. */
    static float[][] reference(TestGraphs.Generated g, EffectiveScales scales, Map<String, LoraAdapter> adapters) {
        return LoraTestFixtures.reference(g, scales, adapters);
    }

    static void assertClose(float[][] expected, float[][] actual, double tolerance) {
        LoraTestFixtures.assertClose(expected, actual, tolerance);
    }

    static boolean isConv(String path) {
        return TestGraphs.UNET_MODULES.get(path).kind() == LayerKind.CONV;
    }
}
