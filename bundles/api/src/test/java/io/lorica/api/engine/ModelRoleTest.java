package io.lorica.api.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.lorica.api.Component;

import java.util.Optional;

import org.junit.jupiter.api.Test;

class ModelRoleTest {

    @Test
    void of_mapsEveryComponentToItsRole_andBack() {
        for (Component component : Component.values()) {
            ModelRole role = ModelRole.of(component);
            assertEquals(component.id(), role.id());
            assertEquals(Optional.of(component), role.component());
        }
        assertThrows(IllegalArgumentException.class, () -> ModelRole.of(null));
    }

    @Test
    void vaeRoles_haveNoLoraComponent_andExportFolderNames() {
        assertEquals(Optional.empty(), ModelRole.VAE_DECODER.component());
        assertEquals("vae_decoder", ModelRole.VAE_DECODER.id());
        assertEquals("vae_encoder", ModelRole.VAE_ENCODER.id());
    }
}
