package io.lorica.benchmarks;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.loader.impl.BuiltInFormats;
import io.lorica.loader.impl.DefaultAdapterLoader;
import io.lorica.loader.impl.FormatRegistry;
import io.lorica.loader.safetensors.SafetensorsFile;
import io.lorica.models.ReferenceModels;

/**
 * Resident-memory growth of loading the 230 MB SDXL kohya LoRA, against the file size: the loader maps the file and
 * keeps views into it, so the growth should stay within 10 % above the file size. Reads VmRSS from /proc (Linux).
 *
 * <pre>java -cp benchmarks/target/benchmarks.jar io.lorica.benchmarks.MemoryGrowth [rank]</pre>
 */
public final class MemoryGrowth {

    private MemoryGrowth() {
    }

    public static void main(String[] args) throws IOException, InterruptedException {
        int rank = args.length > 0 ? Integer.parseInt(args[0]) : 32;
        Path file = Files.createTempFile("lorica-mem-sdxl-kohya-", ".safetensors");
        try {
            SyntheticLoras.sdxlKohya(file, rank);
            long size = Files.size(file);
            FormatRegistry registry = new FormatRegistry();
            BuiltInFormats.register(registry);
            DefaultAdapterLoader loader = new DefaultAdapterLoader(registry, reference -> file, ReferenceModels::catalog);
            // warm the code paths on the same file, then measure a fresh load
            try (SafetensorsFile warm = SafetensorsFile.open(file)) {
                loader.load(warm, ModelFamily.SDXL);
            }
            settle();
            long before = rssBytes();
            LoraAdapter adapter;
            try (SafetensorsFile source = SafetensorsFile.open(file)) {
                adapter = loader.load(source, ModelFamily.SDXL);
            }
            settle();
            long after = rssBytes();
            long growth = after - before;
            System.out.printf("file %.1f MB, %d modules; RSS before %.1f MB, after %.1f MB, growth %.1f MB = %.1f %% of the file%n",
                    size / 1e6, adapter.moduleCount(), before / 1e6, after / 1e6, growth / 1e6, 100.0 * growth / size);
            System.out.println(growth <= size * 1.10 ? "within the goal (growth <= 110 % of the file size)"
                    : "ABOVE the goal (growth > 110 % of the file size)");
        } finally {
            Files.deleteIfExists(file);
        }
    }

    private static void settle() throws InterruptedException {
        System.gc();
        Thread.sleep(200);
    }

    private static long rssBytes() throws IOException {
        List<String> lines = Files.readAllLines(Path.of("/proc/self/status"));
        for (String line : lines) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        throw new IllegalStateException("no VmRSS in /proc/self/status: this harness needs Linux");
    }
}
