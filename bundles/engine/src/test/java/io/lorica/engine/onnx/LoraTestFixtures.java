package io.lorica.engine.onnx;

import static io.lorica.engine.onnx.TestGraphs.CONV1;
import static io.lorica.engine.onnx.TestGraphs.DOWNSAMPLER;
import static io.lorica.engine.onnx.TestGraphs.PROJ_IN;
import static io.lorica.engine.onnx.TestGraphs.TO_K;
import static io.lorica.engine.onnx.TestGraphs.TO_OUT;
import static io.lorica.engine.onnx.TestGraphs.TO_Q;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.TensorData;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LoadReport;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.adapter.LoraModule;
import io.lorica.api.policy.EffectiveScales;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/** Adapters, inputs and reference outputs for the tiny graphs of {@link TestGraphs}, shared by the engine's tests. */
public final class LoraTestFixtures {

    public static final int BATCH = 2;

    private LoraTestFixtures() {
    }

    public static LoraModule lora(Component component, Map<String, LayerGeometry> modules, String path, int rank,
            float alpha, long seed) {
        LayerGeometry g = modules.get(path);
        Random random = new Random(seed);
        long[] aShape = g.aShape(rank);
        long[] bShape = g.bShape(rank);
        return LoraModule.of(component, path, g, alpha, TensorData.ofFloats(aShape, random(random, aShape)),
                TensorData.ofFloats(bShape, random(random, bShape)));
    }

    public static LoraModule lora(String path, int rank, float alpha, long seed) {
        return lora(Component.UNET, TestGraphs.UNET_MODULES, path, rank, alpha, seed);
    }

    public static float[] random(Random random, long[] shape) {
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

    public static LoraAdapter adapter(Component component, LoraModule... modules) {
        Map<String, LoraModule> map = new LinkedHashMap<>();
        for (LoraModule m : modules) {
            map.put(m.modulePath(), m);
        }
        return new LoraAdapter("peft", ModelFamily.SD15, Map.of(component, map), Map.of(), LoadReport.empty());
    }

    /** Adapter "a1": conv 3x3, strided conv, two linears. */
    public static LoraAdapter a1() {
        return adapter(Component.UNET, lora(CONV1, 2, 4f, 11), lora(DOWNSAMPLER, 3, 3f, 12), lora(TO_Q, 2, 1f, 13),
                lora(TO_K, 4, 8f, 14));
    }

    /** Adapter "a2": overlaps a1 on conv1 and to_q; also the 1x1 proj_in and to_out.0 (with bias). */
    public static LoraAdapter a2() {
        return adapter(Component.UNET, lora(CONV1, 3, 3f, 21), lora(PROJ_IN, 2, 2f, 22), lora(TO_Q, 1, 1f, 23),
                lora(TO_OUT, 2, 1f, 24));
    }

    /** Scales {@code alpha/r · weight} for each (name, adapter, weight) triple, in order. */
    public static EffectiveScales scales(Object... nameAdapterWeight) {
        EffectiveScales.Builder builder = EffectiveScales.builder();
        for (int i = 0; i < nameAdapterWeight.length; i += 3) {
            String name = (String) nameAdapterWeight[i];
            LoraAdapter adapter = (LoraAdapter) nameAdapterWeight[i + 1];
            float weight = ((Number) nameAdapterWeight[i + 2]).floatValue();
            for (Map.Entry<Component, Map<String, LoraModule>> c : adapter.modules().entrySet()) {
                for (LoraModule m : c.getValue().values()) {
                    builder.put(c.getKey(), m.modulePath(), name, m.scale() * weight);
                }
            }
        }
        return builder.build();
    }

    public static float[] sample() {
        return random(new Random(5), new long[] {BATCH, 8, 4, 4});
    }

    public static float[] hidden() {
        return random(new Random(6), new long[] {BATCH, 3, 12});
    }

    /** The UNet inputs as TensorData. */
    public static Map<String, TensorData> unetInputs() {
        return Map.of("sample", TensorData.ofFloats(new long[] {BATCH, 8, 4, 4}, sample()),
                "encoder_hidden_states", TensorData.ofFloats(new long[] {BATCH, 3, 12}, hidden()));
    }

    /** [out_sample, attn_out] of a run result. */
    public static float[][] outputs(Map<String, TensorData> result) {
        return new float[][] {result.get("out_sample").toFloatArray(), result.get("attn_out").toFloatArray()};
    }

    /** The base weights of {@code g} with {@code Σ s·B·A} of the scaled adapters added (PyTorch layout). */
    public static Map<String, float[]> patched(TestGraphs.Generated g, Component component, EffectiveScales scales,
            Map<String, LoraAdapter> adapters) {
        Map<String, float[]> w = new HashMap<>();
        for (Map.Entry<String, float[]> e : g.weights().entrySet()) {
            float[] patched = e.getValue().clone();
            for (Map.Entry<String, Float> s : scales.adapters(component, e.getKey()).entrySet()) {
                LoraModule m = adapters.get(s.getKey()).module(component, e.getKey()).orElseThrow();
                if (m.isFullDelta()) {
                    float[] delta = m.delta().orElseThrow().toFloatArray();
                    for (int i = 0; i < patched.length; i++) {
                        patched[i] += s.getValue() * delta[i];
                    }
                    continue;
                }
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
        return w;
    }

    /** Plain-Java UNet outputs with every layer {@code W + Σ s·B·A}. */
    public static float[][] reference(TestGraphs.Generated g, EffectiveScales scales, Map<String, LoraAdapter> adapters) {
        return reference(g, patched(g, Component.UNET, scales, adapters));
    }

    /** Plain-Java UNet outputs with the given weights (PyTorch layout, by module path). */
    public static float[][] reference(TestGraphs.Generated g, Map<String, float[]> w) {
        float[] x = Reference.conv(sample(), BATCH, 8, 4, 4, w.get(CONV1), g.biases().get(CONV1), 16, 3, 1, 1);
        x = Reference.conv(x, BATCH, 16, 4, 4, w.get(PROJ_IN), g.biases().get(PROJ_IN), 16, 1, 1, 0);
        x = Reference.conv(x, BATCH, 16, 4, 4, w.get(DOWNSAMPLER), g.biases().get(DOWNSAMPLER), 16, 3, 2, 1);
        int rows = BATCH * 3;
        float[] h = Reference.linear(hidden(), rows, w.get(TO_K), null, 12, 16);
        h = Reference.linear(h, rows, w.get(TO_Q), null, 16, 16);
        h = Reference.linear(h, rows, w.get(TO_OUT), g.biases().get(TO_OUT), 16, 16);
        return new float[][] {x, h};
    }

    public static void assertClose(float[][] expected, float[][] actual, double tolerance) {
        for (int t = 0; t < expected.length; t++) {
            assertEquals(expected[t].length, actual[t].length);
            for (int i = 0; i < expected[t].length; i++) {
                assertEquals(expected[t][i], actual[t][i], tolerance * Math.max(1, Math.abs(expected[t][i])),
                        "output " + t + " element " + i);
            }
        }
    }
}
