package io.lorica.api.registry;

import java.nio.file.Path;
import java.util.Optional;
import java.util.regex.Pattern;

import org.osgi.annotation.versioning.ProviderType;

/**
 * Where to load a LoRA from: Diffusers' {@code pretrained_model_name_or_path_or_dict} (plus {@code weight_name} and
 * {@code revision}) as a closed set of values. Only safetensors files are read (no pickle).
 */
@ProviderType
public sealed interface AdapterReference
        permits AdapterReference.FileReference, AdapterReference.HubReference, AdapterReference.DirectoryReference {

    /** A one-line description for messages and listings, e.g. {@code hub:org/name/lora.safetensors@main}. */
    String describe();

    /**
     * A safetensors file, or a Diffusers adapter folder holding one, on the local file system.
     *
     * @param path the file or folder
     */
    record FileReference(Path path) implements AdapterReference {

        /** @throws IllegalArgumentException when the path is null or empty */
        public FileReference {
            if (path == null || path.toString().isEmpty()) {
                throw new IllegalArgumentException("path must not be null or empty, got '" + path + "'");
            }
        }

        @Override
        public String describe() {
            return "file:" + path;
        }
    }

    /**
     * A file in a Hugging Face Hub repository (resolved through the local cache; downloads may be disabled).
     *
     * @param repoId     {@code owner/name}, e.g. {@code latent-consistency/lcm-lora-sdv1-5}
     * @param weightName the file in the repository (Diffusers' {@code weight_name}), ending in {@code .safetensors};
     *                   absent to pick as Diffusers' {@code _best_guess_weight_name} does
     *                   ({@code pytorch_lora_weights.safetensors} first)
     * @param revision   branch, tag or commit; absent for {@code main}
     */
    record HubReference(String repoId, Optional<String> weightName, Optional<String> revision)
            implements AdapterReference {

        private static final Pattern PART = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,95}");
        private static final Pattern REVISION = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._/-]{0,127}");

        /** @throws IllegalArgumentException naming the field, value and rule when one is malformed */
        public HubReference {
            String[] parts = repoId == null ? new String[0] : repoId.split("/", -1);
            if (parts.length != 2 || !PART.matcher(parts[0]).matches() || !PART.matcher(parts[1]).matches()
                    || repoId.contains("--") || repoId.contains("..")) {
                throw new IllegalArgumentException("repoId '" + repoId + "' is not a Hugging Face repository id, "
                        + "expected owner/name with letters, digits, '.', '_' or '-'");
            }
            if (weightName == null || revision == null) {
                throw new IllegalArgumentException("weightName and revision must be Optional, not null");
            }
            weightName.ifPresent(name -> {
                AdapterReference.relativePath("weightName", name);
                if (!name.endsWith(".safetensors")) {
                    throw new IllegalArgumentException("weightName '" + name
                            + "' must end with .safetensors (pickle checkpoints are not supported)");
                }
            });
            revision.ifPresent(rev -> {
                if (!REVISION.matcher(rev).matches() || rev.contains("..")) {
                    throw new IllegalArgumentException("revision '" + rev
                            + "' is not a branch, tag or commit, expected letters, digits, '.', '_', '-' or '/'");
                }
            });
        }

        /** The repository's best-guess weight file at {@code main}. */
        public static HubReference of(String repoId) {
            return new HubReference(repoId, Optional.empty(), Optional.empty());
        }

        /** A named weight file at {@code main}. */
        public static HubReference of(String repoId, String weightName) {
            return new HubReference(repoId, Optional.ofNullable(weightName), Optional.empty());
        }

        @Override
        public String describe() {
            return "hub:" + repoId + weightName.map(w -> "/" + w).orElse("") + revision.map(r -> "@" + r).orElse("");
        }
    }

    /**
     * A file or adapter folder inside the adapter directory configured for the registry.
     *
     * @param relativeName a relative path below that directory: {@code /}-separated, no {@code ..}, {@code .} or empty
     *                     segments, no backslash
     */
    record DirectoryReference(String relativeName) implements AdapterReference {

        /** @throws IllegalArgumentException when the name is not such a relative path */
        public DirectoryReference {
            AdapterReference.relativePath("relativeName", relativeName);
        }

        @Override
        public String describe() {
            return "dir:" + relativeName;
        }
    }

    private static void relativePath(String field, String value) {
        if (value == null || value.isEmpty() || value.startsWith("/") || value.contains("\\")
                || value.indexOf('\0') >= 0) {
            throw new IllegalArgumentException(field + " '" + value
                    + "' must be a non-empty relative path with '/' separators");
        }
        for (String segment : value.split("/", -1)) {
            if (segment.isEmpty() || segment.equals(".") || segment.equals("..")) {
                throw new IllegalArgumentException(field + " '" + value
                        + "' must not contain empty, '.' or '..' segments");
            }
        }
    }
}
