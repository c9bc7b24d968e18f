package io.lorica.pipelines.sd;

import io.lorica.api.Component;
import io.lorica.api.DType;
import io.lorica.api.ModelFamily;
import io.lorica.api.TensorData;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.engine.InferenceEngine;
import io.lorica.api.engine.LoraBinding;
import io.lorica.api.engine.LoraMode;
import io.lorica.api.engine.ModelHandle;
import io.lorica.api.engine.ModelRole;
import io.lorica.api.engine.TensorSpec;
import io.lorica.api.format.ModuleCatalog;
import io.lorica.api.pipeline.GenerationRequest;
import io.lorica.api.pipeline.GenerationResult;
import io.lorica.api.pipeline.Pipeline;
import io.lorica.api.pipeline.PipelineDescriptor;
import io.lorica.api.pipeline.ProgressListener;
import io.lorica.api.policy.AdapterSettings;
import io.lorica.api.policy.EffectiveScales;
import io.lorica.api.policy.ScalePolicy;
import io.lorica.api.registry.AdapterRegistries;
import io.lorica.api.registry.AdapterRegistry;
import io.lorica.pipelines.image.Png;
import io.lorica.pipelines.noise.TorchGenerator;
import io.lorica.pipelines.scheduler.Scheduler;
import io.lorica.pipelines.scheduler.SchedulerConfig;
import io.lorica.pipelines.scheduler.Schedulers;
import io.lorica.pipelines.text.ClipTokenizer;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Diffusers' {@code StableDiffusionPipeline} and {@code StableDiffusionXLPipeline} (text to image) on ONNX models with
 * LoRA: CLIP tokenizer(s), text encoder(s), the denoising loop (UNet with classifier-free guidance as one batch of two,
 * a Diffusers scheduler), VAE decoding and PNG output, with its own adapter registry.
 *
 * <p>Per generation: the adapter settings (the request's, or the registry defaults at that moment) are resolved by the
 * {@link ScalePolicy} to per-layer scales; adapters fused into a component's weights are left out there (they act
 * already); each LoRA-loadable model is bound once and every step runs with that binding, so concurrent generations
 * with different adapters never disturb each other. The call scale ({@code cross_attention_kwargs={"scale": s}})
 * multiplies the UNet and the text encoders alike, as in Diffusers.
 *
 * <p>Thread-safe; {@link #close()} waits for running generations.
 */
public final class StableDiffusionPipeline implements Pipeline {

    private static final Logger LOG = LoggerFactory.getLogger(StableDiffusionPipeline.class);
    private static final Pattern HIDDEN_STATE = Pattern.compile("hidden_states\\.(\\d+)");

    /**
     * How the pipeline runs.
     *
     * @param loraMode how LoRA is applied
     * @param guidance how classifier-free guidance runs the UNet
     */
    public record Options(LoraMode loraMode, Guidance guidance) {
        /** Dynamic LoRA (no session rebuild to switch adapters), guidance as one batch of two. */
        public static final Options DEFAULTS = new Options(LoraMode.DYNAMIC, Guidance.BATCHED);

        /** @throws IllegalArgumentException when a field is null */
        public Options {
            if (loraMode == null || guidance == null) {
                throw new IllegalArgumentException("loraMode and guidance must not be null");
            }
        }

        /** These options with another LoRA mode. */
        public Options withLoraMode(LoraMode mode) {
            return new Options(mode, guidance);
        }

        /** These options with another guidance strategy. */
        public Options withGuidance(Guidance strategy) {
            return new Options(loraMode, strategy);
        }
    }

    /** How classifier-free guidance runs the UNet on the unconditional and the conditional input. */
    public enum Guidance {
        /** One run on a batch of two, as Diffusers does (the faster one on the CPU and the GPU; see the README). */
        BATCHED,
        /** Two runs of batch one: half the activation memory per run. */
        SEPARATE
    }

    /** One text encoder: its tokenizer, model and the outputs the family uses. */
    private record Encoder(ClipTokenizer tokenizer, ModelHandle handle, DType idsType, String hiddenOutput,
            Optional<String> pooledOutput, int hiddenSize) {
    }

    /**
     * The images of a generation with the data behind the PNGs.
     *
     * @param result the API result (PNG files, seed, timings, adapter settings)
     * @param images per image, Diffusers' {@code output_type="np"}: float32 {@code [H, W, 3]} in [0, 1]
     * @param height image height
     * @param width  image width
     */
    public record Generation(GenerationResult result, List<float[]> images, int height, int width) {
    }

    private final PipelineDescriptor descriptor;
    private final ModelDirectory directory;
    private final ScalePolicy policy;
    private final Options options;
    private final List<Encoder> encoders;
    private final ModelHandle unet;
    private final ModelHandle vae;
    private final Map<Component, ModelHandle> loraHandles;
    private final AdapterRegistry registry;
    private final SchedulerConfig schedulerConfig;
    private final UnetInputs unetInputs;
    private final String vaeInput;
    private final String vaeOutput;
    private final DType vaeType;
    private final int latentChannels;
    private final ReentrantReadWriteLock lifecycle = new ReentrantReadWriteLock();
    private volatile boolean closed;

    /** Names and types of the UNet's inputs. */
    private record UnetInputs(String sample, DType sampleType, String timestep, DType timestepType, int timestepRank,
            long timestepFixed, String hidden, DType hiddenType, long hiddenSize, Optional<String> textEmbeds,
            Optional<String> timeIds, DType addType, String output) {
    }

    private StableDiffusionPipeline(PipelineDescriptor descriptor, ModelDirectory directory, ScalePolicy policy,
            Options options, List<Encoder> encoders, ModelHandle unet, ModelHandle vae, AdapterRegistries registries,
            InferenceEngine engine) {
        this.descriptor = descriptor;
        this.directory = directory;
        this.policy = policy;
        this.options = options;
        this.encoders = List.copyOf(encoders);
        this.unet = unet;
        this.vae = vae;
        this.schedulerConfig = schedulerConfig(directory.schedulerConfig());
        this.unetInputs = unetInputs(unet, directory.family(), encoders);
        Map.Entry<String, TensorSpec> latent = single(vae.inputSpecs(), "vae_decoder", "latent_sample");
        this.vaeInput = latent.getKey();
        this.vaeType = floatType(latent.getValue(), "vae_decoder input '" + vaeInput + "'");
        this.vaeOutput = vae.outputSpecs().containsKey("sample") ? "sample" : vae.outputSpecs().keySet().iterator().next();
        long channels = latent.getValue().rank() == 4 ? latent.getValue().dim(1) : TensorSpec.DYNAMIC;
        this.latentChannels = channels > 0 ? (int) channels : 4;
        Map<Component, ModelHandle> lora = new EnumMap<>(Component.class);
        lora.put(Component.UNET, unet);
        lora.put(Component.TEXT_ENCODER, encoders.get(0).handle());
        if (encoders.size() > 1) {
            lora.put(Component.TEXT_ENCODER_2, encoders.get(1).handle());
        }
        this.loraHandles = java.util.Collections.unmodifiableMap(lora);
        this.registry = registries.create(descriptor.id(), catalog(directory.family(), lora),
                engine.fuseBackend(new EnumMap<>(lora)));
    }

    /**
     * Opens the pipeline of {@code descriptor}: reads and checks the model folder, loads the tokenizers and opens every
     * model on the engine, with an empty adapter registry made by {@code registries} for the models as opened.
     *
     * @throws IllegalArgumentException naming what is missing or does not fit (a file, a model input or output, the
     *                                  family), with nothing left open
     * @throws IllegalStateException    when the engine fails, with the cause
     */
    public static StableDiffusionPipeline open(PipelineDescriptor descriptor, InferenceEngine engine,
            AdapterRegistries registries, ScalePolicy policy, Options options) {
        if (descriptor == null || engine == null || registries == null || policy == null || options == null) {
            throw new IllegalArgumentException("descriptor, engine, registries, policy and options must not be null");
        }
        ModelDirectory directory = ModelDirectory.read(descriptor.modelDirectory());
        if (directory.family() != descriptor.family()) {
            throw new IllegalArgumentException("pipeline '" + descriptor.id() + "' is configured as "
                    + descriptor.family().id() + " but " + descriptor.modelDirectory() + " holds an "
                    + directory.family().id() + " export (" + (directory.pipelineClass().isEmpty()
                            ? "text_encoder_2/" : directory.pipelineClass()) + ")");
        }
        List<AutoCloseable> opened = new ArrayList<>();
        try {
            ModelFamily family = directory.family();
            List<Encoder> encoders = new ArrayList<>();
            encoders.add(encoder(engine, directory, 1, opened));
            if (family == ModelFamily.SDXL) {
                encoders.add(encoder(engine, directory, 2, opened));
            }
            ModelHandle unet = engine.open(directory.model(ModelRole.UNET), ModelRole.UNET, family);
            opened.add(unet);
            ModelHandle vae = engine.open(directory.model(ModelRole.VAE_DECODER), ModelRole.VAE_DECODER, family);
            opened.add(vae);
            StableDiffusionPipeline pipeline = new StableDiffusionPipeline(descriptor, directory, policy, options,
                    encoders, unet, vae, registries, engine);
            LOG.info("pipeline {}: {} from {} ({} LoRA targets){}", descriptor.id(), family.id(),
                    directory.folder(), pipeline.loraHandles.values().stream().mapToInt(h -> h.loraTargets().size())
                            .sum(), directory.randomWeights() ? ", RANDOM WEIGHTS (test kit)" : "");
            return pipeline;
        } catch (RuntimeException e) {
            for (AutoCloseable c : opened) {
                try {
                    c.close();
                } catch (Exception suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
    }

    private static Encoder encoder(InferenceEngine engine, ModelDirectory directory, int which,
            List<AutoCloseable> opened) {
        ModelRole role = which == 1 ? ModelRole.TEXT_ENCODER : ModelRole.TEXT_ENCODER_2;
        ClipTokenizer tokenizer = ClipTokenizer.load(directory.tokenizer(which));
        ModelHandle handle = engine.open(directory.model(role), role, directory.family());
        opened.add(handle);
        String what = role.id() + " (" + directory.model(role) + ")";
        Map.Entry<String, TensorSpec> ids = single(handle.inputSpecs(), role.id(), "input_ids");
        DType idsType = ids.getValue().dtype().orElse(DType.I64);
        if (idsType != DType.I32 && idsType != DType.I64) {
            throw new IllegalArgumentException(what + ": input '" + ids.getKey() + "' is " + idsType
                    + ", expected int32 or int64 token ids");
        }
        Map<String, TensorSpec> outputs = handle.outputSpecs();
        String hidden;
        Optional<String> pooled = Optional.empty();
        if (directory.family() == ModelFamily.SDXL) {
            int last = -1;
            for (String name : outputs.keySet()) {
                Matcher m = HIDDEN_STATE.matcher(name);
                if (m.matches()) {
                    last = Math.max(last, Integer.parseInt(m.group(1)));
                }
            }
            if (last < 1) {
                throw new IllegalArgumentException(what + " has no hidden_states.<i> outputs (it has "
                        + outputs.keySet() + "); SDXL uses the penultimate hidden state: export the text encoders"
                        + " with output_hidden_states, as Optimum does");
            }
            hidden = "hidden_states." + (last - 1);
            if (which == 2) {
                if (!outputs.containsKey("text_embeds")) {
                    throw new IllegalArgumentException(what + " has no 'text_embeds' output (it has "
                            + outputs.keySet() + "); SDXL's second text encoder must be CLIPTextModelWithProjection");
                }
                pooled = Optional.of("text_embeds");
            }
        } else {
            hidden = outputs.containsKey("last_hidden_state") ? "last_hidden_state" : null;
            if (hidden == null) {
                throw new IllegalArgumentException(what + " has no 'last_hidden_state' output (it has "
                        + outputs.keySet() + ")");
            }
        }
        TensorSpec spec = outputs.get(hidden);
        long size = spec.rank() == 3 ? spec.dim(2) : TensorSpec.DYNAMIC;
        return new Encoder(tokenizer, handle, idsType, hidden, pooled, (int) size);
    }

    /**
     * The model's scheduler configuration with the corrections Diffusers' Stable Diffusion pipelines make to outdated
     * configurations on load: {@code steps_offset} 1 and {@code clip_sample} false.
     */
    private static SchedulerConfig schedulerConfig(Path file) {
        SchedulerConfig config;
        try {
            config = Schedulers.read(file);
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("cannot read " + file + ": " + e.getMessage(), e);
        }
        if (config.stepsOffset() != null && config.stepsOffset() != 1) {
            LOG.warn("{}: steps_offset {} is outdated, using 1 as Diffusers does", file, config.stepsOffset());
            config = config.with("steps_offset", 1);
        }
        if (Boolean.TRUE.equals(config.clipSample())) {
            LOG.warn("{}: clip_sample true is outdated, using false as Diffusers does", file);
            config = config.with("clip_sample", false);
        }
        return config;
    }

    private static UnetInputs unetInputs(ModelHandle unet, ModelFamily family, List<Encoder> encoders) {
        Map<String, TensorSpec> in = unet.inputSpecs();
        String what = "unet (" + unet.modelFile() + ")";
        List<String> missing = new ArrayList<>();
        List<String> needed = new ArrayList<>(List.of("sample", "timestep", "encoder_hidden_states"));
        if (family == ModelFamily.SDXL) {
            needed.addAll(List.of("text_embeds", "time_ids"));
        }
        for (String name : needed) {
            if (!in.containsKey(name)) {
                missing.add(name);
            }
        }
        Set<String> extra = new LinkedHashSet<>(in.keySet());
        extra.removeAll(needed);
        if (!missing.isEmpty() || !extra.isEmpty()) {
            throw new IllegalArgumentException(what + " does not take the inputs of a " + family.id() + " UNet: "
                    + (missing.isEmpty() ? "" : "missing " + missing) + (missing.isEmpty() || extra.isEmpty() ? ""
                            : ", ") + (extra.isEmpty() ? "" : "unexpected " + extra) + "; expected exactly " + needed);
        }
        TensorSpec sample = in.get("sample");
        if (sample.shapeKnown() && sample.rank() != 4) {
            throw new IllegalArgumentException(what + ": input 'sample' is " + sample + ", expected 4 dimensions");
        }
        TensorSpec timestep = in.get("timestep");
        DType tType = timestep.dtype().orElseThrow(() -> new IllegalArgumentException(what
                + ": input 'timestep' has an unsupported type"));
        if (!Set.of(DType.I64, DType.I32, DType.F32, DType.F16).contains(tType)) {
            throw new IllegalArgumentException(what + ": input 'timestep' is " + tType
                    + ", expected int64, int32, float32 or float16");
        }
        if (timestep.rank() > 1) {
            throw new IllegalArgumentException(what + ": input 'timestep' is " + timestep
                    + ", expected a scalar or one dimension");
        }
        TensorSpec hidden = in.get("encoder_hidden_states");
        long hiddenSize = hidden.rank() == 3 ? hidden.dim(2) : TensorSpec.DYNAMIC;
        long expected = encoders.stream().mapToLong(Encoder::hiddenSize).sum();
        if (hiddenSize > 0 && encoders.stream().allMatch(e -> e.hiddenSize() > 0) && hiddenSize != expected) {
            throw new IllegalArgumentException(what + ": input 'encoder_hidden_states' is " + hidden
                    + " but the text encoder(s) give " + expected + " features per token");
        }
        Optional<String> textEmbeds = family == ModelFamily.SDXL ? Optional.of("text_embeds") : Optional.empty();
        Optional<String> timeIds = family == ModelFamily.SDXL ? Optional.of("time_ids") : Optional.empty();
        DType addType = family == ModelFamily.SDXL
                ? floatType(in.get("time_ids"), what + " input 'time_ids'") : DType.F32;
        String output = unet.outputSpecs().containsKey("out_sample") ? "out_sample"
                : unet.outputSpecs().keySet().iterator().next();
        return new UnetInputs("sample", floatType(sample, what + " input 'sample'"), "timestep", tType,
                timestep.rank(), timestep.rank() == 1 ? timestep.dim(0) : TensorSpec.DYNAMIC, "encoder_hidden_states",
                floatType(hidden, what + " input 'encoder_hidden_states'"), hiddenSize, textEmbeds, timeIds, addType,
                output);
    }

    private static DType floatType(TensorSpec spec, String what) {
        DType type = spec.dtype().orElseThrow(() -> new IllegalArgumentException(what + " has an unsupported type"));
        if (type != DType.F32 && type != DType.F16) {
            throw new IllegalArgumentException(what + " is " + type + ", expected float32 or float16");
        }
        return type;
    }

    private static Map.Entry<String, TensorSpec> single(Map<String, TensorSpec> inputs, String model, String name) {
        if (inputs.containsKey(name)) {
            return Map.entry(name, inputs.get(name));
        }
        if (inputs.size() == 1) {
            return inputs.entrySet().iterator().next();
        }
        throw new IllegalArgumentException(model + " has no input '" + name + "' (it takes " + inputs.keySet() + ")");
    }

    private static ModuleCatalog catalog(ModelFamily family, Map<Component, ModelHandle> handles) {
        Map<Component, Map<String, LayerGeometry>> modules = new EnumMap<>(Component.class);
        handles.forEach((component, handle) -> modules.put(component, handle.loraTargets()));
        return ModuleCatalog.of(family, modules);
    }

    @Override
    public PipelineDescriptor descriptor() {
        return descriptor;
    }

    @Override
    public AdapterRegistry adapters() {
        return registry;
    }

    /** The model folder as read. */
    public ModelDirectory directory() {
        return directory;
    }

    /** The scheduler configuration of the model folder. */
    public SchedulerConfig schedulerConfig() {
        return schedulerConfig;
    }

    /** The shape of one image's initial latents, {@code [1, C, height / 8, width / 8]}. */
    public long[] latentShape(int height, int width) {
        return new long[] {1, latentChannels, height / directory.vaeScaleFactor(), width / directory.vaeScaleFactor()};
    }

    /** The model handle of each LoRA-loadable component. */
    public Map<Component, ModelHandle> loraHandles() {
        return loraHandles;
    }

    @Override
    public GenerationResult generate(GenerationRequest request, ProgressListener listener) {
        return generate(request, listener, null, List.of()).result();
    }

    /**
     * Generates with an explicit scheduler (e.g. from a configuration file) and optional initial latents.
     *
     * @param scheduler the scheduler configuration to use instead of the request's name, or null
     * @param latents   per image, the initial noise {@code [1, C, h, w]} row-major (Diffusers' {@code latents=}:
     *                  still multiplied by the scheduler's initial sigma); empty to draw it from the seed
     * @throws IllegalArgumentException as {@link #generate(GenerationRequest, ProgressListener)}, or when the latents
     *                                  do not fit the request
     */
    public Generation generate(GenerationRequest request, ProgressListener listener, SchedulerConfig scheduler,
            List<float[]> latents) {
        if (request == null || listener == null || latents == null) {
            throw new IllegalArgumentException("request, listener and latents must not be null");
        }
        lifecycle.readLock().lock();
        try {
            if (closed) {
                throw new IllegalStateException("pipeline '" + descriptor.id() + "' is closed");
            }
            return run(request, listener, scheduler, latents);
        } finally {
            lifecycle.readLock().unlock();
        }
    }

    private Generation run(GenerationRequest request, ProgressListener listener, SchedulerConfig schedulerOverride,
            List<float[]> givenLatents) {
        directory.requireImageSize(request.width(), request.height());
        long[] shape = latentShape(request.height(), request.width());
        int h = (int) shape[2];
        int w = (int) shape[3];
        int latentSize = latentChannels * h * w;
        if (!givenLatents.isEmpty()) {
            if (givenLatents.size() != request.batchCount()) {
                throw new IllegalArgumentException("latents are given for " + givenLatents.size()
                        + " image(s) but the request makes " + request.batchCount());
            }
            for (float[] l : givenLatents) {
                if (l == null || l.length != latentSize) {
                    throw new IllegalArgumentException("latents must be [1, " + latentChannels + ", " + h + ", " + w
                            + "] (" + latentSize + " values) for " + request.width() + "x" + request.height()
                            + ", got " + (l == null ? "null" : l.length + " values"));
                }
            }
        }
        // validate the scheduler before any work
        Scheduler probe = scheduler(request, schedulerOverride);
        AdapterSettings settings = request.adapters().orElseGet(registry::defaults);
        Map<String, LoraAdapter> loaded = registry.loadedAdapters();
        EffectiveScales scales = policy.resolve(settings, loaded, directory.family());
        Map<String, Duration> timings = new LinkedHashMap<>();
        Map<Component, LoraBinding> bindings = new EnumMap<>(Component.class);
        try {
            long start = System.nanoTime();
            for (Map.Entry<Component, ModelHandle> e : loraHandles.entrySet()) {
                bindings.put(e.getKey(), bind(e.getKey(), e.getValue(), scales, loaded));
            }
            timings.put("lora_bind", Duration.ofNanos(System.nanoTime() - start));
            start = System.nanoTime();
            boolean guidance = request.guidanceScale() > 1.0;
            Conditioning cond = encode(request, guidance, bindings);
            timings.put("text_encoder", Duration.ofNanos(System.nanoTime() - start));
            List<float[]> images = new ArrayList<>();
            List<byte[]> pngs = new ArrayList<>();
            Duration denoise = Duration.ZERO;
            Duration decode = Duration.ZERO;
            int total = probe.stepCount() * request.batchCount();
            int[] done = {0};
            for (int image = 0; image < request.batchCount(); image++) {
                Scheduler scheduler = image == 0 ? probe : scheduler(request, schedulerOverride);
                long seed = request.seedOf(image);
                TorchGenerator generator = new TorchGenerator(seed);
                float[] latents = givenLatents.isEmpty() ? generator.randn(1, latentChannels, h, w)
                        : givenLatents.get(image).clone();
                float sigma = (float) scheduler.initNoiseSigma();
                for (int i = 0; i < latents.length; i++) {
                    latents[i] *= sigma;
                }
                start = System.nanoTime();
                denoise(request, scheduler, generator, latents, h, w, cond, guidance, bindings.get(Component.UNET),
                        listener, done, total);
                denoise = denoise.plus(Duration.ofNanos(System.nanoTime() - start));
                start = System.nanoTime();
                float[] rgb = decode(latents, h, w);
                images.add(rgb);
                pngs.add(Png.encode(rgb, request.height(), request.width(), parameters(request, settings, seed,
                        scheduler.name())));
                decode = decode.plus(Duration.ofNanos(System.nanoTime() - start));
            }
            timings.put("denoise", denoise);
            timings.put("vae_decoder", decode);
            GenerationResult result = new GenerationResult(pngs, request.seed(), timings, settings);
            return new Generation(result, images, request.height(), request.width());
        } finally {
            bindings.values().forEach(LoraBinding::close);
        }
    }

    private Scheduler scheduler(GenerationRequest request, SchedulerConfig override) {
        Scheduler scheduler = override != null ? Schedulers.fromConfig(override)
                : Schedulers.create(request.scheduler().toLowerCase(Locale.ROOT), schedulerConfig);
        scheduler.setTimesteps(request.steps());
        return scheduler;
    }

    /** The binding of one component: the resolved scales there, without adapters fused into its weights. */
    private LoraBinding bind(Component component, ModelHandle handle, EffectiveScales scales,
            Map<String, LoraAdapter> loaded) {
        Set<String> fused = new LinkedHashSet<>(handle.fusedAdapters());
        EffectiveScales.Builder own = EffectiveScales.builder();
        Map<String, LoraAdapter> acting = new LinkedHashMap<>();
        for (String module : scales.modules(component)) {
            scales.adapters(component, module).forEach((adapter, scale) -> {
                if (!fused.contains(adapter)) {
                    own.put(component, module, adapter, scale);
                    acting.put(adapter, loaded.get(adapter));
                }
            });
        }
        EffectiveScales mine = own.build();
        return mine.isEmpty() ? handle.base() : handle.bind(options.loraMode(), mine, acting);
    }

    /** Text conditioning for the UNet: per batch row (negative first when guiding). */
    private record Conditioning(float[] hidden, long tokens, long features, float[] pooled, long pooledSize) {
    }

    private Conditioning encode(GenerationRequest request, boolean guidance, Map<Component, LoraBinding> bindings) {
        boolean xl = directory.family() == ModelFamily.SDXL;
        boolean zeroNegative = xl && guidance && request.negativePrompt().isEmpty()
                && directory.forceZerosForEmptyPrompt();
        List<float[]> hiddenParts = new ArrayList<>();
        long tokens = -1;
        float[] pooled = null;
        long pooledSize = 0;
        for (int e = 0; e < encoders.size(); e++) {
            Encoder encoder = encoders.get(e);
            Component component = e == 0 ? Component.TEXT_ENCODER : Component.TEXT_ENCODER_2;
            List<String> texts = new ArrayList<>();
            if (guidance && !zeroNegative) {
                texts.add(request.negativePrompt());
            }
            texts.add(request.prompt());
            int length = encoder.tokenizer().maxLength();
            long[] ids = new long[texts.size() * length];
            for (int t = 0; t < texts.size(); t++) {
                int[] row = encoder.tokenizer().encodePadded(texts.get(t));
                for (int i = 0; i < length; i++) {
                    ids[t * length + i] = row[i];
                }
            }
            Set<String> wanted = new LinkedHashSet<>();
            wanted.add(encoder.hiddenOutput());
            encoder.pooledOutput().ifPresent(wanted::add);
            Map<String, TensorData> out = encoder.handle().run(Map.of(inputName(encoder.handle()),
                    Tensors.ints(encoder.idsType(), new long[] {texts.size(), length}, ids)),
                    bindings.get(component), wanted);
            TensorData hidden = out.get(encoder.hiddenOutput());
            float[] values = Tensors.toFloats(encoder.hiddenOutput(), hidden);
            tokens = hidden.dim(1);
            if (zeroNegative) {
                values = withZeroRow(values);
            }
            hiddenParts.add(values);
            if (encoder.pooledOutput().isPresent()) {
                TensorData p = out.get(encoder.pooledOutput().get());
                pooled = Tensors.toFloats(encoder.pooledOutput().get(), p);
                pooledSize = p.dim(p.dimensions() - 1);
                if (zeroNegative) {
                    pooled = withZeroRow(pooled);
                }
            }
        }
        int rows = guidance ? 2 : 1;
        // concatenate the encoders' features per token, as torch.concat(prompt_embeds_list, dim=-1)
        long features = 0;
        for (float[] part : hiddenParts) {
            features += part.length / (rows * tokens);
        }
        float[] hidden = new float[Math.toIntExact(rows * tokens * features)];
        long offset = 0;
        for (float[] part : hiddenParts) {
            long width = part.length / (rows * tokens);
            for (long r = 0; r < rows * tokens; r++) {
                System.arraycopy(part, (int) (r * width), hidden, (int) (r * features + offset), (int) width);
            }
            offset += width;
        }
        return new Conditioning(hidden, tokens, features, pooled, pooledSize);
    }

    private static float[] withZeroRow(float[] row) {
        float[] both = new float[row.length * 2];
        System.arraycopy(row, 0, both, row.length, row.length);
        return both;
    }

    private static String inputName(ModelHandle handle) {
        return handle.inputSpecs().containsKey("input_ids") ? "input_ids"
                : handle.inputSpecs().keySet().iterator().next();
    }

    private void denoise(GenerationRequest request, Scheduler scheduler, TorchGenerator generator, float[] latents,
            int h, int w, Conditioning cond, boolean guidance, LoraBinding binding, ProgressListener listener,
            int[] done, int total) {
        int rows = guidance ? 2 : 1;
        // one UNet call per group of rows: {0, 1} batched, or {0} and {1} separately
        int[][] groups = !guidance ? new int[][] {{0}} : options.guidance() == Guidance.BATCHED
                ? new int[][] {{0, 1}} : new int[][] {{0}, {1}};
        List<Map<String, TensorData>> fixed = new ArrayList<>();
        for (int[] group : groups) {
            fixed.add(conditioning(request, cond, rows, group));
        }
        float[] input = new float[latents.length * rows];
        float[] noise = new float[latents.length * rows];
        double g = request.guidanceScale();
        for (int step = 0; step < scheduler.stepCount(); step++) {
            if (Thread.interrupted()) {
                throw new CancellationException("generation of pipeline '" + descriptor.id() + "' was cancelled at step "
                        + step + " of " + scheduler.stepCount());
            }
            for (int r = 0; r < rows; r++) {
                System.arraycopy(latents, 0, input, r * latents.length, latents.length);
            }
            scheduler.scaleModelInput(input, step);
            for (int k = 0; k < groups.length; k++) {
                int[] group = groups[k];
                float[] part = group.length == rows ? input
                        : java.util.Arrays.copyOfRange(input, group[0] * latents.length,
                                (group[0] + 1) * latents.length);
                Map<String, TensorData> feed = new LinkedHashMap<>(fixed.get(k));
                feed.put(unetInputs.sample(), Tensors.floats(unetInputs.sampleType(),
                        new long[] {group.length, latentChannels, h, w}, part));
                long[] timestepShape = unetInputs.timestepRank() == 0 ? new long[0]
                        : new long[] {unetInputs.timestepFixed() == 1 ? 1 : group.length};
                feed.put(unetInputs.timestep(), Tensors.number(unetInputs.timestepType(), timestepShape,
                        scheduler.timestep(step)));
                TensorData out = unet.run(feed, binding, Set.of(unetInputs.output())).get(unetInputs.output());
                float[] values = Tensors.toFloats(unetInputs.output(), out);
                System.arraycopy(values, 0, noise, group[0] * latents.length, values.length);
            }
            float[] pred;
            if (guidance) {
                int n = latents.length;
                pred = new float[n];
                for (int i = 0; i < n; i++) {
                    float uncond = noise[i];
                    pred[i] = uncond + (float) g * (noise[n + i] - uncond);
                }
            } else {
                pred = noise.clone();
            }
            scheduler.step(pred, step, latents, generator);
            done[0]++;
            listener.onStep(done[0], total, Optional.empty());
        }
    }

    /** The UNet inputs that stay the same at every step, for the batch rows of {@code group}. */
    private Map<String, TensorData> conditioning(GenerationRequest request, Conditioning cond, int rows,
            int[] group) {
        UnetInputs in = unetInputs;
        int n = group.length;
        int tokenRow = Math.toIntExact(cond.tokens() * cond.features());
        Map<String, TensorData> fixed = new LinkedHashMap<>();
        fixed.put(in.hidden(), Tensors.floats(in.hiddenType(), new long[] {n, cond.tokens(), cond.features()},
                rowsOf(cond.hidden(), tokenRow, group)));
        if (in.textEmbeds().isPresent()) {
            fixed.put(in.textEmbeds().get(), Tensors.floats(in.addType(), new long[] {n, cond.pooledSize()},
                    rowsOf(cond.pooled(), (int) cond.pooledSize(), group)));
            // SDXL micro-conditioning: original size, crop top-left, target size; the same for both rows
            float[] ids = new float[n * 6];
            for (int r = 0; r < n; r++) {
                float[] row = {request.height(), request.width(), 0, 0, request.height(), request.width()};
                System.arraycopy(row, 0, ids, r * 6, 6);
            }
            fixed.put(in.timeIds().get(), Tensors.floats(in.addType(), new long[] {n, 6}, ids));
        }
        return fixed;
    }

    private static float[] rowsOf(float[] all, int rowSize, int[] group) {
        float[] out = new float[group.length * rowSize];
        for (int r = 0; r < group.length; r++) {
            System.arraycopy(all, group[r] * rowSize, out, r * rowSize, rowSize);
        }
        return out;
    }

    private float[] decode(float[] latents, int h, int w) {
        float[] scaled = new float[latents.length];
        float factor = (float) directory.vaeScalingFactor();
        for (int i = 0; i < latents.length; i++) {
            scaled[i] = latents[i] / factor;
        }
        TensorData out = vae.run(Map.of(vaeInput, Tensors.floats(vaeType, new long[] {1, latentChannels, h, w},
                scaled)), vae.base(), Set.of(vaeOutput)).get(vaeOutput);
        if (out.dimensions() != 4 || out.dim(1) != 3) {
            throw new IllegalStateException("vae_decoder output '" + vaeOutput + "' is " + out.info()
                    + ", expected [1, 3, H, W]");
        }
        return Png.toHwc(Tensors.toFloats(vaeOutput, out), 0, 3, (int) out.dim(2), (int) out.dim(3));
    }

    /** The PNG text chunks: A1111-style {@code parameters} and the adapter settings as JSON. */
    private Map<String, String> parameters(GenerationRequest request, AdapterSettings settings, long seed,
            String scheduler) {
        StringBuilder text = new StringBuilder(request.prompt());
        if (!request.negativePrompt().isEmpty()) {
            text.append("\nNegative prompt: ").append(request.negativePrompt());
        }
        text.append("\nSteps: ").append(request.steps()).append(", Sampler: ").append(scheduler)
                .append(", CFG scale: ").append(request.guidanceScale()).append(", Seed: ").append(seed)
                .append(", Size: ").append(request.width()).append('x').append(request.height())
                .append(", Model: ").append(directory.folder().getFileName());
        if (settings.isEffective()) {
            text.append(", Lora: ");
            List<String> parts = new ArrayList<>();
            settings.adapters().forEach((name, weight) -> parts.add(name + ":" + weight));
            text.append(String.join(" ", parts));
            if (settings.callScale() != 1.0) {
                text.append(", Lora scale: ").append(settings.callScale());
            }
        }
        Map<String, String> chunks = new LinkedHashMap<>();
        chunks.put("parameters", text.toString());
        chunks.put("lorica:adapters", policy.format(settings));
        if (!registry.getFusedAdapters().isEmpty()) {
            chunks.put("lorica:fused", String.join(",", registry.getFusedAdapters()));
        }
        return chunks;
    }

    /** Closes the models once running generations have finished; idempotent. */
    @Override
    public void close() {
        lifecycle.writeLock().lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            List<ModelHandle> handles = new ArrayList<>();
            encoders.forEach(e -> handles.add(e.handle()));
            handles.add(unet);
            handles.add(vae);
            for (ModelHandle handle : handles) {
                try {
                    handle.close();
                } catch (RuntimeException e) {
                    LOG.warn("pipeline {}: closing {} failed: {}", descriptor.id(), handle.modelFile(), e.toString());
                }
            }
        } finally {
            lifecycle.writeLock().unlock();
        }
    }

    @Override
    public String toString() {
        return "StableDiffusionPipeline[" + descriptor.id() + ", " + directory.family().id() + ", "
                + directory.folder() + "]";
    }
}
