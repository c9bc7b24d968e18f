package io.lorica.engine.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtSession;
import io.lorica.api.DType;

import java.nio.ByteBuffer;
import java.util.Random;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class OrtFuseKernelTest {

    /** The ONNX Runtime kernel agrees with the plain-Java one, with chunks that do not divide the rows. */
    @ParameterizedTest
    @CsvSource({"F32, 37, 29, 5, 1e-5", "F16, 37, 29, 5, 0", "BF16, 64, 48, 8, 0", "F32, 3, 200, 1, 1e-5"})
    void matchesJavaKernel(DType dtype, int rows, int cols, int rank, double tolerance) {
        Random random = new Random(rows * 31L + cols);
        float[] w = new float[rows * cols];
        float[] left = new float[rows * rank];
        float[] right = new float[rank * cols];
        fill(random, w);
        fill(random, left);
        fill(random, right);
        ByteBuffer weight = Floats.encodeDirect(w, dtype);
        try (OrtFuseKernel kernel = new OrtFuseKernel(LoraFixtures.ENV, OrtSession.SessionOptions::new, 7 * cols)) {
            FuseKernel.Sum ort = kernel.addProduct(weight, dtype, rows, cols, left, right, rank, true, null);
            FuseKernel.Sum java = FuseKernel.JAVA.addProduct(weight, dtype, rows, cols, left, right, rank, true, null);
            assertTrue(ort.finite());
            float[] a = WeightFuser.decode(ort.data(), dtype, (long) rows * cols);
            float[] b = WeightFuser.decode(java.data(), dtype, (long) rows * cols);
            int differing = 0;
            for (int i = 0; i < a.length; i++) {
                float expected = w[i];
                for (int k = 0; k < rank; k++) {
                    expected += left[(i / cols) * rank + k] * right[k * cols + i % cols];
                }
                double ulp = dtype == DType.F32 ? 1e-5 : dtype == DType.F16 ? 2e-3 : 1.6e-2;
                assertEquals(expected, a[i], ulp * Math.max(1, Math.abs(expected)), "element " + i);
                if (tolerance == 0 && a[i] != b[i]) {
                    differing++; // a float32 sum in another order may round to the other neighbour
                } else {
                    assertEquals(b[i], a[i], tolerance * Math.max(1, Math.abs(b[i])), "element " + i);
                }
            }
            assertTrue(differing <= a.length / 50, differing + " of " + a.length + " elements differ");
            // unchanged input
            assertEquals(Floats.encodeDirect(w, dtype), weight);
        }
    }

    @ParameterizedTest
    @CsvSource({"F32", "F16"})
    void reportsNonFiniteResults(DType dtype) {
        float[] w = {1, 2, 3, 4};
        float[] left = {1, 0};
        float[] right = {Float.NaN, 0};
        try (OrtFuseKernel kernel = new OrtFuseKernel(LoraFixtures.ENV, OrtSession.SessionOptions::new, 2)) {
            assertFalse(kernel.addProduct(Floats.encodeDirect(w, dtype), dtype, 2, 2, left, right, 1, true, null).finite());
            float big = dtype == DType.F16 ? 70000f : Float.MAX_VALUE;
            assertFalse(kernel.addProduct(Floats.encodeDirect(w, dtype), dtype, 2, 2, new float[] {big, 0},
                    new float[] {big, 0}, 1, true, null).finite());
            assertTrue(kernel.addProduct(Floats.encodeDirect(w, dtype), dtype, 2, 2, new float[] {1, 0},
                    new float[] {1, 0}, 1, true, null).finite());
        }
    }

    private static void fill(Random random, float[] values) {
        for (int i = 0; i < values.length; i++) {
            values[i] = random.nextFloat() - 0.5f;
        }
    }
}
