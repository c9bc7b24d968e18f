package io.lorica.policy.registry;

import static io.lorica.policy.registry.StubLoader.ref;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.policy.AdapterSettings;
import io.lorica.api.policy.AdapterWeight;
import io.lorica.api.registry.AdapterRegistryEvent;
import io.lorica.api.registry.FuseRequest;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Readers resolving settings while writers load, set, fuse and delete: every read sees one consistent state. */
class DefaultAdapterRegistryConcurrencyTest {

    private static final int READERS = 8;
    private static final int ROUNDS = 300;
    private static final String NOT_PRESENT = "not in the list of present adapters";

    private StubLoader loader;
    private RecordingBackend backend;
    private DefaultAdapterRegistry registry;
    private ExecutorService pool;

    @BeforeEach
    void setUp() {
        loader = new StubLoader()
                .with("a.safetensors", TestAdapters::unet)
                .with("b.safetensors", TestAdapters::unetAndTe)
                .with("c.safetensors", TestAdapters::textEncoders);
        backend = new RecordingBackend();
        registry = new DefaultAdapterRegistry("concurrent", ModelFamily.SD15, loader, backend);
        pool = Executors.newFixedThreadPool(READERS + 2);
    }

    @AfterEach
    void tearDown() throws InterruptedException {
        pool.shutdownNow();
        assertTrue(pool.awaitTermination(30, TimeUnit.SECONDS));
    }

    @Test
    void readersAlwaysSeeAConsistentSnapshotWhileWritersChangeTheRegistry() throws Exception {
        for (int i = 0; i < 4; i++) {
            registry.load(ref("b.safetensors"), "stable" + i);
        }
        List<AdapterRegistryEvent> events = new CopyOnWriteArrayList<>();
        registry.addListener(events::add);
        long startVersion = registry.snapshot().version();

        AtomicBoolean writing = new AtomicBoolean(true);
        AtomicInteger expectedRejections = new AtomicInteger();
        AtomicInteger reads = new AtomicInteger();
        List<Throwable> unexpected = new CopyOnWriteArrayList<>();
        CountDownLatch start = new CountDownLatch(1);
        List<Future<?>> futures = new ArrayList<>();

        for (int r = 0; r < READERS; r++) {
            int reader = r;
            futures.add(pool.submit(() -> {
                // each request brings its own settings; no request may see another's
                AdapterSettings mine = AdapterSettings.of(List.of("stable" + (reader % 4), "stable" + ((reader + 1) % 4)),
                        List.of(AdapterWeight.of(reader), AdapterWeight.of(-reader))).withCallScale(reader + 0.5);
                await(start);
                long lastVersion = -1;
                while (writing.get() || reads.get() < READERS * 100) {
                    try {
                        RegistrySnapshot s = registry.snapshot();
                        checkConsistent(s);
                        if (s.version() < lastVersion) {
                            throw new AssertionError("version went back from " + lastVersion + " to " + s.version());
                        }
                        lastVersion = s.version();
                        if (!s.effective(Optional.empty()).equals(s.defaults())) {
                            throw new AssertionError("defaults of one snapshot differ");
                        }
                        AdapterSettings resolved = registry.effective(Optional.of(mine));
                        if (!resolved.equals(mine)) {
                            throw new AssertionError("request settings changed: " + mine + " -> " + resolved);
                        }
                        // an override naming a short-lived adapter: valid or the expected validation error
                        String volatileName = "v" + (lastVersion % ROUNDS);
                        try {
                            AdapterSettings withVolatile = AdapterSettings.of(List.of(volatileName),
                                    List.of(AdapterWeight.of(reader)));
                            if (!s.effective(Optional.of(withVolatile)).equals(withVolatile)) {
                                throw new AssertionError("override changed");
                            }
                            if (!s.adapters().containsKey(volatileName)) {
                                throw new AssertionError("override with unloaded " + volatileName + " accepted");
                            }
                        } catch (IllegalArgumentException e) {
                            if (!e.getMessage().contains(NOT_PRESENT) || s.adapters().containsKey(volatileName)) {
                                throw e;
                            }
                            expectedRejections.incrementAndGet();
                        }
                        registry.adapters().forEach(info -> {
                            if (info.name() == null) {
                                throw new AssertionError("no name");
                            }
                        });
                        registry.getListAdapters();
                        reads.incrementAndGet();
                    } catch (Throwable t) {
                        unexpected.add(t);
                        return;
                    }
                }
            }));
        }

        // writer 1: load, activate, fuse, delete, in rounds
        futures.add(pool.submit(() -> {
            await(start);
            try {
                for (int i = 0; i < ROUNDS; i++) {
                    String name = "v" + i;
                    registry.load(ref(i % 2 == 0 ? "a.safetensors" : "b.safetensors"), name);
                    double weight = i * 0.01;
                    registry.setAdapters(List.of("stable0", name, "stable2"),
                            Collections.nCopies(3, AdapterWeight.of(weight)));
                    if (i % 10 == 0) {
                        registry.fuseLora(new FuseRequest(Set.of(Component.UNET), 0.5, false, List.of(name)));
                    }
                    if (i % 25 == 0) {
                        registry.unfuseLora();
                    }
                    if (i > 0) {
                        registry.deleteAdapters(List.of("v" + (i - 1)));
                    }
                }
            } catch (Throwable t) {
                unexpected.add(t);
            }
        }));

        // writer 2: replaces the defaults and toggles LoRA; may race with deletions (expected validation errors)
        futures.add(pool.submit(() -> {
            await(start);
            try {
                for (int i = 0; i < ROUNDS * 2 && writing.get(); i++) {
                    if (i % 3 == 0) {
                        registry.disableLora();
                    } else if (i % 3 == 1) {
                        registry.enableLora();
                    }
                    List<String> loaded = new ArrayList<>(registry.loadedAdapters().keySet());
                    double weight = -i * 0.001;
                    try {
                        registry.setDefaults(AdapterSettings.of(loaded, Collections.nCopies(loaded.size(),
                                AdapterWeight.of(weight))).withCallScale(weight));
                    } catch (IllegalArgumentException e) {
                        if (!e.getMessage().contains(NOT_PRESENT)) {
                            throw e;
                        }
                        expectedRejections.incrementAndGet();
                    }
                }
            } catch (Throwable t) {
                unexpected.add(t);
            }
        }));

        start.countDown();
        futures.get(READERS).get(120, TimeUnit.SECONDS);
        futures.get(READERS + 1).get(120, TimeUnit.SECONDS);
        writing.set(false);
        for (Future<?> future : futures) {
            future.get(120, TimeUnit.SECONDS);
        }

        if (!unexpected.isEmpty()) {
            AssertionError error = new AssertionError(unexpected.size() + " unexpected failures, first: "
                    + unexpected.get(0), unexpected.get(0));
            unexpected.stream().skip(1).limit(5).forEach(error::addSuppressed);
            throw error;
        }
        RegistrySnapshot end = registry.snapshot();
        checkConsistent(end);
        assertEquals(Set.of("stable0", "stable1", "stable2", "stable3", "v" + (ROUNDS - 1)), end.adapters().keySet());
        assertEquals(backend.held(), end.fused(), "the engine holds what the registry records");
        assertTrue(reads.get() >= READERS * 100);
        long loads = events.stream().filter(e -> e.kind() == AdapterRegistryEvent.Kind.LOADED).count();
        assertEquals(ROUNDS, loads);
        assertTrue(events.size() <= end.version() - startVersion + ROUNDS, "at most one extra event per deletion");
        // every delivered event carries a consistent defaults snapshot too
        for (AdapterRegistryEvent event : events) {
            checkUniform(event.defaults());
        }
    }

    /** Invariants that a torn read would break. */
    private static void checkConsistent(RegistrySnapshot s) {
        for (String active : s.defaults().adapters().keySet()) {
            if (!s.adapters().containsKey(active)) {
                throw new AssertionError("active adapter " + active + " not loaded in " + s);
            }
        }
        for (String fused : s.fusedAdapters()) {
            if (!s.adapters().containsKey(fused)) {
                throw new AssertionError("fused adapter " + fused + " not loaded in " + s);
            }
        }
        if (!s.adapters().keySet().equals(s.sources().keySet())) {
            throw new AssertionError("sources do not match adapters in " + s);
        }
        checkUniform(s.defaults());
    }

    /** Every writer sets one weight for all active adapters (a load sets one adapter to 1.0). */
    private static void checkUniform(AdapterSettings settings) {
        Set<AdapterWeight> weights = new HashSet<>(settings.adapters().values());
        if (weights.size() > 1) {
            throw new AssertionError("torn settings: " + settings);
        }
    }

    @Test
    void concurrentUnnamedLoadsGetDistinctNames() throws Exception {
        int threads = 8;
        int perThread = 25;
        Set<String> names = ConcurrentHashMap.newKeySet();
        CountDownLatch start = new CountDownLatch(1);
        List<Future<?>> futures = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            futures.add(pool.submit(() -> {
                await(start);
                for (int i = 0; i < perThread; i++) {
                    names.add(registry.load(ref("a.safetensors")).name());
                }
                return null;
            }));
        }
        start.countDown();
        for (Future<?> future : futures) {
            future.get(60, TimeUnit.SECONDS);
        }
        assertEquals(threads * perThread, names.size());
        assertEquals(threads * perThread, registry.loadedAdapters().size());
        for (int i = 0; i < threads * perThread; i++) {
            assertTrue(names.contains("default_" + i), "default_" + i);
        }
        assertEquals(1, registry.getActiveAdapters().size());
    }

    @Test
    void concurrentLoadsUnderOneNameRegisterExactlyOne() throws Exception {
        int threads = 8;
        CountDownLatch start = new CountDownLatch(1);
        CountDownLatch allReading = new CountDownLatch(threads);
        loader.duringLoad = () -> {
            allReading.countDown();
            await(allReading);
        };
        AtomicInteger loaded = new AtomicInteger();
        List<String> errors = new CopyOnWriteArrayList<>();
        List<Future<?>> futures = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            futures.add(pool.submit(() -> {
                await(start);
                try {
                    registry.load(ref("b.safetensors"), "same");
                    loaded.incrementAndGet();
                } catch (IllegalArgumentException e) {
                    errors.add(e.getMessage());
                }
            }));
        }
        start.countDown();
        for (Future<?> future : futures) {
            future.get(60, TimeUnit.SECONDS);
        }
        assertEquals(1, loaded.get());
        assertEquals(threads - 1, errors.size());
        assertTrue(errors.stream().allMatch(
                m -> m.equals("Adapter name same already in use in the model - please select a new adapter name.")));
        assertEquals(Map.of("same", AdapterWeight.ONE), registry.defaults().adapters());
        assertFalse(registry.snapshot().version() > 1, "one registration only");
    }

    private static void await(CountDownLatch latch) {
        try {
            if (!latch.await(60, TimeUnit.SECONDS)) {
                throw new AssertionError("latch timed out");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
