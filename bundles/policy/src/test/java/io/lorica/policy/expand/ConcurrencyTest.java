package io.lorica.policy.expand;

import static io.lorica.policy.expand.ScaleExpanderTest.blocks;
import static io.lorica.policy.expand.ScaleExpanderTest.perBlock;
import static io.lorica.policy.expand.ScaleExpanderTest.unet;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.policy.AdapterSettings;
import io.lorica.api.policy.AdapterWeight;
import io.lorica.api.policy.AdapterWeight.BlockVector;
import io.lorica.api.policy.AdapterWeight.LayerOverride;
import io.lorica.api.policy.AdapterWeight.WithOverrides;
import io.lorica.api.policy.EffectiveScales;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/** One shared expander, many threads, different settings: the results equal the single-threaded ones. */
class ConcurrencyTest {

    private record Case(ModelFamily family, AdapterSettings settings, Map<String, LoraAdapter> loaded) {
    }

    @Test
    void concurrentExpansionsGiveTheSingleThreadedResults() throws Exception {
        Map<String, LoraAdapter> sd = new LinkedHashMap<>();
        sd.put("a", TestAdapters.full(ModelFamily.SD15, 2, 1f));
        sd.put("b", TestAdapters.full(ModelFamily.SD15, 4, 8f));
        Map<String, LoraAdapter> xl = new LinkedHashMap<>();
        xl.put("a", TestAdapters.full(ModelFamily.SDXL, 2, 1f));
        xl.put("b", TestAdapters.full(ModelFamily.SDXL, 4, 2f));

        List<Case> cases = new ArrayList<>();
        for (int i = 0; i < 24; i++) {
            double w = (i - 8) / 8.0;
            cases.add(new Case(ModelFamily.SD15, new AdapterSettings(Map.of(
                    "a", unet(blocks(perBlock("block_" + (i % 3), List.of(w, -w)), w, AdapterWeight.of(1 - w))),
                    "b", AdapterWeight.of(w)), 1 + i / 10.0, true), sd));
            cases.add(new Case(ModelFamily.SDXL, AdapterSettings.of(List.of("b", "a"), List.of(
                    new WithOverrides(AdapterWeight.of(w), List.of(new LayerOverride(Optional.empty(),
                            "attentions\\." + (i % 3), -w))),
                    new BlockVector(w, 1 - w, Collections.nCopies(i % 2 == 0 ? 12 : 20, w / 2), Optional.empty())))
                    .withCallScale(i % 4 == 0 ? 0 : 1.25), xl));
        }

        ScaleExpander shared = new ScaleExpander();
        List<EffectiveScales> expected = new ArrayList<>();
        for (Case c : cases) {
            expected.add(new ScaleExpander().expand(c.settings(), c.loaded(), c.family()));
        }

        int threads = 8;
        int rounds = 3;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            CountDownLatch start = new CountDownLatch(1);
            List<Future<List<EffectiveScales>>> futures = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int offset = t;
                Callable<List<EffectiveScales>> task = () -> {
                    start.await();
                    List<EffectiveScales> results = new ArrayList<>(Collections.nCopies(cases.size(), null));
                    for (int r = 0; r < rounds; r++) {
                        for (int k = 0; k < cases.size(); k++) {
                            int index = (k + offset * 7 + r) % cases.size();
                            Case c = cases.get(index);
                            EffectiveScales result = shared.expand(c.settings(), c.loaded(), c.family());
                            if (results.get(index) == null) {
                                results.set(index, result);
                            } else if (!results.get(index).equals(result)) {
                                throw new AssertionError("case " + index + " changed between rounds");
                            }
                        }
                    }
                    return results;
                };
                futures.add(pool.submit(task));
            }
            start.countDown();
            for (Future<List<EffectiveScales>> future : futures) {
                List<EffectiveScales> results = future.get(120, TimeUnit.SECONDS);
                for (int k = 0; k < cases.size(); k++) {
                    assertEquals(expected.get(k), results.get(k), "case " + k);
                }
            }
        } finally {
            pool.shutdownNow();
        }
    }
}
