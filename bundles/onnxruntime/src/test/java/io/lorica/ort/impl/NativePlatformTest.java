package io.lorica.ort.impl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class NativePlatformTest {

    @Test
    void of_mapsJvmNamesToOnnxRuntimeFolders() {
        assertEquals("linux-x64", NativePlatform.of("Linux", "amd64"));
        assertEquals("linux-aarch64", NativePlatform.of("Linux", "aarch64"));
        assertEquals("osx-aarch64", NativePlatform.of("Mac OS X", "aarch64"));
        assertEquals("win-x64", NativePlatform.of("Windows 11", "amd64"));
    }

    @Test
    void of_unknownSystem_namesIt() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> NativePlatform.of("SunOS", "sparcv9"));
        assertEquals("ONNX Runtime has no natives for operating system 'SunOS': expected Linux, macOS or Windows", e.getMessage());
        assertThrows(IllegalStateException.class, () -> NativePlatform.of("Linux", "ppc64le"));
    }
}
