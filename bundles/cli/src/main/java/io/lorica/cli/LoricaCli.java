package io.lorica.cli;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * The {@code lorica} command line: one-shot work without a container.
 *
 * <pre>
 * lorica lora inspect FILE [--family sd15|sdxl] [--json]
 * lorica generate --model DIR --prompt TEXT --output FILE.png [options]   (see GenerateCommand)
 * </pre>
 *
 * Exit codes: 0 success, 1 the generation failed, 2 the input was rejected (the reason on standard error; for
 * {@code generate} also wrong usage), 64 wrong usage of {@code lora inspect}.
 */
public final class LoricaCli {

    static final int OK = 0;
    static final int FAILED = 1;
    static final int REJECTED = 2;
    static final int USAGE = 64;

    private static final String USAGE_TEXT = """
            usage: lorica lora inspect FILE [--family sd15|sdxl] [--json]
                   lorica generate --model DIR --prompt TEXT --output FILE.png [options]
                   lorica generate --help
                   lorica testkit write DIR [sd15|sdxl] [tiny|mid] [--seed N] | lora DIR FILE [...]

              lora inspect   read a LoRA file, detect its format and convert it for a model family;
                             prints format, per-component module counts, ranks, alphas, dtypes,
                             metadata and the per-key report. Without --family both families are
                             tried and the one the file fits is reported.
              generate       text to image on a Diffusers ONNX export with LoRA adapters
                             (the Diffusers LoRA tutorial's operations, in order)
              testkit        write tiny or mid-size pipelines in the export layout and LoRA files
                             for them; their weights are random (for tests and benchmarks)
            """;

    private LoricaCli() {
    }

    public static void main(String[] args) {
        // informational logging of the libraries stays off the terminal unless asked for
        if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
            System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        }
        System.exit(run(args, System.out, System.err));
    }

    /** Runs the command line with the given streams; returns the exit code. */
    static int run(String[] args, PrintStream out, PrintStream err) {
        List<String> rest = new ArrayList<>(List.of(args));
        if (!rest.isEmpty() && rest.get(0).equals("testkit")) {
            // the test kit's own command line: tiny pipelines and LoRA files with random weights
            return io.lorica.testkit.Main.run(rest.subList(1, rest.size()).toArray(new String[0]), out, err);
        }
        if (!rest.isEmpty() && rest.get(0).equals("generate")) {
            if (rest.size() == 2 && (rest.get(1).equals("--help") || rest.get(1).equals("help"))) {
                out.print(GenerateCommand.USAGE);
                return OK;
            }
            return new GenerateCommand(out, err).run(rest.subList(1, rest.size()));
        }
        if (rest.size() >= 2 && rest.get(0).equals("lora") && rest.get(1).equals("inspect")) {
            rest = rest.subList(2, rest.size());
            Optional<String> family = Optional.empty();
            boolean json = false;
            Path file = null;
            for (int i = 0; i < rest.size(); i++) {
                String arg = rest.get(i);
                switch (arg) {
                    case "--json" -> json = true;
                    case "--family" -> {
                        if (i + 1 >= rest.size()) {
                            return usage(err, "--family needs a value: sd15 or sdxl");
                        }
                        family = Optional.of(rest.get(++i).toLowerCase(Locale.ROOT));
                    }
                    default -> {
                        if (arg.startsWith("--")) {
                            return usage(err, "unknown option " + arg);
                        }
                        if (file != null) {
                            return usage(err, "one FILE only, got " + file + " and " + arg);
                        }
                        file = Path.of(arg);
                    }
                }
            }
            if (file == null) {
                return usage(err, "FILE is missing");
            }
            if (!Files.isRegularFile(file)) {
                err.println("lorica: " + file + " is not a readable file");
                return REJECTED;
            }
            return new InspectCommand(out, err).run(file, family, json);
        }
        if (rest.isEmpty() || rest.get(0).equals("--help") || rest.get(0).equals("help")) {
            out.print(USAGE_TEXT);
            return rest.isEmpty() ? USAGE : OK;
        }
        return usage(err, "unknown command: " + String.join(" ", rest));
    }

    private static int usage(PrintStream err, String problem) {
        err.println("lorica: " + problem);
        err.print(USAGE_TEXT);
        return USAGE;
    }
}
