package io.lorica.engine.onnx;

/** Plain-Java reference math for the test graphs. */
public final class Reference {

    private Reference() {
    }

    /** {@code y = x W^T + b} over rows of {@code x [rows, in]}; {@code w [out, in]}; {@code b} may be null. */
    public static float[] linear(float[] x, int rows, float[] w, float[] b, int in, int out) {
        float[] y = new float[rows * out];
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < out; o++) {
                double sum = b == null ? 0 : b[o];
                for (int i = 0; i < in; i++) {
                    sum += (double) x[r * in + i] * w[o * in + i];
                }
                y[r * out + o] = (float) sum;
            }
        }
        return y;
    }

    /** NCHW convolution, square kernel, symmetric padding, bias. */
    public static float[] conv(float[] x, int n, int c, int h, int wd, float[] w, float[] b, int out, int k,
            int stride, int pad) {
        int oh = (h + 2 * pad - k) / stride + 1;
        int ow = (wd + 2 * pad - k) / stride + 1;
        float[] y = new float[n * out * oh * ow];
        for (int bi = 0; bi < n; bi++) {
            for (int o = 0; o < out; o++) {
                for (int yy = 0; yy < oh; yy++) {
                    for (int xx = 0; xx < ow; xx++) {
                        double sum = b[o];
                        for (int ci = 0; ci < c; ci++) {
                            for (int ky = 0; ky < k; ky++) {
                                for (int kx = 0; kx < k; kx++) {
                                    int iy = yy * stride - pad + ky;
                                    int ix = xx * stride - pad + kx;
                                    if (iy < 0 || ix < 0 || iy >= h || ix >= wd) {
                                        continue;
                                    }
                                    sum += (double) x[((bi * c + ci) * h + iy) * wd + ix]
                                            * w[((o * c + ci) * k + ky) * k + kx];
                                }
                            }
                        }
                        y[((bi * out + o) * oh + yy) * ow + xx] = (float) sum;
                    }
                }
            }
        }
        return y;
    }
}
