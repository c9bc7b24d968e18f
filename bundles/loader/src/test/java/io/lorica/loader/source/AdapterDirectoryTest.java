package io.lorica.loader.source;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import io.lorica.api.registry.AdapterReference.DirectoryReference;
import io.lorica.loader.source.AdapterDirectory.Change;
import io.lorica.loader.source.AdapterDirectory.ChangeKind;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(value = 20, unit = TimeUnit.SECONDS)
class AdapterDirectoryTest {

    /** Short enough to keep tests fast, long enough that a burst of writes 10 ms apart is one change. */
    private static final Duration QUIET = Duration.ofMillis(150);
    private static final Duration DEADLINE = Duration.ofSeconds(5);

    @TempDir
    Path dir;

    private AdapterDirectory directory;
    private final LinkedBlockingQueue<Change> events = new LinkedBlockingQueue<>();

    @BeforeEach
    void setUp() throws IOException {
        write(dir.resolve("existing.safetensors"), 10);
    }

    @AfterEach
    void tearDown() {
        if (directory != null) {
            directory.close();
        }
    }

    @Test
    void open_scansTheFolderAndOneLevelOfSubFolders_ignoringTemporaryHiddenAndOtherFiles() throws IOException {
        write(dir.resolve("style/anime.safetensors"), 10);
        write(dir.resolve("lcm/pytorch_lora_weights.safetensors"), 10);
        write(dir.resolve("deep/er/ignored.safetensors"), 10);
        write(dir.resolve("download.safetensors.part"), 10);
        write(dir.resolve(".hidden.safetensors"), 10);
        write(dir.resolve(".cache/x.safetensors"), 10);
        write(dir.resolve("notes.txt"), 10);
        write(dir.resolve("model.ckpt"), 10);
        write(dir.resolve("empty.safetensors"), 0);

        open();

        Map<String, Path> snapshot = directory.snapshot();
        assertEquals(List.of("existing", "lcm/pytorch_lora_weights", "style/anime"), List.copyOf(snapshot.keySet()));
        assertEquals(dir.resolve("style/anime.safetensors").toAbsolutePath().normalize(), snapshot.get("style/anime"));
        assertThrows(UnsupportedOperationException.class, () -> snapshot.put("x", dir));
        // every snapshot name resolves as a directory reference
        AdapterRoots roots = AdapterRoots.of(dir);
        for (String name : snapshot.keySet()) {
            assertEquals(snapshot.get(name).toRealPath(), roots.resolve(new DirectoryReference(name)));
        }
    }

    @Test
    void addListener_replaysTheCurrentAdaptersAsAdded() throws IOException {
        open();
        Change replayed = events.poll();
        assertNotNull(replayed);
        assertEquals(new Change(ChangeKind.ADDED, "existing", dir.resolve("existing.safetensors")), replayed);
        assertNull(events.poll());
    }

    @Test
    void newFile_isReportedAsAdded() throws Exception {
        open();
        drainReplay();
        Path file = write(dir.resolve("new.safetensors"), 20);
        Change change = next();
        assertEquals(new Change(ChangeKind.ADDED, "new", file), change);
        assertTrue(directory.snapshot().containsKey("new"));
    }

    @Test
    void rewrittenFile_isReportedAsChanged() throws Exception {
        open();
        drainReplay();
        write(dir.resolve("existing.safetensors"), 30);
        Change change = next();
        assertEquals(ChangeKind.CHANGED, change.kind());
        assertEquals("existing", change.name());
    }

    @Test
    void replacedFileOfTheSameSize_isReportedAsChanged() throws Exception {
        open();
        drainReplay();
        Path staged = write(dir.resolve(".staging"), 10);
        Files.move(staged, dir.resolve("existing.safetensors"), StandardCopyOption.REPLACE_EXISTING,
                StandardCopyOption.ATOMIC_MOVE);
        assertEquals(ChangeKind.CHANGED, next().kind());
    }

    @Test
    void deletedFile_isReportedAsRemoved() throws Exception {
        open();
        drainReplay();
        Files.delete(dir.resolve("existing.safetensors"));
        Change change = next();
        assertEquals(new Change(ChangeKind.REMOVED, "existing", dir.resolve("existing.safetensors")), change);
        assertTrue(directory.snapshot().isEmpty());
    }

    @Test
    void fileInASubFolderCreatedLater_isReportedWithItsRelativeName() throws Exception {
        open();
        drainReplay();
        Files.createDirectories(dir.resolve("later"));
        Path file = write(dir.resolve("later/style.safetensors"), 12);
        assertEquals(new Change(ChangeKind.ADDED, "later/style", file), next());
        Files.delete(file);
        assertEquals(ChangeKind.REMOVED, next().kind());
    }

    @Test
    void rapidWrites_areDebouncedIntoOneAddedEventOnceTheFileIsStable() throws Exception {
        open();
        drainReplay();
        Path file = dir.resolve("growing.safetensors");
        try (OutputStream out = Files.newOutputStream(file)) {
            for (int i = 0; i < 10; i++) {
                out.write(new byte[100]);
                out.flush();
                Thread.sleep(10);
            }
        }
        Change change = next();
        assertEquals(ChangeKind.ADDED, change.kind());
        assertEquals(1000, Files.size(change.path()));
        assertQuiet();
    }

    @Test
    void temporaryFileRenamedIntoPlace_isReportedOnceAndTheTemporaryNameNever() throws Exception {
        open();
        drainReplay();
        Path part = write(dir.resolve("big.safetensors.part"), 50);
        Path hidden = write(dir.resolve(".big.safetensors"), 50);
        Files.delete(hidden);
        Files.move(part, dir.resolve("big.safetensors"), StandardCopyOption.ATOMIC_MOVE);
        assertEquals(new Change(ChangeKind.ADDED, "big", dir.resolve("big.safetensors")), next());
        assertQuiet();
    }

    @Test
    void fileThatAppearsAndVanishesWithinTheQuietPeriod_isNotReported() throws Exception {
        open();
        drainReplay();
        Path blip = write(dir.resolve("blip.safetensors"), 10);
        Files.delete(blip);
        assertQuiet();
    }

    @Test
    void removedListener_receivesNothingMore() throws Exception {
        open();
        drainReplay();
        List<Change> other = new ArrayList<>();
        AdapterDirectory.Listener listener = other::add;
        directory.addListener(listener);
        directory.removeListener(listener);
        write(dir.resolve("x.safetensors"), 10);
        next();
        assertEquals(1, other.size(), "only the replay of 'existing'");
    }

    @Test
    void throwingListener_doesNotStopTheOthers() throws Exception {
        open();
        drainReplay();
        directory.addListener(change -> {
            throw new IllegalStateException("listener failure (expected by the test)");
        });
        write(dir.resolve("y.safetensors"), 10);
        assertEquals("y", next().name());
        assertTrue(directory.isWatching());
    }

    @Test
    void close_stopsTheWatcherThread() throws Exception {
        open();
        Thread thread = directory.watcherThread();
        assertTrue(thread.isDaemon());
        directory.close();
        assertFalse(thread.isAlive());
        assertFalse(directory.isWatching());
        directory.close(); // idempotent
    }

    @Test
    void open_onAMissingFolder_fails() {
        assertThrows(NoSuchFileException.class, () -> AdapterDirectory.open(dir.resolve("missing")));
        assertThrows(IllegalArgumentException.class, () -> AdapterDirectory.open(dir, Duration.ZERO, QUIET));
    }

    private void open() throws IOException {
        directory = AdapterDirectory.open(dir, QUIET, Duration.ofSeconds(30));
        directory.addListener(events::add);
    }

    private void drainReplay() {
        events.clear();
    }

    private Change next() throws InterruptedException {
        Change change = events.poll(DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
        if (change == null) {
            fail("no adapter directory event within " + DEADLINE);
        }
        return change;
    }

    /** No further event for a few quiet periods. */
    private void assertQuiet() throws InterruptedException {
        Change extra = events.poll(QUIET.toMillis() * 4, TimeUnit.MILLISECONDS);
        assertNull(extra, () -> "unexpected event " + extra);
    }

    static Path write(Path file, int size) throws IOException {
        Files.createDirectories(file.getParent());
        byte[] bytes = new byte[size];
        for (int i = 0; i < size; i++) {
            bytes[i] = (byte) (i * 31 + size);
        }
        return Files.write(file, bytes);
    }

}
