package io.lorica.ort.impl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NativeLibraryInstallerTest {

    @TempDir
    Path dir;

    private final AtomicInteger opened = new AtomicInteger();

    private NativeLibraryInstaller.NativeFile file(String name, byte[] content, long declaredSize) {
        return new NativeLibraryInstaller.NativeFile() {
            @Override
            public String name() {
                return name;
            }

            @Override
            public long size() {
                return declaredSize;
            }

            @Override
            public InputStream open() {
                opened.incrementAndGet();
                return new ByteArrayInputStream(content);
            }
        };
    }

    private List<NativeLibraryInstaller.NativeFile> natives() {
        return List.of(file("libonnxruntime.so", new byte[] {1, 2, 3, 4}, 4),
                file("libonnxruntime4j_jni.so", new byte[] {5, 6}, 2));
    }

    @Test
    void install_intoEmptyFolder_copiesEveryFileAndWritesManifest() throws IOException {
        Path target = dir.resolve("1.29.0-cpu/linux-x64");
        NativeLibraryInstaller.Result result = NativeLibraryInstaller.install(target, "ort 1.29.0 cpu", natives());
        assertEquals(2, result.copied());
        assertArrayEquals(new byte[] {1, 2, 3, 4}, Files.readAllBytes(target.resolve("libonnxruntime.so")));
        assertArrayEquals(new byte[] {5, 6}, Files.readAllBytes(target.resolve("libonnxruntime4j_jni.so")));
        assertTrue(Files.isRegularFile(target.resolve(NativeLibraryInstaller.MANIFEST)));
        try (var listing = Files.list(target)) {
            assertFalse(listing.anyMatch(p -> p.toString().endsWith(".part")), "no temporary file left behind");
        }
    }

    @Test
    void install_secondTime_reusesFilesWithoutOpeningThem() {
        NativeLibraryInstaller.install(dir, "ort 1.29.0 cpu", natives());
        opened.set(0);
        NativeLibraryInstaller.Result again = NativeLibraryInstaller.install(dir, "ort 1.29.0 cpu", natives());
        assertEquals(0, again.copied());
        assertEquals(2, again.reused());
        assertEquals(0, opened.get());
    }

    @Test
    void install_whenAFileWasTruncated_copiesItAgain() throws IOException {
        NativeLibraryInstaller.install(dir, "ort 1.29.0 cpu", natives());
        Files.write(dir.resolve("libonnxruntime.so"), new byte[] {1});
        NativeLibraryInstaller.Result repaired = NativeLibraryInstaller.install(dir, "ort 1.29.0 cpu", natives());
        assertEquals(1, repaired.copied());
        assertEquals(1, repaired.reused());
        assertEquals(4, Files.size(dir.resolve("libonnxruntime.so")));
    }

    @Test
    void install_whenFingerprintChanges_checksEveryFileAgain() {
        NativeLibraryInstaller.install(dir, "ort 1.29.0 cpu", natives());
        opened.set(0);
        NativeLibraryInstaller.install(dir, "ort 1.30.0 cpu",
                List.of(file("libonnxruntime.so", new byte[] {9, 9, 9, 9, 9}, 5), file("libonnxruntime4j_jni.so", new byte[] {5, 6}, 2)));
        assertEquals(1, opened.get(), "only the changed library is copied");
    }

    @Test
    void install_whenStreamShorterThanDeclared_failsAndLeavesNoPartialLibrary() {
        List<NativeLibraryInstaller.NativeFile> lying = List.of(file("libonnxruntime.so", new byte[] {1, 2}, 4));
        UncheckedIOException e = assertThrows(UncheckedIOException.class,
                () -> NativeLibraryInstaller.install(dir, "ort", lying));
        assertTrue(e.getMessage().contains("has 2 bytes, expected 4"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("libonnxruntime.so")));
        assertFalse(Files.exists(dir.resolve(NativeLibraryInstaller.MANIFEST)));
    }

    @Test
    void install_whenNameEscapesFolder_rejects() {
        List<NativeLibraryInstaller.NativeFile> escaping = List.of(file("../evil.so", new byte[] {1}, 1));
        assertThrows(IllegalArgumentException.class, () -> NativeLibraryInstaller.install(dir.resolve("x"), "ort", escaping));
        assertFalse(Files.exists(dir.resolve("evil.so")));
    }

    @Test
    void install_withNoFiles_rejects() {
        assertThrows(IllegalArgumentException.class, () -> NativeLibraryInstaller.install(dir, "ort", List.of()));
    }
}
