package io.lorica.loader.format;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Guesses from module names (and a few tell-tale shapes) which model family a LoRA was trained for, to explain a file
 * that does not fit the target model ("looks like an SDXL LoRA"). Used only once a conversion already has modules that
 * do not exist in the target model or do not fit it; never to accept or reject a file on its own.
 *
 * <p>Evidence (UNet names in flattened form, i.e. {@code .} replaced by {@code _}):
 * <ul>
 * <li>SDXL only: {@code transformer_blocks_1..}, {@code add_embedding}/{@code label_emb}, attentions in
 * {@code up_blocks_0}, LDM attentions in {@code output_blocks_0..2}, any {@code text_encoder_2} module, a cross-attention
 * {@code attn2.to_k/to_v} with 2048 input features;</li>
 * <li>SD 1.5 only: attentions in {@code down_blocks_0} or {@code up_blocks_2}, anything in {@code down_blocks_3} or
 * {@code up_blocks_3}, {@code down_blocks_2_downsamplers}, LDM attentions in {@code input_blocks_1/2}, LDM
 * {@code input_blocks_9..11} / {@code output_blocks_9..11}, a 4-D (convolution) LoRA on {@code proj_in/proj_out}, a
 * cross-attention with 768 input features.</li>
 * </ul>
 */
final class FamilyHints {

    private static final List<Pattern> SDXL_NAMES = List.of(
            Pattern.compile("(^|_)transformer_blocks_[1-9]\\d*_"),
            Pattern.compile("^(add_embedding|label_emb)_"),
            Pattern.compile("^up_blocks_0_attentions_"),
            Pattern.compile("^output_blocks_[0-2]_1_(proj_in|proj_out|norm|transformer_blocks)"));

    private static final List<Pattern> SD15_NAMES = List.of(
            Pattern.compile("^down_blocks_0_attentions_"),
            Pattern.compile("^up_blocks_2_attentions_"),
            Pattern.compile("^(down|up)_blocks_3_"),
            Pattern.compile("^down_blocks_2_downsamplers_"),
            Pattern.compile("^input_blocks_[12]_1_"),
            Pattern.compile("^(input|output)_blocks_(9|10|11)_"),
            Pattern.compile("^output_blocks_2_1_conv$"));

    private static final Pattern CROSS_ATTENTION = Pattern.compile("attn2_to_[kv]$");
    private static final Pattern PROJ_IN_OUT = Pattern.compile("_proj_(in|out)$");

    private FamilyHints() {
    }

    /**
     * One module of the file as evidence: its component, its (Diffusers or flattened) name, the name to show, and where
     * known the number of dimensions and input features of its A tensor.
     */
    record Evidence(Component component, String name, String label, int aDimensions, long aInFeatures) {
    }

    /** The verdict: the family the evidence points to (if any) and the names that point there. */
    record Guess(ModelFamily family, List<String> examples) {
    }

    /** The family most of the evidence points to, if the evidence is one-sided enough to say so. */
    static Optional<Guess> guess(List<Evidence> evidence) {
        Map<ModelFamily, List<String>> hits = new EnumMap<>(ModelFamily.class);
        for (ModelFamily family : ModelFamily.values()) {
            hits.put(family, new ArrayList<>());
        }
        for (Evidence e : evidence) {
            classify(e).ifPresent(family -> hits.get(family).add(e.label()));
        }
        int sdxl = hits.get(ModelFamily.SDXL).size();
        int sd15 = hits.get(ModelFamily.SD15).size();
        if (sdxl > sd15) {
            return Optional.of(new Guess(ModelFamily.SDXL, hits.get(ModelFamily.SDXL)));
        }
        if (sd15 > sdxl) {
            return Optional.of(new Guess(ModelFamily.SD15, hits.get(ModelFamily.SD15)));
        }
        return Optional.empty();
    }

    private static Optional<ModelFamily> classify(Evidence e) {
        if (e.component() == Component.TEXT_ENCODER_2) {
            return Optional.of(ModelFamily.SDXL);
        }
        if (e.component() != Component.UNET) {
            return Optional.empty();
        }
        String flat = e.name().replace('.', '_');
        boolean sdxl = SDXL_NAMES.stream().anyMatch(p -> p.matcher(flat).find());
        boolean sd15 = SD15_NAMES.stream().anyMatch(p -> p.matcher(flat).find());
        if (CROSS_ATTENTION.matcher(flat).find() && e.aDimensions() == 2) {
            sdxl |= e.aInFeatures() == 2048;
            sd15 |= e.aInFeatures() == 768;
        }
        if (PROJ_IN_OUT.matcher(flat).find() && e.aDimensions() == 4) {
            sd15 = true;
        }
        if (sdxl == sd15) {
            return Optional.empty();
        }
        return Optional.of(sdxl ? ModelFamily.SDXL : ModelFamily.SD15);
    }

    /** A display name, e.g. "SDXL" or "SD 1.5". */
    static String display(ModelFamily family) {
        if (family == ModelFamily.SD15) {
            return "SD 1.5";
        }
        return family == ModelFamily.SDXL ? "SDXL" : family.id();
    }
}
