package io.lorica.api.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.registry.AdapterReference.DirectoryReference;
import io.lorica.api.registry.AdapterReference.FileReference;
import io.lorica.api.registry.AdapterReference.HubReference;

import java.nio.file.Path;
import java.util.Optional;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class AdapterReferenceTest {

    @Test
    void hubReference_whenWellFormed_describesRepoFileAndRevision() {
        HubReference ref = new HubReference("latent-consistency/lcm-lora-sdv1-5",
                Optional.of("pytorch_lora_weights.safetensors"), Optional.of("v1.0"));
        assertEquals("hub:latent-consistency/lcm-lora-sdv1-5/pytorch_lora_weights.safetensors@v1.0", ref.describe());
        assertEquals("hub:org/name", HubReference.of("org/name").describe());
    }

    @ParameterizedTest
    @ValueSource(strings = {"name", "org/name/extra", "/name", "org/", "org//name", "org/na me", "org/a--b", "org/a..b"})
    void hubReference_whenRepoIdIsNotOwnerSlashName_rejectsNamingIt(String repoId) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> HubReference.of(repoId));
        assertTrue(e.getMessage().startsWith("repoId '" + repoId + "' is not a Hugging Face repository id"),
                e.getMessage());
    }

    @Test
    void hubReference_whenWeightNameIsPickleOrEscapes_rejects() {
        assertEquals("weightName 'lora.bin' must end with .safetensors (pickle checkpoints are not supported)",
                assertThrows(IllegalArgumentException.class, () -> HubReference.of("org/name", "lora.bin"))
                        .getMessage());
        assertThrows(IllegalArgumentException.class, () -> HubReference.of("org/name", "../x.safetensors"));
        assertThrows(IllegalArgumentException.class, () -> HubReference.of("org/name", "/x.safetensors"));
        assertEquals("hub:org/name/sub/x.safetensors", HubReference.of("org/name", "sub/x.safetensors").describe());
    }

    @Test
    void hubReference_whenRevisionMalformed_rejects() {
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> new HubReference("org/name", Optional.empty(), Optional.of("main branch"))).getMessage()
                .startsWith("revision 'main branch' is not a branch, tag or commit"));
        assertThrows(IllegalArgumentException.class, () -> new HubReference("org/name", null, Optional.empty()));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "/abs/toy.safetensors", "../toy.safetensors", "a/../b", "a//b", "a\\b", "./a"})
    void directoryReference_whenNotPlainRelativePath_rejects(String name) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new DirectoryReference(name));
        assertTrue(e.getMessage().startsWith("relativeName '" + name + "'"), e.getMessage());
    }

    @Test
    void directoryAndFileReferences_describeThemselves() {
        assertEquals("dir:styles/toy.safetensors", new DirectoryReference("styles/toy.safetensors").describe());
        assertEquals("file:" + Path.of("/tmp/toy.safetensors"),
                new FileReference(Path.of("/tmp/toy.safetensors")).describe());
        assertThrows(IllegalArgumentException.class, () -> new FileReference(null));
        assertThrows(IllegalArgumentException.class, () -> new FileReference(Path.of("")));
    }
}
