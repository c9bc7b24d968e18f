package io.lorica.loader.impl;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.lorica.config.LayeredConfiguration;

/**
 * Keys and built-in defaults of the configuration PID {@code io.lorica.loader}, and the effective settings.
 *
 * @param adapterDirectory the folder scanned and watched for adapters
 * @param extraRoots further readable folders
 * @param hubCache the local hub-style cache
 * @param hubEndpoint where missing hub files are downloaded from
 * @param hubOffline never use the network
 * @param hubToken bearer token, empty for none
 * @param connectTimeout HTTP connect timeout
 * @param readTimeout HTTP read timeout
 * @param maxBytes largest download
 */
record LoaderConfig(Path adapterDirectory, List<Path> extraRoots, Path hubCache, String hubEndpoint, boolean hubOffline,
                    String hubToken, Duration connectTimeout, Duration readTimeout, long maxBytes) {

    static final String SCOPE = "loader";
    static final String PID = "io.lorica.loader";
    static final Map<String, Object> DEFAULTS = defaults();

    private static Map<String, Object> defaults() {
        Map<String, Object> map = new LinkedHashMap<>();
        map.put("adapter.dir", "adapters");
        map.put("roots", "");
        map.put("hub.cache.dir", "${sys:user.home}/.cache/huggingface/hub");
        map.put("hub.endpoint", "https://huggingface.co");
        map.put("hub.offline", false);
        map.put("hub.token", "");
        map.put("hub.connect.timeout.ms", 5000L);
        map.put("hub.read.timeout.ms", 30000L);
        map.put("hub.max.bytes", 4L << 30);
        return Collections.unmodifiableMap(map);
    }

    static LoaderConfig from(LayeredConfiguration config) {
        List<Path> roots = new ArrayList<>();
        for (String root : config.getString("roots").split(",")) {
            if (!root.isBlank()) {
                roots.add(Path.of(root.trim()));
            }
        }
        long connect = config.getLong("hub.connect.timeout.ms");
        long read = config.getLong("hub.read.timeout.ms");
        long max = config.getLong("hub.max.bytes");
        if (connect <= 0 || read <= 0 || max <= 0) {
            throw new IllegalArgumentException("configuration " + PID + ": hub.connect.timeout.ms, hub.read.timeout.ms and hub.max.bytes must be positive, got "
                    + connect + ", " + read + ", " + max);
        }
        return new LoaderConfig(Path.of(config.getString("adapter.dir").trim()), List.copyOf(roots),
                Path.of(config.getString("hub.cache.dir").trim()), config.getString("hub.endpoint").trim(),
                config.getBoolean("hub.offline"), config.getString("hub.token").trim(), Duration.ofMillis(connect),
                Duration.ofMillis(read), max);
    }
}
