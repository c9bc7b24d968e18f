package io.lorica.loader.format;

import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.format.AdapterFormat;
import io.lorica.api.format.ConversionContext;
import io.lorica.api.format.Recognition;
import io.lorica.api.format.TensorSource;

/**
 * kohya-ss / A1111 / civitai LoRA files: keys {@code lora_unet_<stem>}, {@code lora_te_<stem>} /
 * {@code lora_te1_<stem>} (text encoder), {@code lora_te2_<stem>} (SDXL's second text encoder), each module a triplet
 * {@code <name>.lora_down.weight} (A), {@code <name>.lora_up.weight} (B) and optional scalar {@code <name>.alpha};
 * LoCon convolutions (down k×k, up 1×1) included. Corresponds to Diffusers' {@code _convert_non_diffusers_lora_to_diffusers}
 * (and {@code _maybe_map_sgm_blocks_to_diffusers} for LDM block names).
 *
 * <p>Names: the stem is resolved against the target model's real module list with
 * {@link io.lorica.api.format.ModuleCatalog#resolveFlatName} (never by guessing which underscores were dots). UNet stems
 * in the original LDM layout ({@code input_blocks_4_1_…}, {@code middle_block_…}, {@code output_blocks_…},
 * {@code time_embed_…}, {@code label_emb_…}, {@code out_2}) are first translated with {@link LdmUnetNames}, for SDXL and
 * SD 1.5. Text-encoder stems are also matched with or without the {@code text_model_} level.
 *
 * <p>Report: every key is {@code CONVERTED} ({@code lora_down} → {@code lora_A}, {@code lora_up} → {@code lora_B},
 * {@code alpha}, {@code dora_scale} → {@code lora_magnitude_vector}) or {@code DROPPED} with the reason (unknown module,
 * a component the family lacks such as {@code lora_te2_} on SD 1.5, input-axis {@code dora_scale}, keys without a kohya
 * prefix, unused tensors). LyCORIS tensors (LoHa {@code hada_*}, LoKr {@code lokr_*}, Tucker {@code lora_mid},
 * {@code diff}) are an error here: {@link LycorisFormat} converts them (and recognises such files, this format does not).
 *
 * <p><strong>Deliberate deviations from Diffusers</strong>:
 * <ul>
 * <li><em>Per-module alpha exactly as in the file</em>: every module scales by its own {@code alpha / rank}. Diffusers
 * folds the alphas into one {@code lora_alpha} plus an {@code alpha_pattern} whose keys never match the attention
 * projections, so e.g. a {@code to_q} with alpha 3, rank 2 in a file whose other modules have alpha 1 gets scale 0.5 in
 * Diffusers and 1.5 (kohya-correct) here; a module without {@code .alpha} uses its own rank instead of the majority
 * alpha.</li>
 * <li><em>alpha 0 or missing means alpha = rank</em> (scale 1), as kohya defines it; Diffusers uses 0 literally and
 * disables the module. A negative alpha is folded into B.</li>
 * <li><em>SD 1.5 files with LDM block names load</em> (Diffusers only remaps SDXL); files mixing LDM and Diffusers
 * block names keep all modules (Diffusers silently discards the LDM-named ones).</li>
 * <li><em>kohya/LyCORIS {@code dora_scale} is kept</em> as the DoRA magnitude when it is stored on the output axis
 * ({@code [out, 1(, 1, 1)]}, current LyCORIS), reshaped to {@code [out]}; Diffusers drops every {@code dora_scale}. An
 * input-axis {@code dora_scale} ({@code [1, in(, 1, 1)]}, older files) cannot be expressed as a per-output-row
 * magnitude and is dropped as in Diffusers, with a warning. LyCORIS applies a weight {@code w} to DoRA as
 * {@code 1 + w·(m/n − 1)}; Lorica applies PEFT's DoRA semantics (identical at {@code w = 1}).</li>
 * <li><em>Keys without a kohya prefix</em> (bundled textual-inversion embeddings {@code emb_params},
 * {@code bundle_emb.…}) are dropped with a warning; Diffusers rejects the whole file.</li>
 * <li><em>Unknown modules</em> are dropped with a warning unless the file looks like one for another family, which is an
 * error saying which family; a shape that does not fit the model is always an error (Diffusers: size-mismatch
 * RuntimeError after partial loading). Conversion is all or nothing.</li>
 * <li>2-D LoRA tensors for 1×1 convolutions (and 4-D {@code [r, in, 1, 1]} ones for linear layers) are reshaped;
 * Diffusers raises a size mismatch.</li>
 * </ul>
 */
public final class KohyaFormat implements AdapterFormat {

    /** The format name, recorded as {@link LoraAdapter#format()}. */
    public static final String NAME = "kohya";

    @Override
    public String name() {
        return NAME;
    }

    /**
     * Recognised (confidence 1) when every key starts with {@code lora_unet_}/{@code lora_te_}/{@code lora_te1_}/
     * {@code lora_te2_} and none is a LyCORIS tensor; 0.7 when only some keys do (the others would be dropped).
     */
    @Override
    public Recognition recognise(TensorSource source) {
        KohyaStyleConverter.KeyCensus census = KohyaStyleConverter.KeyCensus.of(source);
        if (census.kohya() == 0) {
            return Recognition.no("no key starts with lora_unet_/lora_te_/lora_te1_/lora_te2_");
        }
        if (census.lycoris() > 0) {
            return Recognition.no(census.lycoris() + " LyCORIS keys (e.g. '" + census.exampleLycoris()
                    + "'); the lycoris format converts this file");
        }
        return census.recognition(1.0, 0.7, "");
    }

    @Override
    public LoraAdapter convert(TensorSource source, ConversionContext context) {
        return KohyaStyleConverter.convert(NAME, source, context, false);
    }
}
