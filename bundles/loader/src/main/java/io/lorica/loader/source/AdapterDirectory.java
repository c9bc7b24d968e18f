package io.lorica.loader.source;

import static java.nio.file.StandardWatchEventKinds.ENTRY_CREATE;
import static java.nio.file.StandardWatchEventKinds.ENTRY_DELETE;
import static java.nio.file.StandardWatchEventKinds.ENTRY_MODIFY;

import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A configured folder of LoRA files, scanned for {@code *.safetensors} and watched for changes.
 *
 * <p><b>What is scanned.</b> The files directly in the folder and the files directly in its sub-folders (one level; a
 * Diffusers adapter folder such as {@code style/pytorch_lora_weights.safetensors} therefore shows up). Deeper levels,
 * symbolically linked sub-folders, names starting with {@code .} (hidden or temporary files and folders), names not
 * ending in {@code .safetensors} (so {@code *.part}, {@code *.tmp}, {@code *.safetensors.incomplete} and the like) and
 * empty files are ignored. A symbolic link to a file is listed (its target's size and time are watched); it is only
 * read through {@link AdapterRoots}, which refuses links leaving the roots.
 *
 * <p><b>Names.</b> The path relative to the folder, with {@code /} separators and without the {@code .safetensors}
 * extension: {@code toy.safetensors} is {@code toy}, {@code style/anime.safetensors} is {@code style/anime}. Such a
 * name is a valid {@link io.lorica.api.registry.AdapterReference.DirectoryReference} that {@link AdapterRoots} resolves.
 *
 * <p><b>Watching.</b> A daemon thread waits on a {@link WatchService} (root folder and sub-folders); every wake-up
 * rescans the listing and compares size, modification time and file key with what was published. A change is
 * published only once the file has looked the same for the quiet period (default 200 ms), so a file being written is
 * reported once, after the writer stops; a removal is confirmed the same way. As a safety net (lost events, network
 * file systems, a folder deleted and re-created) the folder is also rescanned every rescan interval (default 10 s).
 * The thread sleeps in {@link WatchService#poll(long, TimeUnit)} with a timeout bounded by the next deadline, and
 * scans at most once per quarter quiet period while events keep arriving; there is no busy loop. Writers that pause longer than the quiet period mid-file cause an early {@code ADDED} followed by a
 * {@code CHANGED}; writing to a temporary name and renaming avoids that.
 *
 * <p>The files present at {@link #open} are published at once, without waiting. Listeners are called on the watcher
 * thread, one event at a time; a listener that throws is logged and does not stop the others. Thread-safe.
 */
public final class AdapterDirectory implements AutoCloseable {

    /** The default time a file must look unchanged before a change is published. */
    public static final Duration DEFAULT_QUIET_PERIOD = Duration.ofMillis(200);

    /** The default interval of full rescans that back up the watch service. */
    public static final Duration DEFAULT_RESCAN_INTERVAL = Duration.ofSeconds(10);

    private static final Logger LOG = LoggerFactory.getLogger(AdapterDirectory.class);
    private static final String EXTENSION = WeightNames.EXTENSION;
    private static final long MIN_WAIT_NANOS = TimeUnit.MILLISECONDS.toNanos(5);
    private static final int MAX_KEYS_PER_WAKE = 1024;
    private static final AtomicInteger THREADS = new AtomicInteger();

    /** What happened to an adapter file. */
    public enum ChangeKind {
        /** A new file appeared (or was present when a listener was added). */
        ADDED,
        /** A known file was rewritten or replaced. */
        CHANGED,
        /** A known file disappeared. */
        REMOVED
    }

    /**
     * One change.
     *
     * @param kind what happened
     * @param name the adapter name (see the class comment)
     * @param path the file, below the directory (for {@link ChangeKind#REMOVED}: where it was)
     */
    public record Change(ChangeKind kind, String name, Path path) {

        /** @throws NullPointerException when a field is null */
        public Change {
            Objects.requireNonNull(kind, "kind");
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(path, "path");
        }
    }

    /** Receives the changes of an {@link AdapterDirectory}. */
    @FunctionalInterface
    public interface Listener {

        /** Called on the watcher thread (or, for the initial replay, on the thread adding the listener). */
        void adapterChanged(Change change);
    }

    /** What one scan saw of a file: equal observations mean "unchanged". */
    private record Observation(Path path, long size, FileTime modified, Object fileKey) {
    }

    private record Pending(Observation observation, long sinceNanos) {
    }

    private final Path directory;
    private final long quietNanos;
    private final long rescanNanos;
    private final long gapNanos;
    private final WatchService watcher;
    private final Thread thread;
    private final List<Listener> listeners = new CopyOnWriteArrayList<>();
    private final Object publishLock = new Object();

    // owned by the watcher thread (and by open() before the thread starts)
    private final Map<String, Pending> pending = new HashMap<>();
    private final Map<Path, WatchKey> keys = new HashMap<>();
    private Map<String, Observation> published = Map.of();

    private volatile Map<String, Path> snapshot = Map.of();
    private volatile boolean closed;

    private AdapterDirectory(Path directory, Duration quietPeriod, Duration rescanInterval) throws IOException {
        this.directory = directory;
        this.quietNanos = quietPeriod.toNanos();
        this.rescanNanos = rescanInterval.toNanos();
        this.gapNanos = Math.max(MIN_WAIT_NANOS, quietNanos / 4);
        this.watcher = directory.getFileSystem().newWatchService();
        try {
            Map<String, Observation> initial = scan();
            published = initial;
            snapshot = toSnapshot(initial);
        } catch (IOException | RuntimeException e) {
            watcher.close();
            throw e;
        }
        this.thread = new Thread(this::watch, "lorica-adapter-directory-" + THREADS.incrementAndGet());
        this.thread.setDaemon(true);
    }

    /** {@link #open(Path, Duration, Duration)} with the default quiet period and rescan interval. */
    public static AdapterDirectory open(Path directory) throws IOException {
        return open(directory, DEFAULT_QUIET_PERIOD, DEFAULT_RESCAN_INTERVAL);
    }

    /**
     * Scans the folder and starts watching it.
     *
     * @param directory      an existing folder
     * @param quietPeriod    how long a file must look unchanged before a change is published (at least 1 ms)
     * @param rescanInterval how often the folder is rescanned even without watch events (at least the quiet period)
     * @throws IOException              when the folder does not exist, is not a folder or cannot be listed or watched
     * @throws IllegalArgumentException when a duration is out of range
     */
    public static AdapterDirectory open(Path directory, Duration quietPeriod, Duration rescanInterval)
            throws IOException {
        Objects.requireNonNull(directory, "directory");
        if (quietPeriod == null || quietPeriod.compareTo(Duration.ofMillis(1)) < 0) {
            throw new IllegalArgumentException("quietPeriod must be at least 1 ms, got " + quietPeriod);
        }
        if (rescanInterval == null || rescanInterval.compareTo(quietPeriod) < 0) {
            throw new IllegalArgumentException("rescanInterval must be at least the quiet period " + quietPeriod
                    + ", got " + rescanInterval);
        }
        Path dir = directory.toAbsolutePath().normalize();
        if (!Files.exists(dir)) {
            throw new NoSuchFileException(dir.toString(), null, "the adapter directory does not exist");
        }
        if (!Files.isDirectory(dir)) {
            throw new NotDirectoryException(dir.toString());
        }
        AdapterDirectory result = new AdapterDirectory(dir, quietPeriod, rescanInterval);
        result.thread.start();
        return result;
    }

    /** The watched folder, absolute and normalised. */
    public Path directory() {
        return directory;
    }

    /** The adapters currently published: name to file, sorted by name, immutable. */
    public Map<String, Path> snapshot() {
        return snapshot;
    }

    /**
     * Adds a listener. It first receives an {@link ChangeKind#ADDED} event for every adapter in the current
     * {@link #snapshot()} (on the calling thread), then every later change, with nothing lost or repeated in between.
     */
    public void addListener(Listener listener) {
        Objects.requireNonNull(listener, "listener");
        synchronized (publishLock) {
            snapshot.forEach((name, path) -> deliver(listener, new Change(ChangeKind.ADDED, name, path)));
            listeners.add(listener);
        }
    }

    /** Removes a listener; it receives no further events once this returns (unless added again). */
    public void removeListener(Listener listener) {
        synchronized (publishLock) {
            listeners.remove(listener);
        }
    }

    /** Whether the watcher thread is still running. */
    public boolean isWatching() {
        return thread.isAlive();
    }

    /** Stops watching and waits (briefly) for the watcher thread to end. Idempotent. */
    @Override
    public void close() {
        closed = true;
        try {
            watcher.close();
        } catch (IOException e) {
            LOG.warn("Closing the watch service of {} failed: {}", directory, e.toString());
        }
        if (Thread.currentThread() != thread) {
            try {
                thread.join(TimeUnit.SECONDS.toMillis(5));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** The watcher thread, for tests. */
    Thread watcherThread() {
        return thread;
    }

    private void watch() {
        long lastScan = System.nanoTime();
        long nextRescan = lastScan + rescanNanos;
        boolean dirty = false;
        try {
            while (!closed) {
                long now = System.nanoTime();
                long wait = nextRescan - now;
                for (Pending p : pending.values()) {
                    wait = Math.min(wait, p.sinceNanos() + quietNanos - now);
                }
                if (dirty) {
                    wait = Math.min(wait, lastScan + gapNanos - now);
                }
                WatchKey key = watcher.poll(Math.max(wait, MIN_WAIT_NANOS), TimeUnit.NANOSECONDS);
                for (int drained = 0; key != null && drained < MAX_KEYS_PER_WAKE; drained++) {
                    dirty |= !key.pollEvents().isEmpty();
                    if (!key.reset()) {
                        dirty = true;
                    }
                    key = watcher.poll();
                }
                now = System.nanoTime();
                boolean due = now - nextRescan >= 0;
                boolean settled = false;
                for (Pending p : pending.values()) {
                    settled |= now - p.sinceNanos() >= quietNanos;
                }
                // at most one scan per gap while events keep coming, so a long copy costs a bounded number of scans
                if ((dirty && now - lastScan >= gapNanos) || due || settled) {
                    rescan(now);
                    lastScan = now;
                    dirty = false;
                }
                if (due) {
                    nextRescan = now + rescanNanos;
                }
            }
        } catch (ClosedWatchServiceException | InterruptedException e) {
            // closing
        } catch (RuntimeException | Error e) {
            if (!closed) {
                LOG.error("Watching the adapter directory {} stopped: {}", directory, e.toString(), e);
            }
        }
    }

    private void rescan(long now) {
        Map<String, Observation> current;
        try {
            current = scan();
        } catch (NoSuchFileException e) {
            current = Map.of();
        } catch (IOException e) {
            LOG.warn("Scanning the adapter directory {} failed, keeping the last state: {}", directory, e.toString());
            return;
        }
        Set<String> names = new TreeSet<>(current.keySet());
        names.addAll(published.keySet());
        names.addAll(pending.keySet());
        List<Change> changes = new ArrayList<>();
        Map<String, Observation> next = new HashMap<>(published);
        for (String name : names) {
            Observation seen = current.get(name);
            Observation known = published.get(name);
            if (Objects.equals(seen, known)) {
                pending.remove(name);
                continue;
            }
            Pending waiting = pending.get(name);
            if (waiting == null || !Objects.equals(waiting.observation(), seen)) {
                pending.put(name, new Pending(seen, now));
                continue;
            }
            if (now - waiting.sinceNanos() < quietNanos) {
                continue;
            }
            pending.remove(name);
            if (seen == null) {
                next.remove(name);
                changes.add(new Change(ChangeKind.REMOVED, name, known.path()));
            } else {
                next.put(name, seen);
                changes.add(new Change(known == null ? ChangeKind.ADDED : ChangeKind.CHANGED, name, seen.path()));
            }
        }
        if (!changes.isEmpty()) {
            publish(next, changes);
        }
    }

    private void publish(Map<String, Observation> next, List<Change> changes) {
        synchronized (publishLock) {
            published = next;
            snapshot = toSnapshot(next);
            for (Change change : changes) {
                LOG.debug("Adapter directory {}: {} {}", directory, change.kind(), change.name());
                for (Listener listener : listeners) {
                    deliver(listener, change);
                }
            }
        }
    }

    private void deliver(Listener listener, Change change) {
        try {
            listener.adapterChanged(change);
        } catch (RuntimeException e) {
            LOG.warn("Adapter directory listener {} failed on {}: {}", listener, change, e.toString(), e);
        }
    }

    /** Lists the folder and its sub-folders, (re-)registering the folders with the watch service. */
    private Map<String, Observation> scan() throws IOException {
        Map<String, Observation> found = new HashMap<>();
        register(directory);
        Set<Path> folders = new HashSet<>();
        folders.add(directory);
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(directory)) {
            for (Path entry : entries) {
                String fileName = entry.getFileName().toString();
                if (fileName.startsWith(".")) {
                    continue;
                }
                if (Files.isDirectory(entry, LinkOption.NOFOLLOW_LINKS)) {
                    folders.add(entry);
                    register(entry);
                    scanFolder(entry, fileName + "/", found);
                } else {
                    observe(entry, "", found);
                }
            }
        }
        for (Iterator<Map.Entry<Path, WatchKey>> it = keys.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Path, WatchKey> entry = it.next();
            if (!folders.contains(entry.getKey()) || !entry.getValue().isValid()) {
                entry.getValue().cancel();
                it.remove();
            }
        }
        return found;
    }

    private void scanFolder(Path folder, String prefix, Map<String, Observation> found) {
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(folder)) {
            for (Path entry : entries) {
                if (!entry.getFileName().toString().startsWith(".")) {
                    observe(entry, prefix, found);
                }
            }
        } catch (IOException e) {
            // removed or unreadable while scanning: its files count as absent until the next scan
            LOG.debug("Cannot list {}: {}", folder, e.toString());
        }
    }

    private static void observe(Path file, String prefix, Map<String, Observation> found) {
        String fileName = file.getFileName().toString();
        if (!fileName.endsWith(EXTENSION) || fileName.length() == EXTENSION.length()) {
            return;
        }
        BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(file, BasicFileAttributes.class);
        } catch (IOException e) {
            return; // vanished, or a dangling link
        }
        if (attributes.isRegularFile() && attributes.size() > 0) {
            String name = prefix + fileName.substring(0, fileName.length() - EXTENSION.length());
            found.put(name, new Observation(file, attributes.size(), attributes.lastModifiedTime(),
                    attributes.fileKey()));
        }
    }

    private void register(Path folder) throws IOException {
        WatchKey key = keys.get(folder);
        if (key != null && key.isValid()) {
            return;
        }
        try {
            keys.put(folder, folder.register(watcher, ENTRY_CREATE, ENTRY_DELETE, ENTRY_MODIFY));
        } catch (NoSuchFileException | NotDirectoryException e) {
            if (folder.equals(directory)) {
                throw e;
            }
        }
    }

    private static Map<String, Path> toSnapshot(Map<String, Observation> observations) {
        Map<String, Path> sorted = new TreeMap<>();
        observations.forEach((name, observation) -> sorted.put(name, observation.path()));
        return Collections.unmodifiableMap(sorted);
    }
}
