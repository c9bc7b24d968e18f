package io.lorica.loader.source;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.ConnectException;
import java.net.ProxySelector;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLEncoder;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.UnresolvedAddressException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lorica.api.registry.AdapterReference.HubReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fetches hub files that the {@link HubCache} lacks, over HTTP, into the same cache layout.
 *
 * <p><b>Request.</b> {@code GET <endpoint>/<org>/<name>/resolve/<revision>/<weight_name>} (the revision
 * percent-encoded as one segment, so {@code refs/pr/1} works), redirects followed by hand (at most 5; the bearer token
 * is only sent to the endpoint's own scheme, host and port, never to a CDN it redirects to). Without a weight name the
 * repository listing {@code <endpoint>/api/models/<org>/<name>/revision/<revision>} is read and the file chosen as
 * Diffusers' {@code _best_guess_weight_name} does (top-level {@code .safetensors} files only, see {@link HubCache}); the
 * file is then fetched at the listed commit.
 *
 * <p><b>Into the cache.</b> The body is written to {@code blobs/<etag-or-sha256>.<random>.incomplete} while its SHA-256
 * is computed, then atomically renamed to {@code blobs/<etag>} ({@code X-Linked-Etag} or {@code ETag} of the first
 * response, as {@code huggingface_hub} does; the SHA-256 when there is none or it is not a safe name). A 64-digit
 * hexadecimal etag is the hub's SHA-256 of an LFS file and is verified. The snapshot entry
 * {@code snapshots/<commit>/<weight_name>} becomes a relative link to the blob (where links are not supported, the
 * blob is moved there instead, as {@code huggingface_hub} does), created under a temporary name and renamed into
 * place; {@code refs/<revision>} is written the same way unless the revision is itself a commit hash. The commit is
 * the {@code X-Repo-Commit} header, else the revision when it is a commit hash or a single safe name.
 *
 * <p><b>Limits.</b> A connect timeout; a read timeout, applied both to waiting for the response headers and to any
 * pause while the body arrives; a maximum size (checked against {@code Content-Length} up front and against the bytes
 * received); a body shorter than its {@code Content-Length} or {@code X-Linked-Size} is a failure.
 *
 * <p><b>Failures</b> throw {@link HubDownloadException} naming the repository, file, endpoint and cause, and remove
 * everything the attempt created (temporary files, a blob not yet linked, empty folders). With {@code offline} set,
 * every download fails at once without touching the network. Thread-safe; concurrent {@link #resolve} calls for the
 * same file download it once.
 */
public final class HubDownloader {

    /** The public Hugging Face Hub. */
    public static final URI DEFAULT_ENDPOINT = URI.create("https://huggingface.co");

    /** Default time to establish a connection. */
    public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(5);

    /** Default time to wait for response headers, and for more body bytes. */
    public static final Duration DEFAULT_READ_TIMEOUT = Duration.ofSeconds(30);

    /** Default maximum file size: 4 GiB (large SDXL LoRAs are below 2 GiB). */
    public static final long DEFAULT_MAX_BYTES = 4L << 30;

    static final int MAX_REDIRECTS = 5;
    static final long MAX_LISTING_BYTES = 16L << 20;

    private static final Logger LOG = LoggerFactory.getLogger(HubDownloader.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
    private static final String INCOMPLETE = ".incomplete";
    private static final String USER_AGENT = "lorica/0.1; java.net.http";

    private final HubCache cache;
    private final URI endpoint;
    private final String endpointText;
    private final Duration connectTimeout;
    private final Duration readTimeout;
    private final long maxBytes;
    private final String token;
    private final boolean offline;
    private final HttpClient client;
    private final ConcurrentHashMap<String, Object> locks = new ConcurrentHashMap<>();

    private HubDownloader(Builder builder) {
        this.cache = builder.cache;
        this.endpoint = builder.endpoint;
        this.endpointText = builder.endpoint.toString();
        this.connectTimeout = builder.connectTimeout;
        this.readTimeout = builder.readTimeout;
        this.maxBytes = builder.maxBytes;
        this.token = builder.token;
        this.offline = builder.offline;
        HttpClient.Builder http = HttpClient.newBuilder()
                .connectTimeout(connectTimeout)
                .followRedirects(HttpClient.Redirect.NEVER);
        ProxySelector proxies = ProxySelector.getDefault();
        if (proxies != null) {
            http.proxy(proxies);
        }
        this.client = offline ? null : http.build();
    }

    /** A builder writing into {@code cache}, with the defaults (public hub, 5 s / 30 s, 4 GiB, no token, online). */
    public static Builder builder(HubCache cache) {
        return new Builder(cache);
    }

    /** The cache files are written into. */
    public HubCache cache() {
        return cache;
    }

    /** The hub endpoint, without a trailing slash. */
    public URI endpoint() {
        return endpoint;
    }

    /** The connect timeout. */
    public Duration connectTimeout() {
        return connectTimeout;
    }

    /** The read timeout (response headers, and every pause in the body). */
    public Duration readTimeout() {
        return readTimeout;
    }

    /** The maximum file size in bytes. */
    public long maxBytes() {
        return maxBytes;
    }

    /** Whether a bearer token is configured (the token itself is never exposed). */
    public boolean hasToken() {
        return token != null;
    }

    /** Whether downloads are disabled. */
    public boolean offline() {
        return offline;
    }

    /**
     * The cached file of a reference, downloading it first when the cache lacks it.
     *
     * @return the real path of the file in the cache
     * @throws IllegalArgumentException as {@link HubCache#find} (ambiguous weight name, entry leaving the cache)
     * @throws HubDownloadException     when the file is not cached and cannot be downloaded (or downloads are off)
     */
    public Path resolve(HubReference reference) {
        Optional<Path> cached = cache.find(reference);
        if (cached.isPresent()) {
            return cached.get();
        }
        Object lock = locks.computeIfAbsent(reference.describe(), key -> new Object());
        try {
            synchronized (lock) {
                return cache.find(reference).orElseGet(() -> download(reference));
            }
        } finally {
            locks.remove(reference.describe(), lock);
        }
    }

    /**
     * Downloads the file of a reference into the cache, replacing a cached copy.
     *
     * @return the real path of the file in the cache
     * @throws HubDownloadException when downloads are off or the download fails; nothing partial is left behind
     */
    public Path download(HubReference reference) {
        Objects.requireNonNull(reference, "reference");
        String repoId = reference.repoId();
        String revision = HubCache.revisionOf(reference);
        String file = reference.weightName().orElse("(weight name to infer)");
        if (offline) {
            throw failure(reference, file, "downloads are disabled (offline mode), and the hub cache "
                    + cache.directory() + " does not hold the file", new IOException("offline mode"));
        }
        try {
            String weightName;
            String fetchRevision = revision;
            if (reference.weightName().isPresent()) {
                weightName = reference.weightName().get();
            } else {
                Listing listing = list(repoId, revision);
                weightName = listing.weightName();
                file = weightName;
                if (listing.commit() != null) {
                    fetchRevision = listing.commit();
                }
            }
            return fetchIntoCache(reference, weightName, revision, fetchRevision);
        } catch (HubDownloadException e) {
            throw e;
        } catch (IOException e) {
            throw failure(reference, file, describe(e), e);
        }
    }

    @Override
    public String toString() {
        return "HubDownloader[endpoint=" + endpointText + ", cache=" + cache.directory() + ", offline=" + offline
                + ", token=" + (token == null ? "none" : "set") + "]";
    }

    // ---------------------------------------------------------------------------------------------------------------

    private record Listing(String weightName, String commit) {
    }

    private Listing list(String repoId, String revision) throws IOException {
        URI uri = URI.create(endpointText + "/api/models/" + repoId + "/revision/" + encode(revision));
        Transfer transfer = new Transfer();
        fetch(uri, transfer, info -> Sink.memory(MAX_LISTING_BYTES));
        JsonNode root;
        try {
            root = JSON.readTree(transfer.sink.memory.toByteArray());
        } catch (IOException e) {
            throw new IOException("the repository listing " + uri + " is not JSON: " + e.getMessage(), e);
        }
        List<String> names = new ArrayList<>();
        for (JsonNode sibling : root.path("siblings")) {
            String name = sibling.path("rfilename").asText("");
            if (!name.isEmpty() && !name.contains("/")) {
                names.add(name);
            }
        }
        String weightName = WeightNames.infer(names).orElseThrow(() -> new IOException(
                "no weight_name was given and the repository " + WeightNames.describeChoice(names)));
        String sha = root.path("sha").asText("");
        return new Listing(weightName, HubCache.COMMIT_HASH.matcher(sha).matches() ? sha : null);
    }

    private Path fetchIntoCache(HubReference reference, String weightName, String revision, String fetchRevision)
            throws IOException {
        String repoId = reference.repoId();
        URI uri = URI.create(endpointText + "/" + repoId + "/resolve/" + encode(fetchRevision) + "/"
                + encodePath(weightName));
        Path repo = cache.repoFolder(repoId);
        Path blobs = repo.resolve("blobs");
        Deque<Path> created = new ArrayDeque<>();
        Transfer transfer = new Transfer();
        Deque<Path> createdFiles = new ArrayDeque<>();
        boolean done = false;
        long started = System.nanoTime();
        LOG.info("Downloading {} from {} into {}", reference.describe(), endpointText, cache.directory());
        try {
            createDirectories(blobs, created);
            fetch(uri, transfer, info -> Sink.file(blobs, transfer.etag != null ? transfer.etag : "download",
                    maxBytes));
            Sink sink = transfer.sink;
            String sha256 = sink.sha256();
            if (transfer.etag != null && SHA256.matcher(transfer.etag).matches() && !transfer.etag.equals(sha256)) {
                throw new IOException("checksum mismatch: the hub announced SHA-256 " + transfer.etag
                        + " but the received " + sink.count + " bytes hash to " + sha256);
            }
            String commit = commitFor(revision, fetchRevision, transfer.commit);
            Path blob = blobs.resolve(transfer.etag != null ? transfer.etag : sha256);
            if (!Files.exists(blob, LinkOption.NOFOLLOW_LINKS)) {
                createdFiles.push(blob);
            }
            moveAtomically(sink.file, blob);
            sink.file = null;

            Path snapshot = cache.snapshotFolder(repoId, commit);
            Path entry = snapshot.resolve(weightName).normalize();
            if (!entry.startsWith(snapshot)) {
                throw new IOException("weight name '" + weightName + "' leaves the snapshot folder " + snapshot);
            }
            createDirectories(entry.getParent(), created);
            if (!Files.exists(entry, LinkOption.NOFOLLOW_LINKS)) {
                createdFiles.push(entry);
            }
            if (!link(entry, blob)) {
                moveAtomically(blob, entry);
            }
            if (!HubCache.COMMIT_HASH.matcher(revision).matches()) {
                Path refs = repo.resolve("refs");
                Path ref = refs.resolve(revision).normalize();
                if (!ref.startsWith(refs)) {
                    throw new IOException("revision '" + revision + "' leaves the refs folder " + refs);
                }
                createDirectories(ref.getParent(), created);
                writeAtomically(ref, commit);
            }
            Path result = cache.resolve(new HubReference(repoId, Optional.of(weightName), Optional.of(revision)));
            done = true;
            LOG.info("Downloaded {} ({} bytes, commit {}) in {} ms", reference.describe(), sink.count, commit,
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
            return result;
        } catch (IOException e) {
            throw failure(reference, weightName, describe(e), e);
        } catch (RuntimeException e) {
            throw failure(reference, weightName, describe(e), new IOException(e.toString(), e));
        } finally {
            if (!done) {
                Sink sink = transfer.sink;
                if (sink != null) {
                    sink.discard();
                }
                while (!createdFiles.isEmpty()) {
                    deleteQuietly(createdFiles.pop());
                }
                while (!created.isEmpty()) {
                    deleteQuietly(created.pop());
                }
            }
        }
    }

    /** Redirect-following GET into a sink; fills {@code transfer} with the sink and the hub's metadata. */
    private void fetch(URI start, Transfer transfer, SinkFactory factory) throws IOException {
        URI uri = start;
        for (int hop = 0; ; hop++) {
            HttpRequest.Builder request = HttpRequest.newBuilder(uri)
                    .timeout(readTimeout)
                    .header("User-Agent", USER_AGENT)
                    .GET();
            if ("http".equalsIgnoreCase(uri.getScheme())) {
                request.version(HttpClient.Version.HTTP_1_1);
            }
            if (token != null && sameOrigin(uri, endpoint)) {
                request.header("Authorization", "Bearer " + token);
            }
            AtomicReference<Sink> current = new AtomicReference<>();
            HttpResponse.BodyHandler<Void> handler = info -> {
                transfer.collect(info.headers());
                Sink sink;
                if (info.statusCode() != 200) {
                    sink = Sink.discarding();
                } else {
                    long length = longHeader(info.headers(), "Content-Length");
                    sink = factory.create(info);
                    transfer.sink = sink;
                    if (length > sink.limit) {
                        sink.fail(new IOException("the file has " + length
                                + " bytes (Content-Length), more than the maximum of " + sink.limit + " bytes"));
                    }
                }
                current.set(sink);
                return sink;
            };
            HttpResponse<Void> response = await(client.sendAsync(request.build(), handler), current);
            Sink sink = current.get();
            int status = response.statusCode();
            if (status == 200) {
                long expected = longHeader(response.headers(), "Content-Length");
                if (expected >= 0 && sink.count != expected) {
                    throw new IOException("truncated body: received " + sink.count + " of " + expected
                            + " bytes (Content-Length)");
                }
                if (transfer.linkedSize >= 0 && sink.memory == null && sink.count != transfer.linkedSize) {
                    throw new IOException("truncated body: received " + sink.count + " of " + transfer.linkedSize
                            + " bytes (X-Linked-Size)");
                }
                return;
            }
            if (status >= 300 && status < 400 && status != 304) {
                Optional<String> location = response.headers().firstValue("Location");
                if (location.isEmpty()) {
                    throw new IOException("HTTP " + status + " from " + uri + " without a Location header");
                }
                if (hop >= MAX_REDIRECTS) {
                    throw new IOException("more than " + MAX_REDIRECTS + " redirects, the last to " + location.get());
                }
                uri = redirectTarget(uri, location.get());
                continue;
            }
            throw new IOException(httpError(status, response.headers(), uri));
        }
    }

    private HttpResponse<Void> await(CompletableFuture<HttpResponse<Void>> future, AtomicReference<Sink> current)
            throws IOException {
        long startedAt = System.nanoTime();
        long readNanos = readTimeout.toNanos();
        long headerNanos = connectTimeout.toNanos() + readNanos + TimeUnit.SECONDS.toNanos(1);
        long pollNanos = Math.max(TimeUnit.MILLISECONDS.toNanos(10),
                Math.min(readNanos / 4, TimeUnit.MILLISECONDS.toNanos(250)));
        while (true) {
            try {
                return future.get(pollNanos, TimeUnit.NANOSECONDS);
            } catch (TimeoutException e) {
                Sink sink = current.get();
                long now = System.nanoTime();
                if (sink == null ? now - startedAt > headerNanos : now - sink.lastProgress > readNanos) {
                    HttpTimeoutException timeout = new HttpTimeoutException(sink == null
                            ? "no response within " + readTimeout.toMillis() + " ms"
                            : "no data for " + readTimeout.toMillis() + " ms after " + sink.count + " bytes");
                    if (sink != null) {
                        sink.fail(timeout);
                    }
                    future.cancel(true);
                    throw timeout;
                }
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                while (cause instanceof CompletionException && cause.getCause() != null) {
                    cause = cause.getCause();
                }
                if (cause instanceof IOException io) {
                    throw io;
                }
                throw new IOException(cause == null ? e.toString() : cause.toString(), cause);
            } catch (InterruptedException e) {
                future.cancel(true);
                Sink sink = current.get();
                if (sink != null) {
                    sink.fail(new InterruptedIOException("interrupted"));
                }
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while downloading");
            }
        }
    }

    private String httpError(int status, HttpHeaders headers, URI uri) {
        String hubMessage = headers.firstValue("X-Error-Message").map(HubDownloader::oneLine).orElse(null);
        String code = headers.firstValue("X-Error-Code").map(HubDownloader::oneLine).orElse(null);
        String detail = (code == null ? "" : " " + code) + (hubMessage == null ? "" : " (" + hubMessage + ")");
        String where = sameOrigin(uri, endpoint) ? "" : " from " + uri.getScheme() + "://" + uri.getAuthority();
        switch (status) {
            case 401:
            case 403:
                return "HTTP " + status + detail + where + ": " + (token == null
                        ? "authentication required; the repository may be private or gated, set a token"
                        : "the token was refused or lacks access to this repository");
            case 404:
                return "HTTP 404" + detail + where + ": the repository, revision or file does not exist"
                        + (token == null ? " (or is private: set a token)" : "");
            default:
                return "HTTP " + status + detail + where;
        }
    }

    private String failureMessage(HubReference reference, String file, String cause) {
        String revision = HubCache.revisionOf(reference);
        String place = cache.repoFolder(reference.repoId()) + "/snapshots/<commit>/"
                + (file.startsWith("(") ? "<weight_name>" : file)
                + (HubCache.COMMIT_HASH.matcher(revision).matches() ? "" : ", refs/" + revision + " holding <commit>");
        return "cannot download '" + file + "' of hub repository '" + reference.repoId() + "' (revision " + revision
                + ") from " + endpointText + ": " + cause + "; offline? set the endpoint or place the file in "
                + cache.directory() + " (at " + place + ")";
    }

    private HubDownloadException failure(HubReference reference, String file, String cause, IOException e) {
        String message = failureMessage(reference, file, cause);
        LOG.debug("{}", message);
        return new HubDownloadException(reference.repoId(), file, endpointText, message, e);
    }

    private static String commitFor(String revision, String fetchRevision, String header) throws IOException {
        if (HubCache.COMMIT_HASH.matcher(fetchRevision).matches()) {
            return fetchRevision;
        }
        if (header != null) {
            return header;
        }
        if (HubCache.SAFE_SEGMENT.matcher(revision).matches() && !revision.contains("..")) {
            return revision;
        }
        throw new IOException("the endpoint sent no X-Repo-Commit header, and revision '" + revision
                + "' cannot name a snapshot folder");
    }

    private boolean link(Path entry, Path blob) throws IOException {
        Path temp = entry.resolveSibling("." + entry.getFileName() + "." + UUID.randomUUID() + INCOMPLETE);
        try {
            Files.createSymbolicLink(temp, entry.getParent().relativize(blob));
        } catch (UnsupportedOperationException | FileSystemException e) {
            LOG.debug("Symbolic links unavailable in {} ({}), moving the blob instead", entry.getParent(),
                    e.toString());
            return false;
        }
        try {
            moveAtomically(temp, entry);
            return true;
        } finally {
            deleteQuietly(temp);
        }
    }

    private static void writeAtomically(Path target, String content) throws IOException {
        Path temp = target.resolveSibling("." + target.getFileName() + "." + UUID.randomUUID() + INCOMPLETE);
        try {
            Files.writeString(temp, content, StandardCharsets.UTF_8);
            moveAtomically(temp, target);
        } finally {
            deleteQuietly(temp);
        }
    }

    private static void moveAtomically(Path source, Path target) throws IOException {
        try {
            Files.move(source, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(source, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /**
     * Creates the missing folders of {@code dir}, remembering each one created (innermost on top). The deepest existing
     * folder inside the cache must not lead out of it, so nothing is created outside through a planted link.
     */
    private void createDirectories(Path dir, Deque<Path> created) throws IOException {
        List<Path> missing = new ArrayList<>();
        Path existing = dir;
        while (existing != null && !Files.isDirectory(existing)) {
            missing.add(0, existing);
            existing = existing.getParent();
        }
        if (existing != null && existing.startsWith(cache.directory())) {
            checkInsideCache(existing);
        }
        for (Path p : missing) {
            Files.createDirectory(p);
            created.push(p);
        }
    }

    private void checkInsideCache(Path dir) throws IOException {
        Path real = dir.toRealPath();
        Path realCache = cache.directory().toRealPath();
        if (!real.startsWith(realCache)) {
            throw new IOException("the cache folder " + dir + " leads to " + real + ", outside the hub cache "
                    + cache.directory());
        }
    }

    private static void deleteQuietly(Path path) {
        if (path == null) {
            return;
        }
        try {
            Files.deleteIfExists(path);
        } catch (DirectoryNotEmptyException e) {
            // a folder someone else filled meanwhile
        } catch (IOException e) {
            LOG.warn("Cannot remove {} after a failed download: {}", path, e.toString());
        }
    }

    private static boolean sameOrigin(URI a, URI b) {
        return a.getScheme().equalsIgnoreCase(b.getScheme()) && a.getHost() != null
                && a.getHost().equalsIgnoreCase(b.getHost()) && port(a) == port(b);
    }

    private static int port(URI uri) {
        if (uri.getPort() >= 0) {
            return uri.getPort();
        }
        return "https".equalsIgnoreCase(uri.getScheme()) ? 443 : 80;
    }

    private static URI redirectTarget(URI from, String location) throws IOException {
        URI target;
        try {
            target = from.resolve(new URI(location.strip()));
        } catch (URISyntaxException | IllegalArgumentException e) {
            throw new IOException("redirect to an invalid location '" + oneLine(location) + "'", e);
        }
        String scheme = target.getScheme();
        if (scheme == null || !(scheme.equalsIgnoreCase("https") || scheme.equalsIgnoreCase("http"))
                || target.getHost() == null) {
            throw new IOException("redirect to an unsupported location '" + oneLine(location) + "'");
        }
        if (from.getScheme().equalsIgnoreCase("https") && scheme.equalsIgnoreCase("http")) {
            throw new IOException("redirect from https to plain http (" + oneLine(location) + ") refused");
        }
        return target;
    }

    private static String encode(String segment) {
        return URLEncoder.encode(segment, StandardCharsets.UTF_8).replace("+", "%20");
    }

    private static String encodePath(String path) {
        StringBuilder out = new StringBuilder();
        for (String segment : path.split("/", -1)) {
            if (out.length() > 0) {
                out.append('/');
            }
            out.append(encode(segment));
        }
        return out.toString();
    }

    private static String oneLine(String text) {
        return oneLine(text, 200);
    }

    private static String oneLine(String text, int max) {
        String flat = text.replaceAll("[\\p{Cntrl}]+", " ").strip();
        return flat.length() > max ? flat.substring(0, max) + "..." : flat;
    }

    /** The cause chain in a few words, with hints for the usual network failures. */
    static String describe(Throwable failure) {
        List<String> parts = new ArrayList<>();
        int depth = 0;
        for (Throwable t = failure; t != null && depth < 4; t = t.getCause(), depth++) {
            String hint = null;
            if (t instanceof UnresolvedAddressException || t instanceof UnknownHostException) {
                hint = "the host name cannot be resolved (DNS)";
            } else if (t instanceof HttpConnectTimeoutException) {
                hint = "connect timed out";
            } else if (t instanceof ConnectException) {
                hint = "cannot connect";
            } else if (t instanceof HttpTimeoutException) {
                hint = "timed out";
            }
            String message = t.getMessage();
            String text = message == null || message.isBlank() ? t.getClass().getSimpleName()
                    : t.getClass() == IOException.class || hint != null ? message
                    : t.getClass().getSimpleName() + ": " + message;
            if (hint != null) {
                text = hint + " (" + text + ")";
            }
            if (parts.stream().noneMatch(p -> p.contains(message == null ? "\0" : message))) {
                parts.add(text);
            }
        }
        return oneLine(String.join(" <- ", parts), 600);
    }

    private static long longHeader(HttpHeaders headers, String name) {
        try {
            return headers.firstValueAsLong(name).orElse(-1);
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    // ---------------------------------------------------------------------------------------------------------------

    @FunctionalInterface
    private interface SinkFactory {
        Sink create(HttpResponse.ResponseInfo info);
    }

    /** What the responses of one fetch said, first values winning (the hub's own response comes first). */
    private static final class Transfer {
        volatile Sink sink;
        volatile String commit;
        volatile String etag;
        volatile long linkedSize = -1;

        void collect(HttpHeaders headers) {
            if (commit == null) {
                headers.firstValue("X-Repo-Commit").map(String::strip)
                        .filter(c -> HubCache.SAFE_SEGMENT.matcher(c).matches() && !c.contains(".."))
                        .ifPresent(c -> commit = c);
            }
            if (etag == null) {
                headers.firstValue("X-Linked-Etag").or(() -> headers.firstValue("ETag"))
                        .map(Transfer::normaliseEtag)
                        .filter(e -> HubCache.SAFE_SEGMENT.matcher(e).matches() && !e.contains("..")
                                && !e.endsWith(INCOMPLETE))
                        .ifPresent(e -> etag = e);
            }
            if (linkedSize < 0) {
                headers.firstValueAsLong("X-Linked-Size").ifPresent(size -> linkedSize = size);
            }
        }

        private static String normaliseEtag(String raw) {
            String etag = raw.strip();
            if (etag.startsWith("W/")) {
                etag = etag.substring(2);
            }
            if (etag.length() >= 2 && etag.startsWith("\"") && etag.endsWith("\"")) {
                etag = etag.substring(1, etag.length() - 1);
            }
            return etag.toLowerCase(Locale.ROOT);
        }
    }

    /**
     * A body subscriber writing to a temporary blob file (or memory), computing its SHA-256, enforcing a size limit
     * and recording when bytes last arrived. A sink for a non-200 response discards the body at once.
     */
    private static final class Sink implements HttpResponse.BodySubscriber<Void> {

        private final CompletableFuture<Void> result = new CompletableFuture<>();
        private final long limit;
        private final boolean discard;
        private final MessageDigest digest;
        private final ByteArrayOutputStream memory;
        private FileChannel channel;
        private volatile Path file;
        private Flow.Subscription subscription;
        private volatile long count;
        private volatile long lastProgress = System.nanoTime();

        private Sink(long limit, boolean discard, Path file, ByteArrayOutputStream memory) {
            this.limit = limit;
            this.discard = discard;
            this.file = file;
            this.memory = memory;
            MessageDigest sha;
            try {
                sha = MessageDigest.getInstance("SHA-256");
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException("SHA-256 is not available", e);
            }
            this.digest = sha;
        }

        static Sink discarding() {
            return new Sink(0, true, null, null);
        }

        static Sink memory(long limit) {
            return new Sink(limit, false, null, new ByteArrayOutputStream());
        }

        /** A sink writing to a fresh {@code <prefix>.<random>.incomplete} file in {@code blobs}. */
        static Sink file(Path blobs, String prefix, long limit) {
            Sink sink;
            try {
                Path temp = Files.createTempFile(blobs, prefix + ".", INCOMPLETE);
                sink = new Sink(limit, false, temp, null);
                sink.channel = FileChannel.open(temp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
            } catch (IOException e) {
                sink = new Sink(0, false, null, null);
                sink.fail(new IOException("cannot create a temporary file in " + blobs + ": " + e, e));
            }
            return sink;
        }

        @Override
        public synchronized void onSubscribe(Flow.Subscription s) {
            if (result.isDone() || discard) {
                s.cancel();
                result.complete(null);
                closeChannel();
                return;
            }
            subscription = s;
            lastProgress = System.nanoTime();
            s.request(1);
        }

        @Override
        public synchronized void onNext(List<ByteBuffer> buffers) {
            if (result.isDone()) {
                return;
            }
            try {
                for (ByteBuffer buffer : buffers) {
                    int n = buffer.remaining();
                    if (count + n > limit) {
                        throw new IOException("the file exceeds the maximum of " + limit + " bytes");
                    }
                    digest.update(buffer.duplicate());
                    if (memory != null) {
                        byte[] bytes = new byte[n];
                        buffer.get(bytes);
                        memory.write(bytes, 0, n);
                    } else {
                        while (buffer.hasRemaining()) {
                            channel.write(buffer);
                        }
                    }
                    count += n;
                }
                lastProgress = System.nanoTime();
                subscription.request(1);
            } catch (IOException e) {
                fail(e);
            }
        }

        @Override
        public synchronized void onError(Throwable throwable) {
            closeChannel();
            result.completeExceptionally(throwable);
        }

        @Override
        public synchronized void onComplete() {
            try {
                if (channel != null) {
                    channel.force(false);
                }
            } catch (IOException e) {
                fail(e);
                return;
            }
            closeChannel();
            result.complete(null);
        }

        @Override
        public CompletionStage<Void> getBody() {
            return result;
        }

        /** Stops the transfer with {@code failure}. */
        synchronized void fail(Throwable failure) {
            if (subscription != null) {
                subscription.cancel();
            }
            closeChannel();
            result.completeExceptionally(failure);
        }

        /** Stops the transfer and deletes the temporary file. */
        synchronized void discard() {
            fail(new IOException("discarded"));
            deleteQuietly(file);
            file = null;
        }

        String sha256() {
            return HexFormat.of().formatHex(digest.digest());
        }

        private void closeChannel() {
            if (channel != null) {
                try {
                    channel.close();
                } catch (IOException e) {
                    LOG.debug("Closing {} failed: {}", file, e.toString());
                }
                channel = null;
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------------

    /** Configures a {@link HubDownloader}. */
    public static final class Builder {

        private final HubCache cache;
        private URI endpoint = DEFAULT_ENDPOINT;
        private Duration connectTimeout = DEFAULT_CONNECT_TIMEOUT;
        private Duration readTimeout = DEFAULT_READ_TIMEOUT;
        private long maxBytes = DEFAULT_MAX_BYTES;
        private String token;
        private boolean offline;

        private Builder(HubCache cache) {
            this.cache = Objects.requireNonNull(cache, "cache");
        }

        /**
         * The hub endpoint, {@code http(s)://host[:port][/prefix]} (default {@code https://huggingface.co}).
         *
         * @throws IllegalArgumentException when it is not an absolute http(s) URI with a host, or has a query or
         *                                  fragment
         */
        public Builder endpoint(String endpoint) {
            if (endpoint == null || endpoint.isBlank()) {
                throw new IllegalArgumentException("endpoint must not be empty, got '" + endpoint + "'");
            }
            try {
                return endpoint(new URI(endpoint.strip()));
            } catch (URISyntaxException e) {
                throw new IllegalArgumentException("endpoint '" + endpoint + "' is not a URI: " + e.getMessage(), e);
            }
        }

        /** As {@link #endpoint(String)}. */
        public Builder endpoint(URI endpoint) {
            Objects.requireNonNull(endpoint, "endpoint");
            String scheme = endpoint.getScheme();
            if (scheme == null || !(scheme.equalsIgnoreCase("http") || scheme.equalsIgnoreCase("https"))
                    || endpoint.getHost() == null || endpoint.getRawQuery() != null
                    || endpoint.getRawFragment() != null || endpoint.getRawUserInfo() != null) {
                throw new IllegalArgumentException("endpoint '" + endpoint
                        + "' must be an http or https URL with a host and no query, fragment or user info");
            }
            String text = endpoint.toString();
            while (text.endsWith("/")) {
                text = text.substring(0, text.length() - 1);
            }
            this.endpoint = URI.create(text);
            return this;
        }

        /** Time to establish a connection (default 5 s). */
        public Builder connectTimeout(Duration timeout) {
            this.connectTimeout = positive("connectTimeout", timeout);
            return this;
        }

        /** Time to wait for response headers, and for more body bytes (default 30 s). */
        public Builder readTimeout(Duration timeout) {
            this.readTimeout = positive("readTimeout", timeout);
            return this;
        }

        /** The largest file accepted, in bytes (default 4 GiB). */
        public Builder maxBytes(long bytes) {
            if (bytes <= 0) {
                throw new IllegalArgumentException("maxBytes must be positive, got " + bytes);
            }
            this.maxBytes = bytes;
            return this;
        }

        /** A bearer token for private or gated repositories; null or blank for none. Never logged. */
        public Builder token(String token) {
            if (token != null && (token.chars().anyMatch(c -> c < 0x21 || c > 0x7e))) {
                throw new IllegalArgumentException("token must be printable ASCII without spaces");
            }
            this.token = token == null || token.isBlank() ? null : token;
            return this;
        }

        /** Whether downloads are disabled (default false): every download then fails at once. */
        public Builder offline(boolean offline) {
            this.offline = offline;
            return this;
        }

        /** The downloader. */
        public HubDownloader build() {
            return new HubDownloader(this);
        }

        private static Duration positive(String name, Duration value) {
            if (value == null || value.isNegative() || value.isZero()) {
                throw new IllegalArgumentException(name + " must be positive, got " + value);
            }
            return value;
        }
    }
}
