package io.lorica.engine.lora;

import static io.lorica.engine.onnx.TestGraphs.CONV1;
import static io.lorica.engine.onnx.TestGraphs.DOWNSAMPLER;
import static io.lorica.engine.onnx.TestGraphs.PROJ_IN;
import static io.lorica.engine.onnx.TestGraphs.TO_K;
import static io.lorica.engine.onnx.TestGraphs.TO_OUT;
import static io.lorica.engine.onnx.TestGraphs.TO_Q;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.TensorData;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LayerKind;
import io.lorica.api.adapter.LoadReport;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.adapter.LoraModule;
import io.lorica.api.policy.EffectiveScales;
import io.lorica.engine.onnx.Reference;
import io.lorica.engine.onnx.TestGraphs;

import java.nio.FloatBuffer;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/** Adapters, scales and reference outputs for the tiny UNet of {@link TestGraphs}. */
final class LoraFixtures {

    static final int BATCH = 2;
    static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();

    private LoraFixtures() {
    }

    /** A plain LoRA module with random A and B of {@code rank}. */
    static LoraModule lora(String path, int rank, float alpha, long seed) {
        LayerGeometry g = TestGraphs.UNET_MODULES.get(path);
        Random random = new Random(seed);
        long[] aShape = g.aShape(rank);
        long[] bShape = g.bShape(rank);
        return LoraModule.of(Component.UNET, path, g, alpha, TensorData.ofFloats(aShape, random(random, aShape)),
                TensorData.ofFloats(bShape, random(random, bShape)));
    }

    static float[] random(Random random, long[] shape) {
        int n = 1;
        for (long d : shape) {
            n *= (int) d;
        }
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = random.nextFloat() - 0.5f;
        }
        return v;
    }

    static LoraAdapter adapter(LoraModule... modules) {
        Map<String, LoraModule> map = new LinkedHashMap<>();
        for (LoraModule m : modules) {
            map.put(m.modulePath(), m);
        }
        return new LoraAdapter("peft", ModelFamily.SD15, Map.of(Component.UNET, map), Map.of(), LoadReport.empty());
    }

    /** Adapter "a1": conv 3x3, strided conv, two linears. */
    static LoraAdapter a1() {
        return adapter(lora(CONV1, 2, 4f, 11), lora(DOWNSAMPLER, 3, 3f, 12), lora(TO_Q, 2, 1f, 13),
                lora(TO_K, 4, 8f, 14));
    }

    /** Adapter "a2": overlaps a1 on conv1 and to_q; also the 1x1 proj_in and to_out.0 (with bias). */
    static LoraAdapter a2() {
        return adapter(lora(CONV1, 3, 3f, 21), lora(PROJ_IN, 2, 2f, 22), lora(TO_Q, 1, 1f, 23),
                lora(TO_OUT, 2, 1f, 24));
    }

    /** Scales {@code alpha/r · weight} for each (name, adapter, weight) triple, in order. */
    static EffectiveScales scales(Object... nameAdapterWeight) {
        EffectiveScales.Builder builder = EffectiveScales.builder();
        for (int i = 0; i < nameAdapterWeight.length; i += 3) {
            String name = (String) nameAdapterWeight[i];
            LoraAdapter adapter = (LoraAdapter) nameAdapterWeight[i + 1];
            float weight = ((Number) nameAdapterWeight[i + 2]).floatValue();
            for (LoraModule m : adapter.modules(Component.UNET).values()) {
                builder.put(Component.UNET, m.modulePath(), name, m.scale() * weight);
            }
        }
        return builder.build();
    }

    /** The model inputs: sample [BATCH, 8, 4, 4] and encoder_hidden_states [BATCH, 3, 12]. */
    static float[] sample() {
        return random(new Random(5), new long[] {BATCH, 8, 4, 4});
    }

    static float[] hidden() {
        return random(new Random(6), new long[] {BATCH, 3, 12});
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

    /**
     * Plain-Java reference: every layer with {@code W + Σ s·B·A} (which is {@code base + Σ s·B·A·x}), s from
     * {@code scales}.
     */
    static float[][] reference(TestGraphs.Generated g, EffectiveScales scales, Map<String, LoraAdapter> adapters) {
        Map<String, float[]> w = new HashMap<>();
        for (Map.Entry<String, float[]> e : g.weights().entrySet()) {
            float[] patched = e.getValue().clone();
            for (Map.Entry<String, Float> s : scales.adapters(Component.UNET, e.getKey()).entrySet()) {
                LoraModule m = adapters.get(s.getKey()).module(Component.UNET, e.getKey()).orElseThrow();
                float[] a = m.a().toFloatArray();
                float[] b = m.b().toFloatArray();
                int r = m.rank();
                int out = m.geometry().outFeatures();
                int cols = a.length / r;
                assertEquals(patched.length, out * cols);
                for (int o = 0; o < out; o++) {
                    for (int j = 0; j < cols; j++) {
                        double sum = 0;
                        for (int k = 0; k < r; k++) {
                            sum += (double) b[o * r + k] * a[k * cols + j];
                        }
                        patched[o * cols + j] += (float) (s.getValue() * sum);
                    }
                }
            }
            w.put(e.getKey(), patched);
        }
        float[] x = Reference.conv(sample(), BATCH, 8, 4, 4, w.get(CONV1), g.biases().get(CONV1), 16, 3, 1, 1);
        x = Reference.conv(x, BATCH, 16, 4, 4, w.get(PROJ_IN), g.biases().get(PROJ_IN), 16, 1, 1, 0);
        x = Reference.conv(x, BATCH, 16, 4, 4, w.get(DOWNSAMPLER), g.biases().get(DOWNSAMPLER), 16, 3, 2, 1);
        int rows = BATCH * 3;
        float[] h = Reference.linear(hidden(), rows, w.get(TO_K), null, 12, 16);
        h = Reference.linear(h, rows, w.get(TO_Q), null, 16, 16);
        h = Reference.linear(h, rows, w.get(TO_OUT), g.biases().get(TO_OUT), 16, 16);
        return new float[][] {x, h};
    }

    static void assertClose(float[][] expected, float[][] actual, double tolerance) {
        for (int t = 0; t < expected.length; t++) {
            assertEquals(expected[t].length, actual[t].length);
            for (int i = 0; i < expected[t].length; i++) {
                assertEquals(expected[t][i], actual[t][i], tolerance * Math.max(1, Math.abs(expected[t][i])),
                        "output " + t + " element " + i);
            }
        }
    }

    static boolean isConv(String path) {
        return TestGraphs.UNET_MODULES.get(path).kind() == LayerKind.CONV;
    }
}
