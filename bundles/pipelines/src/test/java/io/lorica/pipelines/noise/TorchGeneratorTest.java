package io.lorica.pipelines.noise;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.InputStream;
import java.util.stream.StreamSupport;

import org.junit.jupiter.api.Test;

/** {@link TorchGenerator} against values torch 2.13 drew on the CPU after {@code torch.manual_seed}. */
class TorchGeneratorTest {

    /** Box-Muller on float32 with libm or SLEEF transcendental functions (and 9-digit JSON): about one ulp apart. */
    private static final double TOLERANCE = 5e-7;

    private static JsonNode reference() throws IOException {
        try (InputStream in = TorchGeneratorTest.class.getResourceAsStream("/torch_cpu_randn.json")) {
            return new ObjectMapper().readTree(in);
        }
    }

    private static long[] shape(JsonNode node) {
        return StreamSupport.stream(node.spliterator(), false).mapToLong(JsonNode::asLong).toArray();
    }

    private static float[] values(JsonNode node) {
        float[] out = new float[node.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) node.get(i).asDouble();
        }
        return out;
    }

    private static void assertClose(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": count");
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], TOLERANCE * Math.max(1, Math.abs(expected[i])),
                    what + ": value " + i);
        }
    }

    @Test
    void everyReferenceCaseMatches() throws IOException {
        // vectorised path (>= 16 values, with and without a remainder) and the scalar path (< 16), seeds above 2^32
        for (JsonNode c : reference().get("cases")) {
            long seed = c.get("seed").asLong();
            long[] shape = shape(c.get("shape"));
            float[] drawn = new TorchGenerator(seed).randn(shape);
            assertClose(values(c.get("values")), drawn, "seed " + seed + " shape " + c.get("shape"));
        }
    }

    @Test
    void secondDrawContinuesTheSequence() throws IOException {
        JsonNode s = reference().get("sequence");
        TorchGenerator generator = new TorchGenerator(s.get("seed").asLong());
        long[] shape = shape(s.get("shape"));
        assertClose(values(s.get("first")), generator.randn(shape), "first draw");
        assertClose(values(s.get("second")), generator.randn(shape), "second draw, as an ancestral step makes");
    }

    @Test
    void largeLatentsMatchAtBothEndsAndInTheMiddle() throws IOException {
        JsonNode l = reference().get("large");
        float[] drawn = new TorchGenerator(l.get("seed").asLong()).randn(shape(l.get("shape")));
        float[] first = new float[8];
        float[] last = new float[8];
        System.arraycopy(drawn, 0, first, 0, 8);
        System.arraycopy(drawn, drawn.length - 8, last, 0, 8);
        assertClose(values(l.get("first8")), first, "first 8");
        assertClose(values(l.get("last8")), last, "last 8");
        assertEquals(l.get("index_12345").asDouble(), drawn[12345], TOLERANCE * 4);
        double sum = 0;
        for (float v : drawn) {
            sum += v;
        }
        assertEquals(l.get("sum").asDouble(), sum, 1e-2);
    }

    @Test
    void reseedingRestartsTheSequence() {
        TorchGenerator generator = new TorchGenerator(5);
        float[] first = generator.randn(1, 4, 8, 8);
        generator.manualSeed(5);
        assertArrayEquals(first, generator.randn(1, 4, 8, 8));
    }

    @Test
    void negativeDimensionIsRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new TorchGenerator(0).randn(1, -4));
        assertEquals("randn shape [1, -4] has a negative dimension", e.getMessage());
    }
}
