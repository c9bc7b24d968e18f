package io.lorica.ort.impl;

import java.util.Locale;

/** ONNX Runtime's name for a platform's native folder, e.g. {@code linux-x64} (as in {@code ai/onnxruntime/native/}). */
final class NativePlatform {

    private NativePlatform() {
    }

    static String current() {
        return of(System.getProperty("os.name", ""), System.getProperty("os.arch", ""));
    }

    static String of(String osName, String osArch) {
        String os = osName.toLowerCase(Locale.ROOT);
        String family;
        if (os.contains("linux")) {
            family = "linux";
        } else if (os.contains("mac") || os.contains("darwin")) {
            family = "osx";
        } else if (os.contains("win")) {
            family = "win";
        } else {
            throw new IllegalStateException("ONNX Runtime has no natives for operating system '" + osName
                    + "': expected Linux, macOS or Windows");
        }
        String arch = switch (osArch.toLowerCase(Locale.ROOT)) {
            case "amd64", "x86_64", "x64" -> "x64";
            case "aarch64", "arm64" -> "aarch64";
            default -> throw new IllegalStateException("ONNX Runtime has no natives for architecture '" + osArch
                    + "': expected x86-64 or aarch64");
        };
        return family + "-" + arch;
    }
}
