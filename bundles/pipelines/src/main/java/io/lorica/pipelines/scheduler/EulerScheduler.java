package io.lorica.pipelines.scheduler;

import io.lorica.pipelines.noise.TorchGenerator;

/**
 * Diffusers' {@code EulerDiscreteScheduler} (Karras et al. 2022, algorithm 2, without churn): sigmas interpolated at
 * the spaced timesteps (or a Karras schedule and its fractional timesteps), the model input divided by
 * {@code sqrt(sigma^2 + 1)}, one Euler step per model call.
 */
final class EulerScheduler extends AbstractScheduler {

    EulerScheduler(String name, SchedulerSettings settings) {
        super(name, settings, new NoiseSchedule(settings, true));
        settings.requirePrediction(Options.Prediction.EPSILON, Options.Prediction.V_PREDICTION,
                Options.Prediction.SAMPLE);
    }

    @Override
    protected void computeTables(int steps) {
        double[] spaced = Spacing.float32Timesteps(settings, steps);
        float[] trainSigmas = schedule.trainSigmas();
        double[] sigmaValues;
        if (settings.interpolationType() == Options.Interpolation.LINEAR) {
            sigmaValues = Numpy.interp(spaced, trainSigmas);
        } else {
            float[] logs = NoiseSchedule.torchLinspace((float) Math.log(trainSigmas[trainSigmas.length - 1]),
                    (float) Math.log(trainSigmas[0]), steps + 1);
            sigmaValues = new double[logs.length];
            for (int i = 0; i < logs.length; i++) {
                sigmaValues[i] = (float) Math.exp(logs[i]);
            }
        }
        if (settings.useKarrasSigmas()) {
            float[] logSigmas = NoiseSchedule.log(trainSigmas);
            double sigmaMin = settings.sigmaMin() != null ? settings.sigmaMin() : sigmaValues[sigmaValues.length - 1];
            double sigmaMax = settings.sigmaMax() != null ? settings.sigmaMax() : sigmaValues[0];
            sigmaValues = NoiseSchedule.karras(sigmaMin, sigmaMax, steps);
            spaced = new double[sigmaValues.length];
            for (int i = 0; i < spaced.length; i++) {
                spaced[i] = NoiseSchedule.sigmaToT(sigmaValues[i], logSigmas);
            }
        }
        float last = settings.finalSigmasType() == Options.FinalSigmas.SIGMA_MIN
                ? NoiseSchedule.sigmaOf(schedule.alphaCumprod(0)) : 0f;
        sigmas = new float[sigmaValues.length + 1];
        for (int i = 0; i < sigmaValues.length; i++) {
            sigmas[i] = (float) sigmaValues[i];
        }
        sigmas[sigmaValues.length] = last;
        if (settings.timestepType() == Options.TimestepType.CONTINUOUS
                && settings.predictionType() == Options.Prediction.V_PREDICTION) {
            timesteps = new double[sigmas.length - 1];
            for (int i = 0; i < timesteps.length; i++) {
                timesteps[i] = 0.25f * (float) Math.log(sigmas[i]);
            }
        } else {
            timesteps = new double[spaced.length];
            for (int i = 0; i < spaced.length; i++) {
                timesteps[i] = (float) spaced[i];
            }
        }
        initNoiseSigma = sigmaInitNoise();
    }

    @Override
    protected void scale(float[] sample, int stepIndex) {
        divideBySigmaNorm(sample, sigmas[stepIndex]);
    }

    @Override
    protected void doStep(float[] modelOutput, int i, float[] sample, TorchGenerator generator) {
        float sigma = sigmas[i];
        float dt = sigmas[i + 1] - sigma;
        switch (settings.predictionType()) {
            case EPSILON -> {
                for (int k = 0; k < sample.length; k++) {
                    float x = sample[k];
                    float denoised = x - sigma * modelOutput[k];
                    sample[k] = x + (x - denoised) / sigma * dt;
                }
            }
            case V_PREDICTION -> {
                float outScale = -sigma / (float) Math.sqrt(sigma * sigma + 1f);
                float inScale = sigma * sigma + 1f;
                for (int k = 0; k < sample.length; k++) {
                    float x = sample[k];
                    float denoised = modelOutput[k] * outScale + x / inScale;
                    sample[k] = x + (x - denoised) / sigma * dt;
                }
            }
            case SAMPLE -> {
                for (int k = 0; k < sample.length; k++) {
                    float x = sample[k];
                    sample[k] = x + (x - modelOutput[k]) / sigma * dt;
                }
            }
        }
    }
}
