package io.lorica.pipelines.scheduler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SortedSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Parsing of {@code scheduler_config.json}, error messages for bad values and names, and Diffusers'
 * {@code from_config} key inheritance between scheduler classes.
 */
class SchedulerConfigTest {

    /** Stable Diffusion 1.5's {@code scheduler/scheduler_config.json}. */
    static final String SD15 = "{\"_class_name\": \"PNDMScheduler\", \"_diffusers_version\": \"0.6.0\","
            + " \"beta_start\": 0.00085, \"beta_end\": 0.012, \"beta_schedule\": \"scaled_linear\","
            + " \"num_train_timesteps\": 1000, \"set_alpha_to_one\": false, \"skip_prk_steps\": true,"
            + " \"steps_offset\": 1, \"clip_sample\": false, \"trained_betas\": null}";
    /** Stable Diffusion XL's {@code scheduler/scheduler_config.json}. */
    static final String SDXL = "{\"_class_name\": \"EulerDiscreteScheduler\", \"_diffusers_version\": \"0.19.0.dev0\","
            + " \"beta_start\": 0.00085, \"beta_end\": 0.012, \"beta_schedule\": \"scaled_linear\","
            + " \"num_train_timesteps\": 1000, \"steps_offset\": 1, \"timestep_spacing\": \"leading\","
            + " \"interpolation_type\": \"linear\", \"prediction_type\": \"epsilon\", \"use_karras_sigmas\": false,"
            + " \"sample_max_value\": 1.0, \"set_alpha_to_one\": false, \"skip_prk_steps\": true,"
            + " \"clip_sample\": false}";
    /** A DPM-Solver config as Diffusers saves it. */
    static final String DPM = "{\"_class_name\": \"DPMSolverMultistepScheduler\", \"beta_start\": 0.00085,"
            + " \"beta_end\": 0.012, \"beta_schedule\": \"scaled_linear\", \"num_train_timesteps\": 1000,"
            + " \"steps_offset\": 1}";

    @Test
    void parsesStableDiffusionConfigs() {
        SchedulerConfig sd15 = Schedulers.parse(SD15);
        assertEquals("PNDMScheduler", sd15.className());
        assertEquals(1000, sd15.numTrainTimesteps());
        assertEquals(0.00085, sd15.betaStart());
        assertEquals(0.012, sd15.betaEnd());
        assertEquals("scaled_linear", sd15.betaSchedule());
        assertEquals(Boolean.TRUE, sd15.skipPrkSteps());
        assertEquals(Boolean.FALSE, sd15.setAlphaToOne());
        assertEquals(1, sd15.stepsOffset());
        assertNull(sd15.trainedBetas(), "trained_betas null is unset");
        assertNull(sd15.timestepSpacing(), "absent key");
        assertNull(sd15.predictionType(), "absent key");

        SchedulerConfig sdxl = Schedulers.parse(SDXL);
        assertEquals("EulerDiscreteScheduler", sdxl.className());
        assertEquals("leading", sdxl.timestepSpacing());
        assertEquals("linear", sdxl.interpolationType());
        assertEquals(Boolean.FALSE, sdxl.useKarrasSigmas());
        assertEquals(Boolean.FALSE, sdxl.clipSample());
    }

    @Test
    void unknownKeysAreIgnoredAndRoundTrip() {
        SchedulerConfig config = Schedulers.parse("{\"_class_name\": \"DDIMScheduler\", \"not_a_key\": [1, 2],"
                + " \"dynamic_thresholding_ratio\": 0.995, \"clip_sample_range\": 2}");
        assertEquals("DDIMScheduler", config.className());
        assertEquals(2.0, config.clipSampleRange());
        Map<String, Object> map = config.toMap();
        assertEquals(Map.of("_class_name", "DDIMScheduler", "clip_sample_range", 2.0), map);
        assertEquals(config, SchedulerConfig.of(map));
        assertEquals(SchedulerConfig.empty(), Schedulers.parse("{}"));
    }

    @Test
    void readsAFile(@TempDir Path directory) throws IOException {
        Path file = directory.resolve("scheduler_config.json");
        Files.writeString(file, SDXL, StandardCharsets.UTF_8);
        assertEquals(Schedulers.parse(SDXL), Schedulers.read(file));
        Files.writeString(file, "{\"beta_schedule\": \"cosine\"}", StandardCharsets.UTF_8);
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> Schedulers.read(file));
        assertTrue(bad.getMessage().contains(file.toString()), bad.getMessage());
        assertThrows(IOException.class, () -> Schedulers.read(directory.resolve("missing.json")));
    }

    @Test
    void rejectsTextThatIsNotAJsonObject() {
        assertThrows(IllegalArgumentException.class, () -> Schedulers.parse("{\"beta_start\": "));
        IllegalArgumentException array = assertThrows(IllegalArgumentException.class, () -> Schedulers.parse("[1]"));
        assertTrue(array.getMessage().contains("not a JSON object"), array.getMessage());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "beta_schedule|\"cosine\"|linear, scaled_linear, squaredcos_cap_v2",
        "timestep_spacing|\"uniform\"|leading, linspace, trailing",
        "prediction_type|\"noise\"|epsilon, v_prediction, sample",
        "final_sigmas_type|\"one\"|zero, sigma_min",
        "interpolation_type|\"cubic\"|linear, log_linear",
        "timestep_type|\"float\"|discrete, continuous",
        "algorithm_type|\"dpmsolver+\"|dpmsolver++, sde-dpmsolver++, dpmsolver, sde-dpmsolver, deis",
        "solver_type|\"euler\"|midpoint, heun, logrho, bh1, bh2",
    })
    void badOptionValuesNameTheKeyTheValueAndTheAcceptedValues(String key, String json, String accepted) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Schedulers.parse("{\"" + key + "\": " + json + "}"));
        assertTrue(e.getMessage().contains("'" + key + "'"), e.getMessage());
        assertTrue(e.getMessage().contains(json), e.getMessage());
        assertTrue(e.getMessage().contains("accepted values: " + accepted), e.getMessage());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "num_train_timesteps|0|an integer from 1",
        "num_train_timesteps|1000.0|an integer",
        "num_train_timesteps|\"1000\"|an integer",
        "steps_offset|-1|an integer from 0",
        "beta_start|1.5|[0, 1)",
        "beta_end|-0.1|[0, 1)",
        "beta_end|\"0.012\"|a number",
        "solver_order|4|an integer from 1 to 3",
        "use_karras_sigmas|\"true\"|true or false",
        "use_karras_sigmas|1|true or false",
        "sigma_min|0|a positive finite number",
        "clip_sample_range|-1|a positive finite number",
        "trained_betas|[0.1, \"x\"]|an array of numbers",
        "trained_betas|[0.1, 1.5]|betas in [0, 1]",
        "trained_betas|[]|one beta in [0, 1] per training timestep",
        "trained_betas|0.1|an array of numbers",
        "_class_name|\" \"|Diffusers scheduler class",
        "_class_name|[\"a\", \"b\"]|a string",
    })
    void badValuesNameTheKeyAndWhatWasExpected(String key, String json, String expected) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Schedulers.parse("{\"" + key + "\": " + json + "}"));
        assertTrue(e.getMessage().contains("'" + key + "'"), e.getMessage());
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    @Test
    void trainedBetasMustCoverTheTrainingTimesteps() {
        SchedulerConfig config = Schedulers.parse("{\"trained_betas\": [0.1, 0.2, 0.3]}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Schedulers.create("euler", config));
        assertTrue(e.getMessage().contains("'trained_betas' has 3 betas but num_train_timesteps is 1000"),
                e.getMessage());
        Scheduler ok = Schedulers.create("euler", config.with("num_train_timesteps", 3));
        ok.setTimesteps(2);
        assertEquals(3, ok.sigmas().length);
    }

    @Test
    void unknownNamesListTheAcceptedNames() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Schedulers.create("heun", Schedulers.parse(SD15)));
        assertEquals("unknown scheduler 'heun'; accepted names: ddim, default, dpmpp_2m, dpmpp_2m_karras, euler,"
                + " euler-ancestral, euler_a, lms, pndm", e.getMessage());
        SortedSet<String> names = Schedulers.names();
        assertEquals(List.of("ddim", "default", "dpmpp_2m", "dpmpp_2m_karras", "euler", "euler-ancestral", "euler_a",
                "lms", "pndm"), List.copyOf(names));
        assertThrows(UnsupportedOperationException.class, () -> names.add("x"));
    }

    @Test
    void namesAreCaseInsensitiveAndAliasesResolve() {
        SchedulerConfig config = Schedulers.parse(SD15);
        assertEquals("euler_a", Schedulers.create("euler-ancestral", config).name());
        assertEquals("euler_a", Schedulers.create(" Euler_A ", config).name());
        assertEquals("dpmpp_2m_karras", Schedulers.create("DPMPP_2M_KARRAS", config).name());
        assertEquals("pndm", Schedulers.create("default", config).name());
        assertEquals("euler", Schedulers.create("default", Schedulers.parse(SDXL)).name());
    }

    @Test
    void defaultNeedsAnImplementedClassName() {
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> Schedulers.fromConfig(SchedulerConfig.empty()));
        assertTrue(missing.getMessage().contains("no '_class_name'"), missing.getMessage());
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
                () -> Schedulers.create("default", Schedulers.parse("{\"_class_name\": \"UniPCMultistepScheduler\"}")));
        assertEquals("scheduler config key '_class_name' has value \"UniPCMultistepScheduler\", which Lorica does not"
                + " implement; accepted values: EulerDiscreteScheduler, EulerAncestralDiscreteScheduler, DDIMScheduler,"
                + " DPMSolverMultistepScheduler, PNDMScheduler, LMSDiscreteScheduler", unknown.getMessage());
        // a named scheduler does not care which class the file was written for
        assertEquals("euler", Schedulers.create("euler",
                Schedulers.parse("{\"_class_name\": \"UniPCMultistepScheduler\"}")).name());
    }

    @Test
    void fromConfigTakesTheFileKeysAndTheTargetDefaults() {
        SchedulerConfig sd15 = Schedulers.parse(SD15);
        // EulerDiscreteScheduler.from_config(PNDM config): Euler's own timestep_spacing default, the file's betas
        SchedulerSettings euler = settings("euler", sd15);
        assertEquals(Options.Spacing.LINSPACE, euler.timestepSpacing());
        assertEquals(1, euler.stepsOffset());
        assertEquals(Options.BetaSchedule.SCALED_LINEAR, euler.betaSchedule());
        assertEquals(0.00085, euler.betaStart());
        assertFalse(euler.useKarrasSigmas());
        assertEquals(Options.FinalSigmas.ZERO, euler.finalSigmasType());

        // DDIMScheduler.from_config(PNDM config): the file's clip_sample/set_alpha_to_one, DDIM's leading spacing
        SchedulerSettings ddim = settings("ddim", sd15);
        assertFalse(ddim.clipSample());
        assertFalse(ddim.setAlphaToOne());
        assertEquals(Options.Spacing.LEADING, ddim.timestepSpacing());
        // ... and DDIM's own defaults where the file is silent
        SchedulerSettings bareDdim = settings("ddim", SchedulerConfig.empty());
        assertTrue(bareDdim.clipSample());
        assertTrue(bareDdim.setAlphaToOne());
        assertEquals(Options.BetaSchedule.LINEAR, bareDdim.betaSchedule());
        assertEquals(0.0001, bareDdim.betaStart());
        assertEquals(0.02, bareDdim.betaEnd());

        // PNDMScheduler.from_config(SDXL's Euler config): skip_prk_steps from the file, spacing from the file
        SchedulerSettings pndm = settings("pndm", Schedulers.parse(SDXL));
        assertTrue(pndm.skipPrkSteps());
        assertEquals(Options.Spacing.LEADING, pndm.timestepSpacing());

        // DPMSolverMultistepScheduler.from_config(PNDM config): DPM's defaults, the names' overrides
        SchedulerSettings dpm = settings("dpmpp_2m_karras", sd15.with("solver_order", 3));
        assertEquals(2, dpm.solverOrder(), "dpmpp_2m fixes the order");
        assertTrue(dpm.useKarrasSigmas());
        assertTrue(dpm.lowerOrderFinal());
        assertEquals(Options.Spacing.LINSPACE, dpm.timestepSpacing());
        assertEquals(3, settings("default", Schedulers.parse(DPM).with("solver_order", 3)).solverOrder());
    }

    @Test
    void keysAClassDoesNotReadDoNotReachIt() {
        // PNDMScheduler has no rescale_betas_zero_snr: the same betas with and without it
        SchedulerConfig plain = Schedulers.parse(SD15);
        SchedulerConfig rescaled = plain.with("rescale_betas_zero_snr", true);
        assertFalse(settings("pndm", rescaled).rescaleBetasZeroSnr());
        assertTrue(settings("euler", rescaled).rescaleBetasZeroSnr());
        Scheduler a = Schedulers.create("pndm", plain);
        Scheduler b = Schedulers.create("pndm", rescaled);
        a.setTimesteps(10);
        b.setTimesteps(10);
        float[] x = {0.5f, -1f};
        float[] y = x.clone();
        a.step(new float[] {0.1f, 0.2f}, 0, x, null);
        b.step(new float[] {0.1f, 0.2f}, 0, y, null);
        assertEquals(x[0], y[0]);
        assertEquals(x[1], y[1]);
    }

    @Test
    void useDefaultValuesCountAsUnset() {
        // what Diffusers keeps in a loaded scheduler's config: values it defaulted are dropped by from_config
        SchedulerConfig config = SchedulerConfig.of(Map.of("timestep_spacing", "leading", "steps_offset", 1,
                "_use_default_values", List.of("timestep_spacing")));
        assertNull(config.timestepSpacing());
        assertEquals(1, config.stepsOffset());
        assertThrows(IllegalArgumentException.class,
                () -> SchedulerConfig.of(Map.of("_use_default_values", "timestep_spacing")));
    }

    @Test
    void withChecksKeysAndValues() {
        SchedulerConfig config = Schedulers.parse(SD15);
        assertEquals(Boolean.TRUE, config.with("use_karras_sigmas", true).useKarrasSigmas());
        assertNull(config.with("steps_offset", null).stepsOffset());
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
                () -> config.with("eta", 0.5));
        assertTrue(unknown.getMessage().startsWith("unknown scheduler config key 'eta'; known keys: _class_name,"),
                unknown.getMessage());
        assertThrows(IllegalArgumentException.class, () -> config.with("solver_order", 0));
    }

    @Test
    void unsupportedValuesAreRejectedWhenTheSchedulerIsCreated() {
        SchedulerConfig sample = Schedulers.parse(SD15).with("prediction_type", "sample");
        IllegalArgumentException pndm = assertThrows(IllegalArgumentException.class,
                () -> Schedulers.create("pndm", sample));
        assertEquals("scheduler config key 'prediction_type' has value \"sample\", which PNDMScheduler does not"
                + " support; accepted values: epsilon, v_prediction", pndm.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Schedulers.create("euler_a", sample));
        assertEquals("euler", Schedulers.create("euler", sample).name());

        SchedulerConfig dpm = Schedulers.parse(DPM);
        IllegalArgumentException zero = assertThrows(IllegalArgumentException.class,
                () -> Schedulers.fromConfig(dpm.with("algorithm_type", "dpmsolver")));
        assertTrue(zero.getMessage().contains("'final_sigmas_type'") && zero.getMessage().contains("sigma_min"),
                zero.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Schedulers.fromConfig(dpm.with("algorithm_type",
                "sde-dpmsolver").with("final_sigmas_type", "sigma_min").with("solver_order", 3)));
        IllegalArgumentException thresholding = assertThrows(IllegalArgumentException.class,
                () -> Schedulers.create("ddim", dpm.with("thresholding", true)));
        assertTrue(thresholding.getMessage().contains("'thresholding'"), thresholding.getMessage());

        Scheduler prk = Schedulers.create("pndm", Schedulers.parse(SD15).with("skip_prk_steps", false));
        IllegalArgumentException tooFew = assertThrows(IllegalArgumentException.class, () -> prk.setTimesteps(3));
        assertTrue(tooFew.getMessage().contains("at least 4"), tooFew.getMessage());
        prk.setTimesteps(4);
        assertEquals(13, prk.stepCount());
    }

    private static SchedulerSettings settings(String name, SchedulerConfig config) {
        return ((AbstractScheduler) Schedulers.create(name, config)).settings();
    }
}
