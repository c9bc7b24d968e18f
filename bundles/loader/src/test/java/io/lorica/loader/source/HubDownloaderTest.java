package io.lorica.loader.source;

import static io.lorica.loader.source.HubCacheTest.COMMIT;
import static io.lorica.loader.source.HubCacheTest.OTHER_COMMIT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import io.lorica.api.registry.AdapterReference.HubReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Every server binds 127.0.0.1 on an ephemeral port; every wait is bounded. */
@Timeout(value = 20, unit = TimeUnit.SECONDS)
class HubDownloaderTest {

    private static final String REPO = "org/name";
    private static final String FILE = "lora.safetensors";
    private static final String PATH = "/org/name/resolve/main/lora.safetensors";
    private static final String TOKEN = "hf_testToken123";
    private static final byte[] CONTENT = bytes(5000, 7);

    @TempDir
    Path temp;

    private Path cacheDir;
    private HubCache cache;
    private ExecutorService executor;
    private final List<HttpServer> servers = new CopyOnWriteArrayList<>();
    private final List<Recorded> requests = new CopyOnWriteArrayList<>();
    private final CountDownLatch release = new CountDownLatch(1);

    private record Recorded(int port, String path, String authorization) {
    }

    @BeforeEach
    void setUp() throws IOException {
        cacheDir = Files.createDirectories(temp.resolve("hub"));
        cache = new HubCache(cacheDir);
        executor = Executors.newCachedThreadPool(runnable -> {
            Thread thread = new Thread(runnable, "test-hub-server");
            thread.setDaemon(true);
            return thread;
        });
    }

    @AfterEach
    void tearDown() {
        release.countDown();
        for (HttpServer server : servers) {
            server.stop(0);
        }
        executor.shutdownNow();
    }

    @Test
    void download_landsInTheHubCacheLayoutAndResolvesThroughHubCacheAfterwards() throws Exception {
        String sha = sha256(CONTENT);
        String endpoint = serve((exchange, path) -> {
            if (!path.equals(PATH)) {
                respond(exchange, 404, new byte[0]);
                return;
            }
            exchange.getResponseHeaders().add("X-Repo-Commit", COMMIT);
            exchange.getResponseHeaders().add("ETag", "\"" + sha + "\"");
            respond(exchange, 200, CONTENT);
        });
        HubDownloader downloader = downloader(endpoint).build();
        HubReference reference = HubReference.of(REPO, FILE);

        Path downloaded = downloader.download(reference);

        assertArrayEquals(CONTENT, Files.readAllBytes(downloaded));
        Path repo = cacheDir.resolve("models--org--name");
        Path blob = repo.resolve("blobs").resolve(sha);
        assertEquals(blob.toRealPath(), downloaded);
        Path entry = repo.resolve("snapshots").resolve(COMMIT).resolve(FILE);
        if (Files.isSymbolicLink(entry)) {
            assertEquals(Path.of("..", "..", "blobs", sha), Files.readSymbolicLink(entry));
        }
        assertEquals(COMMIT, Files.readString(repo.resolve("refs/main")));
        assertEquals(downloaded, new HubCache(cacheDir).resolve(reference));
        assertNoTemporaryFiles();

        int before = requests.size();
        assertEquals(downloaded, downloader.resolve(reference));
        assertEquals(before, requests.size(), "a cached file is not downloaded again");
    }

    @Test
    void download_withoutHubHeaders_namesTheSnapshotByRevisionAndTheBlobBySha256() throws Exception {
        String endpoint = serve((exchange, path) -> respond(exchange, 200, CONTENT));
        HubReference reference = new HubReference(REPO, Optional.of(FILE), Optional.of("v1.0"));

        Path downloaded = downloader(endpoint).build().resolve(reference);

        Path repo = cacheDir.resolve("models--org--name");
        assertEquals(repo.resolve("blobs").resolve(sha256(CONTENT)).toRealPath(), downloaded);
        assertEquals("v1.0", Files.readString(repo.resolve("refs/v1.0")));
        assertTrue(Files.exists(repo.resolve("snapshots/v1.0").resolve(FILE)));
        assertEquals("/org/name/resolve/v1.0/lora.safetensors", requests.get(0).path());
        assertNoTemporaryFiles();
    }

    @Test
    void download_followsRedirects_keepingHubMetadata_andSendsTheTokenOnlyToTheEndpoint() throws Exception {
        String cdn = serve((exchange, path) -> respond(exchange, 200, CONTENT));
        String endpoint = serve((exchange, path) -> {
            if (path.equals(PATH)) {
                exchange.getResponseHeaders().add("X-Repo-Commit", OTHER_COMMIT);
                exchange.getResponseHeaders().add("X-Linked-Etag", "\"" + sha256(CONTENT) + "\"");
                exchange.getResponseHeaders().add("X-Linked-Size", String.valueOf(CONTENT.length));
                exchange.getResponseHeaders().add("Location", "/moved/lora.safetensors");
                respond(exchange, 302, new byte[0]);
            } else if (path.equals("/moved/lora.safetensors")) {
                exchange.getResponseHeaders().add("Location", cdn + "/blob/xyz");
                respond(exchange, 307, new byte[0]);
            } else {
                respond(exchange, 404, new byte[0]);
            }
        });

        Path downloaded = downloader(endpoint).token(TOKEN).build().download(HubReference.of(REPO, FILE));

        assertArrayEquals(CONTENT, Files.readAllBytes(downloaded));
        assertEquals(OTHER_COMMIT, Files.readString(cacheDir.resolve("models--org--name/refs/main")));
        assertEquals(3, requests.size());
        assertEquals("Bearer " + TOKEN, requests.get(0).authorization());
        assertEquals("Bearer " + TOKEN, requests.get(1).authorization());
        assertEquals("/blob/xyz", requests.get(2).path());
        assertNull(requests.get(2).authorization(), "the token must not leave the endpoint's origin");
    }

    @Test
    void download_withoutWeightName_infersItFromTheRepositoryListing() throws Exception {
        String listing = "{\"sha\":\"" + OTHER_COMMIT + "\",\"siblings\":[{\"rfilename\":\"README.md\"},"
                + "{\"rfilename\":\"sub/other.safetensors\"},{\"rfilename\":\"optimizer.safetensors\"},"
                + "{\"rfilename\":\"my_lora.safetensors\"}]}";
        String endpoint = serve((exchange, path) -> {
            if (path.equals("/api/models/org/name/revision/main")) {
                respond(exchange, 200, listing.getBytes(StandardCharsets.UTF_8));
            } else if (path.equals("/org/name/resolve/" + OTHER_COMMIT + "/my_lora.safetensors")) {
                respond(exchange, 200, CONTENT);
            } else {
                respond(exchange, 404, new byte[0]);
            }
        });
        HubReference reference = HubReference.of(REPO);

        Path downloaded = downloader(endpoint).build().resolve(reference);

        assertArrayEquals(CONTENT, Files.readAllBytes(downloaded));
        assertEquals(OTHER_COMMIT, Files.readString(cacheDir.resolve("models--org--name/refs/main")));
        assertEquals(downloaded, cache.resolve(reference));
    }

    @Test
    void download_notFound_failsNamingRepoFileEndpointAndCache_andLeavesNothing() throws Exception {
        String endpoint = serve((exchange, path) -> {
            exchange.getResponseHeaders().add("X-Error-Code", "EntryNotFound");
            respond(exchange, 404, "Entry not found".getBytes(StandardCharsets.UTF_8));
        });
        HubDownloadException e = failure(downloader(endpoint).build(), HubReference.of(REPO, FILE));
        assertMessage(e, endpoint, "HTTP 404", "EntryNotFound");
        assertEquals(REPO, e.repoId());
        assertEquals(FILE, e.file());
        assertEquals(endpoint, e.endpoint());
        assertCacheEmpty();
    }

    @Test
    void download_unauthorized_withoutToken_suggestsOne_withAWrongOneSaysItWasRefused() throws Exception {
        String endpoint = serve((exchange, path) -> {
            if (("Bearer " + TOKEN).equals(exchange.getRequestHeaders().getFirst("Authorization"))) {
                respond(exchange, 200, CONTENT);
            } else {
                respond(exchange, 401, new byte[0]);
            }
        });
        HubReference reference = HubReference.of(REPO, FILE);

        HubDownloadException anonymous = failure(downloader(endpoint).build(), reference);
        assertMessage(anonymous, endpoint, "HTTP 401", "set a token");
        assertCacheEmpty();

        HubDownloadException wrong = failure(downloader(endpoint).token("hf_wrong").build(), reference);
        assertMessage(wrong, endpoint, "HTTP 401", "token was refused");
        assertFalse(wrong.getMessage().contains("hf_wrong"), "the token must not appear in messages");
        assertCacheEmpty();

        Path downloaded = downloader(endpoint).token(TOKEN).build().download(reference);
        assertArrayEquals(CONTENT, Files.readAllBytes(downloaded));
    }

    @Test
    void download_truncatedBody_failsAndLeavesNothing() throws Exception {
        String endpoint = serve((exchange, path) -> {
            exchange.sendResponseHeaders(200, CONTENT.length);
            OutputStream body = exchange.getResponseBody();
            body.write(CONTENT, 0, 1000);
            body.flush();
            // dropping the connection with 4000 bytes still owed
            throw new IOException("simulated connection loss (expected by the test)");
        });
        HubDownloadException e = failure(downloader(endpoint).readTimeout(Duration.ofSeconds(2)).build(),
                HubReference.of(REPO, FILE));
        assertMessage(e, endpoint);
        assertCacheEmpty();
    }

    @Test
    void download_serverThatNeverAnswers_timesOutQuicklyAndLeavesNothing() throws Exception {
        String endpoint = serve((exchange, path) -> awaitRelease());
        long start = System.nanoTime();
        HubDownloadException e = failure(downloader(endpoint).readTimeout(Duration.ofMillis(300)).build(),
                HubReference.of(REPO, FILE));
        long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertTrue(millis < 3000, "took " + millis + " ms");
        assertMessage(e, endpoint, "timed out");
        assertCacheEmpty();
    }

    @Test
    void download_bodyThatStalls_timesOutQuicklyAndLeavesNothing() throws Exception {
        String endpoint = serve((exchange, path) -> {
            exchange.sendResponseHeaders(200, CONTENT.length);
            exchange.getResponseBody().write(CONTENT, 0, 100);
            exchange.getResponseBody().flush();
            awaitRelease();
        });
        long start = System.nanoTime();
        HubDownloadException e = failure(downloader(endpoint).readTimeout(Duration.ofMillis(300)).build(),
                HubReference.of(REPO, FILE));
        long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertTrue(millis < 3000, "took " + millis + " ms");
        assertMessage(e, endpoint, "no data for 300 ms");
        assertCacheEmpty();
    }

    @Test
    void download_connectionRefused_failsFastAndLeavesNothing() throws Exception {
        HttpServer closed = HttpServer.create(new InetSocketAddress(loopback(), 0), 0);
        int port = closed.getAddress().getPort();
        closed.start();
        closed.stop(0); // the port is free again: connecting is refused
        String endpoint = "http://127.0.0.1:" + port;
        long start = System.nanoTime();
        HubDownloadException e = failure(downloader(endpoint).build(), HubReference.of(REPO, FILE));
        assertTrue(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) < 3000);
        assertMessage(e, endpoint, "cannot connect");
        assertCacheEmpty();
    }

    @Test
    void download_offline_failsAtOnceWithoutARequest() throws Exception {
        String endpoint = serve((exchange, path) -> respond(exchange, 200, CONTENT));
        HubDownloader downloader = downloader(endpoint).offline(true).build();
        HubDownloadException e = failure(downloader, HubReference.of(REPO, FILE));
        assertMessage(e, endpoint, "offline");
        assertEquals(0, requests.size());
        assertThrows(HubDownloadException.class, () -> downloader.resolve(HubReference.of(REPO, FILE)));
        assertCacheEmpty();
    }

    @Test
    void download_largerThanTheMaximum_failsAndLeavesNothing() throws Exception {
        String endpoint = serve((exchange, path) -> respond(exchange, 200, CONTENT));
        HubDownloadException announced = failure(downloader(endpoint).maxBytes(1000).build(),
                HubReference.of(REPO, FILE));
        assertMessage(announced, endpoint, "more than the maximum of 1000 bytes");
        assertCacheEmpty();

        String chunked = serve((exchange, path) -> {
            exchange.sendResponseHeaders(200, 0); // chunked: no Content-Length to check up front
            try (OutputStream body = exchange.getResponseBody()) {
                body.write(CONTENT);
            }
        });
        HubDownloadException streamed = failure(downloader(chunked).maxBytes(1000).build(),
                HubReference.of(REPO, FILE));
        assertMessage(streamed, chunked, "exceeds the maximum of 1000 bytes");
        assertCacheEmpty();
    }

    @Test
    void download_checksumMismatch_failsAndLeavesNothing() throws Exception {
        String endpoint = serve((exchange, path) -> {
            exchange.getResponseHeaders().add("X-Linked-Etag", "\"" + sha256(bytes(10, 1)) + "\"");
            respond(exchange, 200, CONTENT);
        });
        HubDownloadException e = failure(downloader(endpoint).build(), HubReference.of(REPO, FILE));
        assertMessage(e, endpoint, "checksum mismatch");
        assertCacheEmpty();
    }

    @Test
    void download_intoARepositoryFolderLinkedOutsideTheCache_isRefusedWritingNothingThere() throws Exception {
        Path outside = Files.createDirectories(temp.resolve("outside"));
        AdapterRootsTest.symlink(cacheDir.resolve("models--org--name"), outside);
        String endpoint = serve((exchange, path) -> respond(exchange, 200, CONTENT));
        HubDownloadException e = failure(downloader(endpoint).build(), HubReference.of(REPO, FILE));
        assertMessage(e, endpoint, "outside the hub cache");
        assertEquals(0, requests.size());
        try (Stream<Path> left = Files.list(outside)) {
            assertEquals(List.of(), left.collect(Collectors.toList()));
        }
    }

    @Test
    void builder_rejectsBadSettings() {
        HubDownloader.Builder builder = HubDownloader.builder(cache);
        assertThrows(IllegalArgumentException.class, () -> builder.endpoint("ftp://example.org"));
        assertThrows(IllegalArgumentException.class, () -> builder.endpoint("https://example.org/?q=1"));
        assertThrows(IllegalArgumentException.class, () -> builder.connectTimeout(Duration.ZERO));
        assertThrows(IllegalArgumentException.class, () -> builder.readTimeout(Duration.ofSeconds(-1)));
        assertThrows(IllegalArgumentException.class, () -> builder.maxBytes(0));
        assertThrows(IllegalArgumentException.class, () -> builder.token("two words"));
        HubDownloader defaults = builder.build();
        assertEquals(HubDownloader.DEFAULT_ENDPOINT, defaults.endpoint());
        assertEquals(Duration.ofSeconds(5), defaults.connectTimeout());
        assertEquals(Duration.ofSeconds(30), defaults.readTimeout());
        assertFalse(defaults.hasToken());
        assertEquals("https://hub.example/prefix",
                HubDownloader.builder(cache).endpoint("https://hub.example/prefix/").build().endpoint().toString());
    }

    // ---------------------------------------------------------------------------------------------------------------

    @FunctionalInterface
    private interface Behaviour {
        void handle(HttpExchange exchange, String path) throws IOException;
    }

    /** Starts a server on 127.0.0.1 (ephemeral port) and returns its base URL. */
    private String serve(Behaviour behaviour) throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress(loopback(), 0), 0);
        int port = server.getAddress().getPort();
        HttpHandler handler = exchange -> {
            try (exchange) {
                String path = exchange.getRequestURI().getRawPath();
                requests.add(new Recorded(port, path, exchange.getRequestHeaders().getFirst("Authorization")));
                behaviour.handle(exchange, path);
            }
        };
        server.createContext("/", handler);
        server.setExecutor(executor);
        server.start();
        servers.add(server);
        return "http://127.0.0.1:" + port;
    }

    private static InetAddress loopback() throws IOException {
        return InetAddress.getByAddress(new byte[] {127, 0, 0, 1});
    }

    private HubDownloader.Builder downloader(String endpoint) {
        return HubDownloader.builder(cache).endpoint(endpoint)
                .connectTimeout(Duration.ofSeconds(2))
                .readTimeout(Duration.ofSeconds(5));
    }

    private void awaitRelease() {
        try {
            release.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void respond(HttpExchange exchange, int status, byte[] body) throws IOException {
        exchange.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        if (body.length > 0) {
            exchange.getResponseBody().write(body);
        }
    }

    private static HubDownloadException failure(HubDownloader downloader, HubReference reference) {
        HubDownloadException e = assertThrows(HubDownloadException.class, () -> downloader.download(reference));
        assertInstanceOf(UncheckedIOException.class, e);
        assertInstanceOf(IOException.class, e.getCause());
        return e;
    }

    private void assertMessage(HubDownloadException e, String endpoint, String... fragments) {
        String message = e.getMessage();
        assertTrue(message.contains(REPO), message);
        assertTrue(message.contains(e.file()), message);
        assertTrue(message.contains(endpoint), message);
        assertTrue(message.contains("offline? set the endpoint or place the file in " + cacheDir), message);
        assertFalse(message.contains(TOKEN), message);
        for (String fragment : fragments) {
            assertTrue(message.contains(fragment), () -> "'" + fragment + "' missing in: " + message);
        }
    }

    /** Nothing at all below the cache folder: no temporary file, no blob, no empty folder. */
    private void assertCacheEmpty() throws IOException {
        try (Stream<Path> all = Files.walk(cacheDir)) {
            List<Path> left = all.filter(p -> !p.equals(cacheDir)).collect(Collectors.toList());
            assertEquals(List.of(), left);
        }
    }

    private void assertNoTemporaryFiles() throws IOException {
        try (Stream<Path> all = Files.walk(cacheDir)) {
            List<Path> left = all.filter(p -> p.getFileName().toString().endsWith(".incomplete"))
                    .collect(Collectors.toList());
            assertEquals(List.of(), left);
        }
    }

    private static byte[] bytes(int size, long seed) {
        byte[] bytes = new byte[size];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
