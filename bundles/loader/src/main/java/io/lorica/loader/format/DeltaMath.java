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
}
