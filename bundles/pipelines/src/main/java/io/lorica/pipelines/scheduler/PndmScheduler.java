package io.lorica.pipelines.scheduler;

import io.lorica.pipelines.noise.TorchGenerator;
import java.util.ArrayList;
import java.util.List;

/**
 * Diffusers' {@code PNDMScheduler} (pseudo numerical methods, Liu et al. 2022): optional Runge-Kutta warm-up steps
 * ({@code skip_prk_steps} false: 12 model calls over the last four spaced timesteps), then linear multistep (PLMS)
 * steps with Adams-Bashforth coefficients of order 1 to 4. With {@code skip_prk_steps} the second timestep is
 * repeated and the first two model outputs are averaged (the "cur_sample" step), so a generation makes one model
 * call more than its inference steps.
 */
final class PndmScheduler extends AbstractScheduler {

    private static final int PNDM_ORDER = 4;
    private static final float ONE_SIXTH = (float) (1.0 / 6);
    private static final float ONE_THIRD = (float) (1.0 / 3);
    private static final float ONE_24TH = (float) (1.0 / 24);

    private final float finalAlphaCumprod;
    private int prkCount;
    private final List<float[]> ets = new ArrayList<>();
    private int counter;
    private float[] curModelOutput;
    private float[] curSample;

    PndmScheduler(String name, SchedulerSettings settings) {
        super(name, settings, new NoiseSchedule(settings, false));
        settings.requirePrediction(Options.Prediction.EPSILON, Options.Prediction.V_PREDICTION);
        finalAlphaCumprod = settings.setAlphaToOne() ? 1f : schedule.alphaCumprod(0);
    }

    @Override
    protected void computeTables(int steps) {
        int n = settings.numTrainTimesteps();
        double[] base = Spacing.pndmTimesteps(settings, steps);
        List<Double> all = new ArrayList<>();
        if (settings.skipPrkSteps()) {
            // concatenate([_t[:-1], _t[-2:-1], _t[-1:]])[::-1]
            List<Double> plms = new ArrayList<>();
            for (int i = 0; i < base.length - 1; i++) {
                plms.add(base[i]);
            }
            if (base.length >= 2) {
                plms.add(base[base.length - 2]);
            }
            plms.add(base[base.length - 1]);
            for (int i = plms.size() - 1; i >= 0; i--) {
                all.add(plms.get(i));
            }
            prkCount = 0;
        } else {
            if (steps < PNDM_ORDER) {
                throw new IllegalArgumentException("inference steps " + steps + " out of range for PNDMScheduler"
                        + " with skip_prk_steps false; expected at least " + PNDM_ORDER);
            }
            // _t[-4:].repeat(2) + tile([0, n // steps // 2], 4), then [:-1].repeat(2)[1:-1][::-1]
            int half = n / steps / 2;
            double[] prk = new double[2 * PNDM_ORDER];
            for (int i = 0; i < PNDM_ORDER; i++) {
                double t = base[base.length - PNDM_ORDER + i];
                prk[2 * i] = t;
                prk[2 * i + 1] = t + half;
            }
            List<Double> repeated = new ArrayList<>();
            for (int i = 0; i < prk.length - 1; i++) {
                repeated.add(prk[i]);
                repeated.add(prk[i]);
            }
            List<Double> trimmed = repeated.subList(1, repeated.size() - 1);
            for (int i = trimmed.size() - 1; i >= 0; i--) {
                all.add(trimmed.get(i));
            }
            prkCount = all.size();
            // _t[:-3][::-1]
            for (int i = base.length - PNDM_ORDER; i >= 0; i--) {
                all.add(base[i]);
            }
        }
        timesteps = new double[all.size()];
        for (int i = 0; i < timesteps.length; i++) {
            timesteps[i] = all.get(i);
        }
        initNoiseSigma = 1f;
        ets.clear();
        counter = 0;
        curModelOutput = null;
        curSample = null;
    }

    @Override
    protected void doStep(float[] modelOutput, int i, float[] sample, TorchGenerator generator) {
        long timestep = (long) timesteps[i];
        if (counter < prkCount && !settings.skipPrkSteps()) {
            stepPrk(modelOutput, timestep, sample);
        } else {
            stepPlms(modelOutput, timestep, sample);
        }
        counter++;
    }

    private void stepPrk(float[] modelOutput, long timestep, float[] sample) {
        int diffToPrev = counter % 2 != 0 ? 0 : settings.numTrainTimesteps() / inferenceSteps / 2;
        long prevTimestep = timestep - diffToPrev;
        long rkTimestep = (long) timesteps[counter / 4 * 4];
        float[] output;
        switch (counter % 4) {
            case 0 -> {
                accumulate(modelOutput, ONE_SIXTH);
                ets.add(modelOutput.clone());
                curSample = sample.clone();
                output = modelOutput;
            }
            case 1, 2 -> {
                accumulate(modelOutput, ONE_THIRD);
                output = modelOutput;
            }
            default -> {
                output = new float[modelOutput.length];
                for (int k = 0; k < output.length; k++) {
                    output[k] = curModelOutput[k] + ONE_SIXTH * modelOutput[k];
                }
                curModelOutput = null;
            }
        }
        float[] source = curSample != null ? curSample : sample;
        prevSample(source, rkTimestep, prevTimestep, output, sample);
    }

    /** {@code cur_model_output += weight * model_output}, starting from Diffusers' integer 0. */
    private void accumulate(float[] modelOutput, float weight) {
        if (curModelOutput == null) {
            curModelOutput = new float[modelOutput.length];
            for (int k = 0; k < modelOutput.length; k++) {
                curModelOutput[k] = weight * modelOutput[k];
            }
        } else {
            for (int k = 0; k < modelOutput.length; k++) {
                curModelOutput[k] = curModelOutput[k] + weight * modelOutput[k];
            }
        }
    }

    private void stepPlms(float[] modelOutput, long timestep, float[] sample) {
        if (!settings.skipPrkSteps() && ets.size() < 3) {
            throw new IllegalStateException("PNDMScheduler needs its 12 Runge-Kutta steps before linear multistep"
                    + " steps; only " + counter + " were taken");
        }
        int stride = settings.numTrainTimesteps() / inferenceSteps;
        long prevTimestep = timestep - stride;
        if (counter != 1) {
            while (ets.size() > 3) {
                ets.remove(0);
            }
            ets.add(modelOutput.clone());
        } else {
            prevTimestep = timestep;
            timestep = timestep + stride;
        }
        int size = ets.size();
        float[] output = new float[modelOutput.length];
        float[] source = sample;
        if (size == 1 && counter == 0) {
            System.arraycopy(modelOutput, 0, output, 0, output.length);
            curSample = sample.clone();
        } else if (size == 1 && counter == 1) {
            float[] e1 = ets.get(0);
            for (int k = 0; k < output.length; k++) {
                output[k] = (modelOutput[k] + e1[k]) / 2f;
            }
            source = curSample;
            curSample = null;
        } else if (size == 2) {
            float[] e1 = ets.get(1);
            float[] e2 = ets.get(0);
            for (int k = 0; k < output.length; k++) {
                output[k] = (3f * e1[k] - e2[k]) / 2f;
            }
        } else if (size == 3) {
            float[] e1 = ets.get(2);
            float[] e2 = ets.get(1);
            float[] e3 = ets.get(0);
            for (int k = 0; k < output.length; k++) {
                output[k] = (23f * e1[k] - 16f * e2[k] + 5f * e3[k]) / 12f;
            }
        } else {
            float[] e1 = ets.get(3);
            float[] e2 = ets.get(2);
            float[] e3 = ets.get(1);
            float[] e4 = ets.get(0);
            for (int k = 0; k < output.length; k++) {
                output[k] = ONE_24TH * (55f * e1[k] - 59f * e2[k] + 37f * e3[k] - 9f * e4[k]);
            }
        }
        prevSample(source, timestep, prevTimestep, output, sample);
    }

    /**
     * Diffusers' {@code _get_prev_sample} (formula 9 of the PNDM paper) from {@code source} at {@code timestep} to
     * {@code prevTimestep}, written into {@code target}.
     */
    private void prevSample(float[] source, long timestep, long prevTimestep, float[] modelOutput, float[] target) {
        float alphaProd = schedule.alphaCumprod(timestep);
        float alphaProdPrev = prevTimestep >= 0 ? schedule.alphaCumprod(prevTimestep) : finalAlphaCumprod;
        float betaProd = 1f - alphaProd;
        float betaProdPrev = 1f - alphaProdPrev;
        boolean velocity = settings.predictionType() == Options.Prediction.V_PREDICTION;
        float sqrtAlpha = (float) Math.sqrt(alphaProd);
        float sqrtBeta = (float) Math.sqrt(betaProd);
        float sampleCoeff = (float) Math.sqrt(alphaProdPrev / alphaProd);
        float denominator = alphaProd * (float) Math.sqrt(betaProdPrev)
                + (float) Math.sqrt(alphaProd * betaProd * alphaProdPrev);
        float difference = alphaProdPrev - alphaProd;
        for (int k = 0; k < target.length; k++) {
            float x = source[k];
            float output = velocity ? sqrtAlpha * modelOutput[k] + sqrtBeta * x : modelOutput[k];
            target[k] = sampleCoeff * x - difference * output / denominator;
        }
    }
}
