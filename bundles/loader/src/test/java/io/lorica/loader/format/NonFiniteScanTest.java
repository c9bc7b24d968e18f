package io.lorica.loader.format;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.lorica.api.DType;
import io.lorica.api.TensorData;
import io.lorica.loader.safetensors.DTypes;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class NonFiniteScanTest {

    private static float[] values(int n, int... badAt) {
        float[] values = new float[n];
        for (int i = 0; i < n; i++) {
            values[i] = (i % 7 - 3) * 0.37f;
        }
        float[] bad = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY};
        for (int i = 0; i < badAt.length; i++) {
            values[badAt[i]] = bad[i % bad.length];
        }
        return values;
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F16", "BF16", "F32", "F64"})
    void countNonFinite_inPlace_matchesElementwiseCount(DType dtype) {
        for (int n : new int[] {0, 1, 3, 4, 5, 8, 9, 63, 64, 65}) {
            assertEquals(0, DeltaMath.countNonFinite(DTypes.tensor(dtype, new long[] {n}, values(n))), dtype + " n=" + n);
        }
        // in full words, in the same word, and in the tail after the last full word
        float[] values = values(67, 0, 1, 2, 3, 17, 64, 66);
        TensorData tensor = DTypes.tensor(dtype, new long[] {67}, values);
        assertEquals(7, DeltaMath.countNonFinite(tensor), dtype.name());
        assertEquals(DeltaMath.countNonFinite(tensor.toFloatArray()), DeltaMath.countNonFinite(tensor), dtype.name());
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F16", "BF16"})
    void countNonFinite_largestFiniteAndSubnormals_areFinite(DType dtype) {
        float largest = dtype == DType.F16 ? 65504f : 3.3895314e38f;
        TensorData tensor = DTypes.tensor(dtype, new long[] {6}, largest, -largest, 1e-7f, -1e-7f, 0f, -0f);
        assertEquals(0, DeltaMath.countNonFinite(tensor));
    }
}
