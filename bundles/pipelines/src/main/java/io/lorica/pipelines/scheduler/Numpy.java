package io.lorica.pipelines.scheduler;

/**
 * The numpy functions Diffusers builds its schedules with, reproducing numpy's double arithmetic (the same operations
 * in the same order), not just the same mathematical values.
 */
final class Numpy {

    private Numpy() {
    }

    /**
     * {@code np.linspace(start, stop, num)}: {@code i * step + start} with {@code step = (stop - start) / (num - 1)},
     * the last value exactly {@code stop}; {@code [start]} for one value.
     */
    static double[] linspace(double start, double stop, int num) {
        double[] out = new double[num];
        if (num == 1) {
            out[0] = start;
            return out;
        }
        double delta = stop - start;
        double step = delta / (num - 1);
        for (int i = 0; i < num; i++) {
            out[i] = step == 0 ? i / (double) (num - 1) * delta + start : i * step + start;
        }
        out[num - 1] = stop;
        return out;
    }

    /**
     * {@code np.arange(start, stop, step)} with a float step: {@code ceil((stop - start) / step)} values,
     * {@code a[0] = start}, {@code a[1] = start + step} and {@code a[i] = start + i * (a[1] - a[0])} (numpy's fill).
     * With {@code N / steps} as the step this can give one value more than {@code steps} (e.g. 62 for 61 steps of
     * 1000), which Diffusers inherits for {@code trailing} spacing.
     */
    static double[] arange(double start, double stop, double step) {
        double count = Math.ceil((stop - start) / step);
        int length = count > 0 ? (int) count : 0;
        double[] out = new double[length];
        if (length > 0) {
            out[0] = start;
        }
        if (length > 1) {
            out[1] = start + step;
            double delta = out[1] - out[0];
            for (int i = 2; i < length; i++) {
                out[i] = start + i * delta;
            }
        }
        return out;
    }

    /** {@code np.round} of every value: round half to even. */
    static double[] rint(double[] values) {
        double[] out = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = Math.rint(values[i]);
        }
        return out;
    }

    /** The values in reverse order ({@code [::-1]}). */
    static double[] reverse(double[] values) {
        double[] out = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = values[values.length - 1 - i];
        }
        return out;
    }

    /**
     * {@code np.interp(x, np.arange(0, len(fp)), fp)}: linear interpolation of float32 {@code fp} at integer
     * positions, clamped to the end values outside, computed as numpy does ({@code slope * (x - xp[j]) + fp[j]}).
     */
    static double[] interp(double[] x, float[] fp) {
        int last = fp.length - 1;
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double value = x[i];
            if (Double.isNaN(value)) {
                out[i] = value;
            } else if (value < 0) {
                out[i] = fp[0];
            } else if (value >= last) {
                out[i] = fp[last];
            } else {
                int j = (int) Math.floor(value);
                if (value == j) {
                    out[i] = fp[j];
                } else {
                    double slope = ((double) fp[j + 1] - (double) fp[j]) / 1.0;
                    out[i] = slope * (value - j) + fp[j];
                }
            }
        }
        return out;
    }
}
