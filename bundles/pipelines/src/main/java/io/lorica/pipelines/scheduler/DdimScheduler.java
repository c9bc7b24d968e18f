package io.lorica.pipelines.scheduler;

import io.lorica.pipelines.noise.TorchGenerator;

/**
 * Diffusers' {@code DDIMScheduler} with {@code eta = 0} (deterministic DDIM). The previous timestep is always
 * {@code t - num_train_timesteps // steps}, whatever the spacing, and the alpha below timestep 0 is
 * {@code 1} ({@code set_alpha_to_one}) or {@code alphas_cumprod[0]}, as in Diffusers.
 */
final class DdimScheduler extends AbstractScheduler {

    private final float finalAlphaCumprod;

    DdimScheduler(String name, SchedulerSettings settings) {
        super(name, settings, new NoiseSchedule(settings, false));
        settings.requirePrediction(Options.Prediction.EPSILON, Options.Prediction.V_PREDICTION,
                Options.Prediction.SAMPLE);
        settings.requireNoThresholding();
        finalAlphaCumprod = settings.setAlphaToOne() ? 1f : schedule.alphaCumprod(0);
    }

    @Override
    protected void computeTables(int steps) {
        timesteps = Spacing.ddimTimesteps(settings, steps);
        initNoiseSigma = 1f;
    }

    @Override
    protected void doStep(float[] modelOutput, int i, float[] sample, TorchGenerator generator) {
        long timestep = (long) timesteps[i];
        long prevTimestep = timestep - settings.numTrainTimesteps() / inferenceSteps;
        float alphaProd = schedule.alphaCumprod(timestep);
        float alphaProdPrev = prevTimestep >= 0 ? schedule.alphaCumprod(prevTimestep) : finalAlphaCumprod;
        float betaProd = 1f - alphaProd;
        float sqrtAlpha = (float) Math.sqrt(alphaProd);
        float sqrtBeta = (float) Math.sqrt(betaProd);
        float betaProdPrev = 1f - alphaProdPrev;
        float variance = betaProdPrev / betaProd * (1f - alphaProd / alphaProdPrev);
        float stdDev = 0f * (float) Math.sqrt(variance);
        float directionScale = (float) Math.sqrt(1f - alphaProdPrev - stdDev * stdDev);
        float sqrtAlphaPrev = (float) Math.sqrt(alphaProdPrev);
        boolean clip = settings.clipSample();
        float range = (float) settings.clipSampleRange();
        for (int k = 0; k < sample.length; k++) {
            float x = sample[k];
            float output = modelOutput[k];
            float original;
            float epsilon;
            switch (settings.predictionType()) {
                case EPSILON -> {
                    original = (x - sqrtBeta * output) / sqrtAlpha;
                    epsilon = output;
                }
                case SAMPLE -> {
                    original = output;
                    epsilon = (x - sqrtAlpha * original) / sqrtBeta;
                }
                case V_PREDICTION -> {
                    original = sqrtAlpha * x - sqrtBeta * output;
                    epsilon = sqrtAlpha * output + sqrtBeta * x;
                }
                default -> throw new AssertionError(settings.predictionType());
            }
            if (clip) {
                original = Math.min(Math.max(original, -range), range);
            }
            sample[k] = sqrtAlphaPrev * original + directionScale * epsilon;
        }
    }
}
