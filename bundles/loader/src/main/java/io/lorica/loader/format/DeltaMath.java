package io.lorica.loader.format;

/**
 * Dense float arithmetic for rebuilding LyCORIS deltas (row-major arrays, accumulation in double, one rounding to
 * float per element). Shapes are passed explicitly; callers have validated them.
 */
final class DeltaMath {

    private DeltaMath() {
    }

    /** {@code [m, k] x [k, n] -> [m, n]}. */
    static float[] matmul(float[] left, int m, int k, float[] right, int n) {
        float[] out = new float[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double sum = 0;
                for (int p = 0; p < k; p++) {
                    sum += (double) left[i * k + p] * right[p * n + j];
                }
                out[i * n + j] = (float) sum;
            }
        }
        return out;
    }

    /** Element-wise product of equally long arrays. */
    static float[] hadamard(float[] x, float[] y) {
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = (float) ((double) x[i] * y[i]);
        }
        return out;
    }

    /** {@code values * factor}, in place; returns {@code values}. */
    static float[] scaleInPlace(float[] values, double factor) {
        if (factor != 1.0) {
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) (values[i] * factor);
            }
        }
        return values;
    }

    /**
     * The Tucker rebuild used by LyCORIS (LoHa {@code hada_t}, LoKr {@code lokr_t2}):
     * {@code out[p, q, y, x] = Σ_i Σ_j core[i, j, y, x] · wa[i, p] · wb[j, q]}.
     *
     * @param core   {@code [r1, r2, kh, kw]}
     * @param wa     {@code [r1, p]} (output side)
     * @param wb     {@code [r2, q]} (input side)
     * @param spatial {@code kh * kw}
     * @return {@code [p, q, kh, kw]}
     */
    static float[] tucker(float[] core, int r1, int r2, int spatial, float[] wa, int p, float[] wb, int q) {
        // first contract j: tmp[i, q, s] = Σ_j core[i, j, s] wb[j, q]
        double[] tmp = new double[r1 * q * spatial];
        for (int i = 0; i < r1; i++) {
            for (int j = 0; j < r2; j++) {
                for (int c = 0; c < q; c++) {
                    double w = wb[j * q + c];
                    if (w == 0) {
                        continue;
                    }
                    int coreBase = (i * r2 + j) * spatial;
                    int tmpBase = (i * q + c) * spatial;
                    for (int s = 0; s < spatial; s++) {
                        tmp[tmpBase + s] += core[coreBase + s] * w;
                    }
                }
            }
        }
        // then contract i: out[pp, c, s] = Σ_i tmp[i, c, s] wa[i, pp]
        float[] out = new float[p * q * spatial];
        for (int pp = 0; pp < p; pp++) {
            for (int c = 0; c < q; c++) {
                for (int s = 0; s < spatial; s++) {
                    double sum = 0;
                    for (int i = 0; i < r1; i++) {
                        sum += tmp[(i * q + c) * spatial + s] * wa[i * p + pp];
                    }
                    out[(pp * q + c) * spatial + s] = (float) sum;
                }
            }
        }
        return out;
    }

    /**
     * Folds a LoCon Tucker core into the down projection: {@code out[m, n, y, x] = Σ_k mid[m, k, y, x] · down[k, n]},
     * i.e. the k×k convolution equal to a 1×1 {@code down} followed by the k×k {@code mid}.
     *
     * @param mid     {@code [r, r2, kh, kw]}
     * @param down    {@code [r2, in]}
     * @return {@code [r, in, kh, kw]}
     */
    static float[] foldTuckerDown(float[] mid, int r, int r2, int spatial, float[] down, int in) {
        float[] out = new float[r * in * spatial];
        for (int m = 0; m < r; m++) {
            for (int n = 0; n < in; n++) {
                for (int s = 0; s < spatial; s++) {
                    double sum = 0;
                    for (int k = 0; k < r2; k++) {
                        sum += (double) mid[(m * r2 + k) * spatial + s] * down[k * in + n];
                    }
                    out[(m * in + n) * spatial + s] = (float) sum;
                }
            }
        }
        return out;
    }

    /**
     * The Kronecker product LoKr uses: {@code w1 [a, c]} (unsqueezed to {@code [a, c, 1, 1]}) with
     * {@code w2 [b, d, kh, kw]}: {@code out[i·b + k, j·d + l, y, x] = w1[i, j] · w2[k, l, y, x]}.
     *
     * @return {@code [a·b, c·d, kh, kw]} (for linear layers {@code spatial = 1}, i.e. {@code [a·b, c·d]})
     */
    static float[] kron(float[] w1, int a, int c, float[] w2, int b, int d, int spatial) {
        int cols = c * d;
        float[] out = new float[a * b * cols * spatial];
        for (int i = 0; i < a; i++) {
            for (int j = 0; j < c; j++) {
                double v = w1[i * c + j];
                for (int k = 0; k < b; k++) {
                    for (int l = 0; l < d; l++) {
                        int src = (k * d + l) * spatial;
                        int dst = ((i * b + k) * cols + (j * d + l)) * spatial;
                        for (int s = 0; s < spatial; s++) {
                            out[dst + s] = (float) (v * w2[src + s]);
                        }
                    }
                }
            }
        }
        return out;
    }

    /** The number of NaN or infinite elements. */
    static int countNonFinite(float[] values) {
        int count = 0;
        for (float v : values) {
            if (!Float.isFinite(v)) {
                count++;
            }
        }
        return count;
    }

    /**
     * The number of NaN or infinite elements of a floating-point tensor, read in place (no copy, no float
     * conversion): F16, BF16 and F32 are checked four or two elements per 64-bit word through their exponent bits,
     * so a tensor without such values costs one pass of masked compares.
     */
    static long countNonFinite(io.lorica.api.TensorData tensor) {
        java.nio.ByteBuffer data = tensor.data().duplicate().order(java.nio.ByteOrder.LITTLE_ENDIAN);
        return switch (tensor.dtype()) {
            case F16 -> countLanes16(data, (short) 0x7C00);
            case BF16 -> countLanes16(data, (short) 0x7F80);
            case F32 -> countLanes32(data);
            case F64 -> {
                long count = 0;
                for (int i = data.position(); i + 8 <= data.limit(); i += 8) {
                    count += Double.isFinite(data.getDouble(i)) ? 0 : 1;
                }
                yield count;
            }
            default -> 0;
        };
    }

    private static long countLanes16(java.nio.ByteBuffer data, short exponent) {
        long mask = (exponent & 0xFFFFL) * 0x0001_0001_0001_0001L;
        long count = 0;
        int i = data.position();
        int end = data.limit();
        for (; i + 8 <= end; i += 8) {
            long word = data.getLong(i);
            long z = (word & mask) ^ mask;               // a lane is 0 exactly when its exponent bits are all ones
            if (((z - 0x0001_0001_0001_0001L) & ~z & 0x8000_8000_8000_8000L) != 0) {
                for (int lane = 0; lane < 4; lane++) {
                    count += ((z >>> (16 * lane)) & 0xFFFF) == 0 ? 1 : 0;
                }
            }
        }
        for (; i + 2 <= end; i += 2) {
            count += (data.getShort(i) & exponent) == exponent ? 1 : 0;
        }
        return count;
    }

    private static long countLanes32(java.nio.ByteBuffer data) {
        long mask = 0x7F80_0000_7F80_0000L;
        long count = 0;
        int i = data.position();
        int end = data.limit();
        for (; i + 8 <= end; i += 8) {
            long z = (data.getLong(i) & mask) ^ mask;
            if ((z & 0xFFFF_FFFFL) == 0 || (z >>> 32) == 0) {
                count += ((z & 0xFFFF_FFFFL) == 0 ? 1 : 0) + ((z >>> 32) == 0 ? 1 : 0);
            }
        }
        for (; i + 4 <= end; i += 4) {
            count += (data.getInt(i) & 0x7F80_0000) == 0x7F80_0000 ? 1 : 0;
        }
        return count;
    }
}
