package io.lorica.pipelines.scheduler;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The reference cases of {@code scheduler/tables.json}, written by {@code src/test/python/scheduler_tables.py} (an
 * independent numpy re-implementation of Diffusers' schedulers), and the torch randn reference values.
 */
final class ReferenceTables {

    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static volatile Document document;

    private ReferenceTables() {
    }

    /** The whole file. */
    record Document(int seed, long[] shape, List<Case> cases) {
    }

    /**
     * One case: a scheduler name, a config, a step count and what Diffusers computes for them.
     *
     * @param id a unique, descriptive id
     * @param scheduler the scheduler name passed to {@link Schedulers#create}
     * @param steps the inference steps
     * @param configJson the config as JSON text
     * @param timesteps the expected timesteps
     * @param sigmas the expected sigmas (empty for DDIM and PNDM)
     * @param initNoiseSigma the expected {@code init_noise_sigma}
     * @param stepCount the expected number of model calls
     * @param first the latents after the first step of the reference loop
     * @param last the latents after the last step
     */
    record Case(String id, String scheduler, int steps, String configJson, double[] timesteps, double[] sigmas,
            double initNoiseSigma, int stepCount, float[] first, float[] last) {

        /** The config, parsed as Lorica parses {@code scheduler_config.json}. */
        SchedulerConfig config() {
            return Schedulers.parse(configJson);
        }

        /** A new scheduler for this case, its timesteps set. */
        Scheduler newScheduler() {
            Scheduler scheduler = Schedulers.create(scheduler(), config());
            scheduler.setTimesteps(steps);
            return scheduler;
        }

        @Override
        public String toString() {
            return id;
        }
    }

    /** The reference document, loaded once. */
    static Document document() {
        Document loaded = document;
        if (loaded == null) {
            synchronized (ReferenceTables.class) {
                loaded = document;
                if (loaded == null) {
                    loaded = load();
                    document = loaded;
                }
            }
        }
        return loaded;
    }

    /** All cases. */
    static List<Case> cases() {
        return document().cases();
    }

    /** Consecutive {@code torch.randn} draws of one seed, by seed, from {@code scheduler/torch_randn_reference.json}. */
    static Map<Long, List<float[]>> torchRandn() {
        JsonNode root = readResource("/scheduler/torch_randn_reference.json");
        Map<Long, List<float[]>> draws = new LinkedHashMap<>();
        for (JsonNode item : root.get("cases")) {
            List<float[]> list = new ArrayList<>();
            for (JsonNode draw : item.get("draws")) {
                list.add(floats(draw));
            }
            draws.put(item.get("seed").asLong(), list);
        }
        return draws;
    }

    private static Document load() {
        JsonNode root = readResource("/scheduler/tables.json");
        List<Case> cases = new ArrayList<>();
        for (JsonNode item : root.get("cases")) {
            cases.add(new Case(item.get("id").asText(), item.get("scheduler").asText(), item.get("steps").asInt(),
                    item.get("config").toString(), doubles(item.get("timesteps")), doubles(item.get("sigmas")),
                    item.get("init_noise_sigma").asDouble(), item.get("step_count").asInt(),
                    floats(item.get("first")), floats(item.get("final"))));
        }
        JsonNode shapeNode = root.get("shape");
        long[] shape = new long[shapeNode.size()];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = shapeNode.get(i).asLong();
        }
        return new Document(root.get("seed").asInt(), shape, List.copyOf(cases));
    }

    private static JsonNode readResource(String name) {
        try (InputStream in = ReferenceTables.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException("test resource " + name + " is missing; run"
                        + " src/test/python/scheduler_tables.py");
            }
            return MAPPER.readTree(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static double[] doubles(JsonNode array) {
        double[] out = new double[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asDouble();
        }
        return out;
    }

    private static float[] floats(JsonNode array) {
        float[] out = new float[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) array.get(i).asDouble();
        }
        return out;
    }
}
