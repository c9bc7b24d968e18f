package io.lorica.testkit;

import io.lorica.api.ModelFamily;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.Map;
import java.util.stream.Stream;

/** The tiny pipelines (default options, seed 42), written once per test JVM into a temporary folder. */
final class TinyPipelines {

    static final long SEED = 42;
    private static final Path ROOT;
    private static final Map<ModelFamily, WrittenPipeline> PIPELINES = new EnumMap<>(ModelFamily.class);

    static {
        try {
            ROOT = Files.createTempDirectory("lorica-testkit-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> delete(ROOT)));
    }

    private TinyPipelines() {
    }

    static synchronized WrittenPipeline of(ModelFamily family) {
        return PIPELINES.computeIfAbsent(family,
                f -> PipelineWriter.write(ROOT.resolve(f.id()), PipelineSpec.tiny(f), SEED));
    }

    /** A fresh folder under the shared temporary root. */
    static Path folder(String name) {
        try {
            return Files.createDirectories(ROOT.resolve(name));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void delete(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // best effort
        }
    }
}
