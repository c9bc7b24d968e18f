package io.lorica.pipelines.scheduler;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.pipelines.noise.TorchGenerator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Full sampling loops against the numpy re-implementation of Diffusers: latents from {@code torch.randn} (seed 3)
 * times {@code init_noise_sigma}, a deterministic fake model {@code 0.1 * scaled_input + 0.01 * t / 1000}, and the
 * same generator passed to every step, so the ancestral and SDE schedulers draw the noise Diffusers draws.
 */
class SchedulerLoopTest {

    private static final double LOOP_TOLERANCE = 1e-4;

    static List<ReferenceTables.Case> cases() {
        return ReferenceTables.cases();
    }

    /** The loop of {@code scheduler_tables.py}; returns the latents after the first and the last step. */
    static float[][] runLoop(Scheduler scheduler) {
        ReferenceTables.Document document = ReferenceTables.document();
        TorchGenerator generator = new TorchGenerator(document.seed());
        float[] latents = generator.randn(document.shape());
        float initNoiseSigma = (float) scheduler.initNoiseSigma();
        for (int k = 0; k < latents.length; k++) {
            latents[k] = latents[k] * initNoiseSigma;
        }
        float[] first = latents.clone();
        for (int i = 0; i < scheduler.stepCount(); i++) {
            float[] modelInput = latents.clone();
            scheduler.scaleModelInput(modelInput, i);
            float[] modelOutput = fakeModel(modelInput, scheduler.timestep(i));
            scheduler.step(modelOutput, i, latents, generator);
            if (i == 0) {
                first = latents.clone();
            }
        }
        return new float[][] {first, latents};
    }

    static float[] fakeModel(float[] input, double timestep) {
        float shift = (float) (0.01 * timestep / 1000.0);
        float[] out = new float[input.length];
        for (int k = 0; k < out.length; k++) {
            out[k] = 0.1f * input[k] + shift;
        }
        return out;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void samplingLoopMatchesDiffusers(ReferenceTables.Case reference) {
        float[][] result = runLoop(reference.newScheduler());
        assertClose(reference.first(), result[0], "after the first step");
        assertClose(reference.last(), result[1], "after the last step");
    }

    @Test
    void torchGeneratorDrawsTheTorchReferenceValues() {
        // the noise the ancestral and SDE steps draw: consecutive torch.randn calls on one CPU generator
        for (Map.Entry<Long, List<float[]>> entry : ReferenceTables.torchRandn().entrySet()) {
            TorchGenerator generator = new TorchGenerator(entry.getKey());
            for (float[] expected : entry.getValue()) {
                float[] actual = generator.randn(expected.length);
                for (int k = 0; k < expected.length; k++) {
                    assertEquals(expected[k], actual[k], 2e-6, "seed " + entry.getKey() + " value " + k);
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"euler_a", "sde-dpmsolver++"})
    void stochasticSchedulersDrawOneSampleShapedTensorPerStep(String which) {
        Scheduler scheduler = which.equals("euler_a")
                ? Schedulers.create("euler_a", Schedulers.parse(SchedulerConfigTest.SD15))
                : Schedulers.fromConfig(Schedulers.parse(SchedulerConfigTest.DPM).with("algorithm_type", which));
        scheduler.setTimesteps(7);
        TorchGenerator generator = new TorchGenerator(11);
        float[] latents = generator.randn(2, 4, 3, 3);
        for (int i = 0; i < scheduler.stepCount(); i++) {
            scheduler.step(fakeModel(latents, scheduler.timestep(i)), i, latents, generator);
        }
        TorchGenerator expected = new TorchGenerator(11);
        for (int draw = 0; draw < 1 + scheduler.stepCount(); draw++) {
            expected.randn(72);
        }
        assertEquals(expected.nextUInt32(), generator.nextUInt32(), "generator position after the loop");
    }

    @Test
    void deterministicSchedulersDrawNoNoise() {
        for (String name : List.of("euler", "ddim", "dpmpp_2m", "dpmpp_2m_karras", "pndm", "lms")) {
            Scheduler scheduler = Schedulers.create(name, Schedulers.parse(SchedulerConfigTest.SD15));
            scheduler.setTimesteps(5);
            float[] latents = new TorchGenerator(5).randn(1, 4, 4, 4);
            for (int i = 0; i < scheduler.stepCount(); i++) {
                scheduler.step(fakeModel(latents, scheduler.timestep(i)), i, latents, null);
            }
            for (float value : latents) {
                assertTrue(Float.isFinite(value), name);
            }
        }
    }

    @Test
    void setTimestepsResetsTheHistory() {
        ReferenceTables.Case reference = cases().stream()
                .filter(c -> c.id().contains("base-sd15-pndm-20")).findFirst().orElseThrow();
        Scheduler scheduler = reference.newScheduler();
        float[][] once = runLoop(scheduler);
        scheduler.setTimesteps(reference.steps());
        float[][] twice = runLoop(scheduler);
        assertArrayEquals(once[1], twice[1]);
        assertArrayEquals(reference.last(), twice[1], 1e-4f);
    }

    @Test
    void stepsMustRunInOrder() {
        Scheduler scheduler = Schedulers.create("dpmpp_2m", Schedulers.parse(SchedulerConfigTest.SD15));
        scheduler.setTimesteps(10);
        float[] latents = new float[16];
        float[] output = new float[16];
        IllegalStateException skipped = assertThrows(IllegalStateException.class,
                () -> scheduler.step(output, 1, latents, null));
        assertTrue(skipped.getMessage().contains("expected step 0"), skipped.getMessage());
        scheduler.step(output, 0, latents, null);
        assertThrows(IllegalStateException.class, () -> scheduler.step(output, 0, latents, null));
        assertThrows(IndexOutOfBoundsException.class, () -> scheduler.step(output, 10, latents, null));
    }

    @Test
    void argumentsAreChecked() {
        Scheduler unset = Schedulers.create("euler", SchedulerConfig.empty());
        assertThrows(IllegalStateException.class, unset::timesteps);
        assertThrows(IllegalStateException.class, unset::initNoiseSigma);
        assertThrows(IllegalStateException.class, () -> unset.scaleModelInput(new float[4], 0));

        Scheduler euler = Schedulers.create("euler_a", SchedulerConfig.empty());
        assertThrows(IllegalArgumentException.class, () -> euler.setTimesteps(0));
        assertThrows(IllegalArgumentException.class, () -> euler.setTimesteps(1001));
        euler.setTimesteps(4);
        IllegalArgumentException lengths = assertThrows(IllegalArgumentException.class,
                () -> euler.step(new float[8], 0, new float[16], new TorchGenerator(0)));
        assertTrue(lengths.getMessage().contains("8") && lengths.getMessage().contains("16"), lengths.getMessage());
        NullPointerException noGenerator = assertThrows(NullPointerException.class,
                () -> euler.step(new float[16], 0, new float[16], null));
        assertTrue(noGenerator.getMessage().contains("generator"), noGenerator.getMessage());
        assertThrows(IndexOutOfBoundsException.class, () -> euler.timestep(4));
    }

    @Test
    void onlyTheSigmaSchedulersScaleTheModelInput() {
        SchedulerConfig config = Schedulers.parse(SchedulerConfigTest.SD15);
        for (String name : List.of("ddim", "pndm", "dpmpp_2m", "dpmpp_2m_karras")) {
            Scheduler scheduler = Schedulers.create(name, config);
            scheduler.setTimesteps(10);
            float[] input = {1f, -2f, 3.5f};
            scheduler.scaleModelInput(input, 3);
            assertArrayEquals(new float[] {1f, -2f, 3.5f}, input, name);
        }
        for (String name : List.of("euler", "euler_a", "lms")) {
            Scheduler scheduler = Schedulers.create(name, config);
            scheduler.setTimesteps(10);
            float sigma = (float) scheduler.sigmas()[3];
            float[] input = {1f, -2f, 3.5f};
            scheduler.scaleModelInput(input, 3);
            double norm = Math.sqrt((double) sigma * sigma + 1);
            assertEquals(1 / norm, input[0], 1e-6, name);
            assertEquals(3.5 / norm, input[2], 1e-6, name);
            assertNotEquals(1f, input[0], name);
        }
    }

    @Test
    void batchesAreSteppedElementwise() {
        // the second half of a batch of two identical samples stays identical to the first
        Scheduler scheduler = Schedulers.create("dpmpp_2m_karras", Schedulers.parse(SchedulerConfigTest.SDXL));
        scheduler.setTimesteps(12);
        float[] one = new TorchGenerator(2).randn(1, 4, 4, 4);
        float[] two = new float[2 * one.length];
        System.arraycopy(one, 0, two, 0, one.length);
        System.arraycopy(one, 0, two, one.length, one.length);
        for (int i = 0; i < scheduler.stepCount(); i++) {
            scheduler.step(fakeModel(two, scheduler.timestep(i)), i, two, null);
        }
        for (int k = 0; k < one.length; k++) {
            assertEquals(two[k], two[k + one.length]);
        }
    }

    static void assertClose(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what + " length");
        for (int i = 0; i < expected.length; i++) {
            double tolerance = LOOP_TOLERANCE * Math.max(1, Math.abs(expected[i]));
            assertEquals(expected[i], actual[i], tolerance, what + " [" + i + "]");
        }
    }
}
