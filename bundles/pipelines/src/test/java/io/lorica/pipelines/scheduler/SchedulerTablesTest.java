package io.lorica.pipelines.scheduler;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The timesteps, sigmas and {@code init_noise_sigma} of every scheduler against the numpy re-implementation of
 * Diffusers ({@code scheduler/tables.json}), plus a few values known from Diffusers itself.
 */
class SchedulerTablesTest {

    private static final double TABLE_TOLERANCE = 1e-6;
    private static final Set<String> DISCRETE = Set.of("ddim", "pndm", "dpmpp_2m", "dpmpp_2m_karras");

    static List<ReferenceTables.Case> cases() {
        return ReferenceTables.cases();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void timestepsMatchDiffusers(ReferenceTables.Case reference) {
        Scheduler scheduler = reference.newScheduler();
        double[] timesteps = scheduler.timesteps();
        assertEquals(reference.stepCount(), scheduler.stepCount(), "step count");
        assertEquals(reference.timesteps().length, timesteps.length, "number of timesteps");
        if (DISCRETE.contains(scheduler.name())) {
            assertArrayEquals(reference.timesteps(), timesteps, 0.0, "integer timesteps");
        } else {
            assertClose(reference.timesteps(), timesteps, "timesteps");
        }
        for (int i = 0; i < timesteps.length; i++) {
            assertEquals(timesteps[i], scheduler.timestep(i), "timestep(" + i + ")");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void sigmasMatchDiffusers(ReferenceTables.Case reference) {
        Scheduler scheduler = reference.newScheduler();
        assertClose(reference.sigmas(), scheduler.sigmas(), "sigmas");
        assertEquals(reference.initNoiseSigma(), scheduler.initNoiseSigma(),
                TABLE_TOLERANCE * Math.abs(reference.initNoiseSigma()), "init_noise_sigma");
    }

    @Test
    void referenceCoversEveryScheduler() {
        Set<String> names = new TreeSet<>();
        for (ReferenceTables.Case reference : cases()) {
            names.add(reference.newScheduler().name());
        }
        assertEquals(Set.of("euler", "euler_a", "ddim", "dpmpp_2m", "dpmpp_2m_karras", "pndm", "lms"), names);
        assertTrue(cases().size() > 200, "reference cases: " + cases().size());
    }

    @Test
    void stableDiffusion15PndmTimestepsRepeatTheSecondEntry() {
        Scheduler pndm = Schedulers.fromConfig(Schedulers.parse(SchedulerConfigTest.SD15));
        pndm.setTimesteps(50);
        double[] timesteps = pndm.timesteps();
        assertEquals(51, pndm.stepCount());
        assertArrayEquals(new double[] {981, 961, 961, 941, 921}, Arrays.copyOf(timesteps, 5));
        assertEquals(1, timesteps[50]);
        assertEquals(0, pndm.sigmas().length);
        assertEquals(1.0, pndm.initNoiseSigma());
    }

    @Test
    void stableDiffusion15EulerStartsAtTheLargestTrainingSigma() {
        // EulerDiscreteScheduler.from_config(sd15): linspace spacing (Euler's default), sigma(999) = 14.6146
        Scheduler euler = Schedulers.create("euler", Schedulers.parse(SchedulerConfigTest.SD15));
        euler.setTimesteps(25);
        assertEquals(999.0, euler.timestep(0));
        assertEquals(0.0, euler.timestep(24));
        assertEquals(14.6146, euler.initNoiseSigma(), 1e-4);
        double[] sigmas = euler.sigmas();
        assertEquals(26, sigmas.length);
        assertEquals(0.0, sigmas[25]);
        assertEquals(euler.initNoiseSigma(), sigmas[0]);
    }

    @Test
    void sdxlEulerLeadingSpacingUsesStepsOffset() {
        Scheduler euler = Schedulers.fromConfig(Schedulers.parse(SchedulerConfigTest.SDXL));
        euler.setTimesteps(30);
        double[] timesteps = euler.timesteps();
        assertEquals(958.0, timesteps[0]);
        assertEquals(925.0, timesteps[1]);
        assertEquals(1.0, timesteps[29]);
        double sigmaMax = euler.sigmas()[0];
        assertEquals(Math.sqrt(sigmaMax * sigmaMax + 1), euler.initNoiseSigma(), 1e-5);
    }

    @Test
    void sigmasDecreaseToTheFinalSigma() {
        for (String name : List.of("euler", "euler_a", "lms", "dpmpp_2m", "dpmpp_2m_karras")) {
            Scheduler scheduler = Schedulers.create(name, Schedulers.parse(SchedulerConfigTest.SD15));
            scheduler.setTimesteps(20);
            double[] sigmas = scheduler.sigmas();
            assertEquals(21, sigmas.length, name);
            for (int i = 1; i < sigmas.length; i++) {
                assertTrue(sigmas[i] < sigmas[i - 1], name + " sigma " + i);
            }
            assertEquals(0.0, sigmas[20], name);
        }
    }

    static void assertClose(double[] expected, double[] actual, String what) {
        assertEquals(expected.length, actual.length, what + " length");
        for (int i = 0; i < expected.length; i++) {
            double tolerance = TABLE_TOLERANCE * Math.max(Math.abs(expected[i]), 1e-3);
            assertEquals(expected[i], actual[i], tolerance, what + "[" + i + "]");
        }
    }
}
