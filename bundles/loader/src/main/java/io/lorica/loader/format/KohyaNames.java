package io.lorica.loader.format;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.format.ModuleCatalog;

import java.util.List;
import java.util.Optional;

/**
 * kohya / A1111 module names ({@code lora_unet_…}, {@code lora_te_…}, {@code lora_te1_…}, {@code lora_te2_…}): which
 * component a prefix selects, and which Diffusers module a flattened stem denotes. Stems are resolved against the
 * target model's real module list ({@link ModuleCatalog#resolveFlatName}), never by guessing which underscores were
 * dots; LDM-layout UNet stems ({@code input_blocks_…}) are first translated block-wise by {@link LdmUnetNames}.
 */
final class KohyaNames {

    /** A kohya key prefix and the component it selects. */
    record Prefix(String text, Component component) {
    }

    /** The prefixes, longest first where one could shadow another. */
    static final List<Prefix> PREFIXES = List.of(
            new Prefix("lora_unet_", Component.UNET),
            new Prefix("lora_te1_", Component.TEXT_ENCODER),
            new Prefix("lora_te2_", Component.TEXT_ENCODER_2),
            new Prefix("lora_te_", Component.TEXT_ENCODER));

    private static final String TEXT_MODEL = "text_model_";

    private KohyaNames() {
    }

    /** The kohya prefix {@code key} starts with, if any. */
    static Optional<Prefix> prefixOf(String key) {
        for (Prefix prefix : PREFIXES) {
            if (key.startsWith(prefix.text()) && key.length() > prefix.text().length()) {
                return Optional.of(prefix);
            }
        }
        return Optional.empty();
    }

    /** A resolved stem: the Diffusers module path and, when a translation was needed, what it was. */
    record Resolution(String path, String note) {
    }

    /**
     * The Diffusers module path a stem (prefix removed) denotes in {@code component} of the catalog's model.
     *
     * @throws IllegalArgumentException when two modules of the model flatten to the stem
     */
    static Optional<Resolution> resolve(ModuleCatalog catalog, ModelFamily family, Component component, String stem) {
        Optional<String> direct = catalog.resolveFlatName(component, stem);
        if (direct.isPresent()) {
            return Optional.of(new Resolution(direct.get(), ""));
        }
        if (component == Component.UNET) {
            if (LdmUnetNames.looksLikeLdm(stem)) {
                Optional<String> flat = LdmUnetNames.toDiffusersFlat(family, stem);
                if (flat.isPresent()) {
                    return catalog.resolveFlatName(component, flat.get())
                            .map(path -> new Resolution(path, "LDM block name " + stem + " mapped to " + path));
                }
            }
            return Optional.empty();
        }
        // text encoders: transformers >= 5 dropped the text_model level; accept either spelling
        String other = stem.startsWith(TEXT_MODEL) ? stem.substring(TEXT_MODEL.length()) : TEXT_MODEL + stem;
        return catalog.resolveFlatName(component, other)
                .map(path -> new Resolution(path, "text encoder name matched as " + path));
    }
}
