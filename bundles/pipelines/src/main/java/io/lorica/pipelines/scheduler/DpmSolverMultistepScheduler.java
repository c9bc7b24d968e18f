package io.lorica.pipelines.scheduler;

import io.lorica.pipelines.noise.TorchGenerator;

/**
 * Diffusers' {@code DPMSolverMultistepScheduler}: DPM-Solver++ (data prediction) or DPM-Solver (noise prediction),
 * first to third order, midpoint or Heun second-order updates, optional SDE noise, Karras sigmas, and Diffusers'
 * lower-order warm-up and final steps. The model output is first converted to x0 (DPM-Solver++) or epsilon
 * (DPM-Solver); the last {@code solver_order} conversions are kept.
 */
final class DpmSolverMultistepScheduler extends AbstractScheduler {

    private final Options.Algorithm algorithm;
    private final Options.Solver solver;
    private final int order;
    private float[][] modelOutputs;
    private int lowerOrderNums;

    DpmSolverMultistepScheduler(String name, SchedulerSettings settings) {
        super(name, settings, new NoiseSchedule(settings, true));
        settings.requirePrediction(Options.Prediction.EPSILON, Options.Prediction.V_PREDICTION,
                Options.Prediction.SAMPLE);
        settings.requireNoThresholding();
        Options.Algorithm configured = settings.algorithmType();
        if (!configured.predictsData() && settings.finalSigmasType() == Options.FinalSigmas.ZERO) {
            throw new IllegalArgumentException("scheduler config key 'final_sigmas_type' has value \"zero\", which"
                    + " algorithm_type \"" + configured.configValue() + "\" does not support; accepted values:"
                    + " sigma_min");
        }
        this.algorithm = configured == Options.Algorithm.DEIS ? Options.Algorithm.DPMSOLVER_PP : configured;
        this.solver = settings.solverType().effective();
        this.order = settings.solverOrder();
        if (order == 3 && algorithm == Options.Algorithm.SDE_DPMSOLVER) {
            throw new IllegalArgumentException("scheduler config key 'solver_order' has value 3, which algorithm_type"
                    + " \"sde-dpmsolver\" does not support; accepted values: 1, 2");
        }
    }

    @Override
    protected void computeTables(int steps) {
        double[] spaced = Spacing.dpmSolverTimesteps(settings, steps);
        float[] trainSigmas = schedule.trainSigmas();
        double[] sigmaValues;
        if (settings.useKarrasSigmas()) {
            float[] logSigmas = NoiseSchedule.log(trainSigmas);
            double sigmaMin = settings.sigmaMin() != null ? settings.sigmaMin() : trainSigmas[0];
            double sigmaMax = settings.sigmaMax() != null ? settings.sigmaMax() : trainSigmas[trainSigmas.length - 1];
            sigmaValues = NoiseSchedule.karras(sigmaMin, sigmaMax, steps);
            spaced = new double[sigmaValues.length];
            boolean round = settings.betaSchedule() != Options.BetaSchedule.SQUAREDCOS_CAP_V2;
            for (int i = 0; i < spaced.length; i++) {
                double t = NoiseSchedule.sigmaToT(sigmaValues[i], logSigmas);
                spaced[i] = round ? Math.rint(t) : t;
            }
        } else {
            sigmaValues = Numpy.interp(spaced, trainSigmas);
        }
        float last = settings.finalSigmasType() == Options.FinalSigmas.SIGMA_MIN
                ? NoiseSchedule.sigmaOf(schedule.alphaCumprod(0)) : 0f;
        sigmas = new float[sigmaValues.length + 1];
        for (int i = 0; i < sigmaValues.length; i++) {
            sigmas[i] = (float) sigmaValues[i];
        }
        sigmas[sigmaValues.length] = last;
        timesteps = new double[spaced.length];
        for (int i = 0; i < spaced.length; i++) {
            timesteps[i] = (long) spaced[i];
        }
        initNoiseSigma = 1f;
        modelOutputs = new float[order][];
        lowerOrderNums = 0;
    }

    @Override
    protected boolean drawsNoise() {
        return algorithm.stochastic();
    }

    @Override
    protected void doStep(float[] modelOutput, int i, float[] sample, TorchGenerator generator) {
        int count = timesteps.length;
        boolean lowerOrderFinal = i == count - 1 && (settings.eulerAtFinal()
                || settings.lowerOrderFinal() && count < 15
                || settings.finalSigmasType() == Options.FinalSigmas.ZERO);
        boolean lowerOrderSecond = i == count - 2 && settings.lowerOrderFinal() && count < 15;
        float[] converted = convertModelOutput(modelOutput, i, sample);
        System.arraycopy(modelOutputs, 1, modelOutputs, 0, order - 1);
        modelOutputs[order - 1] = converted;
        float[] noise = algorithm.stochastic() ? generator.randn(sample.length) : null;
        if (order == 1 || lowerOrderNums < 1 || lowerOrderFinal) {
            firstOrderUpdate(converted, i, sample, noise);
        } else if (order == 2 || lowerOrderNums < 2 || lowerOrderSecond) {
            secondOrderUpdate(i, sample, noise);
        } else {
            thirdOrderUpdate(i, sample, noise);
        }
        if (lowerOrderNums < order) {
            lowerOrderNums++;
        }
    }

    /** {@code alpha_t = 1 / sqrt(sigma^2 + 1)} in float32. */
    private static float alphaOf(float sigma) {
        return 1f / (float) Math.sqrt(sigma * sigma + 1f);
    }

    /** {@code log(alpha_t) - log(sigma_t)} in float32. */
    private static float lambdaOf(float alpha, float sigma) {
        return (float) Math.log(alpha) - (float) Math.log(sigma);
    }

    private float[] convertModelOutput(float[] modelOutput, int i, float[] sample) {
        float alphaT = alphaOf(sigmas[i]);
        float sigmaT = sigmas[i] * alphaT;
        Options.Prediction prediction = settings.predictionType();
        float[] out = new float[sample.length];
        for (int k = 0; k < out.length; k++) {
            float x = sample[k];
            float m = modelOutput[k];
            if (algorithm.predictsData()) {
                out[k] = switch (prediction) {
                    case EPSILON -> (x - sigmaT * m) / alphaT;
                    case SAMPLE -> m;
                    case V_PREDICTION -> alphaT * x - sigmaT * m;
                };
            } else {
                out[k] = switch (prediction) {
                    case EPSILON -> m;
                    case SAMPLE -> (x - alphaT * m) / sigmaT;
                    case V_PREDICTION -> alphaT * m + sigmaT * x;
                };
            }
        }
        return out;
    }

    private void firstOrderUpdate(float[] m, int i, float[] sample, float[] noise) {
        float alphaT = alphaOf(sigmas[i + 1]);
        float sigmaT = sigmas[i + 1] * alphaT;
        float alphaS = alphaOf(sigmas[i]);
        float sigmaS = sigmas[i] * alphaS;
        float h = lambdaOf(alphaT, sigmaT) - lambdaOf(alphaS, sigmaS);
        switch (algorithm) {
            case DPMSOLVER_PP -> {
                float a = sigmaT / sigmaS;
                float b = alphaT * ((float) Math.exp(-h) - 1f);
                for (int k = 0; k < sample.length; k++) {
                    sample[k] = a * sample[k] - b * m[k];
                }
            }
            case DPMSOLVER -> {
                float a = alphaT / alphaS;
                float b = sigmaT * ((float) Math.exp(h) - 1f);
                for (int k = 0; k < sample.length; k++) {
                    sample[k] = a * sample[k] - b * m[k];
                }
            }
            case SDE_DPMSOLVER_PP -> {
                float a = sigmaT / sigmaS * (float) Math.exp(-h);
                float b = alphaT * (1f - (float) Math.exp(-2f * h));
                float c = sigmaT * (float) Math.sqrt(1f - (float) Math.exp(-2f * h));
                for (int k = 0; k < sample.length; k++) {
                    sample[k] = a * sample[k] + b * m[k] + c * noise[k];
                }
            }
            case SDE_DPMSOLVER -> {
                float a = alphaT / alphaS;
                float b = 2f * (sigmaT * ((float) Math.exp(h) - 1f));
                float c = sigmaT * (float) Math.sqrt((float) Math.exp(2f * h) - 1f);
                for (int k = 0; k < sample.length; k++) {
                    sample[k] = a * sample[k] - b * m[k] + c * noise[k];
                }
            }
            default -> throw new AssertionError(algorithm);
        }
    }

    private void secondOrderUpdate(int i, float[] sample, float[] noise) {
        float alphaT = alphaOf(sigmas[i + 1]);
        float sigmaT = sigmas[i + 1] * alphaT;
        float alphaS0 = alphaOf(sigmas[i]);
        float sigmaS0 = sigmas[i] * alphaS0;
        float alphaS1 = alphaOf(sigmas[i - 1]);
        float sigmaS1 = sigmas[i - 1] * alphaS1;
        float lambdaT = lambdaOf(alphaT, sigmaT);
        float lambdaS0 = lambdaOf(alphaS0, sigmaS0);
        float lambdaS1 = lambdaOf(alphaS1, sigmaS1);
        float[] m0 = modelOutputs[order - 1];
        float[] m1 = modelOutputs[order - 2];
        float h = lambdaT - lambdaS0;
        float h0 = lambdaS0 - lambdaS1;
        float r0 = h0 / h;
        float d1Scale = 1f / r0;
        boolean midpoint = solver == Options.Solver.MIDPOINT;
        float a;
        float b;
        float c;
        float e = 0f;
        switch (algorithm) {
            case DPMSOLVER_PP -> {
                a = sigmaT / sigmaS0;
                b = -(alphaT * ((float) Math.exp(-h) - 1f));
                c = midpoint ? -(0.5f * (alphaT * ((float) Math.exp(-h) - 1f)))
                        : alphaT * (((float) Math.exp(-h) - 1f) / h + 1f);
            }
            case DPMSOLVER -> {
                a = alphaT / alphaS0;
                b = -(sigmaT * ((float) Math.exp(h) - 1f));
                c = midpoint ? -(0.5f * (sigmaT * ((float) Math.exp(h) - 1f)))
                        : -(sigmaT * (((float) Math.exp(h) - 1f) / h - 1f));
            }
            case SDE_DPMSOLVER_PP -> {
                float decay = (float) Math.exp(-2f * h);
                a = sigmaT / sigmaS0 * (float) Math.exp(-h);
                b = alphaT * (1f - decay);
                c = midpoint ? 0.5f * (alphaT * (1f - decay)) : alphaT * ((1f - decay) / (-2f * h) + 1f);
                e = sigmaT * (float) Math.sqrt(1f - decay);
            }
            case SDE_DPMSOLVER -> {
                a = alphaT / alphaS0;
                b = -(2f * (sigmaT * ((float) Math.exp(h) - 1f)));
                c = midpoint ? -(sigmaT * ((float) Math.exp(h) - 1f))
                        : -(2f * (sigmaT * (((float) Math.exp(h) - 1f) / h - 1f)));
                e = sigmaT * (float) Math.sqrt((float) Math.exp(2f * h) - 1f);
            }
            default -> throw new AssertionError(algorithm);
        }
        for (int k = 0; k < sample.length; k++) {
            float d0 = m0[k];
            float d1 = d1Scale * (m0[k] - m1[k]);
            float x = a * sample[k] + b * d0 + c * d1;
            sample[k] = noise != null ? x + e * noise[k] : x;
        }
    }

    private void thirdOrderUpdate(int i, float[] sample, float[] noise) {
        float alphaT = alphaOf(sigmas[i + 1]);
        float sigmaT = sigmas[i + 1] * alphaT;
        float alphaS0 = alphaOf(sigmas[i]);
        float sigmaS0 = sigmas[i] * alphaS0;
        float alphaS1 = alphaOf(sigmas[i - 1]);
        float sigmaS1 = sigmas[i - 1] * alphaS1;
        float alphaS2 = alphaOf(sigmas[i - 2]);
        float sigmaS2 = sigmas[i - 2] * alphaS2;
        float lambdaT = lambdaOf(alphaT, sigmaT);
        float lambdaS0 = lambdaOf(alphaS0, sigmaS0);
        float lambdaS1 = lambdaOf(alphaS1, sigmaS1);
        float lambdaS2 = lambdaOf(alphaS2, sigmaS2);
        float[] m0 = modelOutputs[order - 1];
        float[] m1 = modelOutputs[order - 2];
        float[] m2 = modelOutputs[order - 3];
        float h = lambdaT - lambdaS0;
        float h0 = lambdaS0 - lambdaS1;
        float h1 = lambdaS1 - lambdaS2;
        float r0 = h0 / h;
        float r1 = h1 / h;
        float d10Scale = 1f / r0;
        float d11Scale = 1f / r1;
        float d1Mix = r0 / (r0 + r1);
        float d2Scale = 1f / (r0 + r1);
        float a;
        float b;
        float c;
        float d;
        float e = 0f;
        switch (algorithm) {
            case DPMSOLVER_PP -> {
                float expm1 = (float) Math.exp(-h) - 1f;
                a = sigmaT / sigmaS0;
                b = -(alphaT * expm1);
                c = alphaT * (expm1 / h + 1f);
                d = -(alphaT * ((expm1 + h) / (h * h) - 0.5f));
            }
            case DPMSOLVER -> {
                float expm1 = (float) Math.exp(h) - 1f;
                a = alphaT / alphaS0;
                b = -(sigmaT * expm1);
                c = -(sigmaT * (expm1 / h - 1f));
                d = -(sigmaT * ((expm1 - h) / (h * h) - 0.5f));
            }
            case SDE_DPMSOLVER_PP -> {
                float decay = (float) Math.exp(-2f * h);
                float twoH = 2f * h;
                a = sigmaT / sigmaS0 * (float) Math.exp(-h);
                b = alphaT * (1f - decay);
                c = alphaT * ((1f - decay) / (-2f * h) + 1f);
                d = alphaT * ((1f - decay - 2f * h) / (twoH * twoH) - 0.5f);
                e = sigmaT * (float) Math.sqrt(1f - decay);
            }
            default -> throw new AssertionError(algorithm);
        }
        for (int k = 0; k < sample.length; k++) {
            float d10 = d10Scale * (m0[k] - m1[k]);
            float d11 = d11Scale * (m1[k] - m2[k]);
            float d1 = d10 + d1Mix * (d10 - d11);
            float d2 = d2Scale * (d10 - d11);
            float x = a * sample[k] + b * m0[k] + c * d1 + d * d2;
            sample[k] = noise != null ? x + e * noise[k] : x;
        }
    }
}
