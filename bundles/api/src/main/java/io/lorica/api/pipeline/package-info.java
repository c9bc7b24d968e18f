/**
 * Text-to-image pipelines: a {@link io.lorica.api.pipeline.PipelineProvider} service opens
 * {@link io.lorica.api.pipeline.Pipeline}s for model directories described by
 * {@link io.lorica.api.pipeline.PipelineDescriptor}s (Diffusers' {@code StableDiffusionPipeline} /
 * {@code StableDiffusionXLPipeline}); each pipeline owns an {@link io.lorica.api.registry.AdapterRegistry} and turns a
 * {@link io.lorica.api.pipeline.GenerationRequest} into a {@link io.lorica.api.pipeline.GenerationResult}, reporting
 * progress to a {@link io.lorica.api.pipeline.ProgressListener}.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.0.0")
package io.lorica.api.pipeline;
