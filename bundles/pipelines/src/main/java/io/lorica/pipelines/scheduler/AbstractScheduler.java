package io.lorica.pipelines.scheduler;

import io.lorica.pipelines.noise.TorchGenerator;
import java.util.Objects;

/**
 * What every scheduler shares: the resolved settings and training schedule, the timestep and sigma tables of the
 * current generation, argument checks and the order of steps.
 */
abstract class AbstractScheduler implements Scheduler {

    private static final float[] NO_SIGMAS = new float[0];

    /** The resolved settings. */
    protected final SchedulerSettings settings;
    /** The training noise schedule. */
    protected final NoiseSchedule schedule;
    /** Diffusers' {@code num_inference_steps} as {@code set_timesteps} received it. */
    protected int inferenceSteps;
    /** The timesteps of the current generation, {@code null} before {@link #setTimesteps(int)}. */
    protected double[] timesteps;
    /** The float32 sigma table, empty for DDIM and PNDM. */
    protected float[] sigmas = NO_SIGMAS;
    /** Diffusers' {@code init_noise_sigma}. */
    protected float initNoiseSigma = 1f;

    private final String name;
    private int stepsTaken;

    AbstractScheduler(String name, SchedulerSettings settings, NoiseSchedule schedule) {
        this.name = name;
        this.settings = settings;
        this.schedule = schedule;
    }

    @Override
    public final String name() {
        return name;
    }

    /** The settings the scheduler was created with. */
    final SchedulerSettings settings() {
        return settings;
    }

    @Override
    public final void setTimesteps(int steps) {
        int max = settings.numTrainTimesteps();
        if (steps < 1 || steps > max) {
            throw new IllegalArgumentException("inference steps " + steps + " out of range; expected 1 to " + max
                    + " (num_train_timesteps) for " + settings.schedulerClass().className());
        }
        computeTables(steps);
        inferenceSteps = steps;
        stepsTaken = 0;
    }

    /**
     * Computes {@link #timesteps}, {@link #sigmas} and {@link #initNoiseSigma} for {@code steps} inference steps and
     * resets the scheduler's own state; throws before changing anything when {@code steps} is not supported.
     */
    protected abstract void computeTables(int steps);

    @Override
    public final double[] timesteps() {
        requireTimesteps();
        return timesteps.clone();
    }

    @Override
    public final double[] sigmas() {
        requireTimesteps();
        double[] out = new double[sigmas.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = sigmas[i];
        }
        return out;
    }

    @Override
    public final double initNoiseSigma() {
        requireTimesteps();
        return initNoiseSigma;
    }

    @Override
    public final int stepCount() {
        requireTimesteps();
        return timesteps.length;
    }

    @Override
    public final double timestep(int stepIndex) {
        checkIndex(stepIndex);
        return timesteps[stepIndex];
    }

    @Override
    public final void scaleModelInput(float[] sample, int stepIndex) {
        Objects.requireNonNull(sample, "sample");
        checkIndex(stepIndex);
        scale(sample, stepIndex);
    }

    /** Scales {@code sample} for model call {@code stepIndex}, in place; identity unless overridden. */
    protected void scale(float[] sample, int stepIndex) {
    }

    @Override
    public final void step(float[] modelOutput, int stepIndex, float[] sample, TorchGenerator generator) {
        Objects.requireNonNull(modelOutput, "modelOutput");
        Objects.requireNonNull(sample, "sample");
        checkIndex(stepIndex);
        if (stepIndex != stepsTaken) {
            throw new IllegalStateException(name + " step " + stepIndex + " called out of order; expected step "
                    + stepsTaken + " (steps run in order, once each, after setTimesteps)");
        }
        if (modelOutput.length != sample.length) {
            throw new IllegalArgumentException("model output has " + modelOutput.length + " values but the sample has "
                    + sample.length + "; expected the same latent shape");
        }
        if (drawsNoise()) {
            Objects.requireNonNull(generator, () -> name + " draws noise at every step and needs a generator");
        }
        doStep(modelOutput, stepIndex, sample, generator);
        stepsTaken++;
    }

    /** Whether {@link #doStep} draws noise from the generator. */
    protected boolean drawsNoise() {
        return false;
    }

    /** Diffusers' {@code step} for model call {@code i}: replaces {@code sample} with the previous sample. */
    protected abstract void doStep(float[] modelOutput, int i, float[] sample, TorchGenerator generator);

    /** Divides every value by {@code sqrt(sigma^2 + 1)} (float32), as the sigma schedulers scale the model input. */
    protected final void divideBySigmaNorm(float[] sample, float sigma) {
        float norm = (float) Math.sqrt(sigma * sigma + 1f);
        for (int k = 0; k < sample.length; k++) {
            sample[k] = sample[k] / norm;
        }
    }

    /** {@code max(sigmas)} or, for {@code leading} spacing, {@code sqrt(max^2 + 1)}, as the sigma schedulers do. */
    protected final float sigmaInitNoise() {
        float max = Float.NEGATIVE_INFINITY;
        for (float sigma : sigmas) {
            max = Math.max(max, sigma);
        }
        if (settings.timestepSpacing() == Options.Spacing.LEADING) {
            return (float) Math.sqrt(max * max + 1f);
        }
        return max;
    }

    private void requireTimesteps() {
        if (timesteps == null) {
            throw new IllegalStateException(name + ": call setTimesteps(steps) first");
        }
    }

    private void checkIndex(int stepIndex) {
        requireTimesteps();
        Objects.checkIndex(stepIndex, timesteps.length);
    }
}
