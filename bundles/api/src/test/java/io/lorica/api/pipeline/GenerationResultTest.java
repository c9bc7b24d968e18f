package io.lorica.api.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.lorica.api.policy.AdapterSettings;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;

class GenerationResultTest {

    static byte[] png(int marker) {
        return new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', (byte) marker};
    }

    static GenerationResult result(List<byte[]> images, Map<String, Duration> timings) {
        return new GenerationResult(images, 42L, timings, AdapterSettings.none());
    }

    @Test
    void result_copiesImagesOnTheWayInAndOut() {
        byte[] image = png(1);
        GenerationResult result = result(new ArrayList<>(List.of(image)), Map.of());
        image[8] = 9;
        result.image(0)[8] = 7;
        result.images().get(0)[8] = 7;
        assertArrayEquals(png(1), result.image(0));
        assertEquals(1, result.imageCount());
        assertThrows(IllegalArgumentException.class, () -> result.image(1));
    }

    @Test
    void result_whenImageIsNotPng_rejectsNamingIndex() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> result(List.of(png(1), new byte[] {1, 2, 3}), Map.of()));
        assertEquals("image 1 is not a PNG file (missing PNG signature)", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> result(List.of(), Map.of()));
    }

    @Test
    void result_whenTimingNegative_rejectsNamingStage() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> result(List.of(png(1)), Map.of("denoise", Duration.ofMillis(-1))));
        assertEquals("duration of stage 'denoise' must be >= 0, got PT-0.001S", e.getMessage());
    }

    @Test
    void total_sumsStageTimingsInOrder() {
        Map<String, Duration> timings = new LinkedHashMap<>();
        timings.put("text_encoder", Duration.ofMillis(20));
        timings.put("denoise", Duration.ofSeconds(3));
        timings.put("vae_decoder", Duration.ofMillis(300));
        GenerationResult result = result(List.of(png(1)), timings);
        assertEquals(Duration.ofMillis(3320), result.total());
        assertEquals(List.of("text_encoder", "denoise", "vae_decoder"), List.copyOf(result.timings().keySet()));
    }

    @Test
    void equals_comparesImageBytes() {
        GenerationResult a = result(List.of(png(1)), Map.of());
        assertEquals(a, result(List.of(png(1)), Map.of()));
        assertEquals(a.hashCode(), result(List.of(png(1)), Map.of()).hashCode());
        assertNotEquals(a, result(List.of(png(2)), Map.of()));
    }

    @Test
    void progressListenerNone_acceptsSteps_andLambdaListenersReceiveThem() {
        ProgressListener.none().onStep(1, 30, Optional.empty());
        AtomicInteger last = new AtomicInteger();
        ProgressListener listener = (step, total, preview) -> last.set(step * 100 + total);
        listener.onStep(3, 30, Optional.empty());
        assertEquals(330, last.get());
    }
}
