package io.lorica.pipelines.scheduler;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** The numpy and torch building blocks of the schedules, checked against hand-computed values and invariants. */
class NumericsTest {

    @Test
    void linspaceHitsBothEnds() {
        assertArrayEquals(new double[] {0, 166.5, 333, 499.5, 666, 832.5, 999}, Numpy.linspace(0, 999, 7));
        assertArrayEquals(new double[] {0}, Numpy.linspace(0, 999, 1));
        assertArrayEquals(new double[] {0, 0.25, 0.5, 0.75, 1}, Numpy.linspace(0, 1, 5));
    }

    @Test
    void arangeWithAFloatStepCanYieldOneValueTooMany() {
        // np.arange(1000, 0, -1000 / 61) has 62 values: Diffusers' trailing spacing then ends at round(~0) - 1 = -1
        double[] values = Numpy.arange(1000, 0, -1000.0 / 61);
        assertEquals(62, values.length);
        assertEquals(0, Math.rint(values[61]), 0.0);
        assertEquals(50, Numpy.arange(1000, 0, -1000.0 / 50).length);
        assertArrayEquals(new double[] {1000, 750, 500, 250}, Numpy.arange(1000, 0, -250.0));
        assertEquals(0, Numpy.arange(0, 10, -1).length);
    }

    @Test
    void roundingIsHalfToEven() {
        assertArrayEquals(new double[] {0, 2, 2, -2}, Numpy.rint(new double[] {0.5, 1.5, 2.5, -2.5}));
    }

    @Test
    void interpClampsAndInterpolates() {
        float[] fp = {1f, 3f, 7f};
        assertArrayEquals(new double[] {1, 1, 2, 3, 5, 7, 7}, Numpy.interp(new double[] {-1, 0, 0.5, 1, 1.5, 2, 9},
                fp));
    }

    @Test
    void torchLinspaceFillsHalvesFromEachEnd() {
        float[] values = NoiseSchedule.torchLinspace(0.1, 0.9, 5);
        assertEquals(0.1f, values[0]);
        assertEquals(0.9f, values[4]);
        float step = (0.9f - 0.1f) / 4;
        assertEquals(0.1f + step, values[1]);
        assertEquals(0.9f - step * 2, values[2], "the second half counts back from the end");
        assertArrayEquals(new float[] {0.25f}, NoiseSchedule.torchLinspace(0.25, 3, 1));
    }

    @Test
    void cumprodAccumulatesInDouble() {
        float[] values = new float[1000];
        Arrays.fill(values, 0.999f);
        float[] product = NoiseSchedule.cumprod(values);
        assertEquals((float) Math.pow(0.999f, 1000), product[999], 0f);
    }

    @Test
    void sigmaToTInvertsTheTrainingSigmas() {
        SchedulerSettings settings = ((AbstractScheduler) Schedulers.create("euler",
                Schedulers.parse(SchedulerConfigTest.SD15))).settings();
        NoiseSchedule schedule = new NoiseSchedule(settings, true);
        float[] sigmas = schedule.trainSigmas();
        float[] logSigmas = NoiseSchedule.log(sigmas);
        for (int t : new int[] {0, 1, 250, 500, 998, 999}) {
            // float32 log table against a double log: equal up to float32 rounding
            assertEquals(t, NoiseSchedule.sigmaToT(sigmas[t], logSigmas), 1e-4, "t=" + t);
        }
        double halfway = Math.exp((logSigmas[100] + (double) logSigmas[101]) / 2);
        assertEquals(100.5, NoiseSchedule.sigmaToT(halfway, logSigmas), 1e-6);
        assertEquals(0, NoiseSchedule.sigmaToT(1e-6, logSigmas));
        assertEquals(999, NoiseSchedule.sigmaToT(1e6, logSigmas));
    }

    @Test
    void karrasSpansTheRangeWithRho7() {
        double[] sigmas = NoiseSchedule.karras(0.03, 14.6, 5);
        assertEquals(14.6, sigmas[0], 1e-12);
        assertEquals(0.03, sigmas[4], 1e-12);
        double middle = Math.pow((Math.pow(0.03, 1 / 7.0) + Math.pow(14.6, 1 / 7.0)) / 2, 7);
        assertEquals(middle, sigmas[2], 1e-12);
    }

    @Test
    void zeroTerminalSnrRescalingEndsAtZeroSignal() {
        float[] betas = NoiseSchedule.torchLinspace(Math.sqrt(0.00085), Math.sqrt(0.012), 1000);
        for (int i = 0; i < betas.length; i++) {
            betas[i] = betas[i] * betas[i];
        }
        float[] rescaled = NoiseSchedule.rescaleZeroTerminalSnr(betas);
        float[] alphasCumprod = NoiseSchedule.cumprod(oneMinus(rescaled));
        assertEquals(1f, rescaled[999]);
        assertEquals(0f, alphasCumprod[999]);
        assertEquals(1 - betas[0], alphasCumprod[0], 1e-7, "the first alpha is kept");
        for (int i = 1; i < 999; i++) {
            assertTrue(alphasCumprod[i] < alphasCumprod[i - 1]);
        }
    }

    private static float[] oneMinus(float[] values) {
        float[] out = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = 1f - values[i];
        }
        return out;
    }
}
