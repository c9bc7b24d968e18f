package io.lorica.pipelines.scheduler;

/**
 * The {@code timestep_spacing} variants of Diffusers' {@code set_timesteps}, one per family of schedulers (they differ
 * in rounding, dtype and, for DPM-Solver, in the number of points spaced).
 */
final class Spacing {

    private Spacing() {
    }

    /**
     * Euler, Euler ancestral and LMS: float32 timesteps, descending. {@code linspace} is not rounded;
     * {@code leading} adds {@code steps_offset}; {@code trailing} subtracts 1.
     */
    static double[] float32Timesteps(SchedulerSettings settings, int steps) {
        int n = settings.numTrainTimesteps();
        double[] timesteps = switch (settings.timestepSpacing()) {
            case LINSPACE -> Numpy.reverse(Numpy.linspace(0, n - 1, steps));
            case LEADING -> plus(Numpy.reverse(leadingBase(n, steps)), settings.stepsOffset());
            case TRAILING -> plus(Numpy.rint(Numpy.arange(n, 0, -((double) n / steps))), -1);
        };
        for (int i = 0; i < timesteps.length; i++) {
            timesteps[i] = (float) timesteps[i];
        }
        return timesteps;
    }

    /** DDIM: integer timesteps, descending. */
    static double[] ddimTimesteps(SchedulerSettings settings, int steps) {
        int n = settings.numTrainTimesteps();
        return switch (settings.timestepSpacing()) {
            case LINSPACE -> Numpy.reverse(Numpy.rint(Numpy.linspace(0, n - 1, steps)));
            case LEADING -> plus(Numpy.reverse(leadingBase(n, steps)), settings.stepsOffset());
            case TRAILING -> plus(Numpy.rint(Numpy.arange(n, 0, -((double) n / steps))), -1);
        };
    }

    /**
     * DPM-Solver: integer timesteps, descending; {@code linspace} and {@code leading} space {@code steps + 1} points
     * and drop the last.
     */
    static double[] dpmSolverTimesteps(SchedulerSettings settings, int steps) {
        int n = settings.numTrainTimesteps();
        return switch (settings.timestepSpacing()) {
            case LINSPACE -> dropLast(Numpy.reverse(Numpy.rint(Numpy.linspace(0, n - 1, steps + 1))));
            case LEADING -> {
                int ratio = n / (steps + 1);
                double[] base = new double[steps + 1];
                for (int i = 0; i < base.length; i++) {
                    base[i] = (double) i * ratio;
                }
                yield plus(dropLast(Numpy.reverse(base)), settings.stepsOffset());
            }
            case TRAILING -> plus(Numpy.rint(Numpy.arange(n, 0, -((double) n / steps))), -1);
        };
    }

    /** PNDM's {@code _timesteps}: integer timesteps, ascending. */
    static double[] pndmTimesteps(SchedulerSettings settings, int steps) {
        int n = settings.numTrainTimesteps();
        return switch (settings.timestepSpacing()) {
            case LINSPACE -> Numpy.rint(Numpy.linspace(0, n - 1, steps));
            case LEADING -> plus(leadingBase(n, steps), settings.stepsOffset());
            case TRAILING -> plus(Numpy.reverse(Numpy.rint(Numpy.arange(n, 0, -((double) n / steps)))), -1);
        };
    }

    /** {@code np.arange(0, steps) * (n // steps)}, ascending. */
    private static double[] leadingBase(int n, int steps) {
        int ratio = n / steps;
        double[] out = new double[steps];
        for (int i = 0; i < steps; i++) {
            out[i] = (double) i * ratio;
        }
        return out;
    }

    private static double[] plus(double[] values, double offset) {
        double[] out = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = values[i] + offset;
        }
        return out;
    }

    private static double[] dropLast(double[] values) {
        double[] out = new double[Math.max(0, values.length - 1)];
        System.arraycopy(values, 0, out, 0, out.length);
        return out;
    }
}
