package io.lorica.loader.source;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;

/**
 * Diffusers' weight-name inference ({@code _best_guess_weight_name}) for a folder or repository listing, restricted to
 * safetensors files at the top level.
 */
final class WeightNames {

    /** Diffusers' {@code LORA_WEIGHT_NAME_SAFE}. */
    static final String LORA_WEIGHT_NAME_SAFE = "pytorch_lora_weights.safetensors";

    static final String EXTENSION = ".safetensors";

    /** Substrings Diffusers excludes: they name scheduler, optimizer or intermediate checkpoint files. */
    private static final List<String> UNALLOWED = List.of("scheduler", "optimizer", "checkpoint");

    private WeightNames() {
    }

    /**
     * The single weight file among {@code names} (file names in one folder), as Diffusers picks it: names ending in
     * {@code .safetensors}, without those containing "scheduler", "optimizer" or "checkpoint"; among them
     * {@code pytorch_lora_weights.safetensors} if present, otherwise the only one.
     *
     * @return the chosen name, or empty when there is none or more than one (see {@link #describeChoice})
     */
    static Optional<String> infer(Collection<String> names) {
        List<String> targeted = candidates(names);
        if (targeted.contains(LORA_WEIGHT_NAME_SAFE)) {
            return Optional.of(LORA_WEIGHT_NAME_SAFE);
        }
        return targeted.size() == 1 ? Optional.of(targeted.get(0)) : Optional.empty();
    }

    /** The sorted safetensors names Diffusers would consider. */
    static List<String> candidates(Collection<String> names) {
        List<String> targeted = new ArrayList<>();
        for (String name : names) {
            if (name.endsWith(EXTENSION) && !name.startsWith(".")
                    && UNALLOWED.stream().noneMatch(name::contains)) {
                targeted.add(name);
            }
        }
        targeted.sort(null);
        return targeted;
    }

    /**
     * Why {@link #infer} found nothing: "holds no .safetensors weight file (found: ...)" or "holds N .safetensors weight
     * files [...]", followed by advice to pass {@code weight_name}.
     */
    static String describeChoice(Collection<String> names) {
        List<String> targeted = candidates(names);
        if (targeted.isEmpty()) {
            List<String> sorted = new ArrayList<>(names);
            sorted.sort(null);
            String found = sorted.size() > 20 ? sorted.subList(0, 20) + " and " + (sorted.size() - 20) + " more"
                    : sorted.toString();
            return "holds no " + EXTENSION + " weight file (found: " + found + ")";
        }
        return "holds " + targeted.size() + " " + EXTENSION + " weight files " + targeted
                + "; pass a weight_name to choose one";
    }
}
