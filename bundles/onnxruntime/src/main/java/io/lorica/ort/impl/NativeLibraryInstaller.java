package io.lorica.ort.impl;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.TreeMap;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Unpacks the ONNX Runtime natives carried by the bundle into a folder once, so that ONNX Runtime loads them from
 * there ({@code onnxruntime.native.path}) instead of copying them to a fresh temporary folder at every start (for the
 * CUDA build that copy is 583 MB and takes seconds).
 *
 * <p>A folder already holding the same files (same names and sizes, recorded in a manifest written last) is reused
 * untouched. Files are written to a temporary name and moved into place, so a crash or a second JVM unpacking into the
 * same folder never leaves a truncated library behind.
 */
final class NativeLibraryInstaller {

    static final String MANIFEST = ".lorica-natives";

    private static final Logger LOG = LoggerFactory.getLogger(NativeLibraryInstaller.class);

    /** One native file the bundle carries. */
    interface NativeFile {
        String name();

        long size();

        InputStream open() throws IOException;
    }

    /** What {@link #install} did. */
    record Result(Path directory, int copied, int reused) {
    }

    private NativeLibraryInstaller() {
    }

    /**
     * Makes {@code target} hold exactly the given files.
     *
     * @param target the folder, created if missing
     * @param fingerprint identifies the build the files come from (version, flavour); part of the manifest
     * @param files the files to install; must not be empty
     */
    static Result install(Path target, String fingerprint, List<NativeFile> files) {
        Objects.requireNonNull(target, "target");
        if (files.isEmpty()) {
            throw new IllegalArgumentException("no native files to install into " + target);
        }
        String manifest = manifest(fingerprint, files);
        try {
            Files.createDirectories(target);
            Path manifestFile = target.resolve(MANIFEST);
            if (Files.isRegularFile(manifestFile)
                    && Files.readString(manifestFile, StandardCharsets.UTF_8).equals(manifest)
                    && allPresent(target, files)) {
                LOG.debug("ONNX Runtime natives already unpacked in {}", target);
                return new Result(target, 0, files.size());
            }
            int copied = 0;
            int reused = 0;
            Files.deleteIfExists(manifestFile);
            for (NativeFile file : files) {
                Path destination = target.resolve(file.name());
                if (!destination.normalize().startsWith(target.normalize()) || file.name().contains("/")) {
                    throw new IllegalArgumentException("native file name '" + file.name() + "' is not a plain file name");
                }
                if (Files.isRegularFile(destination) && Files.size(destination) == file.size()) {
                    reused++;
                    continue;
                }
                Path temporary = Files.createTempFile(target, file.name(), ".part");
                try (InputStream in = file.open()) {
                    long written = Files.copy(in, temporary, StandardCopyOption.REPLACE_EXISTING);
                    if (written != file.size()) {
                        throw new IOException("native file " + file.name() + " has " + written + " bytes, expected " + file.size());
                    }
                    move(temporary, destination);
                } finally {
                    Files.deleteIfExists(temporary);
                }
                copied++;
            }
            Path temporary = Files.createTempFile(target, MANIFEST, ".part");
            Files.writeString(temporary, manifest, StandardCharsets.UTF_8);
            move(temporary, manifestFile);
            LOG.info("ONNX Runtime natives unpacked into {} ({} copied, {} reused)", target, copied, reused);
            return new Result(target, copied, reused);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot unpack the ONNX Runtime natives into " + target + ": " + e.getMessage(), e);
        }
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static boolean allPresent(Path target, List<NativeFile> files) throws IOException {
        for (NativeFile file : files) {
            Path path = target.resolve(file.name());
            if (!Files.isRegularFile(path) || Files.size(path) != file.size()) {
                return false;
            }
        }
        return true;
    }

    private static String manifest(String fingerprint, List<NativeFile> files) {
        TreeMap<String, Long> sorted = new TreeMap<>();
        for (NativeFile file : files) {
            sorted.put(file.name(), file.size());
        }
        StringBuilder text = new StringBuilder(fingerprint).append('\n');
        sorted.forEach((name, size) -> text.append(name).append(' ').append(size).append('\n'));
        return text.toString();
    }

    /** The names of the files in {@code files}, for messages. */
    static List<String> names(List<NativeFile> files) {
        List<String> names = new ArrayList<>();
        files.forEach(file -> names.add(file.name()));
        return names;
    }
}
