package io.lorica.loader.source;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;

import io.lorica.api.registry.AdapterReference;
import io.lorica.api.registry.AdapterReference.DirectoryReference;
import io.lorica.api.registry.AdapterReference.FileReference;
import io.lorica.api.registry.AdapterReference.HubReference;

/**
 * The folders LoRA files may be read from: the adapter directory, the hub cache directory and any extra roots. Every
 * local reference is confined to them.
 *
 * <p>{@link #resolve(AdapterReference)} accepts a file only when
 * <ul>
 *   <li>its path, made absolute and normalised (so {@code ..} is applied), lies strictly below a root, and</li>
 *   <li>its real path ({@link Path#toRealPath}, every symbolic link on the way resolved, at any level) also lies
 *       strictly below the real path of a root, and</li>
 *   <li>it is a regular file whose name (as referenced, before links are followed) ends in {@code .safetensors}.</li>
 * </ul>
 * A reference to a folder is an adapter folder in the Diffusers sense: the weight file in it is chosen as Diffusers'
 * {@code _best_guess_weight_name} does ({@code pytorch_lora_weights.safetensors}, otherwise the only
 * {@code .safetensors} file at its top level), and then checked as above. Anything else is refused with an
 * {@link IllegalArgumentException} naming the reference and the allowed roots.
 *
 * <p>The returned path is the checked real path, so opening it does not follow a link that could have been swapped
 * afterwards; use {@link AdapterReference#describe()} to name the adapter in messages. Roots need not exist when this
 * object is created: each call checks them again, and a missing root admits nothing. Immutable and thread-safe.
 */
public final class AdapterRoots {

    private static final String EXTENSION = WeightNames.EXTENSION;

    private final Path adapterDirectory;
    private final Path hubCache;
    private final List<Path> extraRoots;
    private final List<Path> roots;

    /**
     * @param adapterDirectory the adapter directory, or null for none; relative {@link FileReference}s and all
     *                         {@link DirectoryReference}s are resolved against it
     * @param hubCache         the hub cache directory, or null for none
     * @param extraRoots       further readable folders, or null for none
     * @throws IllegalArgumentException when an extra root is null
     */
    public AdapterRoots(Path adapterDirectory, Path hubCache, Collection<Path> extraRoots) {
        this.adapterDirectory = adapterDirectory == null ? null : normalise(adapterDirectory);
        this.hubCache = hubCache == null ? null : normalise(hubCache);
        List<Path> extras = new ArrayList<>();
        if (extraRoots != null) {
            for (Path root : extraRoots) {
                if (root == null) {
                    throw new IllegalArgumentException("extra roots must not contain null, got " + extraRoots);
                }
                extras.add(normalise(root));
            }
        }
        this.extraRoots = List.copyOf(extras);
        List<Path> all = new ArrayList<>();
        if (this.adapterDirectory != null) {
            all.add(this.adapterDirectory);
        }
        if (this.hubCache != null) {
            all.add(this.hubCache);
        }
        all.addAll(this.extraRoots);
        this.roots = List.copyOf(all);
    }

    /** Only an adapter directory. */
    public static AdapterRoots of(Path adapterDirectory) {
        return new AdapterRoots(adapterDirectory, null, List.of());
    }

    /** The adapter directory, absolute and normalised. */
    public Optional<Path> adapterDirectory() {
        return Optional.ofNullable(adapterDirectory);
    }

    /** The hub cache directory, absolute and normalised. */
    public Optional<Path> hubCache() {
        return Optional.ofNullable(hubCache);
    }

    /** The extra roots, absolute and normalised. */
    public List<Path> extraRoots() {
        return extraRoots;
    }

    /** Every root: adapter directory, hub cache, extra roots (those configured), absolute and normalised. */
    public List<Path> roots() {
        return roots;
    }

    /**
     * The readable safetensors file a local reference denotes.
     *
     * <ul>
     *   <li>{@link FileReference}: an absolute path, or a path relative to the adapter directory.</li>
     *   <li>{@link DirectoryReference}: a path below the adapter directory; when nothing has that exact name,
     *       {@code <name>.safetensors} is tried, so the names of {@link AdapterDirectory#snapshot()} resolve as
     *       they are.</li>
     * </ul>
     *
     * @return the real path of the file, checked as described in the class comment
     * @throws IllegalArgumentException when the reference is a {@link HubReference} (use {@link HubCache}), escapes the
     *                                  roots, does not exist, is not a regular file or not named {@code *.safetensors},
     *                                  or is a folder without a unique weight file; the message names the reference and
     *                                  the roots
     */
    public Path resolve(AdapterReference reference) {
        if (reference == null) {
            throw new IllegalArgumentException("adapter reference must not be null");
        }
        if (reference instanceof FileReference file) {
            Path path = file.path();
            if (!path.isAbsolute()) {
                if (adapterDirectory == null) {
                    throw refused(reference, "a relative path needs an adapter directory, and none is configured");
                }
                path = adapterDirectory.resolve(path);
            }
            return confine(reference, normalise(path));
        }
        if (reference instanceof DirectoryReference directory) {
            if (adapterDirectory == null) {
                throw refused(reference, "no adapter directory is configured");
            }
            Path path = normalise(adapterDirectory.resolve(directory.relativeName()));
            if (!path.startsWith(adapterDirectory) || path.equals(adapterDirectory)) {
                throw refused(reference, "it lies outside the adapter directory " + adapterDirectory);
            }
            if (!Files.exists(path) && !path.getFileName().toString().endsWith(EXTENSION)) {
                Path withExtension = path.resolveSibling(path.getFileName() + EXTENSION);
                if (Files.exists(withExtension)) {
                    path = withExtension;
                }
            }
            return confine(reference, path);
        }
        throw refused(reference, "hub references are resolved through the hub cache (HubCache), not as local files");
    }

    /**
     * {@code resolve(new FileReference(path))}: checks that {@code path} (absolute, or relative to the adapter
     * directory) is a readable safetensors file or adapter folder inside the roots.
     *
     * @return the real path of the file
     * @throws IllegalArgumentException naming the path and the roots when it is not
     */
    public Path checkReadable(Path path) {
        if (path == null) {
            throw new IllegalArgumentException("path must not be null");
        }
        return resolve(new FileReference(path));
    }

    private Path confine(AdapterReference reference, Path path) {
        List<Path> realRoots = realRoots();
        if (roots.stream().noneMatch(root -> below(path, root)) && realRoots.stream().noneMatch(r -> below(path, r))) {
            throw refused(reference, "it lies outside the readable roots");
        }
        Path real = realPath(reference, path);
        if (realRoots.stream().noneMatch(root -> below(real, root))) {
            throw refused(reference, "its real path " + real + " (after following links) leaves the readable roots");
        }
        if (Files.isDirectory(real)) {
            return adapterFolder(reference, path, real, realRoots);
        }
        return checkFile(reference, path, real);
    }

    private Path adapterFolder(AdapterReference reference, Path folder, Path realFolder, List<Path> realRoots) {
        List<String> names = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(realFolder)) {
            for (Path entry : entries) {
                names.add(entry.getFileName().toString());
            }
        } catch (IOException e) {
            throw new IllegalArgumentException(message(reference, "its folder " + folder + " cannot be listed: " + e),
                    e);
        }
        String weightName = WeightNames.infer(names).orElseThrow(() -> refused(reference,
                "it is a folder, and the folder " + WeightNames.describeChoice(names)));
        Path file = folder.resolve(weightName);
        Path real = realPath(reference, file);
        if (realRoots.stream().noneMatch(root -> below(real, root))) {
            throw refused(reference, "its weight file " + file + " has the real path " + real
                    + " (after following links), which leaves the readable roots");
        }
        return checkFile(reference, file, real);
    }

    private Path checkFile(AdapterReference reference, Path path, Path real) {
        if (!Files.isRegularFile(real)) {
            throw refused(reference, path + " is not a regular file");
        }
        if (!path.getFileName().toString().endsWith(EXTENSION)) {
            throw refused(reference, path.getFileName() + " is not named *" + EXTENSION
                    + " (only safetensors files are read)");
        }
        return real;
    }

    private Path realPath(AdapterReference reference, Path path) {
        try {
            return path.toRealPath();
        } catch (NoSuchFileException e) {
            throw refused(reference, path + " does not exist");
        } catch (IOException | SecurityException e) {
            throw new IllegalArgumentException(message(reference, path + " cannot be read: " + e), e);
        }
    }

    private List<Path> realRoots() {
        List<Path> real = new ArrayList<>(roots.size());
        for (Path root : roots) {
            try {
                real.add(root.toRealPath());
            } catch (IOException | SecurityException e) {
                // a root that does not exist (yet) admits nothing
            }
        }
        return real;
    }

    private static boolean below(Path path, Path root) {
        return path.startsWith(root) && !path.equals(root);
    }

    private IllegalArgumentException refused(AdapterReference reference, String reason) {
        return new IllegalArgumentException(message(reference, reason));
    }

    private String message(AdapterReference reference, String reason) {
        return "adapter reference '" + reference.describe() + "' is refused: " + reason + "; readable roots: "
                + (roots.isEmpty() ? "none configured" : roots.toString());
    }

    private static Path normalise(Path path) {
        return path.toAbsolutePath().normalize();
    }
}
