package io.lorica.loader.source;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import io.lorica.api.registry.AdapterReference;
import io.lorica.api.registry.AdapterReference.DirectoryReference;
import io.lorica.api.registry.AdapterReference.FileReference;
import io.lorica.api.registry.AdapterReference.HubReference;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AdapterRootsTest {

    @TempDir
    Path temp;

    private Path adapters;
    private Path hub;
    private Path extra;
    private Path outside;
    private AdapterRoots roots;

    @BeforeEach
    void setUp() throws IOException {
        adapters = Files.createDirectories(temp.resolve("adapters"));
        hub = Files.createDirectories(temp.resolve("hub"));
        extra = Files.createDirectories(temp.resolve("extra"));
        outside = Files.createDirectories(temp.resolve("outside"));
        roots = new AdapterRoots(adapters, hub, List.of(extra));
    }

    @Test
    void resolve_absoluteFileInEachRoot_returnsItsRealPath() throws IOException {
        for (Path root : List.of(adapters, hub, extra)) {
            Path file = write(root.resolve("toy.safetensors"));
            assertEquals(file.toRealPath(), roots.resolve(new FileReference(file)));
        }
    }

    @Test
    void resolve_relativeFileReference_isRelativeToTheAdapterDirectory() throws IOException {
        Path file = write(adapters.resolve("sub/toy.safetensors"));
        assertEquals(file.toRealPath(), roots.resolve(new FileReference(Path.of("sub", "toy.safetensors"))));
    }

    @Test
    void resolve_directoryReference_acceptsTheFileNameOrTheSnapshotNameWithoutExtension() throws IOException {
        Path file = write(adapters.resolve("style/anime.safetensors"));
        assertEquals(file.toRealPath(), roots.resolve(new DirectoryReference("style/anime.safetensors")));
        assertEquals(file.toRealPath(), roots.resolve(new DirectoryReference("style/anime")));
    }

    @Test
    void resolve_adapterFolder_picksTheDiffusersWeightFile() throws IOException {
        write(adapters.resolve("lcm/other.safetensors"));
        Path preferred = write(adapters.resolve("lcm/pytorch_lora_weights.safetensors"));
        assertEquals(preferred.toRealPath(), roots.resolve(new DirectoryReference("lcm")));

        Path single = write(adapters.resolve("one/weights.safetensors"));
        write(adapters.resolve("one/optimizer.safetensors"));
        write(adapters.resolve("one/README.md"));
        assertEquals(single.toRealPath(), roots.resolve(new FileReference(adapters.resolve("one"))));
    }

    @Test
    void resolve_adapterFolderWithSeveralOrNoCandidates_isRefusedListingThem() throws IOException {
        write(adapters.resolve("two/a.safetensors"));
        write(adapters.resolve("two/b.safetensors"));
        String several = refusal(new DirectoryReference("two"));
        assertTrue(several.contains("[a.safetensors, b.safetensors]"), several);

        write(adapters.resolve("none/notes.txt"));
        String none = refusal(new DirectoryReference("none"));
        assertTrue(none.contains("no .safetensors") && none.contains("notes.txt"), none);
    }

    @Test
    void resolve_dotDotEscape_isRefusedNamingReferenceAndRoots() throws IOException {
        write(outside.resolve("evil.safetensors"));
        AdapterReference relative = new FileReference(Path.of("..", "outside", "evil.safetensors"));
        String message = refusal(relative);
        assertTrue(message.contains(relative.describe()), message);
        assertTrue(message.contains(adapters.toString()) && message.contains(hub.toString())
                && message.contains(extra.toString()), message);
        assertTrue(message.contains("outside the readable roots"), message);

        refusal(new FileReference(adapters.resolve("../outside/evil.safetensors")));
        refusal(new FileReference(adapters.resolve("sub/../../outside/evil.safetensors")));
    }

    @Test
    void resolve_absolutePathOutsideTheRoots_isRefused() throws IOException {
        Path evil = write(outside.resolve("evil.safetensors"));
        assertTrue(refusal(new FileReference(evil)).contains("outside the readable roots"));
        // a sibling whose name merely starts like a root
        Path lookalike = write(temp.resolve("adapters-other/x.safetensors"));
        refusal(new FileReference(lookalike));
        // a root itself is not a file inside it
        refusal(new FileReference(adapters));
    }

    @Test
    void resolve_symlinkedFileLeavingTheRoot_isRefused() throws IOException {
        Path evil = write(outside.resolve("evil.safetensors"));
        Path link = symlink(adapters.resolve("innocent.safetensors"), evil);
        String message = refusal(new FileReference(link));
        assertTrue(message.contains("real path") && message.contains("leaves the readable roots"), message);
        refusal(new DirectoryReference("innocent"));
    }

    @Test
    void resolve_symlinkedFolderLeavingTheRoot_isRefusedAtAnyLevel() throws IOException {
        write(outside.resolve("deep/evil.safetensors"));
        symlink(adapters.resolve("linked"), outside);
        refusal(new DirectoryReference("linked/deep/evil.safetensors"));
        refusal(new FileReference(adapters.resolve("linked/deep/evil.safetensors")));

        // a link inside a sub-folder pointing at a folder outside
        Files.createDirectories(adapters.resolve("a/b"));
        symlink(adapters.resolve("a/b/up"), outside.resolve("deep"));
        refusal(new DirectoryReference("a/b/up/evil.safetensors"));

        // an adapter folder that is a link to the outside
        symlink(adapters.resolve("folderlink"), outside.resolve("deep"));
        refusal(new DirectoryReference("folderlink"));
    }

    @Test
    void resolve_symlinkStayingInsideTheRoots_isAccepted() throws IOException {
        Path target = write(hub.resolve("blobs/abc"));
        Path link = symlink(adapters.resolve("cached.safetensors"), target);
        assertEquals(target.toRealPath(), roots.resolve(new FileReference(link)));
        assertEquals(target.toRealPath(), roots.resolve(new DirectoryReference("cached")));
    }

    @Test
    void resolve_rootReachedThroughASymlink_acceptsFilesInIt() throws IOException {
        Path real = Files.createDirectories(temp.resolve("real-adapters"));
        Path linkedRoot = symlink(temp.resolve("linked-adapters"), real);
        Path file = write(real.resolve("toy.safetensors"));
        AdapterRoots viaLink = AdapterRoots.of(linkedRoot);
        assertEquals(file.toRealPath(), viaLink.resolve(new DirectoryReference("toy")));
        assertEquals(file.toRealPath(), viaLink.resolve(new FileReference(file)));
    }

    @Test
    void resolve_nonSafetensorsName_isRefused() throws IOException {
        for (String name : List.of("weights.bin", "weights.ckpt", "weights.pt", "weights.safetensors.part")) {
            Path file = write(adapters.resolve(name));
            String message = refusal(new FileReference(file));
            assertTrue(message.contains("is not named *.safetensors"), message);
        }
    }

    @Test
    void resolve_notARegularFile_isRefused() throws IOException, InterruptedException {
        Files.createDirectories(adapters.resolve("folder.safetensors"));
        refusal(new DirectoryReference("folder.safetensors"));

        Path fifo = adapters.resolve("pipe.safetensors");
        assumeTrue(mkfifo(fifo), "mkfifo is not available");
        String message = refusal(new FileReference(fifo));
        assertTrue(message.contains("not a regular file"), message);
    }

    @Test
    void resolve_missingFile_isRefused() {
        String message = refusal(new DirectoryReference("missing.safetensors"));
        assertTrue(message.contains("does not exist"), message);
    }

    @Test
    void resolve_hubReference_pointsToTheHubCache() {
        String message = refusal(HubReference.of("org/name", "x.safetensors"));
        assertTrue(message.contains("HubCache"), message);
    }

    @Test
    void resolve_withoutAdapterDirectory_refusesRelativeAndDirectoryReferences() throws IOException {
        AdapterRoots onlyExtra = new AdapterRoots(null, null, List.of(extra));
        Path file = write(extra.resolve("x.safetensors"));
        assertEquals(file.toRealPath(), onlyExtra.resolve(new FileReference(file)));
        assertTrue(refusal(onlyExtra, new FileReference(Path.of("x.safetensors"))).contains("relative"));
        assertTrue(refusal(onlyExtra, new DirectoryReference("x")).contains("no adapter directory"));
        assertEquals(Optional.empty(), onlyExtra.adapterDirectory());
    }

    @Test
    void resolve_missingRoot_admitsNothingUntilItExists() throws IOException {
        Path later = temp.resolve("later");
        AdapterRoots lazy = AdapterRoots.of(later);
        refusal(lazy, new DirectoryReference("x"));
        Path file = write(later.resolve("x.safetensors"));
        assertEquals(file.toRealPath(), lazy.resolve(new DirectoryReference("x")));
    }

    @Test
    void checkReadable_appliesTheSameRules() throws IOException {
        Path file = write(extra.resolve("ok.safetensors"));
        assertEquals(file.toRealPath(), roots.checkReadable(file));
        Path evil = write(outside.resolve("evil.safetensors"));
        assertThrows(IllegalArgumentException.class, () -> roots.checkReadable(evil));
    }

    private String refusal(AdapterReference reference) {
        return refusal(roots, reference);
    }

    private static String refusal(AdapterRoots roots, AdapterReference reference) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> roots.resolve(reference));
        assertTrue(e.getMessage().contains(reference.describe()), e.getMessage());
        assertTrue(e.getMessage().contains("readable roots"), e.getMessage());
        return e.getMessage();
    }

    static Path write(Path file) throws IOException {
        Files.createDirectories(file.getParent());
        return Files.write(file, new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9});
    }

    static Path symlink(Path link, Path target) throws IOException {
        try {
            return Files.createSymbolicLink(link, target);
        } catch (UnsupportedOperationException | IOException e) {
            assumeTrue(false, "symbolic links are not supported here: " + e);
            throw e;
        }
    }

    private static boolean mkfifo(Path path) throws InterruptedException {
        try {
            Process process = new ProcessBuilder("mkfifo", path.toString()).redirectErrorStream(true).start();
            if (!process.waitFor(5, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                return false;
            }
            return process.exitValue() == 0 && Files.exists(path);
        } catch (IOException e) {
            return false;
        }
    }
}
