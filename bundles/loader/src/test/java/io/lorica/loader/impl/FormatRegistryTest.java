package io.lorica.loader.impl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.format.AdapterFormat;
import io.lorica.api.format.ConversionContext;
import io.lorica.api.format.Recognition;
import io.lorica.api.format.TensorSource;
import org.junit.jupiter.api.Test;

class FormatRegistryTest {

    private static AdapterFormat named(String name) {
        return new AdapterFormat() {
            @Override
            public String name() {
                return name;
            }

            @Override
            public Recognition recognise(TensorSource source) {
                return Recognition.no("test format");
            }

            @Override
            public LoraAdapter convert(TensorSource source, ConversionContext context) {
                throw new UnsupportedOperationException("test format converts nothing");
            }
        };
    }

    private static List<String> names(FormatRegistry registry) {
        List<String> names = new ArrayList<>();
        registry.snapshot().forEach(e -> names.add(e.format().name()));
        return names;
    }

    @Test
    void snapshot_ordersByRankingThenRegistration() {
        FormatRegistry registry = new FormatRegistry();
        registry.add(named("kohya"), 0, 5);
        registry.add(named("diffusers"), 0, 3);
        registry.add(named("toy"), 100, 9);
        registry.add(named("fallback"), -10, 1);
        assertEquals(List.of("toy", "diffusers", "kohya", "fallback"), names(registry));
    }

    @Test
    void remove_dropsOnlyThatService_andOldSnapshotsStayIntact() {
        FormatRegistry registry = new FormatRegistry();
        registry.add(named("a"), 0, 1);
        registry.add(named("b"), 0, 2);
        List<FormatRegistry.Entry> before = registry.snapshot();
        registry.remove(1);
        registry.remove(42);
        assertEquals(List.of("b"), names(registry));
        assertEquals(2, before.size(), "a reader's snapshot is immutable");
    }

    @Test
    void add_sameServiceIdAgain_replacesRanking() {
        FormatRegistry registry = new FormatRegistry();
        registry.add(named("a"), 0, 1);
        registry.add(named("b"), 5, 2);
        registry.add(named("a"), 10, 1);
        assertEquals(List.of("a", "b"), names(registry));
    }

    @Test
    void concurrentAddRemove_leavesConsistentSnapshot() throws Exception {
        FormatRegistry registry = new FormatRegistry();
        ExecutorService pool = Executors.newFixedThreadPool(4);
        CountDownLatch start = new CountDownLatch(1);
        for (int t = 0; t < 4; t++) {
            int thread = t;
            pool.submit(() -> {
                start.await();
                for (int i = 0; i < 500; i++) {
                    long id = thread * 1000L + i;
                    registry.add(named("f" + id), i % 7, id);
                    if (i % 2 == 0) {
                        registry.remove(id);
                    }
                    assertTrue(registry.snapshot().size() <= 1000);
                }
                return null;
            });
        }
        start.countDown();
        pool.shutdown();
        assertTrue(pool.awaitTermination(30, TimeUnit.SECONDS));
        assertEquals(1000, registry.snapshot().size());
    }
}
