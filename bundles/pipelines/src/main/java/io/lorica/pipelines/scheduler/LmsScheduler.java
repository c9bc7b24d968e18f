package io.lorica.pipelines.scheduler;

import io.lorica.pipelines.noise.TorchGenerator;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Iterator;

/**
 * Diffusers' {@code LMSDiscreteScheduler}: linear multistep of order up to 4 over the derivatives
 * {@code (x - x0) / sigma}, the coefficients being integrals of Lagrange basis polynomials over
 * {@code [sigma_i, sigma_i+1]}.
 *
 * <p>Diffusers integrates them with {@code scipy.integrate.quad}; the integrands are polynomials of degree at most 3,
 * which the 4-point Gauss-Legendre rule used here integrates exactly (in double).
 */
final class LmsScheduler extends AbstractScheduler {

    /** Diffusers' default {@code order} argument of {@code step}. */
    private static final int ORDER = 4;
    private static final double[] GAUSS_NODES;
    private static final double[] GAUSS_WEIGHTS;

    static {
        int points = 4;
        GAUSS_NODES = new double[points];
        GAUSS_WEIGHTS = new double[points];
        legendre(points, GAUSS_NODES, GAUSS_WEIGHTS);
    }

    private final Deque<float[]> derivatives = new ArrayDeque<>();

    LmsScheduler(String name, SchedulerSettings settings) {
        super(name, settings, new NoiseSchedule(settings, false));
        settings.requirePrediction(Options.Prediction.EPSILON, Options.Prediction.V_PREDICTION,
                Options.Prediction.SAMPLE);
    }

    @Override
    protected void computeTables(int steps) {
        double[] spaced = Spacing.float32Timesteps(settings, steps);
        float[] trainSigmas = schedule.trainSigmas();
        double[] sigmaValues = Numpy.interp(spaced, trainSigmas);
        if (settings.useKarrasSigmas()) {
            float[] logSigmas = NoiseSchedule.log(trainSigmas);
            sigmaValues = NoiseSchedule.karras(sigmaValues[sigmaValues.length - 1], sigmaValues[0], steps);
            spaced = new double[sigmaValues.length];
            for (int i = 0; i < spaced.length; i++) {
                spaced[i] = NoiseSchedule.sigmaToT(sigmaValues[i], logSigmas);
            }
        }
        sigmas = new float[sigmaValues.length + 1];
        for (int i = 0; i < sigmaValues.length; i++) {
            sigmas[i] = (float) sigmaValues[i];
        }
        timesteps = new double[spaced.length];
        for (int i = 0; i < spaced.length; i++) {
            timesteps[i] = (float) spaced[i];
        }
        initNoiseSigma = sigmaInitNoise();
        derivatives.clear();
    }

    @Override
    protected void scale(float[] sample, int stepIndex) {
        divideBySigmaNorm(sample, sigmas[stepIndex]);
    }

    @Override
    protected void doStep(float[] modelOutput, int i, float[] sample, TorchGenerator generator) {
        float sigma = sigmas[i];
        float outScale = -sigma / (float) Math.sqrt(sigma * sigma + 1f);
        float inScale = sigma * sigma + 1f;
        float[] derivative = new float[sample.length];
        for (int k = 0; k < sample.length; k++) {
            float x = sample[k];
            float denoised = switch (settings.predictionType()) {
                case EPSILON -> x - sigma * modelOutput[k];
                case V_PREDICTION -> modelOutput[k] * outScale + x / inScale;
                case SAMPLE -> modelOutput[k];
            };
            derivative[k] = (x - denoised) / sigma;
        }
        derivatives.addLast(derivative);
        if (derivatives.size() > ORDER) {
            derivatives.removeFirst();
        }
        int order = Math.min(i + 1, ORDER);
        float[] sum = null;
        Iterator<float[]> newestFirst = derivatives.descendingIterator();
        for (int current = 0; current < order && newestFirst.hasNext(); current++) {
            float coefficient = (float) coefficient(order, i, current);
            float[] d = newestFirst.next();
            if (sum == null) {
                sum = new float[d.length];
                for (int k = 0; k < d.length; k++) {
                    sum[k] = coefficient * d[k];
                }
            } else {
                for (int k = 0; k < d.length; k++) {
                    sum[k] = sum[k] + coefficient * d[k];
                }
            }
        }
        for (int k = 0; k < sample.length; k++) {
            sample[k] = sample[k] + sum[k];
        }
    }

    /**
     * Diffusers' {@code get_lms_coefficient(order, t, current_order)}: the integral over
     * {@code [sigmas[t], sigmas[t + 1]]} of the Lagrange basis polynomial that is 1 at {@code sigmas[t - current]}
     * and 0 at the other {@code sigmas[t - k]}, {@code k < order}.
     */
    double coefficient(int order, int t, int current) {
        double from = sigmas[t];
        double to = sigmas[t + 1];
        double half = (to - from) / 2;
        double mid = (to + from) / 2;
        double integral = 0;
        for (int q = 0; q < GAUSS_NODES.length; q++) {
            double tau = mid + half * GAUSS_NODES[q];
            double product = 1;
            for (int k = 0; k < order; k++) {
                if (k != current) {
                    product *= (tau - sigmas[t - k]) / ((double) sigmas[t - current] - sigmas[t - k]);
                }
            }
            integral += GAUSS_WEIGHTS[q] * product;
        }
        return integral * half;
    }

    /** The nodes and weights of the {@code n}-point Gauss-Legendre rule on [-1, 1], by Newton's method. */
    private static void legendre(int n, double[] nodes, double[] weights) {
        for (int i = 0; i < n; i++) {
            double x = Math.cos(Math.PI * (i + 0.75) / (n + 0.5));
            double derivative = 0;
            for (int iteration = 0; iteration < 100; iteration++) {
                double p0 = 1;
                double p1 = x;
                for (int k = 2; k <= n; k++) {
                    double p2 = ((2 * k - 1) * x * p1 - (k - 1) * p0) / k;
                    p0 = p1;
                    p1 = p2;
                }
                derivative = n * (x * p1 - p0) / (x * x - 1);
                double next = x - p1 / derivative;
                boolean converged = Math.abs(next - x) < 1e-16;
                x = next;
                if (converged) {
                    break;
                }
            }
            nodes[i] = x;
            weights[i] = 2 / ((1 - x * x) * derivative * derivative);
        }
    }
}
