package io.lorica.pipelines.scheduler;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.lorica.pipelines.noise.TorchGenerator;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The full-loop tests of Diffusers' own test suite ({@code tests/schedulers/test_scheduler_*.py}), whose expected
 * sums and means of {@code |sample|} were computed by Diffusers with torch: an independent check of the arithmetic.
 * The loops are reproduced as written there: {@code dummy_sample_deter} (arange(768) reshaped to (3, 8, 8, 4),
 * divided by 768 and permuted to (4, 3, 8, 8)), the dummy model {@code sample * t / (t + 1)}, ten steps,
 * {@code torch.manual_seed(0)} as the generator, and, for the sigma schedulers, the sample multiplied by
 * {@code init_noise_sigma} and replaced by its scaled version before each model call. Tolerances are Diffusers'.
 */
class DiffusersTestVectorsTest {

    private static final String EULER = "{\"_class_name\": \"EulerDiscreteScheduler\", \"num_train_timesteps\": 1100,"
            + " \"beta_start\": 0.0001, \"beta_end\": 0.02, \"beta_schedule\": \"linear\"}";
    private static final String EULER_A = EULER.replace("EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler");
    private static final String LMS = EULER.replace("EulerDiscreteScheduler", "LMSDiscreteScheduler");
    private static final String DDIM = "{\"_class_name\": \"DDIMScheduler\", \"num_train_timesteps\": 1000,"
            + " \"beta_start\": 0.0001, \"beta_end\": 0.02, \"beta_schedule\": \"linear\", \"clip_sample\": true}";
    private static final String PNDM = "{\"_class_name\": \"PNDMScheduler\", \"num_train_timesteps\": 1000,"
            + " \"beta_start\": 0.0001, \"beta_end\": 0.02, \"beta_schedule\": \"linear\"}";
    private static final String DPM = "{\"_class_name\": \"DPMSolverMultistepScheduler\", \"num_train_timesteps\": 1000,"
            + " \"beta_start\": 0.0001, \"beta_end\": 0.02, \"beta_schedule\": \"linear\", \"solver_order\": 2,"
            + " \"prediction_type\": \"epsilon\", \"thresholding\": false, \"sample_max_value\": 1.0,"
            + " \"algorithm_type\": \"dpmsolver++\", \"solver_type\": \"midpoint\", \"lower_order_final\": false,"
            + " \"euler_at_final\": false, \"variance_type\": null, \"final_sigmas_type\": \"sigma_min\"}";
    // (the Diffusers test also passes lambda_min_clipped=-inf, the default, which JSON cannot spell)

    static Stream<Arguments> vectors() {
        return Stream.of(
                // test_scheduler_euler.py
                Arguments.of("euler no noise", EULER, null, true, 10.0807, 1e-2, 0.0131),
                Arguments.of("euler v_prediction", EULER, "{\"prediction_type\": \"v_prediction\"}", true, 0.0002,
                        1e-2, 2.2676e-06),
                Arguments.of("euler karras", EULER, "{\"use_karras_sigmas\": true}", true, 124.52299499511719, 1e-2,
                        0.16213932633399963),
                // test_scheduler_euler_ancestral.py (noise from torch.manual_seed(0) at every step)
                Arguments.of("euler_a no noise", EULER_A, null, true, 152.3192, 1e-2, 0.1983),
                Arguments.of("euler_a v_prediction", EULER_A, "{\"prediction_type\": \"v_prediction\"}", true,
                        108.4439, 1e-2, 0.1412),
                // test_scheduler_lms.py
                Arguments.of("lms no noise", LMS, null, true, 1006.388, 1e-2, 1.31),
                Arguments.of("lms v_prediction", LMS, "{\"prediction_type\": \"v_prediction\"}", true, 0.0017, 1e-2,
                        2.2676e-06),
                Arguments.of("lms karras", LMS, "{\"use_karras_sigmas\": true}", true, 3812.9927, 2e-2, 4.9648),
                // test_scheduler_ddim.py
                Arguments.of("ddim no noise", DDIM, null, false, 172.0067, 1e-2, 0.223967),
                Arguments.of("ddim v_prediction", DDIM, "{\"prediction_type\": \"v_prediction\"}", false, 52.5302,
                        1e-2, 0.0684),
                Arguments.of("ddim set_alpha_to_one", DDIM, "{\"set_alpha_to_one\": true, \"beta_start\": 0.01}", false,
                        149.8295, 1e-2, 0.1951),
                Arguments.of("ddim no set_alpha_to_one", DDIM,
                        "{\"set_alpha_to_one\": false, \"beta_start\": 0.01}", false, 149.0784, 1e-2, 0.1941),
                // test_scheduler_pndm.py (Runge-Kutta warm-up: skip_prk_steps defaults to false)
                Arguments.of("pndm no noise", PNDM, null, false, 198.1318, 1e-2, 0.2580),
                Arguments.of("pndm v_prediction", PNDM, "{\"prediction_type\": \"v_prediction\"}", false, 67.3986,
                        1e-2, 0.0878),
                Arguments.of("pndm set_alpha_to_one", PNDM, "{\"set_alpha_to_one\": true, \"beta_start\": 0.01}", false,
                        230.0399, 1e-2, 0.2995),
                Arguments.of("pndm no set_alpha_to_one", PNDM,
                        "{\"set_alpha_to_one\": false, \"beta_start\": 0.01}", false, 186.9482, 1e-2, 0.2434),
                // test_scheduler_dpm_multi.py (means only)
                Arguments.of("dpm no noise", DPM, null, false, null, 0, 0.3301),
                Arguments.of("dpm v_prediction", DPM, "{\"prediction_type\": \"v_prediction\"}", false, null, 0,
                        0.2251),
                Arguments.of("dpm karras v_prediction", DPM,
                        "{\"prediction_type\": \"v_prediction\", \"use_karras_sigmas\": true}", false, null, 0, 0.2096));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("vectors")
    void fullLoopMatchesDiffusersTestSuite(String description, String configJson, String overridesJson,
            boolean sigmaScheduler, Double expectedSum, double sumTolerance, double expectedMean) {
        SchedulerConfig config = Schedulers.parse(configJson);
        if (overridesJson != null) {
            for (var entry : Schedulers.parse(overridesJson).toMap().entrySet()) {
                config = config.with(entry.getKey(), entry.getValue());
            }
        }
        Scheduler scheduler = Schedulers.fromConfig(config);
        scheduler.setTimesteps(10);
        TorchGenerator generator = new TorchGenerator(0);
        float[] sample = dummySampleDeter();
        if (sigmaScheduler) {
            float initNoiseSigma = (float) scheduler.initNoiseSigma();
            for (int k = 0; k < sample.length; k++) {
                sample[k] = sample[k] * initNoiseSigma;
            }
        }
        for (int i = 0; i < scheduler.stepCount(); i++) {
            scheduler.scaleModelInput(sample, i);
            float t = (float) scheduler.timestep(i);
            float[] modelOutput = new float[sample.length];
            for (int k = 0; k < sample.length; k++) {
                modelOutput[k] = sample[k] * t / (t + 1f);
            }
            scheduler.step(modelOutput, i, sample, generator);
        }
        double sum = 0;
        for (float value : sample) {
            sum += Math.abs(value);
        }
        double mean = sum / sample.length;
        if (expectedSum != null) {
            assertEquals(expectedSum, sum, sumTolerance, description + ": sum of |sample|");
        }
        assertEquals(expectedMean, mean, 1e-3, description + ": mean of |sample|");
    }

    /** Diffusers' {@code dummy_sample_deter}, flattened row-major in its (4, 3, 8, 8) shape. */
    private static float[] dummySampleDeter() {
        int batch = 4;
        int channels = 3;
        int height = 8;
        int width = 8;
        int count = batch * channels * height * width;
        float[] sample = new float[count];
        int index = 0;
        for (int b = 0; b < batch; b++) {
            for (int c = 0; c < channels; c++) {
                for (int h = 0; h < height; h++) {
                    for (int w = 0; w < width; w++) {
                        int source = ((c * height + h) * width + w) * batch + b;
                        sample[index++] = (float) source / count;
                    }
                }
            }
        }
        return sample;
    }
}
