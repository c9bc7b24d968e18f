package io.lorica.cli;

import io.lorica.api.ModelFamily;
import io.lorica.api.format.AdapterFormatException;
import io.lorica.api.pipeline.GenerationRequest;
import io.lorica.api.policy.AdapterSettings;
import io.lorica.api.policy.AdapterWeight;
import io.lorica.api.registry.AdapterReference;
import io.lorica.api.registry.AdapterRegistry;
import io.lorica.api.registry.FuseRequest;
import io.lorica.ort.ProviderRequest;
import io.lorica.pipelines.image.Npy;
import io.lorica.pipelines.image.NpyArray;
import io.lorica.pipelines.scheduler.SchedulerConfig;
import io.lorica.pipelines.scheduler.Schedulers;
import io.lorica.pipelines.sd.ModelDirectory;
import io.lorica.pipelines.sd.StableDiffusionPipeline;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;

/**
 * {@code lorica generate}: one text-to-image generation on a Diffusers ONNX export, with the LoRA operations of
 * Diffusers' pipeline applied in a fixed order (loads, set-adapters, deletes, disable, fuse). See {@link #USAGE}.
 */
final class GenerateCommand {

    static final String USAGE = """
            usage: lorica generate --model DIR [--lora NAME=FILE]... [--set-adapters JSON] [--lora-scale C]
                                   [--delete NAME]... [--disable-lora] [--fuse]
                                   --prompt TEXT [--negative-prompt TEXT] [--steps N] [--guidance G]
                                   [--height H] [--width W] [--seed S | --latents FILE.npy]
                                   [--scheduler NAME|FILE] [--cpu] --output FILE.png [--output-npy FILE.npy]

              --lora NAME=FILE     load_lora_weights(FILE, adapter_name=NAME); repeatable, in order
              --set-adapters JSON  set_adapters(names, weights): {"names": [...], "weights": [...]} with
                                   weights optional (1.0 each), a number or a per-component/per-block object
              --lora-scale C       cross_attention_kwargs={"scale": C} (UNet and text encoders)
              --delete NAME        delete_adapters(NAME); repeatable
              --disable-lora       disable_lora(): run the base model
              --fuse               fuse_lora(): bake the active adapters at their current weights
              --steps N            num_inference_steps (default 50)
              --guidance G         guidance_scale (default 7.5 for SD 1.5, 5.0 for SDXL)
              --height/--width     image size (default the UNet's sample_size times 8)
              --seed S             torch.manual_seed(S) noise on the CPU (default: a random seed, printed)
              --latents FILE.npy   initial noise [1, 4, H/8, W/8] instead of the seed's (an ancestral
                                   scheduler then draws its noise from seed 0)
              --scheduler NAME|FILE  %s, or a scheduler_config.json
              --cpu                never try CUDA
              --output FILE.png    the image, with the generation parameters in PNG text chunks
              --output-npy FILE    the image as float32 [H, W, 3] in [0, 1] (output_type="np")
            Progress goes to standard error. Exit code 0 on success, 2 with a one-line error on bad input.
            """.formatted(String.join(", ", Schedulers.names()));

    /** A rejected command line or input: exit code 2 with the message. */
    static final class BadInput extends RuntimeException {
        private static final long serialVersionUID = 1L;

        BadInput(String message) {
            super(message);
        }
    }

    private record Arguments(Path model, Map<String, Path> loras, Optional<String> setAdapters,
            Optional<Double> loraScale, List<String> deletes, boolean disable, boolean fuse, String prompt,
            String negativePrompt, Optional<Integer> steps, Optional<Double> guidance, Optional<Integer> height,
            Optional<Integer> width, Optional<Long> seed, Optional<Path> latents, Optional<String> scheduler,
            boolean cpu, Path output, Optional<Path> outputNpy) {
    }

    private final PrintStream out;
    private final PrintStream err;

    GenerateCommand(PrintStream out, PrintStream err) {
        this.out = out;
        this.err = err;
    }

    int run(List<String> args) {
        Arguments a;
        try {
            a = parse(args);
        } catch (BadInput e) {
            err.println("lorica: " + e.getMessage());
            return LoricaCli.REJECTED;
        }
        try {
            return generate(a);
        } catch (BadInput | IllegalArgumentException | AdapterFormatException e) {
            err.println("lorica: " + oneLine(e.getMessage()));
            return LoricaCli.REJECTED;
        } catch (RuntimeException e) {
            err.println("lorica: generation failed: " + oneLine(String.valueOf(e)));
            return LoricaCli.FAILED;
        }
    }

    private int generate(Arguments a) {
        ModelDirectory directory = ModelDirectory.read(a.model());
        if (directory.randomWeights()) {
            err.println("lorica: note: " + a.model() + " was written by the Lorica test kit; its weights are random");
        }
        SchedulerConfig schedulerFile = null;
        String schedulerName = "default";
        if (a.scheduler().isPresent()) {
            String s = a.scheduler().get();
            Path file = Path.of(s);
            if (s.endsWith(".json") || Files.isRegularFile(file)) {
                if (!Files.isRegularFile(file)) {
                    throw new BadInput("--scheduler " + s + ": no such scheduler configuration file");
                }
                try {
                    schedulerFile = Schedulers.read(file);
                } catch (IOException e) {
                    throw new BadInput("--scheduler " + s + ": cannot read it: " + e.getMessage());
                }
            } else {
                schedulerName = s;
            }
        }
        List<float[]> latents = new ArrayList<>();
        NpyArray latentArray = a.latents().map(Npy::read).orElse(null);
        int size = directory.defaultImageSize();
        double guidance = a.guidance().orElse(directory.family() == ModelFamily.SDXL ? 5.0 : 7.5);
        // with --latents, an ancestral scheduler's noise comes from seed 0, so that the run is reproducible
        long seed = a.seed().orElseGet(() -> a.latents().isPresent() ? 0
                : ThreadLocalRandom.current().nextLong(0, 1L << 32));
        // checked before any model is opened
        GenerationRequest request = new GenerationRequest(a.prompt(), a.negativePrompt(), a.width().orElse(size),
                a.height().orElse(size), a.steps().orElse(50), guidance, seed, schedulerName, Optional.empty(), 1);
        directory.requireImageSize(request.width(), request.height());
        if (schedulerFile == null) {
            // the pipeline's own check, before any model is opened
            try {
                Schedulers.create(request.scheduler(), Schedulers.read(directory.schedulerConfig()));
            } catch (IOException e) {
                throw new BadInput("cannot read " + directory.schedulerConfig() + ": " + e.getMessage());
            } catch (IllegalArgumentException e) {
                throw new BadInput("--scheduler " + request.scheduler() + ": " + e.getMessage());
            }
        }
        if (a.seed().isEmpty() && a.latents().isEmpty()) {
            err.println("lorica: seed " + seed);
        }
        Standalone lorica = new Standalone(a.cpu() ? ProviderRequest.CPU : ProviderRequest.AUTO);
        try (StableDiffusionPipeline pipeline = lorica.open("cli", a.model(),
                StableDiffusionPipeline.Options.DEFAULTS)) {
            if (latentArray != null) {
                long[] expected = pipeline.latentShape(request.height(), request.width());
                if (!java.util.Arrays.equals(expected, latentArray.shape())) {
                    throw new BadInput("--latents " + a.latents().get() + " has shape "
                            + java.util.Arrays.toString(latentArray.shape()) + ", expected "
                            + java.util.Arrays.toString(expected) + " for " + request.width() + "x"
                            + request.height());
                }
                latents.add(latentArray.data());
            }
            AdapterRegistry registry = pipeline.adapters();
            for (Map.Entry<String, Path> lora : a.loras().entrySet()) {
                if (!Files.isRegularFile(lora.getValue())) {
                    throw new BadInput("--lora " + lora.getKey() + "=" + lora.getValue() + ": no such file");
                }
                registry.load(new AdapterReference.FileReference(lora.getValue()), lora.getKey());
                err.println("lorica: loaded adapter " + lora.getKey() + " from " + lora.getValue());
            }
            if (a.setAdapters().isPresent()) {
                setAdapters(lorica, registry, a.setAdapters().get());
            }
            if (a.loraScale().isPresent()) {
                registry.setDefaults(registry.defaults().withCallScale(a.loraScale().get()));
            }
            if (!a.deletes().isEmpty()) {
                registry.deleteAdapters(a.deletes());
            }
            if (a.disable()) {
                registry.disableLora();
            }
            if (a.fuse()) {
                registry.fuseLora(FuseRequest.defaults(directory.family()));
                err.println("lorica: fused " + registry.getFusedAdapters());
            }
            err.println("lorica: active adapters " + registry.getActiveAdapters() + ", all " + registry.adapters()
                    .stream().map(i -> i.name()).toList() + ", lora " + (registry.defaults().enabled() ? "enabled"
                            : "disabled"));
            StableDiffusionPipeline.Generation generation = pipeline.generate(request,
                    (step, total, preview) -> err.println("step " + step + "/" + total), schedulerFile, latents);
            write(a.output(), generation.result().image(0));
            if (a.outputNpy().isPresent()) {
                Npy.write(a.outputNpy().get(), new NpyArray(new long[] {generation.height(), generation.width(),
                        3}, generation.images().get(0)));
            }
            StringBuilder timings = new StringBuilder();
            generation.result().timings().forEach((stage, time) -> timings.append(' ').append(stage).append(' ')
                    .append(time.toMillis()).append(" ms"));
            out.println(a.output() + " " + generation.width() + "x" + generation.height() + " seed " + seed + ","
                    + timings);
            return LoricaCli.OK;
        }
    }

    private static void setAdapters(Standalone lorica, AdapterRegistry registry, String json) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(json);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new BadInput("--set-adapters is not valid JSON: " + oneLine(e.getOriginalMessage()));
        } catch (IOException e) {
            throw new BadInput("--set-adapters is not valid JSON: " + oneLine(e.getMessage()));
        }
        if (root == null || !root.isObject() || !root.path("names").isArray()) {
            throw new BadInput("--set-adapters must be {\"names\": [...], \"weights\": [...]}, got " + json);
        }
        List<String> names = new ArrayList<>();
        root.path("names").forEach(n -> {
            if (!n.isTextual()) {
                throw new BadInput("--set-adapters: names must be strings, got " + n);
            }
            names.add(n.asText());
        });
        JsonNode weights = root.path("weights");
        if (weights.isMissingNode() || weights.isNull()) {
            registry.setAdapters(names);
            return;
        }
        if (!weights.isArray() || weights.size() != names.size()) {
            throw new BadInput("--set-adapters: weights must be a list with one entry per name (" + names.size()
                    + "), got " + weights);
        }
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode settings = mapper.createObjectNode();
        ObjectNode adapters = settings.putObject("adapters");
        for (int i = 0; i < names.size(); i++) {
            JsonNode weight = weights.get(i);
            adapters.set(names.get(i), weight.isNull() ? mapper.getNodeFactory().numberNode(1.0) : weight);
        }
        AdapterSettings parsed = lorica.policy().parse(settings.toString());
        List<AdapterWeight> list = new ArrayList<>();
        for (String name : names) {
            list.add(parsed.weight(name).orElseThrow());
        }
        registry.setAdapters(names, list);
    }

    private static void write(Path file, byte[] bytes) {
        try {
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            Files.write(file, bytes);
        } catch (IOException e) {
            throw new BadInput("cannot write " + file + ": " + e.getMessage());
        }
    }

    private static Arguments parse(List<String> args) {
        Path model = null;
        Map<String, Path> loras = new LinkedHashMap<>();
        Optional<String> setAdapters = Optional.empty();
        Optional<Double> loraScale = Optional.empty();
        List<String> deletes = new ArrayList<>();
        boolean disable = false;
        boolean fuse = false;
        boolean cpu = false;
        String prompt = null;
        String negative = "";
        Optional<Integer> steps = Optional.empty();
        Optional<Double> guidance = Optional.empty();
        Optional<Integer> height = Optional.empty();
        Optional<Integer> width = Optional.empty();
        Optional<Long> seed = Optional.empty();
        Optional<Path> latents = Optional.empty();
        Optional<String> scheduler = Optional.empty();
        Path output = null;
        Optional<Path> outputNpy = Optional.empty();
        for (int i = 0; i < args.size(); i++) {
            String option = args.get(i);
            switch (option) {
                case "--disable-lora" -> disable = true;
                case "--fuse" -> fuse = true;
                case "--cpu" -> cpu = true;
                default -> {
                    if (!option.startsWith("--")) {
                        throw new BadInput("unexpected argument '" + option + "'; see lorica generate --help");
                    }
                    if (i + 1 >= args.size()) {
                        throw new BadInput(option + " needs a value");
                    }
                    String value = args.get(++i);
                    switch (option) {
                        case "--model" -> model = Path.of(value);
                        case "--lora" -> {
                            int eq = value.indexOf('=');
                            if (eq <= 0 || eq == value.length() - 1) {
                                throw new BadInput("--lora expects NAME=FILE, got '" + value + "'");
                            }
                            String name = value.substring(0, eq);
                            if (loras.put(name, Path.of(value.substring(eq + 1))) != null) {
                                throw new BadInput("--lora " + name + " is given twice");
                            }
                        }
                        case "--set-adapters" -> setAdapters = Optional.of(value);
                        case "--lora-scale" -> loraScale = Optional.of(number(option, value));
                        case "--delete" -> deletes.add(value);
                        case "--prompt" -> prompt = value;
                        case "--negative-prompt" -> negative = value;
                        case "--steps" -> steps = Optional.of(integer(option, value));
                        case "--guidance" -> guidance = Optional.of(number(option, value));
                        case "--height" -> height = Optional.of(integer(option, value));
                        case "--width" -> width = Optional.of(integer(option, value));
                        case "--seed" -> {
                            try {
                                seed = Optional.of(Long.parseLong(value));
                            } catch (NumberFormatException e) {
                                throw new BadInput("--seed expects an integer, got '" + value + "'");
                            }
                        }
                        case "--latents" -> latents = Optional.of(Path.of(value));
                        case "--scheduler" -> scheduler = Optional.of(value);
                        case "--output" -> output = Path.of(value);
                        case "--output-npy" -> outputNpy = Optional.of(Path.of(value));
                        default -> throw new BadInput("unknown option " + option + "; see lorica generate --help");
                    }
                }
            }
        }
        if (model == null) {
            throw new BadInput("--model DIR is required");
        }
        if (prompt == null) {
            throw new BadInput("--prompt TEXT is required");
        }
        if (output == null) {
            throw new BadInput("--output FILE.png is required");
        }
        if (seed.isPresent() && latents.isPresent()) {
            throw new BadInput("--seed and --latents exclude each other");
        }
        return new Arguments(model, loras, setAdapters, loraScale, deletes, disable, fuse, prompt, negative, steps,
                guidance, height, width, seed, latents, scheduler, cpu, output, outputNpy);
    }

    private static double number(String option, String value) {
        try {
            double d = Double.parseDouble(value);
            if (!Double.isFinite(d)) {
                throw new NumberFormatException();
            }
            return d;
        } catch (NumberFormatException e) {
            throw new BadInput(option + " expects a finite number, got '" + value + "'");
        }
    }

    private static int integer(String option, String value) {
        try {
            return Integer.parseInt(value);
        } catch (NumberFormatException e) {
            throw new BadInput(option + " expects an integer, got '" + value + "'");
        }
    }

    private static String oneLine(String message) {
        return message == null ? "" : message.replace('\n', ' ').replace('\r', ' ');
    }
}
