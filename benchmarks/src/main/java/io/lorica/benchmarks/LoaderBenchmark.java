package io.lorica.benchmarks;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.loader.impl.BuiltInFormats;
import io.lorica.loader.impl.DefaultAdapterLoader;
import io.lorica.loader.impl.FormatRegistry;
import io.lorica.loader.safetensors.SafetensorsFile;
import io.lorica.models.ReferenceModels;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Time from a LoRA file on disk (in the page cache) to a usable {@link LoraAdapter}: open and validate the
 * safetensors header, map the data, detect the format, resolve every kohya name against the SDXL module list and build
 * the canonical adapter. Goal: under 150 ms for the 230 MB SDXL rank-32 kohya file on 2 cores.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgs = {"-Xmx2g"})
public class LoaderBenchmark {

    @Param({"32"})
    public int rank;

    private Path file;
    private DefaultAdapterLoader loader;

    @Setup(Level.Trial)
    public void write() throws IOException {
        file = Files.createTempFile("lorica-bench-sdxl-kohya-", ".safetensors");
        SyntheticLoras.sdxlKohya(file, rank);
        FormatRegistry registry = new FormatRegistry();
        BuiltInFormats.register(registry);
        loader = new DefaultAdapterLoader(registry, reference -> file, ReferenceModels::catalog);
        // read it once so the measured runs find it in the page cache
        Files.readAllBytes(file);
    }

    @TearDown(Level.Trial)
    public void delete() throws IOException {
        Files.deleteIfExists(file);
    }

    @Benchmark
    public LoraAdapter loadSdxlKohya() throws IOException {
        try (SafetensorsFile source = SafetensorsFile.open(file)) {
            return loader.load(source, ModelFamily.SDXL);
        }
    }
}
