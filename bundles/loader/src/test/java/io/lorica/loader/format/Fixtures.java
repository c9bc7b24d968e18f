package io.lorica.loader.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.TensorData;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LoadReport;
import io.lorica.api.adapter.LoadReport.KeyOutcome;
import io.lorica.api.adapter.LoadReport.KeyReport;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.format.AdapterFormat;
import io.lorica.api.format.AdapterFormatException;
import io.lorica.api.format.ModuleCatalog;

import java.util.List;
import java.util.stream.Collectors;

import org.junit.jupiter.api.function.Executable;

/** Shared test data builders and assertions. */
final class Fixtures {

    static final double TOLERANCE = 1e-6;

    private Fixtures() {
    }

    static int count(long[] shape) {
        int n = 1;
        for (long d : shape) {
            n *= (int) d;
        }
        return n;
    }

    /** Deterministic, distinct, exactly representable values for a tensor of {@code shape}. */
    static float[] values(long[] shape, float start) {
        return MapTensorSource.seq(count(shape), start, 0.125f);
    }

    /** A kohya module: {@code <stem>.lora_down.weight}, {@code .lora_up.weight} and optional {@code .alpha}. */
    static MapTensorSource kohya(MapTensorSource s, String stem, LayerGeometry g, int rank, Float alpha) {
        s.f32(stem + ".lora_down.weight", g.aShape(rank), values(g.aShape(rank), 0.25f));
        s.f32(stem + ".lora_up.weight", g.bShape(rank), values(g.bShape(rank), -1f));
        if (alpha != null) {
            s.scalar(stem + ".alpha", alpha);
        }
        return s;
    }

    /** A PEFT module: {@code <prefix>.lora_A.weight} and {@code .lora_B.weight}. */
    static MapTensorSource peft(MapTensorSource s, String prefix, LayerGeometry g, int rank) {
        s.f32(prefix + ".lora_A.weight", g.aShape(rank), values(g.aShape(rank), 0.25f));
        s.f32(prefix + ".lora_B.weight", g.bShape(rank), values(g.bShape(rank), -1f));
        return s;
    }

    static void assertFloats(float[] expected, TensorData actual) {
        float[] values = actual.toFloatArray();
        assertEquals(expected.length, values.length, "element count of " + actual);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], values[i], TOLERANCE, "element " + i + " of " + actual);
        }
    }

    static void assertShape(TensorData data, long... shape) {
        assertArrayEquals(shape, data.shape(), "shape of " + data);
    }

    static KeyReport report(LoraAdapter adapter, String key) {
        return adapter.report().keys().stream().filter(k -> k.key().equals(key)).findFirst()
                .orElseThrow(() -> new AssertionError("no report for " + key));
    }

    /** The report covers exactly the source keys, in file order. */
    static void assertReportCoversKeys(MapTensorSource source, LoraAdapter adapter) {
        List<String> reported = adapter.report().keys().stream().map(KeyReport::key).collect(Collectors.toList());
        assertEquals(List.copyOf(source.keys()), reported);
    }

    static void assertOutcome(LoraAdapter adapter, String key, KeyOutcome outcome, String target) {
        KeyReport report = report(adapter, key);
        assertEquals(outcome, report.outcome(), "outcome of " + key + ": " + report);
        if (target != null) {
            assertEquals(target, report.target(), "target of " + key);
        }
    }

    static boolean anyWarning(LoraAdapter adapter, String fragment) {
        return adapter.report().warnings().stream().anyMatch(w -> w.contains(fragment));
    }

    static void assertWarning(LoraAdapter adapter, String fragment) {
        assertTrue(anyWarning(adapter, fragment), "no warning containing '" + fragment + "' in "
                + adapter.report().warnings());
    }

    static AdapterFormatException assertRejected(Executable conversion, String... fragments) {
        AdapterFormatException e = assertThrows(AdapterFormatException.class, conversion);
        for (String fragment : fragments) {
            assertTrue(e.getMessage().contains(fragment), "message lacks '" + fragment + "': " + e.getMessage());
        }
        return e;
    }

    static LoraAdapter convert(AdapterFormat format, MapTensorSource source, ModuleCatalog catalog) {
        LoraAdapter adapter = format.convert(source, TinyModels.context(catalog));
        assertReportCoversKeys(source, adapter);
        return adapter;
    }

    static long dropped(LoadReport report) {
        return report.count(KeyOutcome.DROPPED);
    }

    /** Naive {@code B·A} (conv: {@code ΔW[o,i,y,x] = Σ_k B[o,k] A[k,i,y,x]}) for comparisons. */
    static float[] product(TensorData b, TensorData a) {
        float[] av = a.toFloatArray();
        float[] bv = b.toFloatArray();
        int out = (int) b.dim(0);
        int rank = (int) b.dim(1);
        int rest = av.length / Math.max(1, rank);
        float[] delta = new float[out * rest];
        for (int o = 0; o < out; o++) {
            for (int k = 0; k < rank; k++) {
                for (int j = 0; j < rest; j++) {
                    delta[o * rest + j] += bv[o * rank + k] * av[k * rest + j];
                }
            }
        }
        return delta;
    }
}
