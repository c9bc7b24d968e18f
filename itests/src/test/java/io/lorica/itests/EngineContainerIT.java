package io.lorica.itests;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Dictionary;
import java.util.Hashtable;
import java.util.Map;
import java.util.Random;

import javax.inject.Inject;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.TensorData;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LoadReport;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.adapter.LoraModule;
import io.lorica.api.engine.InferenceEngine;
import io.lorica.api.engine.LoraBinding;
import io.lorica.api.engine.LoraMode;
import io.lorica.api.engine.ModelHandle;
import io.lorica.api.engine.ModelRole;
import io.lorica.api.policy.EffectiveScales;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.ops4j.pax.exam.Configuration;
import org.ops4j.pax.exam.Option;
import org.ops4j.pax.exam.junit.PaxExam;
import org.ops4j.pax.exam.spi.reactors.ExamReactorStrategy;
import org.ops4j.pax.exam.spi.reactors.PerClass;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceReference;
import org.osgi.service.cm.ConfigurationAdmin;

/**
 * The inference engine in the container: a real ONNX graph opened through the {@link InferenceEngine} service, its
 * Diffusers module found, LoRA applied in dynamic and fused mode against plain-Java reference math, and the
 * configuration changed through Config Admin applied to the next model opened.
 */
@RunWith(PaxExam.class)
@ExamReactorStrategy(PerClass.class)
public class EngineContainerIT {

    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final String TO_Q = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q";
    private static final int ROWS = 3;
    private static final int WIDTH = 320;
    private static final int RANK = 4;

    @Inject
    private BundleContext context;

    @Inject
    private ConfigurationAdmin configurationAdmin;

    @Configuration
    public Option[] configuration() {
        return LoricaKaraf.options();
    }

    private InferenceEngine engine() {
        ServiceReference<InferenceEngine> reference = context.getServiceReference(InferenceEngine.class);
        assertNotNull("no InferenceEngine service", reference);
        return context.getService(reference);
    }

    private static float[] random(Random random, int n, float scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (random.nextFloat() - 0.5f) * scale;
        }
        return v;
    }

    @Test
    public void realGraph_dynamicAndFusedLoraMatchReferenceMath_andFamilyFollowsConfigAdmin() throws Exception {
        Random random = new Random(42);
        float[] w = random(random, WIDTH * WIDTH, 0.1f); // stored [in, out]
        float[] x = random(random, ROWS * WIDTH, 1f);
        float[] a = random(random, RANK * WIDTH, 0.1f); // [r, in]
        float[] b = random(random, WIDTH * RANK, 0.1f); // [out, r]
        Path model = Path.of(System.getProperty("karaf.base"), "itest-models", "unet", "model.onnx");
        TinyOnnx.matmul(model, "/" + TO_Q.replace('.', '/').replaceAll("/(\\d+)", ".$1") + "/MatMul", ROWS, WIDTH,
                WIDTH, w);
        LoraModule module = LoraModule.of(Component.UNET, TO_Q, LayerGeometry.linear(WIDTH, WIDTH), 8f,
                TensorData.ofFloats(new long[] {RANK, WIDTH}, a), TensorData.ofFloats(new long[] {WIDTH, RANK}, b));
        LoraAdapter adapter = new LoraAdapter("peft", ModelFamily.SD15, Map.of(Component.UNET, Map.of(TO_Q, module)),
                Map.of(), LoadReport.empty());
        float scale = 0.75f * module.scale();
        EffectiveScales scales = EffectiveScales.builder().put(Component.UNET, TO_Q, "toy", scale).build();
        Map<String, TensorData> inputs = Map.of("x", TensorData.ofFloats(new long[] {ROWS, WIDTH}, x));

        try (ModelHandle handle = engine().open(model, ModelRole.UNET)) {
            assertEquals(Map.of(TO_Q, LayerGeometry.linear(WIDTH, WIDTH)), handle.loraTargets());
            assertClose(reference(x, w, a, b, 0), handle.run(inputs).get("y").toFloatArray());
            try (LoraBinding dynamic = handle.bind(LoraMode.DYNAMIC, scales, Map.of("toy", adapter));
                    LoraBinding fused = handle.bind(LoraMode.FUSED, scales, Map.of("toy", adapter))) {
                assertEquals(LoraMode.DYNAMIC, dynamic.mode());
                assertEquals(LoraMode.FUSED, fused.mode());
                float[] expected = reference(x, w, a, b, scale);
                assertClose(expected, handle.run(inputs, dynamic).get("y").toFloatArray());
                assertClose(expected, handle.run(inputs, fused).get("y").toFloatArray());
            }
            // the base is untouched afterwards
            assertClose(reference(x, w, a, b, 0), handle.run(inputs).get("y").toFloatArray());
        }

        // family fixed to SDXL through Config Admin: SDXL's down_blocks.0 has no attention, so the same graph has no
        // LoRA target in the next model opened, and binding the adapter is refused naming the module
        org.osgi.service.cm.Configuration configuration = configurationAdmin.getConfiguration("io.lorica.engine", "?");
        Dictionary<String, Object> original = configuration.getProperties();
        assertNotNull("etc/io.lorica.engine.cfg was not loaded", original);
        Hashtable<String, Object> changed = new Hashtable<>();
        for (var keys = original.keys(); keys.hasMoreElements(); ) {
            String key = keys.nextElement();
            changed.put(key, original.get(key));
        }
        changed.put("family", "sdxl");
        configuration.update(changed);
        try {
            Poll.until(TIMEOUT, "the engine indexes against SDXL", () -> {
                try (ModelHandle handle = engine().open(model, ModelRole.UNET)) {
                    return handle.loraTargets().isEmpty();
                }
            });
            try (ModelHandle handle = engine().open(model, ModelRole.UNET)) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> handle.bind(LoraMode.DYNAMIC, scales, Map.of("toy", adapter)));
                assertTrue(e.getMessage(), e.getMessage().contains(TO_Q));
            }
        } finally {
            configuration.update(original);
        }
        Poll.until(TIMEOUT, "the engine detects the family again", () -> {
            try (ModelHandle handle = engine().open(model, ModelRole.UNET)) {
                return handle.loraTargets().containsKey(TO_Q);
            }
        });
    }

    /** {@code y = x·W + s·(x·Aᵀ)·Bᵀ} in double precision; W stored {@code [in, out]}. */
    private static float[] reference(float[] x, float[] w, float[] a, float[] b, float s) {
        float[] y = new float[ROWS * WIDTH];
        for (int row = 0; row < ROWS; row++) {
            double[] down = new double[RANK];
            for (int k = 0; k < RANK; k++) {
                for (int i = 0; i < WIDTH; i++) {
                    down[k] += (double) x[row * WIDTH + i] * a[k * WIDTH + i];
                }
            }
            for (int o = 0; o < WIDTH; o++) {
                double sum = 0;
                for (int i = 0; i < WIDTH; i++) {
                    sum += (double) x[row * WIDTH + i] * w[i * WIDTH + o];
                }
                for (int k = 0; k < RANK; k++) {
                    sum += s * down[k] * b[o * RANK + k];
                }
                y[row * WIDTH + o] = (float) sum;
            }
        }
        return y;
    }

    private static void assertClose(float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length);
        for (int i = 0; i < expected.length; i++) {
            assertEquals("element " + i, expected[i], actual[i], 1e-4 * Math.max(1, Math.abs(expected[i])));
        }
    }
}
