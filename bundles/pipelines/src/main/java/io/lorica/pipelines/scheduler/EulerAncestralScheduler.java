package io.lorica.pipelines.scheduler;

import io.lorica.pipelines.noise.TorchGenerator;

/**
 * Diffusers' {@code EulerAncestralDiscreteScheduler}: an Euler step down to {@code sigma_down} followed by fresh noise
 * of standard deviation {@code sigma_up}, drawn at every step (the last included) as
 * {@code generator.randn(sample.length)}.
 */
final class EulerAncestralScheduler extends AbstractScheduler {

    EulerAncestralScheduler(String name, SchedulerSettings settings) {
        super(name, settings, new NoiseSchedule(settings, true));
        settings.requirePrediction(Options.Prediction.EPSILON, Options.Prediction.V_PREDICTION);
    }

    @Override
    protected void computeTables(int steps) {
        double[] spaced = Spacing.float32Timesteps(settings, steps);
        double[] sigmaValues = Numpy.interp(spaced, schedule.trainSigmas());
        sigmas = new float[sigmaValues.length + 1];
        for (int i = 0; i < sigmaValues.length; i++) {
            sigmas[i] = (float) sigmaValues[i];
        }
        timesteps = spaced;
        initNoiseSigma = sigmaInitNoise();
    }

    @Override
    protected void scale(float[] sample, int stepIndex) {
        divideBySigmaNorm(sample, sigmas[stepIndex]);
    }

    @Override
    protected boolean drawsNoise() {
        return true;
    }

    @Override
    protected void doStep(float[] modelOutput, int i, float[] sample, TorchGenerator generator) {
        float sigma = sigmas[i];
        float sigmaTo = sigmas[i + 1];
        float fromSquared = sigma * sigma;
        float toSquared = sigmaTo * sigmaTo;
        float sigmaUp = (float) Math.sqrt(toSquared * (fromSquared - toSquared) / fromSquared);
        float sigmaDown = (float) Math.sqrt(toSquared - sigmaUp * sigmaUp);
        float dt = sigmaDown - sigma;
        boolean epsilon = settings.predictionType() == Options.Prediction.EPSILON;
        float outScale = -sigma / (float) Math.sqrt(sigma * sigma + 1f);
        float inScale = sigma * sigma + 1f;
        for (int k = 0; k < sample.length; k++) {
            float x = sample[k];
            float denoised = epsilon ? x - sigma * modelOutput[k] : modelOutput[k] * outScale + x / inScale;
            sample[k] = x + (x - denoised) / sigma * dt;
        }
        float[] noise = generator.randn(sample.length);
        for (int k = 0; k < sample.length; k++) {
            sample[k] = sample[k] + noise[k] * sigmaUp;
        }
    }
}
