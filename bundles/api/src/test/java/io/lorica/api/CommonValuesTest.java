package io.lorica.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Component, ModelFamily, ExecutionProvider, DType and AdapterNames. */
class CommonValuesTest {

    @Test
    void componentFromId_whenDiffusersName_returnsComponent() {
        assertEquals(Component.TEXT_ENCODER_2, Component.fromId("text_encoder_2"));
        assertEquals("unet", Component.UNET.id());
    }

    @Test
    void componentFromId_whenUnknown_rejectsNamingValueAndExpectedIds() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Component.fromId("vae"));
        assertEquals("unknown component 'vae', expected one of unet, text_encoder, text_encoder_2", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Component.fromId(null));
    }

    @Test
    void modelFamily_components_followDiffusersLoadOrderAndAreImmutable() {
        assertEquals(List.of(Component.UNET, Component.TEXT_ENCODER), List.copyOf(ModelFamily.SD15.components()));
        assertEquals(Set.of(Component.UNET, Component.TEXT_ENCODER, Component.TEXT_ENCODER_2),
                ModelFamily.SDXL.components());
        assertFalse(ModelFamily.SD15.has(Component.TEXT_ENCODER_2));
        assertThrows(UnsupportedOperationException.class,
                () -> ModelFamily.SD15.components().add(Component.TEXT_ENCODER_2));
    }

    @Test
    void modelFamilyFromId_whenUnknown_rejectsNamingExpected() {
        assertEquals(ModelFamily.SDXL, ModelFamily.fromId("sdxl"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelFamily.fromId("SD3"));
        assertEquals("unknown model family 'SD3', expected one of sd15, sdxl", e.getMessage());
    }

    @Test
    void executionProviderFromId_mapsToOrtName_andRejectsUnknown() {
        assertEquals("CUDAExecutionProvider", ExecutionProvider.fromId("cuda").ortName());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ExecutionProvider.fromId("rocm"));
        assertTrue(e.getMessage().contains("'rocm'") && e.getMessage().contains("cpu, cuda"), e.getMessage());
    }

    @Test
    void dtypeFromSafetensorsName_givesSizeAndKind_andRejectsUnknown() {
        assertEquals(2, DType.fromSafetensorsName("BF16").byteSize());
        assertTrue(DType.BF16.isFloatingPoint());
        assertFalse(DType.I64.isFloatingPoint());
        assertEquals(8, DType.I64.byteSize());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DType.fromSafetensorsName("F8_E4M3"));
        assertTrue(e.getMessage().startsWith("unsupported dtype 'F8_E4M3', expected one of F32, F16"), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"toy", "default_0", "pixel-art.v2", "A"})
    void adapterNames_whenWellFormed_accepts(String name) {
        assertEquals(name, AdapterNames.require(name, "adapterName"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "-x", ".hidden", "a b", "a/b", "<lora>"})
    void adapterNames_whenMalformed_rejectsNamingFieldAndValue(String name) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> AdapterNames.require(name, "adapterName"));
        assertTrue(e.getMessage().startsWith("adapterName '" + name + "' is not a valid adapter name"), e.getMessage());
        assertFalse(AdapterNames.isValid(null));
    }

    @Test
    void adapterNames_whenLongerThan128_rejects() {
        assertTrue(AdapterNames.isValid("a".repeat(128)));
        assertFalse(AdapterNames.isValid("a".repeat(129)));
    }
}
