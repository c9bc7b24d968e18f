package io.lorica.pipelines.scheduler;

import java.util.List;

/**
 * The training noise schedule of a Diffusers scheduler: betas and cumulative alphas in float32, computed as torch
 * computes them on the CPU, and the sigma helpers Diffusers shares between its schedulers.
 */
final class NoiseSchedule {

    /** Karras et al.'s rho. */
    private static final double RHO = 7.0;

    private final float[] betas;
    private final float[] alphasCumprod;

    /**
     * The schedule of {@code settings}.
     *
     * @param settings the resolved settings
     * @param clampTerminalAlpha whether {@code rescale_betas_zero_snr} also sets the last cumulative alpha to 2^-24
     *     (Euler, Euler ancestral and DPM-Solver do; DDIM does not)
     */
    NoiseSchedule(SchedulerSettings settings, boolean clampTerminalAlpha) {
        int n = settings.numTrainTimesteps();
        float[] b;
        if (settings.trainedBetas() != null) {
            List<Double> trained = settings.trainedBetas();
            b = new float[trained.size()];
            for (int i = 0; i < b.length; i++) {
                b[i] = (float) (double) trained.get(i);
            }
        } else {
            b = switch (settings.betaSchedule()) {
                case LINEAR -> torchLinspace(settings.betaStart(), settings.betaEnd(), n);
                case SCALED_LINEAR -> square(torchLinspace(Math.sqrt(settings.betaStart()),
                        Math.sqrt(settings.betaEnd()), n));
                case SQUAREDCOS_CAP_V2 -> betasForAlphaBar(n);
            };
        }
        if (settings.rescaleBetasZeroSnr()) {
            b = rescaleZeroTerminalSnr(b);
        }
        this.betas = b;
        this.alphasCumprod = cumprod(oneMinus(b));
        if (settings.rescaleBetasZeroSnr() && clampTerminalAlpha) {
            alphasCumprod[alphasCumprod.length - 1] = 0x1.0p-24f;
        }
    }

    /** The float32 betas. */
    float[] betas() {
        return betas.clone();
    }

    /** The float32 cumulative products of {@code 1 - beta}. */
    float[] alphasCumprod() {
        return alphasCumprod.clone();
    }

    /**
     * {@code alphas_cumprod[t]} as torch indexes it: a negative {@code t} counts from the end.
     *
     * @throws IndexOutOfBoundsException when {@code t} is outside the table either way
     */
    float alphaCumprod(long t) {
        int n = alphasCumprod.length;
        if (t < -n || t >= n) {
            throw new IndexOutOfBoundsException("timestep " + t + " is outside the " + n + " training timesteps");
        }
        return alphasCumprod[(int) (t < 0 ? t + n : t)];
    }

    /** {@code ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5} in float32, by training timestep (ascending). */
    float[] trainSigmas() {
        float[] sigmas = new float[alphasCumprod.length];
        for (int t = 0; t < sigmas.length; t++) {
            sigmas[t] = sigmaOf(alphasCumprod[t]);
        }
        return sigmas;
    }

    /** {@code ((1 - a) / a) ** 0.5} in float32. */
    static float sigmaOf(float alphaCumprod) {
        return (float) Math.sqrt((1f - alphaCumprod) / alphaCumprod);
    }

    /** {@code np.log} of float32 values, in float32. */
    static float[] log(float[] values) {
        float[] out = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = (float) Math.log(values[i]);
        }
        return out;
    }

    /**
     * {@code torch.linspace(start, end, steps, dtype=torch.float32)} as the CPU kernel computes it: the step in
     * float32, {@code start + step * i} for the first half and {@code end - step * (steps - 1 - i)} for the second.
     */
    static float[] torchLinspace(double start, double end, int steps) {
        float from = (float) start;
        float to = (float) end;
        float[] out = new float[steps];
        if (steps == 1) {
            out[0] = from;
            return out;
        }
        float step = (to - from) / (steps - 1);
        int halfway = steps / 2;
        for (int i = 0; i < steps; i++) {
            out[i] = i < halfway ? from + step * i : to - step * (steps - 1 - i);
        }
        return out;
    }

    /** {@code torch.cumprod} of float32 values on the CPU: accumulated in double, stored in float32. */
    static float[] cumprod(float[] values) {
        float[] out = new float[values.length];
        double product = 1.0;
        for (int i = 0; i < values.length; i++) {
            product *= values[i];
            out[i] = (float) product;
        }
        return out;
    }

    /**
     * Diffusers' {@code betas_for_alpha_bar} with the cosine transform (the {@code squaredcos_cap_v2} schedule),
     * computed in double and stored in float32.
     */
    static float[] betasForAlphaBar(int n) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            double t1 = (double) i / n;
            double t2 = (double) (i + 1) / n;
            out[i] = (float) Math.min(1 - alphaBar(t2) / alphaBar(t1), 0.999);
        }
        return out;
    }

    private static double alphaBar(double t) {
        double c = Math.cos((t + 0.008) / 1.008 * Math.PI / 2);
        return c * c;
    }

    /** Diffusers' {@code rescale_zero_terminal_snr} (Lin et al. 2023, algorithm 1) in float32. */
    static float[] rescaleZeroTerminalSnr(float[] betas) {
        float[] sqrtAlphaBar = cumprod(oneMinus(betas));
        for (int i = 0; i < sqrtAlphaBar.length; i++) {
            sqrtAlphaBar[i] = (float) Math.sqrt(sqrtAlphaBar[i]);
        }
        float first = sqrtAlphaBar[0];
        float last = sqrtAlphaBar[sqrtAlphaBar.length - 1];
        float scale = first / (first - last);
        float[] alphaBar = new float[sqrtAlphaBar.length];
        for (int i = 0; i < alphaBar.length; i++) {
            float shifted = (sqrtAlphaBar[i] - last) * scale;
            alphaBar[i] = shifted * shifted;
        }
        float[] out = new float[alphaBar.length];
        out[0] = 1f - alphaBar[0];
        for (int i = 1; i < out.length; i++) {
            out[i] = 1f - alphaBar[i] / alphaBar[i - 1];
        }
        return out;
    }

    private static float[] oneMinus(float[] values) {
        float[] out = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = 1f - values[i];
        }
        return out;
    }

    private static float[] square(float[] values) {
        float[] out = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = values[i] * values[i];
        }
        return out;
    }

    /**
     * Diffusers' {@code _convert_to_karras}: {@code steps} sigmas from {@code sigmaMax} down to {@code sigmaMin},
     * evenly spaced in {@code sigma^(1/7)}, in double.
     */
    static double[] karras(double sigmaMin, double sigmaMax, int steps) {
        double[] ramp = Numpy.linspace(0, 1, steps);
        double minInvRho = Math.pow(sigmaMin, 1 / RHO);
        double maxInvRho = Math.pow(sigmaMax, 1 / RHO);
        double[] out = new double[steps];
        for (int i = 0; i < steps; i++) {
            out[i] = Math.pow(maxInvRho + ramp[i] * (minInvRho - maxInvRho), RHO);
        }
        return out;
    }

    /**
     * Diffusers' {@code _sigma_to_t}: the fractional training timestep of {@code sigma}, interpolating linearly in
     * log sigma between the neighbouring training sigmas ({@code logSigmas} in float32, ascending by timestep).
     */
    static double sigmaToT(double sigma, float[] logSigmas) {
        double logSigma = Math.log(Math.max(sigma, 1e-10));
        int low = 0;
        for (int i = 0; i < logSigmas.length; i++) {
            if (logSigma - logSigmas[i] >= 0) {
                low = i;
            }
        }
        low = Math.min(low, logSigmas.length - 2);
        int high = low + 1;
        float lowLog = logSigmas[low];
        float highLog = logSigmas[high];
        double w = (lowLog - logSigma) / (double) (lowLog - highLog);
        w = Math.min(Math.max(w, 0), 1);
        return (1 - w) * low + w * high;
    }
}
