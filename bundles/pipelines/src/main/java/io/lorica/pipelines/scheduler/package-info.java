/**
 * Diffusers' noise schedulers in plain Java, driven by a pipeline's {@code scheduler_config.json}.
 *
 * <p>{@link io.lorica.pipelines.scheduler.Schedulers} reads a {@link io.lorica.pipelines.scheduler.SchedulerConfig}
 * and creates a {@link io.lorica.pipelines.scheduler.Scheduler} by name: {@code euler}
 * ({@code EulerDiscreteScheduler}), {@code euler_a} ({@code EulerAncestralDiscreteScheduler}), {@code ddim}
 * ({@code DDIMScheduler}, eta 0), {@code dpmpp_2m} and {@code dpmpp_2m_karras} ({@code DPMSolverMultistepScheduler}),
 * {@code pndm} ({@code PNDMScheduler}), {@code lms} ({@code LMSDiscreteScheduler}) or {@code default} (the class the
 * config names). A scheduler created from the config of another class takes the keys the file sets and the target
 * class's defaults for the rest, as Diffusers' {@code from_config} does.
 *
 * <p>The tables follow Diffusers' arithmetic and dtypes: betas and cumulative alphas are float32 as torch computes
 * them, timestep spacing and sigma interpolation are numpy's double arithmetic, sigmas are float32, and every
 * {@code step} works on the float32 latents with float32 scalars in the same order of operations, so a Lorica
 * generation follows a Diffusers generation with the same noise. Ancestral and SDE schedulers draw their noise from
 * a {@link io.lorica.pipelines.noise.TorchGenerator} shaped like the whole latent batch, as Diffusers does with a
 * CPU generator.
 *
 * <p>Plain Java, no OSGi; a private package of the pipelines bundle.
 */
package io.lorica.pipelines.scheduler;
