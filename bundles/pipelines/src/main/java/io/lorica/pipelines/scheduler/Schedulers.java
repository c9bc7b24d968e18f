package io.lorica.pipelines.scheduler;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * Creates {@link Scheduler}s by name from a {@link SchedulerConfig}, and reads {@code scheduler_config.json}.
 *
 * <table>
 *   <caption>Scheduler names</caption>
 *   <tr><th>name</th><th>Diffusers class</th></tr>
 *   <tr><td>{@code euler}</td><td>{@code EulerDiscreteScheduler}</td></tr>
 *   <tr><td>{@code euler_a}, {@code euler-ancestral}</td><td>{@code EulerAncestralDiscreteScheduler}</td></tr>
 *   <tr><td>{@code ddim}</td><td>{@code DDIMScheduler} (eta 0)</td></tr>
 *   <tr><td>{@code dpmpp_2m}</td><td>{@code DPMSolverMultistepScheduler} with {@code algorithm_type="dpmsolver++"},
 *       {@code solver_order=2}, {@code solver_type="midpoint"}, {@code use_karras_sigmas=False}</td></tr>
 *   <tr><td>{@code dpmpp_2m_karras}</td><td>the same with {@code use_karras_sigmas=True}</td></tr>
 *   <tr><td>{@code pndm}</td><td>{@code PNDMScheduler}</td></tr>
 *   <tr><td>{@code lms}</td><td>{@code LMSDiscreteScheduler}</td></tr>
 *   <tr><td>{@code default}</td><td>the class the config's {@code _class_name} names, with the config as is</td></tr>
 * </table>
 *
 * <p>Like Diffusers' {@code Target.from_config(pipe.scheduler.config)}, a scheduler takes each key it reads from
 * the config when the file sets it and its own class's default otherwise, whichever class the file was written for.
 */
public final class Schedulers {

    private static final String DEFAULT = "default";
    private static final Map<String, SchedulerClass> BY_NAME = Map.of(
            "euler", SchedulerClass.EULER,
            "euler_a", SchedulerClass.EULER_ANCESTRAL,
            "euler-ancestral", SchedulerClass.EULER_ANCESTRAL,
            "ddim", SchedulerClass.DDIM,
            "dpmpp_2m", SchedulerClass.DPM_SOLVER_MULTISTEP,
            "dpmpp_2m_karras", SchedulerClass.DPM_SOLVER_MULTISTEP,
            "pndm", SchedulerClass.PNDM,
            "lms", SchedulerClass.LMS);
    private static final SortedSet<String> NAMES = names(BY_NAME);

    private Schedulers() {
    }

    /**
     * The names {@link #create(String, SchedulerConfig)} accepts.
     *
     * @return an unmodifiable sorted set, {@code default} included
     */
    public static SortedSet<String> names() {
        return NAMES;
    }

    /**
     * A scheduler for one generation.
     *
     * @param name one of {@link #names()}, case-insensitive
     * @param config the pipeline's scheduler config
     * @return a new scheduler; call {@link Scheduler#setTimesteps(int)} before use
     * @throws IllegalArgumentException when the name is unknown (the message lists the accepted names), when
     *     {@code default} meets a config whose {@code _class_name} is missing or not implemented, or when the
     *     scheduler does not support a configured value
     */
    public static Scheduler create(String name, SchedulerConfig config) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(config, "config");
        String key = name.trim().toLowerCase(Locale.ROOT);
        if (key.equals(DEFAULT)) {
            return fromConfig(config);
        }
        SchedulerClass type = BY_NAME.get(key);
        if (type == null) {
            throw new IllegalArgumentException("unknown scheduler '" + name + "'; accepted names: "
                    + String.join(", ", NAMES));
        }
        Map<ConfigKey, Object> overrides = new EnumMap<>(ConfigKey.class);
        if (type == SchedulerClass.DPM_SOLVER_MULTISTEP) {
            overrides.put(ConfigKey.ALGORITHM_TYPE, "dpmsolver++");
            overrides.put(ConfigKey.SOLVER_ORDER, 2);
            overrides.put(ConfigKey.SOLVER_TYPE, "midpoint");
            overrides.put(ConfigKey.USE_KARRAS_SIGMAS, key.equals("dpmpp_2m_karras"));
        }
        return instantiate(SchedulerSettings.resolve(type, config, overrides));
    }

    /**
     * The scheduler of the class the config names ({@code _class_name}), configured as the file says: what
     * Diffusers' {@code from_pretrained} builds for a pipeline.
     *
     * @param config the pipeline's scheduler config
     * @return a new scheduler
     * @throws IllegalArgumentException when {@code _class_name} is missing or names a class Lorica does not
     *     implement (the message lists those it does), or the scheduler does not support a configured value
     */
    public static Scheduler fromConfig(SchedulerConfig config) {
        Objects.requireNonNull(config, "config");
        if (config.className() == null) {
            throw new IllegalArgumentException("scheduler config has no '_class_name'; expected one of "
                    + String.join(", ", SchedulerClass.classNames()) + " (or create a scheduler by name: "
                    + String.join(", ", NAMES) + ")");
        }
        SchedulerClass type = SchedulerClass.byClassName(config.className()).orElseThrow(() ->
                new IllegalArgumentException("scheduler config key '_class_name' has value \"" + config.className()
                        + "\", which Lorica does not implement; accepted values: "
                        + String.join(", ", SchedulerClass.classNames())));
        return instantiate(SchedulerSettings.resolve(type, config, Map.of()));
    }

    /**
     * Reads a {@code scheduler_config.json}.
     *
     * @param file the file
     * @return the config
     * @throws IOException when the file cannot be read
     * @throws IllegalArgumentException when it is not a JSON object or a value is invalid (the message names the file)
     */
    public static SchedulerConfig read(Path file) throws IOException {
        Objects.requireNonNull(file, "file");
        return SchedulerConfig.fromJson(Files.readString(file, StandardCharsets.UTF_8), file.toString());
    }

    /**
     * Parses the text of a {@code scheduler_config.json}.
     *
     * @param json a JSON object
     * @return the config
     * @throws IllegalArgumentException when the text is not a JSON object or a value is invalid
     */
    public static SchedulerConfig parse(String json) {
        Objects.requireNonNull(json, "json");
        return SchedulerConfig.fromJson(json, "text");
    }

    private static Scheduler instantiate(SchedulerSettings settings) {
        return switch (settings.schedulerClass()) {
            case EULER -> new EulerScheduler("euler", settings);
            case EULER_ANCESTRAL -> new EulerAncestralScheduler("euler_a", settings);
            case DDIM -> new DdimScheduler("ddim", settings);
            case DPM_SOLVER_MULTISTEP -> new DpmSolverMultistepScheduler(
                    settings.useKarrasSigmas() ? "dpmpp_2m_karras" : "dpmpp_2m", settings);
            case PNDM -> new PndmScheduler("pndm", settings);
            case LMS -> new LmsScheduler("lms", settings);
        };
    }

    private static SortedSet<String> names(Map<String, SchedulerClass> byName) {
        SortedSet<String> names = new TreeSet<>(byName.keySet());
        names.add(DEFAULT);
        return Collections.unmodifiableSortedSet(names);
    }
}
