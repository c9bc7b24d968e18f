package io.lorica.loader.source;

import static io.lorica.loader.source.AdapterRootsTest.symlink;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

import io.lorica.api.registry.AdapterReference.HubReference;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HubCacheTest {

    static final String COMMIT = "0123456789abcdef0123456789abcdef01234567";
    static final String OTHER_COMMIT = "fedcba9876543210fedcba9876543210fedcba98";

    @TempDir
    Path temp;

    private Path cacheDir;
    private HubCache cache;
    private Path repo;

    @BeforeEach
    void setUp() throws IOException {
        cacheDir = Files.createDirectories(temp.resolve("hub"));
        cache = new HubCache(cacheDir);
        repo = cacheDir.resolve("models--org--name");
    }

    @Test
    void repoFolderName_followsTheHubLayout() {
        assertEquals("models--latent-consistency--lcm-lora-sdv1-5",
                HubCache.repoFolderName("latent-consistency/lcm-lora-sdv1-5"));
        assertThrows(IllegalArgumentException.class, () -> HubCache.repoFolderName("org/../x"));
        assertThrows(IllegalArgumentException.class, () -> HubCache.repoFolderName("../../etc"));
        assertThrows(IllegalArgumentException.class, () -> HubCache.repoFolderName("org--x/name"));
        assertThrows(IllegalArgumentException.class, () -> HubCache.repoFolderName("noslash"));
        assertThrows(IllegalArgumentException.class, () -> HubReference.of("org/name", "../x.safetensors"));
        assertThrows(IllegalArgumentException.class, () -> HubReference.of("org/name", "/abs.safetensors"));
    }

    @Test
    void resolve_mainRef_readsTheCommitFromRefsMain() throws IOException {
        ref("main", COMMIT);
        Path file = snapshotFile(COMMIT, "lora.safetensors", "A");
        assertEquals(file.toRealPath(), cache.resolve(HubReference.of("org/name", "lora.safetensors")));
        assertEquals(Optional.of(COMMIT), cache.commit("org/name", null));
    }

    @Test
    void resolve_explicitRevision_readsItsRef() throws IOException {
        ref("main", COMMIT);
        ref("v2", OTHER_COMMIT);
        ref("refs/pr/1", OTHER_COMMIT);
        snapshotFile(COMMIT, "lora.safetensors", "main");
        Path v2 = snapshotFile(OTHER_COMMIT, "lora.safetensors", "v2");
        assertEquals(v2.toRealPath(), cache.resolve(reference("lora.safetensors", "v2")));
        assertEquals(v2.toRealPath(), cache.resolve(reference("lora.safetensors", "refs/pr/1")));
    }

    @Test
    void resolve_commitHashRevision_namesTheSnapshotDirectly() throws IOException {
        Path file = snapshotFile(OTHER_COMMIT, "lora.safetensors", "pinned");
        assertEquals(file.toRealPath(), cache.resolve(reference("lora.safetensors", OTHER_COMMIT)));
    }

    @Test
    void resolve_weightInASubFolderOfTheSnapshot() throws IOException {
        ref("main", COMMIT);
        Path file = snapshotFile(COMMIT, "unet/lora.safetensors", "sub");
        assertEquals(file.toRealPath(), cache.resolve(HubReference.of("org/name", "unet/lora.safetensors")));
    }

    @Test
    void resolve_symlinkedSnapshotEntry_followsItIntoBlobs() throws IOException {
        ref("main", COMMIT);
        Path blob = Files.createDirectories(repo.resolve("blobs")).resolve("9f86d08");
        Files.writeString(blob, "blob content");
        Path snapshot = Files.createDirectories(repo.resolve("snapshots").resolve(COMMIT));
        symlink(snapshot.resolve("lora.safetensors"), Path.of("..", "..", "blobs", "9f86d08"));
        Path resolved = cache.resolve(HubReference.of("org/name", "lora.safetensors"));
        assertEquals(blob.toRealPath(), resolved);
        assertArrayEquals("blob content".getBytes(StandardCharsets.UTF_8), Files.readAllBytes(resolved));
    }

    @Test
    void resolve_symlinkLeavingTheCache_isRefused() throws IOException {
        ref("main", COMMIT);
        Path outside = Files.writeString(temp.resolve("secret.safetensors"), "secret");
        Path snapshot = Files.createDirectories(repo.resolve("snapshots").resolve(COMMIT));
        symlink(snapshot.resolve("lora.safetensors"), outside);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> cache.find(HubReference.of("org/name", "lora.safetensors")));
        assertTrue(e.getMessage().contains("leaves the hub cache"), e.getMessage());
    }

    @Test
    void resolve_snapshotFolderLinkedOutside_isRefused() throws IOException {
        ref("main", COMMIT);
        Path outside = Files.createDirectories(temp.resolve("elsewhere"));
        Files.writeString(outside.resolve("lora.safetensors"), "x");
        Files.createDirectories(repo.resolve("snapshots"));
        symlink(repo.resolve("snapshots").resolve(COMMIT), outside);
        assertThrows(IllegalArgumentException.class, () -> cache.resolve(HubReference.of("org/name",
                "lora.safetensors")));
    }

    @Test
    void resolve_withoutWeightName_picksTheSingleSafetensorsFile() throws IOException {
        ref("main", COMMIT);
        Path only = snapshotFile(COMMIT, "my_lora.safetensors", "only");
        snapshotFile(COMMIT, "README.md", "readme");
        snapshotFile(COMMIT, "optimizer.safetensors", "skipped as in Diffusers");
        snapshotFile(COMMIT, "sub/deeper.safetensors", "not top level");
        assertEquals(only.toRealPath(), cache.resolve(HubReference.of("org/name")));
    }

    @Test
    void resolve_withoutWeightName_prefersPytorchLoraWeights() throws IOException {
        ref("main", COMMIT);
        snapshotFile(COMMIT, "a.safetensors", "a");
        Path preferred = snapshotFile(COMMIT, "pytorch_lora_weights.safetensors", "p");
        assertEquals(preferred.toRealPath(), cache.resolve(HubReference.of("org/name")));
    }

    @Test
    void resolve_withoutWeightName_andSeveralCandidates_failsListingThem() throws IOException {
        ref("main", COMMIT);
        snapshotFile(COMMIT, "b.safetensors", "b");
        snapshotFile(COMMIT, "a.safetensors", "a");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> cache.find(HubReference.of("org/name")));
        assertTrue(e.getMessage().contains("[a.safetensors, b.safetensors]"), e.getMessage());
        assertTrue(e.getMessage().contains("weight_name"), e.getMessage());
    }

    @Test
    void resolve_withoutWeightName_andNoCandidate_isAMissListingWhatIsThere() throws IOException {
        ref("main", COMMIT);
        snapshotFile(COMMIT, "config.json", "{}");
        assertEquals(Optional.empty(), cache.find(HubReference.of("org/name")));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> cache.resolve(HubReference.of("org/name")));
        assertTrue(e.getMessage().contains("no .safetensors") && e.getMessage().contains("config.json"),
                e.getMessage());
    }

    @Test
    void find_missingPieces_isEmptyAndResolveSaysWhatIsMissing() throws IOException {
        HubReference reference = HubReference.of("org/name", "lora.safetensors");
        assertEquals(Optional.empty(), cache.find(reference));
        assertTrue(missing(reference).contains("no folder"));

        ref("main", COMMIT);
        assertTrue(missing(reference).contains("no snapshot folder"));
        assertTrue(missing(reference("lora.safetensors", "dev")).contains("no ref 'dev'"));

        snapshotFile(COMMIT, "other.safetensors", "x");
        assertTrue(missing(reference).contains("has no file lora.safetensors"));
    }

    @Test
    void commit_refHoldingAPath_isRefused() throws IOException {
        ref("main", "../../../../etc");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> cache.find(HubReference.of("org/name", "lora.safetensors")));
        assertTrue(e.getMessage().contains("does not hold a commit hash"), e.getMessage());
    }

    @Test
    void commit_refLinkedOutsideTheCache_isRefused() throws IOException {
        Path outside = Files.writeString(temp.resolve("elsewhere-ref"), COMMIT);
        Files.createDirectories(repo.resolve("refs"));
        symlink(repo.resolve("refs/main"), outside);
        snapshotFile(COMMIT, "lora.safetensors", "x");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> cache.find(HubReference.of("org/name", "lora.safetensors")));
        assertTrue(e.getMessage().contains("leaves the hub cache"), e.getMessage());
    }

    private String missing(HubReference reference) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> cache.resolve(reference));
        assertTrue(e.getMessage().contains(reference.describe()) && e.getMessage().contains(cacheDir.toString()),
                e.getMessage());
        return e.getMessage();
    }

    private static HubReference reference(String weightName, String revision) {
        return new HubReference("org/name", Optional.of(weightName), Optional.of(revision));
    }

    private void ref(String revision, String commit) throws IOException {
        Path ref = repo.resolve("refs").resolve(revision);
        Files.createDirectories(ref.getParent());
        Files.writeString(ref, commit);
    }

    private Path snapshotFile(String commit, String name, String content) throws IOException {
        Path file = repo.resolve("snapshots").resolve(commit).resolve(name);
        Files.createDirectories(file.getParent());
        return Files.writeString(file, content);
    }
}
