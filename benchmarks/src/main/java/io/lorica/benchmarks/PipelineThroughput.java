package io.lorica.benchmarks;

import io.lorica.api.DType;
import io.lorica.api.ModelFamily;
import io.lorica.api.TensorData;
import io.lorica.api.engine.LoraMode;
import io.lorica.api.engine.ModelHandle;
import io.lorica.api.engine.ModelRole;
import io.lorica.api.engine.TensorSpec;
import io.lorica.api.pipeline.GenerationRequest;
import io.lorica.api.pipeline.GenerationResult;
import io.lorica.api.pipeline.PipelineDescriptor;
import io.lorica.api.pipeline.ProgressListener;
import io.lorica.api.policy.AdapterWeight;
import io.lorica.api.policy.ScalePolicy;
import io.lorica.api.registry.AdapterReference;
import io.lorica.api.registry.AdapterRegistries;
import io.lorica.api.registry.AdapterRegistry;
import io.lorica.api.registry.FuseRequest;
import io.lorica.cli.Standalone;
import io.lorica.engine.impl.OnnxInferenceEngine;
import io.lorica.ort.ProviderRequest;
import io.lorica.ort.RuntimeSettings;
import io.lorica.ort.impl.OrtRuntimeImpl;
import io.lorica.pipelines.sd.StableDiffusionPipeline;
import io.lorica.pipelines.sd.Tensors;
import io.lorica.testkit.ExportOptions;
import io.lorica.testkit.LoraFile;
import io.lorica.testkit.LoraFiles;
import io.lorica.testkit.LoraSpec;
import io.lorica.testkit.PipelineSpec;
import io.lorica.testkit.PipelineWriter;
import io.lorica.testkit.UnetSpec;

import ai.onnxruntime.OrtSession.SessionOptions.OptLevel;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * End-to-end text-to-image throughput (images per minute) of Lorica's Stable Diffusion pipelines on pipelines written
 * by the test kit (random weights at the test kit's tiny or mid sizes), with the real engine, loader and policy wired
 * by hand. A plain {@code main}, not JMH: one generation takes from tens of milliseconds to minutes.
 *
 * <h2>Pipeline mode (the default)</h2>
 *
 * <pre>
 * java -cp benchmarks/target/benchmarks.jar io.lorica.benchmarks.PipelineThroughput
 *     [--family sd15|sdxl|both] [--size tiny|mid] [--steps N] [--images N] [--warmup N] [--threads N]
 *     [--guidance batched|separate|both] [--lora none|dynamic|fused|all] [--lora-binding dynamic|fused]
 *     [--width W --height H] [--cfg SCALE] [--scheduler NAME] [--rank R] [--time-limit S]
 *     [--max-other-load CORES] [--repeat N] [--interleave] [--cpu] [--dir DIR]
 * </pre>
 *
 * For each family a pipeline is written (into {@code DIR/<family>-<size>}, reused when it is already there, or into
 * a temporary folder deleted on exit), with two attention LoRA files of the test kit (rank {@code --rank}). Each
 * configuration (family x guidance strategy x LoRA mode) opens a fresh pipeline on it, so that no configuration
 * inherits another's sessions or caches, sets the LoRA mode up and closes the pipeline after its images. LoRA modes:
 * {@code none} (no adapter loaded), {@code dynamic} (both files loaded and blended
 * {@code set_adapters(["lora_a", "lora_b"], [0.5, 1.0])}, applied per request), {@code fused} (the same blend fused
 * into the weights with {@code fuse_lora()}); {@code --lora} takes one mode, a comma-separated list, or {@code all}.
 * Each configuration runs {@code --warmup} images (the first one's time is printed as the cold image) and then
 * {@code --images} timed images, one generation of one image each, sequentially, with the seed changed per image;
 * {@code --time-limit} stops the timed images of a configuration after that many seconds (at least 2 images are
 * always timed). {@code --repeat N} measures the whole list of configurations N times in turn (rounds interleaved,
 * so slow drifts of the machine spread over all of them) and adds a table over the rounds with the spread of their
 * means, the figure to judge whether a difference between configurations is real. {@code --interleave} opens the
 * pipelines of all configurations at once (memory for all of them), warms each up, and then times one image of each
 * in turn: the configurations are compared over the same stretch of time, which is what a comparison needs on a
 * machine whose speed drifts (shared or virtual machines: tens of percent over minutes were seen).
 *
 * <p>On Linux the CPU time of this process and of all others is read from {@code /proc} around the timed images and
 * printed: other work on the machine during a measurement shows as "other processes" load. With
 * {@code --max-other-load C} (for shared machines), each timed image waits (up to 60 s) until the other processes
 * keep at most {@code C} cores busy over 0.2 s, and an image during which they kept more busy is discarded
 * and generated again (at most {@code 3 * --images} attempts; when every attempt was disturbed, the disturbed images
 * are reported, marked ALL DISTURBED).
 *
 * <p>Printed per configuration: the configuration line (family, size, resolution, steps, guidance strategy, LoRA
 * mode, threads, provider, JVM, cores), the time to open the pipeline and to set the LoRA mode up (loading the files
 * and {@code set_adapters}, plus {@code fuse_lora} for {@code fused}), the mean and
 * standard deviation of the seconds per image, images per minute ({@code 60 / mean}), and the per-stage split from
 * {@link GenerationResult#timings()} ({@code text_encoder}, {@code denoise}, {@code vae_decoder} (PNG encoding
 * included), {@code lora_bind}, and {@code other}, the rest of the wall time). A summary table closes the run.
 *
 * <p>Defaults: SD 1.5, tiny, the pipeline's default resolution (tiny 64x64, mid 256x256), 20 steps, Euler, CFG 7.5,
 * 3 warm-up and 10 timed images per configuration, both guidance strategies, all LoRA modes, as many ONNX Runtime intra-op
 * threads as the JVM sees cores, ONNX Runtime's provider choice ({@code --cpu} forces the CPU). The LoRA binding mode
 * of the pipeline ({@link StableDiffusionPipeline.Options#loraMode()}) is {@code dynamic}; {@code --lora-binding
 * fused} serves the {@code dynamic} mode's per-request adapters by fused sessions instead.
 *
 * <h2>Full-size SDXL UNet mode</h2>
 *
 * <pre>
 * java -cp benchmarks/target/benchmarks.jar io.lorica.benchmarks.PipelineThroughput unet-full DIR
 *     [--steps N] [--warmup N] [--threads N] [--guidance batched|separate|both] [--latent N] [--tokens N]
 *     [--tiny] [--fp32] [--cpu]
 * </pre>
 *
 * Times UNet steps of an SDXL UNet through the engine directly (no text encoders, scheduler or VAE):
 * {@code DIR/unet/model.onnx} is opened as is when present, else the test kit's full-size SDXL UNet (2.57 billion
 * parameters, fp16, 5.1 GB of external data; {@code --tiny}: its tiny SDXL UNet; {@code --fp32}: float32 weights) is
 * written there first. One step is one {@code run} (base binding, no LoRA) on {@code sample [2, 4, L, L]}
 * (L = {@code --latent}, default the {@code sample_size} of {@code DIR/unet/config.json}: 128 for full size),
 * {@code timestep} (type and shape from the model), {@code encoder_hidden_states [2, 77, 2048]}, {@code text_embeds
 * [2, 1280]} and {@code time_ids [2, 6]} (widths from the model's input shapes) in the model's input types
 * ({@code batched}), or two runs of batch one ({@code separate}); 3 warm-up and 20 timed steps by default. Printed:
 * open time, mean and standard deviation of a step, UNet steps per second and the images per minute that implies
 * for a 30-step generation (UNet only). Meant for a GPU: the shaded jar carries the CPU build of ONNX Runtime, so put
 * the {@code onnxruntime_gpu} jar of the same version first on the class path
 * ({@code java -cp onnxruntime_gpu-<version>.jar:benchmarks/target/benchmarks.jar ...}; not tried yet, no GPU was
 * available) with CUDA 12 and cuDNN 9 on the library path; the provider line says which provider ran. On the CPU,
 * ONNX Runtime takes long to create a session of an fp16 UNet (about 30-40 s for the tiny one on 2 cores, against
 * about 8-10 s in fp32).
 *
 * <p>Log output of Lorica is at WARN unless {@code -Dorg.slf4j.simpleLogger.defaultLogLevel} says otherwise.
 */
public final class PipelineThroughput {

    private static final String PROMPT = "a watercolor painting of a lighthouse on a cliff at dawn, highly detailed";
    private static final String NEGATIVE = "blurry, low quality";
    private static final String[] STAGES = {"text_encoder", "denoise", "vae_decoder", "lora_bind"};
    private static final long SEED = 42;

    private PipelineThroughput() {
    }

    public static void main(String[] args) throws IOException {
        if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
            System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        }
        if (args.length > 0 && (args[0].equals("--help") || args[0].equals("-h"))) {
            usage();
            return;
        }
        try {
            if (args.length > 0 && args[0].equals("unet-full")) {
                unetFull(Arrays.copyOfRange(args, 1, args.length));
            } else {
                pipelines(args);
            }
        } catch (IllegalArgumentException e) {
            System.err.println("error: " + e.getMessage());
            usage();
            System.exit(2);
        }
    }

    private static void usage() {
        System.err.println("""
                usage: PipelineThroughput [--family sd15|sdxl|both] [--size tiny|mid] [--steps N] [--images N]
                           [--warmup N] [--threads N] [--guidance batched|separate|both] [--lora none|dynamic|fused|all]
                           [--lora-binding dynamic|fused] [--width W --height H] [--cfg SCALE] [--scheduler NAME]
                           [--rank R] [--time-limit S] [--max-other-load CORES] [--repeat N] [--interleave]
                           [--cpu] [--dir DIR]
                       PipelineThroughput unet-full DIR [--steps N] [--warmup N] [--threads N]
                           [--guidance batched|separate|both] [--latent N] [--tokens N] [--tiny] [--fp32] [--cpu]""");
    }

    // ------------------------------------------------------------------------------------------------ pipeline mode

    /** The settings shared by every configuration of a run. */
    private record Settings(String size, int steps, double cfg, String scheduler, int warmup, int images,
            double timeLimit, double maxOtherLoad, LoraMode binding) {
    }

    /** One configuration: a pipeline folder, a guidance strategy and a LoRA mode. */
    private record Config(ModelFamily family, Path folder, List<Path> loras, StableDiffusionPipeline.Guidance guidance,
            String mode, int width, int height) {

        String guidanceName() {
            return guidance.name().toLowerCase(Locale.ROOT);
        }
    }

    /** One measured configuration. */
    private record Result(Config config, String size, int steps, String lora, int round, double openSeconds,
            double setupSeconds, double coldSeconds, int images, int discarded, boolean disturbedOnly,
            double meanSeconds, double stdevSeconds, double minSeconds, Map<String, Double> stageSeconds,
            CpuLoad.Sample load) {

        double imagesPerMinute() {
            return 60.0 / meanSeconds;
        }
    }

    private static void pipelines(String[] args) throws IOException {
        Args a = new Args(args, Set.of("--family", "--size", "--steps", "--images", "--warmup", "--threads",
                "--guidance", "--lora", "--lora-binding", "--width", "--height", "--cfg", "--scheduler", "--rank",
                "--time-limit", "--max-other-load", "--repeat", "--dir"), Set.of("--cpu", "--interleave"));
        List<ModelFamily> families = switch (a.get("--family", "sd15")) {
            case "both", "all" -> List.of(ModelFamily.SD15, ModelFamily.SDXL);
            default -> List.of(ModelFamily.fromId(a.get("--family", "sd15")));
        };
        String size = a.choice("--size", "tiny", "tiny", "mid");
        int threads = a.intValue("--threads", Runtime.getRuntime().availableProcessors(), 0);
        List<StableDiffusionPipeline.Guidance> guidances = switch (a.choice("--guidance", "both", "batched",
                "separate", "both")) {
            case "batched" -> List.of(StableDiffusionPipeline.Guidance.BATCHED);
            case "separate" -> List.of(StableDiffusionPipeline.Guidance.SEPARATE);
            default -> List.of(StableDiffusionPipeline.Guidance.BATCHED, StableDiffusionPipeline.Guidance.SEPARATE);
        };
        List<String> loraModes = loraModes(a.get("--lora", "all"));
        LoraMode binding = a.choice("--lora-binding", "dynamic", "dynamic", "fused").equals("fused") ? LoraMode.FUSED
                : LoraMode.DYNAMIC;
        Settings settings = new Settings(size, a.intValue("--steps", 20, 1), a.doubleValue("--cfg", 7.5),
                a.get("--scheduler", "euler"), a.intValue("--warmup", 3, 0), a.intValue("--images", 10, 1),
                a.doubleValue("--time-limit", Double.POSITIVE_INFINITY), a.doubleValue("--max-other-load", -1),
                binding);
        int rank = a.intValue("--rank", 4, 1);
        int repeat = a.intValue("--repeat", 1, 1);
        boolean interleave = a.flag("--interleave");
        boolean cpu = a.flag("--cpu");
        Optional<Path> dir = a.optional("--dir").map(Path::of);
        Integer width = a.optional("--width").map(Integer::valueOf).orElse(null);
        Integer height = a.optional("--height").map(Integer::valueOf).orElse(null);
        if ((width == null) != (height == null)) {
            throw new IllegalArgumentException("give --width and --height together");
        }

        Lorica lorica = new Lorica(cpu, threads);
        System.out.println(lorica.environment());
        Path root = dir.orElseGet(PipelineThroughput::temporaryRoot);
        List<Config> configs = new ArrayList<>();
        for (ModelFamily family : families) {
            PipelineSpec spec = size.equals("mid") ? PipelineSpec.midSize(family) : PipelineSpec.tiny(family);
            int defaultSize = spec.unet().sampleSize() * spec.vae().upscaleFactor();
            Path folder = root.resolve(family.id() + "-" + size);
            long start = System.nanoTime();
            boolean reused = ensurePipeline(folder, spec);
            System.out.printf(Locale.ROOT, "%s %s pipeline %s in %.2f s (%s)%n", family.id(), size,
                    reused ? "found" : "written", seconds(System.nanoTime() - start), folder);
            List<Path> loras = new ArrayList<>();
            if (loraModes.stream().anyMatch(m -> !m.equals("none"))) {
                for (int i = 0; i < 2; i++) {
                    Path file = root.resolve(family.id() + "-" + size + "-lora-" + (char) ('a' + i) + "-r" + rank
                            + ".safetensors");
                    LoraFile written = LoraFiles.write(folder, file, LoraSpec.defaults().withSeed(i + 1)
                            .withRank(rank, rank));
                    if (i == 0) {
                        System.out.printf(Locale.ROOT, "LoRA files: rank %d, %d modules (attention of the UNet and "
                                + "text encoder(s)), %.1f kB each%n", rank, written.moduleCount(),
                                written.bytes() / 1e3);
                    }
                    loras.add(file);
                }
            }
            for (StableDiffusionPipeline.Guidance guidance : guidances) {
                for (String mode : loraModes) {
                    configs.add(new Config(family, folder, loras, guidance, mode,
                            width != null ? width : defaultSize, height != null ? height : defaultSize));
                }
            }
        }
        List<Result> results = new ArrayList<>();
        for (int round = 1; round <= repeat; round++) {
            if (interleave) {
                // all configurations open at once, one timed image of each in turn
                List<Measurement> opened = new ArrayList<>();
                try {
                    for (Config config : configs) {
                        opened.add(open(lorica, config, settings, round, repeat));
                    }
                    System.out.println();
                    System.out.println("== warming up and timing the " + opened.size() + " configurations in turn");
                    opened.forEach(Measurement::warm);
                    while (opened.stream().anyMatch(m -> !m.done())) {
                        for (Measurement m : opened) {
                            if (!m.done()) {
                                m.timeOne();
                            }
                        }
                    }
                    for (Measurement m : opened) {
                        Result result = m.result();
                        System.out.println();
                        System.out.println("== " + describe(result, repeat));
                        print(result);
                        results.add(result);
                    }
                } finally {
                    opened.forEach(Measurement::close);
                }
            } else {
                for (Config config : configs) {
                    try (Measurement m = open(lorica, config, settings, round, repeat)) {
                        m.warm();
                        while (!m.done()) {
                            m.timeOne();
                        }
                        Result result = m.result();
                        print(result);
                        results.add(result);
                    }
                }
            }
        }
        summary(lorica, results, repeat);
    }

    private static List<String> loraModes(String value) {
        if (value.equals("all")) {
            return List.of("none", "dynamic", "fused");
        }
        List<String> modes = new ArrayList<>();
        for (String mode : List.of("none", "dynamic", "fused")) {
            if (Arrays.asList(value.split(",")).contains(mode)) {
                modes.add(mode);
            }
        }
        for (String part : value.split(",")) {
            if (!List.of("none", "dynamic", "fused").contains(part)) {
                throw new IllegalArgumentException("--lora " + value + ": expected none, dynamic, fused (or a "
                        + "comma-separated list of them) or all");
            }
        }
        return modes;
    }

    /** Writes the pipeline unless the folder already holds one of {@code spec}; whether it was found. */
    private static boolean ensurePipeline(Path folder, PipelineSpec spec) {
        if (Files.isRegularFile(folder.resolve("model_index.json"))) {
            try {
                if (PipelineSpec.read(folder).equals(spec)) {
                    return true;
                }
            } catch (IllegalArgumentException e) {
                // not a test-kit pipeline of this spec: rewrite it
            }
        }
        PipelineWriter.write(folder, spec, SEED);
        return false;
    }

    /** Opens a fresh pipeline for {@code config} and sets its LoRA mode up. */
    private static Measurement open(Lorica lorica, Config config, Settings settings, int round, int rounds) {
        ModelFamily family = config.family();
        String id = family.id() + "-" + settings.size() + "-" + config.guidanceName() + "-" + config.mode();
        String lora = config.mode().equals("dynamic") && settings.binding() == LoraMode.FUSED
                ? "dynamic(fused-binding)" : config.mode();
        System.out.println();
        System.out.printf(Locale.ROOT, "== %s %s %dx%d, %d steps %s CFG %.1f, guidance %s, LoRA %s%s%n", family.id(),
                settings.size(), config.width(), config.height(), settings.steps(), settings.scheduler(),
                settings.cfg(), config.guidanceName(), lora, rounds > 1 ? " (round " + round + "/" + rounds + ")"
                        : "");
        System.out.println("   " + lorica.environment());
        StableDiffusionPipeline.Options options = StableDiffusionPipeline.Options.DEFAULTS
                .withGuidance(config.guidance()).withLoraMode(settings.binding());
        long start = System.nanoTime();
        StableDiffusionPipeline pipeline = StableDiffusionPipeline.open(PipelineDescriptor.of(id, family,
                config.folder()), lorica.engine, lorica.registries, lorica.policy, options);
        try {
            double open = seconds(System.nanoTime() - start);
            AdapterRegistry registry = pipeline.adapters();
            start = System.nanoTime();
            if (!config.mode().equals("none")) {
                for (int i = 0; i < config.loras().size(); i++) {
                    registry.load(new AdapterReference.FileReference(config.loras().get(i)),
                            "lora_" + (char) ('a' + i));
                }
                registry.setAdapters(List.of("lora_a", "lora_b"), List.of(AdapterWeight.of(0.5),
                        AdapterWeight.of(1.0)));
            }
            if (config.mode().equals("fused")) {
                registry.fuseLora(FuseRequest.defaults(family));
            }
            double setup = seconds(System.nanoTime() - start);
            System.out.printf(Locale.ROOT, "   open %.2f s, LoRA set-up %.3f s%n", open, setup);
            return new Measurement(pipeline, config, settings, lora, round, open, setup);
        } catch (RuntimeException e) {
            pipeline.close();
            throw e;
        }
    }

    /** A configuration's open pipeline and its timed images so far. */
    private static final class Measurement implements AutoCloseable {
        private final StableDiffusionPipeline pipeline;
        private final Config config;
        private final Settings settings;
        private final String lora;
        private final int round;
        private final double open;
        private final double setup;
        private double cold = Double.NaN;
        private long seed = SEED;
        private long began;
        private int attempts;
        private int discarded;
        // kept and disturbed images: times, stage sums, CPU load (own, other cores) weighted by image time
        private final List<Double> times = new ArrayList<>();
        private final List<Double> disturbedTimes = new ArrayList<>();
        private final Map<String, Double> stages = emptyStages();
        private final Map<String, Double> disturbedStages = emptyStages();
        private final double[] load = new double[2];
        private final double[] disturbedLoad = new double[2];

        Measurement(StableDiffusionPipeline pipeline, Config config, Settings settings, String lora, int round,
                double open, double setup) {
            this.pipeline = pipeline;
            this.config = config;
            this.settings = settings;
            this.lora = lora;
            this.round = round;
            this.open = open;
            this.setup = setup;
        }

        private static Map<String, Double> emptyStages() {
            Map<String, Double> stages = new LinkedHashMap<>();
            for (String stage : STAGES) {
                stages.put(stage, 0.0);
            }
            stages.put("other", 0.0);
            return stages;
        }

        private GenerationRequest request() {
            return new GenerationRequest(PROMPT, NEGATIVE, config.width(), config.height(), settings.steps(),
                    settings.cfg(), seed++, settings.scheduler(), Optional.empty(), 1);
        }

        /** The warm-up images; the first one's time is the cold image, and its values are checked. */
        void warm() {
            for (int i = 0; i < settings.warmup(); i++) {
                long start = System.nanoTime();
                StableDiffusionPipeline.Generation generation = pipeline.generate(request(), ProgressListener.none(),
                        null, List.of());
                if (i == 0) {
                    cold = seconds(System.nanoTime() - start);
                    checkFinite(generation.images().get(0));
                }
            }
        }

        /** Whether enough images are timed, the attempts are used up, or the time limit is reached. */
        boolean done() {
            int maxAttempts = settings.maxOtherLoad() < 0 ? settings.images() : 3 * settings.images();
            return times.size() >= settings.images() || attempts >= maxAttempts
                    || (times.size() >= 2 && seconds(System.nanoTime() - began) > settings.timeLimit());
        }

        /** One timed image (after waiting for a quiet machine with {@code --max-other-load}). */
        void timeOne() {
            if (attempts++ == 0) {
                began = System.nanoTime();
            }
            if (settings.maxOtherLoad() >= 0) {
                CpuLoad.waitQuiet(settings.maxOtherLoad(), 60);
            }
            GenerationRequest request = request();
            CpuLoad one = CpuLoad.start();
            long start = System.nanoTime();
            GenerationResult result = pipeline.generate(request);
            double wall = seconds(System.nanoTime() - start);
            CpuLoad.Sample imageLoad = one.stop();
            boolean disturbed = settings.maxOtherLoad() >= 0 && imageLoad.otherCores() > settings.maxOtherLoad();
            if (disturbed) {
                discarded++;
            }
            double[] weighted = disturbed ? disturbedLoad : load;
            weighted[0] += imageLoad.ownCores() * wall;
            weighted[1] += imageLoad.otherCores() * wall;
            (disturbed ? disturbedTimes : times).add(wall);
            Map<String, Double> into = disturbed ? disturbedStages : stages;
            double accounted = 0;
            for (String stage : STAGES) {
                double s = seconds(result.timings().getOrDefault(stage, Duration.ZERO).toNanos());
                into.merge(stage, s, Double::sum);
                accounted += s;
            }
            into.merge("other", Math.max(0, wall - accounted), Double::sum);
        }

        /** The figures; when every image was disturbed, those of the disturbed images, marked. */
        Result result() {
            boolean disturbedOnly = times.isEmpty();
            List<Double> kept = disturbedOnly ? disturbedTimes : times;
            Map<String, Double> stageSums = new LinkedHashMap<>(disturbedOnly ? disturbedStages : stages);
            double[] cpu = disturbedOnly ? disturbedLoad : load;
            double timed = kept.stream().mapToDouble(Double::doubleValue).sum();
            CpuLoad.Sample sample = cpu[1] < 0 ? new CpuLoad.Sample(-1, -1)
                    : new CpuLoad.Sample(cpu[0] / timed, cpu[1] / timed);
            int n = kept.size();
            stageSums.replaceAll((stage, total) -> total / n);
            double mean = timed / n;
            double variance = n < 2 ? 0 : kept.stream().mapToDouble(t -> (t - mean) * (t - mean)).sum() / (n - 1);
            double min = kept.stream().mapToDouble(Double::doubleValue).min().orElse(Double.NaN);
            return new Result(config, settings.size(), settings.steps(), lora, round, open, setup, cold, n,
                    disturbedOnly ? 0 : discarded, disturbedOnly, mean, Math.sqrt(variance), min, stageSums, sample);
        }

        @Override
        public void close() {
            pipeline.close();
        }
    }

    private static void checkFinite(float[] image) {
        for (float v : image) {
            if (!Float.isFinite(v)) {
                System.out.println("   WARNING: the first image holds non-finite values");
                return;
            }
        }
    }

    private static String describe(Result r, int rounds) {
        Config c = r.config();
        return String.format(Locale.ROOT, "%s %s %dx%d, %d steps, guidance %s, LoRA %s%s", c.family().id(), r.size(),
                c.width(), c.height(), r.steps(), c.guidanceName(), r.lora(),
                rounds > 1 ? " (round " + r.round() + "/" + rounds + ")" : "");
    }

    private static void print(Result r) {
        System.out.printf(Locale.ROOT, "   cold (first) image %s%n", Double.isNaN(r.coldSeconds())
                ? "not run (--warmup 0)" : String.format(Locale.ROOT, "%.3f s", r.coldSeconds()));
        System.out.printf(Locale.ROOT, "   %d images: %.4f s/image (stdev %.4f, min %.4f) = %.1f images/min%s%n",
                r.images(), r.meanSeconds(), r.stdevSeconds(), r.minSeconds(), r.imagesPerMinute(),
                r.disturbedOnly() ? " (ALL DISTURBED by other processes: not representative)"
                        : r.discarded() == 0 ? "" : " (" + r.discarded() + " disturbed images discarded)");
        StringBuilder split = new StringBuilder("   per image:");
        r.stageSeconds().forEach((stage, s) -> split.append(String.format(Locale.ROOT, " %s %.4f s (%.1f %%),",
                stage, s, 100 * s / r.meanSeconds())));
        split.setLength(split.length() - 1);
        System.out.println(split);
        System.out.printf(Locale.ROOT, "   denoise per step %.2f ms%s%n",
                1000 * r.stageSeconds().get("denoise") / r.steps(), r.load().describe());
    }

    private static void summary(Lorica lorica, List<Result> results, int rounds) {
        System.out.println();
        System.out.println("== summary (" + lorica.environment() + ")");
        System.out.println("| family | size | resolution | steps | guidance | LoRA |" + (rounds > 1 ? " round |" : "")
                + " open s | s/image (stdev) | images/min | text_encoder s | denoise s | vae_decoder s | n "
                + "| other load |");
        System.out.println("|---|---|---|---|---|---|" + (rounds > 1 ? "---|" : "")
                + "---|---|---|---|---|---|---|---|");
        for (Result r : results) {
            Config c = r.config();
            System.out.printf(Locale.ROOT, "| %s | %s | %dx%d | %d | %s | %s |%s %.2f | %.4f (%.4f) | %.1f | %.4f "
                    + "| %.4f | %.4f | %d | %s |%n", c.family().id(), r.size(), c.width(), c.height(), r.steps(),
                    c.guidanceName(), r.lora(), rounds > 1 ? " " + r.round() + " |" : "", r.openSeconds(),
                    r.meanSeconds(), r.stdevSeconds(), r.imagesPerMinute(), r.stageSeconds().get("text_encoder"),
                    r.stageSeconds().get("denoise"), r.stageSeconds().get("vae_decoder"), r.images(),
                    r.load().otherCores() < 0 ? "n/a" : String.format(Locale.ROOT, "%.2f%s", r.load().otherCores(),
                            r.disturbedOnly() ? " ALL DISTURBED" : r.discarded() > 0
                                    ? " (" + r.discarded() + " discarded)" : ""));
        }
        if (rounds < 2) {
            return;
        }
        // over the rounds: every timed image counts once; the spread is that of the rounds' means
        System.out.println();
        System.out.println("== over " + rounds + " rounds");
        System.out.println("| family | size | resolution | steps | guidance | LoRA | s/image | images/min "
                + "| rounds' images/min (min-max) | spread | images |");
        System.out.println("|---|---|---|---|---|---|---|---|---|---|---|");
        Map<Config, List<Result>> byConfig = new LinkedHashMap<>();
        results.forEach(r -> byConfig.computeIfAbsent(r.config(), c -> new ArrayList<>()).add(r));
        byConfig.forEach((c, list) -> {
            int n = list.stream().mapToInt(Result::images).sum();
            double mean = list.stream().mapToDouble(r -> r.meanSeconds() * r.images()).sum() / n;
            double lo = list.stream().mapToDouble(Result::imagesPerMinute).min().orElse(Double.NaN);
            double hi = list.stream().mapToDouble(Result::imagesPerMinute).max().orElse(Double.NaN);
            Result first = list.get(0);
            System.out.printf(Locale.ROOT, "| %s | %s | %dx%d | %d | %s | %s | %.4f | %.1f | %.1f-%.1f | %.1f %% "
                    + "| %d |%n", c.family().id(), first.size(), c.width(), c.height(), first.steps(),
                    c.guidanceName(), first.lora(), mean, 60 / mean, lo, hi, 100 * (hi - lo) / (60 / mean), n);
        });
    }

    // ---------------------------------------------------------------------------------------------- unet-full mode

    private static void unetFull(String[] args) throws IOException {
        if (args.length == 0 || args[0].startsWith("--")) {
            throw new IllegalArgumentException("unet-full needs the folder DIR (DIR/unet/model.onnx is opened, or "
                    + "written there first)");
        }
        Path dir = Path.of(args[0]);
        Args a = new Args(Arrays.copyOfRange(args, 1, args.length), Set.of("--steps", "--warmup", "--threads",
                "--guidance", "--latent", "--tokens"), Set.of("--tiny", "--fp32", "--cpu"));
        int steps = a.intValue("--steps", 20, 1);
        int warmup = a.intValue("--warmup", 3, 0);
        int threads = a.intValue("--threads", Runtime.getRuntime().availableProcessors(), 0);
        String guidanceArg = a.choice("--guidance", "batched", "batched", "separate", "both");
        int tokens = a.intValue("--tokens", 77, 1);
        boolean tiny = a.flag("--tiny");
        UnetSpec spec = tiny ? UnetSpec.tiny(ModelFamily.SDXL) : UnetSpec.fullSizeSdxl();
        Path model = dir.resolve("unet").resolve("model.onnx");
        int sampleSize = Files.isRegularFile(model) ? sampleSize(dir.resolve("unet").resolve("config.json"), 128)
                : spec.sampleSize();
        int latent = a.intValue("--latent", sampleSize, 1);
        if (latent % spec.downscaleFactor() != 0) {
            throw new IllegalArgumentException("--latent must be a multiple of " + spec.downscaleFactor());
        }
        Lorica lorica = new Lorica(a.flag("--cpu"), threads);
        if (!Files.isRegularFile(model)) {
            ExportOptions export = a.flag("--fp32") ? ExportOptions.defaults().withUnetExternalData(true)
                    : ExportOptions.fp16();
            System.out.printf(Locale.ROOT, "writing the %s SDXL UNet (%s) into %s ...%n", tiny ? "tiny" : "full-size",
                    export.precision(), dir.resolve("unet"));
            long start = System.nanoTime();
            PipelineWriter.writeUnet(dir, spec, export, SEED);
            System.out.printf(Locale.ROOT, "written in %.1f s%n", seconds(System.nanoTime() - start));
        } else {
            System.out.println("opening the UNet found in " + model.getParent() + " (--tiny/--fp32 do not apply)");
        }

        long start = System.nanoTime();
        try (ModelHandle handle = lorica.engine.open(model, ModelRole.UNET, ModelFamily.SDXL)) {
            double open = seconds(System.nanoTime() - start);
            System.out.printf(Locale.ROOT, "open %.2f s; inputs %s%n", open, handle.inputSpecs());
            System.out.println(lorica.environment());
            List<Integer> batches = switch (guidanceArg) {
                case "batched" -> List.of(2);
                case "separate" -> List.of(1);
                default -> List.of(2, 1);
            };
            for (int batch : batches) {
                unetSteps(handle, batch, latent, tokens, steps, warmup);
            }
        }
    }

    /** The {@code sample_size} of a Diffusers UNet config, or {@code fallback}. */
    private static int sampleSize(Path config, int fallback) {
        try {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"sample_size\"\\s*:\\s*(\\d+)")
                    .matcher(Files.readString(config));
            return m.find() ? Integer.parseInt(m.group(1)) : fallback;
        } catch (IOException | RuntimeException e) {
            return fallback;
        }
    }

    /** Times UNet steps: one run of batch 2 (batched CFG) or two runs of batch 1 (separate) per step. */
    private static void unetSteps(ModelHandle handle, int batch, int latent, int tokens, int steps, int warmup) {
        Map<String, TensorSpec> in = handle.inputSpecs();
        SplittableRandom random = new SplittableRandom(SEED);
        Map<String, TensorData> fixed = new LinkedHashMap<>();
        fixed.put("sample", floats(type(in, "sample"), random, 1.0, batch, 4, latent, latent));
        long hidden = staticDim(in, "encoder_hidden_states", 2, 2048);
        fixed.put("encoder_hidden_states", floats(type(in, "encoder_hidden_states"), random, 0.5, batch, tokens,
                hidden));
        if (in.containsKey("text_embeds")) {
            long embeds = staticDim(in, "text_embeds", 1, 1280);
            fixed.put("text_embeds", floats(type(in, "text_embeds"), random, 0.5, batch, embeds));
            float pixels = latent * 8f;
            float[] ids = new float[batch * 6];
            for (int r = 0; r < batch; r++) {
                System.arraycopy(new float[] {pixels, pixels, 0, 0, pixels, pixels}, 0, ids, r * 6, 6);
            }
            fixed.put("time_ids", Tensors.floats(type(in, "time_ids"), new long[] {batch, 6}, ids));
        }
        TensorSpec timestep = in.get("timestep");
        long[] timestepShape = timestep.rank() == 0 ? new long[0]
                : new long[] {timestep.dim(0) == 1 ? 1 : batch};
        String output = handle.outputSpecs().containsKey("out_sample") ? "out_sample"
                : handle.outputSpecs().keySet().iterator().next();
        int runsPerStep = batch == 2 ? 1 : 2;
        String mode = batch == 2 ? "batched (one run of batch 2 per step)" : "separate (two runs of batch 1 per step)";
        double[] times = new double[steps];
        CpuLoad load = null;
        for (int s = -warmup; s < steps; s++) {
            if (s == 0) {
                load = CpuLoad.start();
            }
            int t = 999 - Math.floorMod(s, 30) * 33;
            Map<String, TensorData> feed = new LinkedHashMap<>(fixed);
            feed.put("timestep", Tensors.number(timestep.dtype().orElse(DType.F32), timestepShape, t));
            long start = System.nanoTime();
            for (int r = 0; r < runsPerStep; r++) {
                TensorData out = handle.run(feed, handle.base(), Set.of(output)).get(output);
                if (out.dim(0) != batch) {
                    throw new IllegalStateException("UNet output " + out.info() + " has no batch of " + batch);
                }
            }
            double elapsed = seconds(System.nanoTime() - start);
            if (s == -warmup) {
                System.out.printf(Locale.ROOT, "%s: first step %.3f s%n", mode, elapsed);
            }
            if (s >= 0) {
                times[s] = elapsed;
            }
        }
        CpuLoad.Sample sample = load.stop();
        double mean = Arrays.stream(times).average().orElse(Double.NaN);
        double variance = steps < 2 ? 0 : Arrays.stream(times).map(x -> (x - mean) * (x - mean)).sum() / (steps - 1);
        double min = Arrays.stream(times).min().orElse(Double.NaN);
        System.out.printf(Locale.ROOT, "%s, latents %dx%d (%dx%d pixels), %d tokens: %d steps, %.2f ms/step "
                + "(stdev %.2f, min %.2f) = %.2f UNet steps/s -> %.2f images/min at 30 steps (UNet only)%s%n", mode,
                latent, latent, latent * 8, latent * 8, tokens, steps, 1000 * mean, 1000 * Math.sqrt(variance),
                1000 * min, 1 / mean, 60 / (30 * mean), sample.describe());
    }

    private static DType type(Map<String, TensorSpec> in, String name) {
        TensorSpec spec = in.get(name);
        if (spec == null) {
            throw new IllegalArgumentException("the UNet has no input '" + name + "' (it has " + in.keySet() + ")");
        }
        return spec.dtype().orElse(DType.F32);
    }

    private static long staticDim(Map<String, TensorSpec> in, String name, int index, long fallback) {
        TensorSpec spec = in.get(name);
        long d = spec != null && spec.rank() > index ? spec.dim(index) : TensorSpec.DYNAMIC;
        return d > 0 ? d : fallback;
    }

    private static TensorData floats(DType type, SplittableRandom random, double scale, long... shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        float[] values = new float[Math.toIntExact(n)];
        for (int i = 0; i < values.length; i++) {
            // a cheap normal: the sum of four uniforms, variance 1/3 each
            double g = random.nextDouble(-1, 1) + random.nextDouble(-1, 1) + random.nextDouble(-1, 1)
                    + random.nextDouble(-1, 1);
            values[i] = (float) (scale * g * Math.sqrt(3.0 / 4.0));
        }
        return Tensors.floats(type, shape, values);
    }

    /**
     * CPU use during a measurement from {@code /proc} (Linux): this process's and the other processes', in cores, so
     * that a run disturbed by other work on the machine shows it. Unavailable elsewhere.
     */
    private static final class CpuLoad {
        private final long[] system;
        private final long self;

        /** Busy cores of this process and of the others during the interval; negative when unknown. */
        record Sample(double ownCores, double otherCores) {
            String describe() {
                return otherCores < 0 ? "" : String.format(Locale.ROOT, "; CPU busy: this process %.2f cores, "
                        + "other processes %.2f cores%s", ownCores, otherCores,
                        otherCores > 0.1 ? " (DISTURBED: other work ran during the measurement)" : "");
            }
        }

        private CpuLoad(long[] system, long self) {
            this.system = system;
            this.self = self;
        }

        static CpuLoad start() {
            return new CpuLoad(systemTicks(), selfTicks());
        }

        /**
         * Waits until other processes keep at most {@code maxOtherCores} cores busy over 0.2 s, for at most
         * {@code maxSeconds}; whether the machine became quiet (true at once where /proc is unavailable).
         */
        static boolean waitQuiet(double maxOtherCores, double maxSeconds) {
            long deadline = System.nanoTime() + (long) (maxSeconds * 1e9);
            do {
                CpuLoad probe = start();
                try {
                    Thread.sleep(200);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return false;
                }
                double other = probe.stop().otherCores();
                if (other <= maxOtherCores) {
                    return true;
                }
            } while (System.nanoTime() < deadline);
            return false;
        }

        Sample stop() {
            long[] now = systemTicks();
            long me = selfTicks();
            if (system == null || now == null || self < 0 || me < 0 || now[1] == system[1]) {
                return new Sample(-1, -1);
            }
            int cpus = Runtime.getRuntime().availableProcessors();
            double total = now[1] - system[1];
            double busy = now[0] - system[0];
            double own = me - self;
            return new Sample(cpus * own / total, Math.max(0, cpus * (busy - own) / total));
        }

        /** Busy and total ticks of all CPUs, or null. */
        private static long[] systemTicks() {
            try {
                String[] f = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
                long total = 0;
                long idle = 0;
                for (int i = 1; i < f.length && i <= 8; i++) {
                    long v = Long.parseLong(f[i]);
                    total += v;
                    if (i == 4 || i == 5) {
                        idle += v;
                    }
                }
                return new long[] {total - idle, total};
            } catch (IOException | RuntimeException e) {
                return null;
            }
        }

        /** User and system ticks of this process, or -1. */
        private static long selfTicks() {
            try {
                String stat = Files.readString(Path.of("/proc/self/stat"));
                String[] f = stat.substring(stat.lastIndexOf(')') + 2).trim().split("\\s+");
                return Long.parseLong(f[11]) + Long.parseLong(f[12]);
            } catch (IOException | RuntimeException e) {
                return -1;
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------ wiring

    /** The engine, loader, policy and registries of the command line's plain-Java wiring. */
    private static final class Lorica {
        final OrtRuntimeImpl runtime;
        final OnnxInferenceEngine engine;
        final ScalePolicy policy;
        final AdapterRegistries registries;
        final int threads;

        Lorica(boolean cpu, int threads) {
            this.threads = threads;
            Standalone standalone = new Standalone(new RuntimeSettings(cpu ? ProviderRequest.CPU
                    : ProviderRequest.AUTO, 0, 0L, threads, 1, OptLevel.ALL_OPT, true, true, ""));
            runtime = standalone.runtime();
            engine = standalone.engine();
            policy = standalone.policy();
            registries = standalone.registries();
        }

        String environment() {
            Runtime rt = Runtime.getRuntime();
            return String.format(Locale.ROOT, "threads %s, provider %s%s, ONNX Runtime %s, JVM %s %s (%s), %d cores, "
                    + "max heap %d MB", threads == 0 ? "ORT default" : Integer.toString(threads),
                    engine.provider().id(), runtime.fallbackReason().map(r -> " (fallback: " + r + ")").orElse(""),
                    runtime.environment().getVersion() + " " + runtime.flavour(), System.getProperty("java.vm.name"), System.getProperty("java.version"),
                    System.getProperty("os.arch"), rt.availableProcessors(), rt.maxMemory() >> 20);
        }
    }

    private static Path temporaryRoot() {
        try {
            Path root = Files.createTempDirectory("lorica-throughput-");
            Runtime.getRuntime().addShutdownHook(new Thread(() -> delete(root)));
            return root;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void delete(Path root) {
        try (Stream<Path> paths = Files.walk(root)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // best effort
        }
    }

    private static double seconds(long nanos) {
        return nanos / 1e9;
    }

    /** {@code --name value} options and {@code --flag}s. */
    private static final class Args {
        private final Map<String, String> values = new LinkedHashMap<>();
        private final Set<String> flags = new java.util.HashSet<>();

        Args(String[] args, Set<String> valued, Set<String> flagNames) {
            for (int i = 0; i < args.length; i++) {
                String arg = args[i];
                if (flagNames.contains(arg)) {
                    flags.add(arg);
                } else if (valued.contains(arg)) {
                    if (i + 1 >= args.length) {
                        throw new IllegalArgumentException(arg + " needs a value");
                    }
                    values.put(arg, args[++i]);
                } else {
                    throw new IllegalArgumentException("unknown argument '" + arg + "'");
                }
            }
        }

        boolean flag(String name) {
            return flags.contains(name);
        }

        Optional<String> optional(String name) {
            return Optional.ofNullable(values.get(name));
        }

        String get(String name, String fallback) {
            return values.getOrDefault(name, fallback);
        }

        String choice(String name, String fallback, String... allowed) {
            String value = get(name, fallback);
            if (!Arrays.asList(allowed).contains(value)) {
                throw new IllegalArgumentException(name + " " + value + ": expected one of " + Arrays.toString(allowed));
            }
            return value;
        }

        int intValue(String name, int fallback, int min) {
            String value = values.get(name);
            if (value == null) {
                return fallback;
            }
            try {
                int v = Integer.parseInt(value);
                if (v < min) {
                    throw new IllegalArgumentException(name + " must be >= " + min + ", got " + v);
                }
                return v;
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(name + " " + value + " is not a whole number");
            }
        }

        double doubleValue(String name, double fallback) {
            String value = values.get(name);
            if (value == null) {
                return fallback;
            }
            try {
                return Double.parseDouble(value);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(name + " " + value + " is not a number");
            }
        }
    }
}
