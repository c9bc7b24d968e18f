package io.lorica.pipelines.scheduler;

import io.lorica.pipelines.noise.TorchGenerator;

/**
 * A Diffusers noise scheduler: the timesteps of a denoising loop, the scaling of the model input and the update of the
 * latents from the model output.
 *
 * <p>One instance per generation: schedulers are stateful (multistep history, PNDM's Runge-Kutta state) and not
 * thread-safe. Call {@link #setTimesteps(int)} first; then, for every {@code stepIndex} from 0 to
 * {@link #stepCount()} - 1, scale a copy of the latents with {@link #scaleModelInput(float[], int)}, run the model at
 * {@link #timestep(int)} and call {@link #step(float[], int, float[], TorchGenerator)} in order.
 *
 * <p>{@code sample} and {@code modelOutput} are the whole latent batch {@code [B, C, H, W]} flattened row-major in
 * float32.
 */
public interface Scheduler {

    /**
     * The scheduler's name as {@link Schedulers#create(String, SchedulerConfig)} knows it, e.g. {@code "euler"}.
     *
     * @return the canonical name (aliases and {@code default} resolved)
     */
    String name();

    /**
     * Diffusers' {@code set_timesteps(num_inference_steps)}: computes the timesteps and sigmas and resets the state
     * of a previous generation.
     *
     * @param steps the number of inference steps, 1 to {@code num_train_timesteps}
     * @throws IllegalArgumentException when {@code steps} is out of range for this scheduler
     */
    void setTimesteps(int steps);

    /**
     * The timesteps fed to the model, in order: float32 values for the sigma schedulers (Euler, Euler ancestral,
     * LMS), integers for the discrete ones (DDIM, DPM-Solver, PNDM).
     *
     * @return a copy, {@link #stepCount()} long
     * @throws IllegalStateException before {@link #setTimesteps(int)}
     */
    double[] timesteps();

    /**
     * The sigma table including its final entry ({@link #stepCount()} + 1 values for the sigma schedulers and
     * DPM-Solver); empty for DDIM and PNDM.
     *
     * @return a copy of the float32 sigmas
     * @throws IllegalStateException before {@link #setTimesteps(int)}
     */
    double[] sigmas();

    /**
     * Diffusers' {@code init_noise_sigma}: the factor the initial noise is multiplied by (float32).
     *
     * @return the standard deviation of the initial latents
     * @throws IllegalStateException before {@link #setTimesteps(int)}
     */
    double initNoiseSigma();

    /**
     * The number of model calls: the length of {@link #timesteps()}. PNDM with Runge-Kutta warm-up steps makes more
     * calls than inference steps, PNDM with {@code skip_prk_steps} one more.
     *
     * @return the number of {@link #step} calls of one generation
     * @throws IllegalStateException before {@link #setTimesteps(int)}
     */
    int stepCount();

    /**
     * The timestep of model call {@code stepIndex}.
     *
     * @param stepIndex 0 to {@link #stepCount()} - 1
     * @return the timestep the model is evaluated at
     * @throws IndexOutOfBoundsException when {@code stepIndex} is out of range
     * @throws IllegalStateException before {@link #setTimesteps(int)}
     */
    double timestep(int stepIndex);

    /**
     * Diffusers' {@code scale_model_input}, in place: divides by {@code sqrt(sigma^2 + 1)} for the sigma schedulers,
     * leaves the sample unchanged for DDIM, DPM-Solver and PNDM.
     *
     * @param sample the model input, a copy of the latents
     * @param stepIndex the model call the input is for
     * @throws IndexOutOfBoundsException when {@code stepIndex} is out of range
     * @throws IllegalStateException before {@link #setTimesteps(int)}
     */
    void scaleModelInput(float[] sample, int stepIndex);

    /**
     * Diffusers' {@code step}: replaces {@code sample} (x_t) with the previous sample (x_{t-1}) computed from the model
     * output. Ancestral and SDE schedulers draw {@code generator.randn(sample.length)} once per step.
     *
     * @param modelOutput the model output for call {@code stepIndex}, as long as {@code sample}
     * @param stepIndex the model call, in order from 0
     * @param sample the latents, updated in place
     * @param generator the generation's random generator; may be {@code null} for schedulers that draw no noise
     * @throws IllegalStateException before {@link #setTimesteps(int)} or when steps are taken out of order
     * @throws IllegalArgumentException when the arrays differ in length
     * @throws NullPointerException when an array, or the generator of a scheduler that needs one, is {@code null}
     */
    void step(float[] modelOutput, int stepIndex, float[] sample, TorchGenerator generator);
}
