package io.lorica.testkit;

import io.lorica.api.DType;
import io.lorica.api.ModelFamily;

import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The test kit's command line, for shell scripts:
 *
 * <pre>
 * write DIR [sd15|sdxl] [tiny|mid] [--seed N] [--ids int32|int64] [--timestep float|float16|int64]
 *       [--timestep-shape scalar|one|batch] [--precision fp32|fp16-storage|fp16] [--external-data]
 * unet-full DIR [--family sdxl|sd15] [--seed N] [--precision fp16|fp16-storage|fp32] [--inline]
 * lora DIR FILE [--format diffusers|kohya] [--rank R] [--alpha A] [--seed N] [--fp16]
 *       [--targets attention|all] [--strength S]
 * </pre>
 * {@code lora} reads the sizes from {@code DIR}, a pipeline written by {@code write} or a folder written by
 * {@code unet-full} (a LoRA for its UNet only).
 *
 * Exit status 0 on success, 64 for wrong usage (with the usage on standard error), 1 when writing fails.
 */
public final class Main {

    /** Exit status for wrong usage. */
    public static final int USAGE = 64;

    private static final String HELP = String.join("\n",
            "usage:",
            "  write DIR [sd15|sdxl] [tiny|mid] [--seed N] [--ids int32|int64] [--timestep float|float16|int64]",
            "        [--timestep-shape scalar|one|batch] [--precision fp32|fp16-storage|fp16] [--external-data]",
            "  unet-full DIR [--family sdxl|sd15] [--seed N] [--precision fp16|fp16-storage|fp32] [--inline]",
            "  lora DIR FILE [--format diffusers|kohya] [--rank R] [--alpha A] [--seed N] [--fp16]",
            "        [--targets attention|all] [--strength S]     (DIR: a pipeline or a unet-full folder)");

    private Main() {
    }

    /** Runs the command line and exits with its status. */
    public static void main(String[] args) {
        int status = run(args, System.out, System.err);
        if (status != 0) {
            System.exit(status);
        }
    }

    /**
     * Runs one command.
     *
     * @return the exit status: 0, {@link #USAGE} or 1
     */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        if (args == null || args.length == 0) {
            err.println(HELP);
            return USAGE;
        }
        try {
            List<String> positional = new ArrayList<>();
            Map<String, String> options = new HashMap<>();
            parse(args, positional, options);
            String command = positional.remove(0);
            switch (command) {
                case "write" -> write(positional, options, out);
                case "unet-full" -> unetFull(positional, options, out);
                case "lora" -> lora(positional, options, out);
                default -> throw new UsageException("unknown command '" + command
                        + "', expected write, unet-full or lora");
            }
            return 0;
        } catch (UsageException e) {
            err.println("lorica-testkit: " + e.getMessage());
            err.println(HELP);
            return USAGE;
        } catch (IllegalArgumentException | UncheckedIOException e) {
            err.println("lorica-testkit: " + e.getMessage());
            return 1;
        }
    }

    private static void write(List<String> positional, Map<String, String> options, PrintStream out) {
        allow(options, "--seed", "--ids", "--timestep", "--timestep-shape", "--precision", "--external-data");
        if (positional.isEmpty() || positional.size() > 3) {
            throw new UsageException("write needs DIR [sd15|sdxl] [tiny|mid]");
        }
        Path directory = Path.of(positional.get(0));
        ModelFamily family = positional.size() > 1 ? family(positional.get(1)) : ModelFamily.SD15;
        String size = positional.size() > 2 ? positional.get(2) : "tiny";
        PipelineSpec spec = switch (size) {
            case "tiny" -> PipelineSpec.tiny(family);
            case "mid" -> PipelineSpec.midSize(family);
            default -> throw new UsageException("unknown size '" + size + "', expected tiny or mid");
        };
        ExportOptions export = ExportOptions.defaults()
                .withInputIds(choice(options, "--ids", ExportOptions.IdType.INT32, ExportOptions.IdType.class))
                .withTimestep(choice(options, "--timestep", ExportOptions.TimestepType.FLOAT,
                        ExportOptions.TimestepType.class),
                        choice(options, "--timestep-shape", ExportOptions.TimestepShape.SCALAR,
                                ExportOptions.TimestepShape.class))
                .withPrecision(precision(options.getOrDefault("--precision", "fp32")))
                .withUnetExternalData(options.containsKey("--external-data"));
        long seed = seed(options);
        long start = System.nanoTime();
        WrittenPipeline pipeline = PipelineWriter.write(directory, spec, export, seed);
        out.printf(Locale.ROOT, "wrote %s %s pipeline (seed %d, vocabulary %d) to %s in %.1f s%n", size, family.id(),
                seed, pipeline.vocabularySize(), directory, (System.nanoTime() - start) / 1e9);
        for (ModelFile model : pipeline.models().values()) {
            describe(model, out);
        }
    }

    private static void unetFull(List<String> positional, Map<String, String> options, PrintStream out) {
        allow(options, "--family", "--seed", "--precision", "--inline");
        if (positional.size() != 1) {
            throw new UsageException("unet-full needs DIR");
        }
        ModelFamily family = family(options.getOrDefault("--family", "sdxl"));
        UnetSpec spec = family == ModelFamily.SDXL ? UnetSpec.fullSizeSdxl() : UnetSpec.fullSizeSd15();
        ExportOptions export = ExportOptions.fp16().withPrecision(precision(options.getOrDefault("--precision",
                "fp16"))).withUnetExternalData(!options.containsKey("--inline"));
        if (export.precision() == ExportOptions.Precision.FLOAT32) {
            export = export.withTimestep(ExportOptions.TimestepType.FLOAT, ExportOptions.TimestepShape.SCALAR);
        }
        long start = System.nanoTime();
        ModelFile model = PipelineWriter.writeUnet(Path.of(positional.get(0)), spec, export, seed(options));
        out.printf(Locale.ROOT, "wrote the full-size %s UNet in %.1f s%n", family.id(),
                (System.nanoTime() - start) / 1e9);
        describe(model, out);
    }

    private static void lora(List<String> positional, Map<String, String> options, PrintStream out) {
        allow(options, "--format", "--rank", "--alpha", "--seed", "--fp16", "--targets", "--strength");
        if (positional.size() != 2) {
            throw new UsageException("lora needs DIR FILE");
        }
        int rank = integer(options, "--rank", 4);
        LoraSpec spec = LoraSpec.defaults()
                .withFormat(format(options.getOrDefault("--format", "diffusers")))
                .withRank(rank, options.containsKey("--alpha") ? number(options, "--alpha") : rank)
                .withSeed(seed(options))
                .withDtype(options.containsKey("--fp16") ? DType.F16 : DType.F32);
        if (options.containsKey("--strength")) {
            spec = spec.withStrength(number(options, "--strength"));
        }
        String targets = options.getOrDefault("--targets", "attention");
        spec = spec.withTargets(switch (targets) {
            case "attention" -> LoraTargets.attention();
            case "all" -> LoraTargets.all();
            default -> throw new UsageException("unknown targets '" + targets + "', expected attention or all");
        });
        LoraFile file = LoraFiles.write(Path.of(positional.get(0)), Path.of(positional.get(1)), spec);
        out.printf(Locale.ROOT, "wrote %s LoRA %s: %d modules %s, %d tensors, %d bytes%n", spec.format().id(),
                file.file(), file.moduleCount(), counts(file), file.tensors(), file.bytes());
    }

    private static String counts(LoraFile file) {
        StringBuilder text = new StringBuilder("(");
        file.modules().forEach((component, paths) -> {
            if (text.length() > 1) {
                text.append(", ");
            }
            text.append(component.id()).append(' ').append(paths.size());
        });
        return text.append(')').toString();
    }

    private static void describe(ModelFile model, PrintStream out) {
        out.printf(Locale.ROOT, "  %-15s %,15d bytes %,15d parameters %,7d nodes  %s%n", model.folder(),
                model.bytes(), model.parameters(), model.nodes(),
                model.externalData().map(p -> "+ " + p.getFileName()).orElse(""));
    }

    private static void parse(String[] args, List<String> positional, Map<String, String> options) {
        Set<String> flags = Set.of("--external-data", "--inline", "--fp16");
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (arg.startsWith("--")) {
                if (flags.contains(arg)) {
                    options.put(arg, "");
                } else if (i + 1 < args.length) {
                    options.put(arg, args[++i]);
                } else {
                    throw new UsageException("option " + arg + " needs a value");
                }
            } else {
                positional.add(arg);
            }
        }
        if (positional.isEmpty()) {
            throw new UsageException("no command");
        }
    }

    private static void allow(Map<String, String> options, String... allowed) {
        Set<String> known = Set.of(allowed);
        for (String option : options.keySet()) {
            if (!known.contains(option)) {
                throw new UsageException("unknown option " + option + " for this command");
            }
        }
    }

    private static ModelFamily family(String id) {
        try {
            return ModelFamily.fromId(id);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }

    private static LoraFormat format(String id) {
        try {
            return LoraFormat.fromId(id);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }

    private static ExportOptions.Precision precision(String id) {
        return switch (id) {
            case "fp32" -> ExportOptions.Precision.FLOAT32;
            case "fp16-storage" -> ExportOptions.Precision.FLOAT16_STORAGE;
            case "fp16" -> ExportOptions.Precision.FLOAT16;
            default -> throw new UsageException("unknown precision '" + id + "', expected fp32, fp16-storage or fp16");
        };
    }

    private static <E extends Enum<E>> E choice(Map<String, String> options, String option, E fallback,
            Class<E> type) {
        String value = options.get(option);
        if (value == null) {
            return fallback;
        }
        for (E constant : type.getEnumConstants()) {
            if (constant.name().equalsIgnoreCase(value)) {
                return constant;
            }
        }
        List<String> names = new ArrayList<>();
        for (E constant : type.getEnumConstants()) {
            names.add(constant.name().toLowerCase(Locale.ROOT));
        }
        throw new UsageException("unknown value '" + value + "' for " + option + ", expected one of " + names);
    }

    private static long seed(Map<String, String> options) {
        String value = options.getOrDefault("--seed", "42");
        try {
            return Long.parseLong(value);
        } catch (NumberFormatException e) {
            throw new UsageException("--seed must be an integer, got '" + value + "'");
        }
    }

    private static int integer(Map<String, String> options, String option, int fallback) {
        String value = options.get(option);
        if (value == null) {
            return fallback;
        }
        try {
            return Integer.parseInt(value);
        } catch (NumberFormatException e) {
            throw new UsageException(option + " must be an integer, got '" + value + "'");
        }
    }

    private static float number(Map<String, String> options, String option) {
        String value = options.get(option);
        try {
            return Float.parseFloat(value);
        } catch (NumberFormatException e) {
            throw new UsageException(option + " must be a number, got '" + value + "'");
        }
    }

    /** Wrong usage: reported with the usage text and status {@link #USAGE}. */
    private static final class UsageException extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        UsageException(String message) {
            super(message);
        }
    }
}
