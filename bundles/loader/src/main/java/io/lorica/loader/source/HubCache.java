package io.lorica.loader.source;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;

import io.lorica.api.registry.AdapterReference.HubReference;

/**
 * A local cache laid out like the Hugging Face hub cache ({@code HF_HUB_CACHE}, usually
 * {@code ~/.cache/huggingface/hub}), read without network access:
 *
 * <pre>
 * &lt;cache&gt;/models--&lt;org&gt;--&lt;name&gt;/refs/&lt;revision&gt;                  a file holding the commit hash
 * &lt;cache&gt;/models--&lt;org&gt;--&lt;name&gt;/snapshots/&lt;commit&gt;/&lt;weight_name&gt;   the file, usually a link into blobs/
 * &lt;cache&gt;/models--&lt;org&gt;--&lt;name&gt;/blobs/&lt;etag or sha256&gt;            the content
 * </pre>
 *
 * <p>The revision defaults to {@code main}; a revision that is a full commit hash (40 hexadecimal digits) names the
 * snapshot directly, as in {@code huggingface_hub}. Without a weight name the file is chosen as Diffusers'
 * {@code _best_guess_weight_name} does among the {@code .safetensors} files at the top of the snapshot:
 * {@code pytorch_lora_weights.safetensors}, otherwise the only one (names containing "scheduler", "optimizer" or
 * "checkpoint" are skipped); none or several is an error listing the candidates.
 *
 * <p>Repository ids, weight names and revisions are validated by {@link HubReference}; commit hashes read from
 * {@code refs/} must be single safe path segments. Snapshot entries may be links (as the hub library makes them), but
 * their real path must stay inside the cache. Stateless apart from the directory; thread-safe.
 */
public final class HubCache {

    /** The revision used when a reference names none. */
    public static final String DEFAULT_REVISION = "main";

    /** A full commit hash, which names a snapshot without going through {@code refs/}. */
    static final Pattern COMMIT_HASH = Pattern.compile("[0-9a-f]{40}");

    /** What a snapshot folder name (commit) may look like. */
    static final Pattern SAFE_SEGMENT = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");

    private final Path directory;

    /** @param directory the cache folder; it need not exist yet */
    public HubCache(Path directory) {
        this.directory = Objects.requireNonNull(directory, "directory").toAbsolutePath().normalize();
    }

    /** The cache folder, absolute and normalised. */
    public Path directory() {
        return directory;
    }

    /** The folder name of a model repository: {@code models--org--name}. */
    public static String repoFolderName(String repoId) {
        new HubReference(repoId, Optional.empty(), Optional.empty()); // validates
        return "models--" + repoId.replace("/", "--");
    }

    /** The folder of a model repository in this cache (whether or not it exists). */
    public Path repoFolder(String repoId) {
        return directory.resolve(repoFolderName(repoId));
    }

    /** The revision a reference asks for: its own, or {@value #DEFAULT_REVISION}. */
    public static String revisionOf(HubReference reference) {
        return reference.revision().orElse(DEFAULT_REVISION);
    }

    /**
     * The commit a revision points to in this cache: the revision itself when it is a commit hash, otherwise the
     * content of {@code refs/<revision>}.
     *
     * @return the commit, or empty when the cache has no such ref
     * @throws IllegalArgumentException when the ref file holds something that is not a commit
     */
    public Optional<String> commit(String repoId, String revision) {
        HubReference reference = new HubReference(repoId, Optional.empty(), Optional.ofNullable(revision));
        String rev = revisionOf(reference);
        if (COMMIT_HASH.matcher(rev).matches()) {
            return Optional.of(rev);
        }
        Path refs = repoFolder(repoId).resolve("refs");
        Path ref = refs.resolve(rev).normalize();
        if (!ref.startsWith(refs)) {
            throw new IllegalArgumentException("revision '" + rev + "' leaves the refs folder of " + repoId);
        }
        String content;
        try {
            if (Files.exists(ref)) {
                checkInside(repoId, ref);
            }
            content = Files.readString(ref, StandardCharsets.UTF_8).strip();
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            if (!Files.exists(ref)) {
                return Optional.empty();
            }
            throw new IllegalArgumentException("hub cache ref " + ref + " of " + repoId + " cannot be read: " + e, e);
        }
        if (!SAFE_SEGMENT.matcher(content).matches() || content.contains("..")) {
            throw new IllegalArgumentException("hub cache ref " + ref + " of " + repoId
                    + " does not hold a commit hash (found '" + abbreviate(content) + "')");
        }
        return Optional.of(content);
    }

    /**
     * The cached file of a reference, if the cache holds it.
     *
     * @return the real path of the file (links followed, checked to stay in the cache); empty when the ref, the
     *         snapshot or the file is missing, or when no weight name is given and the snapshot holds no
     *         {@code .safetensors} file
     * @throws IllegalArgumentException when no weight name is given and the snapshot holds several candidates, when
     *                                  the cached entry leaves the cache or is not a regular file, or when a ref is
     *                                  malformed
     */
    public Optional<Path> find(HubReference reference) {
        Lookup lookup = lookup(reference);
        return Optional.ofNullable(lookup.path());
    }

    /**
     * The cached file of a reference.
     *
     * @return as {@link #find}
     * @throws IllegalArgumentException as {@link #find}, and when the cache does not hold the file, saying what is
     *                                  missing and where the file would be placed
     */
    public Path resolve(HubReference reference) {
        Lookup lookup = lookup(reference);
        if (lookup.path() == null) {
            throw new IllegalArgumentException("adapter reference '" + reference.describe()
                    + "' is not in the hub cache " + directory + ": " + lookup.missing());
        }
        return lookup.path();
    }

    /**
     * The top-level file names of a snapshot (empty when it does not exist), sorted.
     *
     * @throws IllegalArgumentException when the commit is not a safe folder name
     */
    public List<String> snapshotFiles(String repoId, String commit) {
        Path snapshot = snapshotFolder(repoId, commit);
        List<String> names = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(snapshot)) {
            for (Path entry : entries) {
                names.add(entry.getFileName().toString());
            }
        } catch (IOException e) {
            return List.of();
        }
        names.sort(null);
        return names;
    }

    /** The snapshot folder of a commit: {@code models--org--name/snapshots/<commit>}. */
    public Path snapshotFolder(String repoId, String commit) {
        if (commit == null || !SAFE_SEGMENT.matcher(commit).matches() || commit.contains("..")) {
            throw new IllegalArgumentException("commit '" + commit + "' of " + repoId + " is not a commit hash");
        }
        return repoFolder(repoId).resolve("snapshots").resolve(commit);
    }

    /** The result of a lookup: the file, or why there is none. */
    private record Lookup(Path path, String missing) {
    }

    private Lookup lookup(HubReference reference) {
        Objects.requireNonNull(reference, "reference");
        String repoId = reference.repoId();
        String revision = revisionOf(reference);
        Path repo = repoFolder(repoId);
        Optional<String> commit = commit(repoId, revision);
        if (commit.isEmpty()) {
            return new Lookup(null, Files.isDirectory(repo)
                    ? "no ref '" + revision + "' in " + repo.resolve("refs")
                    : "no folder " + repo);
        }
        Path snapshot = snapshotFolder(repoId, commit.get());
        if (!Files.isDirectory(snapshot)) {
            return new Lookup(null, "revision '" + revision + "' points to commit " + commit.get()
                    + ", but there is no snapshot folder " + snapshot);
        }
        checkInside(repoId, snapshot);
        String weightName;
        if (reference.weightName().isPresent()) {
            weightName = reference.weightName().get();
        } else {
            List<String> names = snapshotFiles(repoId, commit.get());
            Optional<String> inferred = WeightNames.infer(names);
            if (inferred.isEmpty()) {
                String why = "no weight_name was given and the snapshot " + snapshot + " "
                        + WeightNames.describeChoice(names);
                if (WeightNames.candidates(names).isEmpty()) {
                    return new Lookup(null, why);
                }
                throw new IllegalArgumentException("adapter reference '" + reference.describe() + "': " + why);
            }
            weightName = inferred.get();
        }
        Path entry = snapshot.resolve(weightName).normalize();
        if (!entry.startsWith(snapshot)) {
            throw new IllegalArgumentException("weight name '" + weightName + "' leaves the snapshot " + snapshot);
        }
        if (!Files.exists(entry)) {
            return new Lookup(null, Files.exists(entry, java.nio.file.LinkOption.NOFOLLOW_LINKS)
                    ? "the snapshot entry " + entry + " is a dangling link"
                    : "the snapshot " + snapshot + " has no file " + weightName);
        }
        return new Lookup(confine(reference, entry), null);
    }

    private Path confine(HubReference reference, Path entry) {
        Path real;
        Path realCache;
        try {
            real = entry.toRealPath();
            realCache = directory.toRealPath();
        } catch (IOException e) {
            throw new IllegalArgumentException("adapter reference '" + reference.describe() + "': " + entry
                    + " cannot be read: " + e, e);
        }
        if (!real.startsWith(realCache) || real.equals(realCache)) {
            throw new IllegalArgumentException("adapter reference '" + reference.describe() + "' is refused: the "
                    + "cached entry " + entry + " has the real path " + real + " (after following links), which leaves "
                    + "the hub cache " + directory);
        }
        if (!Files.isRegularFile(real)) {
            throw new IllegalArgumentException("adapter reference '" + reference.describe() + "' is refused: the "
                    + "cached entry " + entry + " is not a regular file");
        }
        return real;
    }

    /** Refuses a ref file or snapshot folder whose real path (links followed) leaves the cache. */
    private void checkInside(String repoId, Path path) {
        try {
            Path real = path.toRealPath();
            if (!real.startsWith(directory.toRealPath())) {
                throw new IllegalArgumentException("hub cache entry " + path + " of " + repoId + " has the real path "
                        + real + " (after following links), which leaves the hub cache " + directory);
            }
        } catch (IOException e) {
            throw new IllegalArgumentException("hub cache entry " + path + " of " + repoId + " cannot be read: " + e,
                    e);
        }
    }

    private static String abbreviate(String text) {
        String oneLine = text.replaceAll("\\s+", " ");
        return oneLine.length() > 60 ? oneLine.substring(0, 60) + "..." : oneLine;
    }
}
