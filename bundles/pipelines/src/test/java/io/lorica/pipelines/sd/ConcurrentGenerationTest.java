package io.lorica.pipelines.sd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.lorica.api.ModelFamily;
import io.lorica.api.policy.AdapterSettings;
import io.lorica.api.policy.AdapterWeight;
import io.lorica.api.registry.AdapterReference;
import io.lorica.testkit.LoraFormat;
import io.lorica.testkit.WrittenPipeline;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/**
 * Generations running at the same time on one pipeline, each with its own adapter settings, while the registry's
 * defaults change underneath: every image equals the one its settings give alone.
 */
class ConcurrentGenerationTest {

    @Test
    void concurrentGenerationsKeepTheirOwnSettings() throws Exception {
        WrittenPipeline written = TestLorica.tiny(ModelFamily.SD15);
        try (StableDiffusionPipeline pipe = TestLorica.open("concurrent", written,
                StableDiffusionPipeline.Options.DEFAULTS)) {
            pipe.adapters().load(new AdapterReference.FileReference(TestLorica.lora(written, "pixel",
                    LoraFormat.DIFFUSERS, 1)), "pixel");
            pipe.adapters().load(new AdapterReference.FileReference(TestLorica.lora(written, "toy",
                    LoraFormat.KOHYA, 2)), "toy");
            List<AdapterSettings> settings = List.of(AdapterSettings.none(),
                    AdapterSettings.of(List.of("pixel"), AdapterWeight.of(1.0)),
                    AdapterSettings.of(List.of("toy"), AdapterWeight.of(0.7)),
                    AdapterSettings.of(List.of("pixel", "toy"), List.of(AdapterWeight.of(0.5), AdapterWeight.of(1.0))));
            List<float[]> serial = new ArrayList<>();
            for (AdapterSettings s : settings) {
                serial.add(LoraTutorialTest.image(pipe, s));
            }
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<float[]>> futures = new ArrayList<>();
                List<Integer> which = new ArrayList<>();
                for (int round = 0; round < 3; round++) {
                    for (int i = 0; i < settings.size(); i++) {
                        AdapterSettings s = settings.get(i);
                        which.add(i);
                        futures.add(pool.submit(() -> LoraTutorialTest.image(pipe, s)));
                    }
                    // the defaults change while generations run; requests with their own settings do not notice
                    pipe.adapters().setAdapters(List.of(round % 2 == 0 ? "toy" : "pixel"));
                    pipe.adapters().disableLora();
                    pipe.adapters().enableLora();
                }
                for (int k = 0; k < futures.size(); k++) {
                    assertArrayEquals(serial.get(which.get(k)), futures.get(k).get(2, TimeUnit.MINUTES),
                            "generation " + k + " with settings " + settings.get(which.get(k)));
                }
                assertEquals(12, futures.size());
            } finally {
                pool.shutdownNow();
            }
        }
    }
}
