package io.lorica.loader.format;

import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.format.AdapterFormat;
import io.lorica.api.format.ConversionContext;
import io.lorica.api.format.Recognition;
import io.lorica.api.format.TensorSource;

/**
 * LyCORIS files with kohya-style naming ({@code lora_unet_…}, {@code lora_te…_…}; names resolved exactly as in
 * {@link KohyaFormat}, LDM block names included). Diffusers rejects all of these ("keys have not been correctly
 * renamed"); Lorica converts them:
 *
 * <ul>
 * <li><b>LoRA / LoCon</b> ({@code lora_down}, {@code lora_up}, {@code alpha}): as {@link KohyaFormat}, low rank.</li>
 * <li><b>LoCon with Tucker core</b> ({@code lora_down} {@code [r, in, 1, 1]}, {@code lora_mid} {@code [r, r, kh, kw]},
 * {@code lora_up} {@code [out, r, 1, 1]}): the core is folded into A,
 * {@code A[m, n, y, x] = Σ_k mid[m, k, y, x] · down[k, n]} (exactly the k×k convolution equal to the 1×1 down followed
 * by the k×k mid), so the module stays low rank with {@code alpha / r}.</li>
 * <li><b>LoHa</b> ({@code hada_w1_a/b}, {@code hada_w2_a/b}, optional Tucker cores {@code hada_t1/t2}):
 * {@code ΔW = (w1a·w1b) ⊙ (w2a·w2b) · alpha/r}, with Tucker {@code rebuild(t, wa, wb)[o, i, y, x] =
 * Σ_pq t[p, q, y, x]·wa[p, o]·wb[q, i]} in place of the products; {@code r = hada_w1_b.shape[0]}.</li>
 * <li><b>LoKr</b> ({@code lokr_w1} or {@code lokr_w1_a·lokr_w1_b}; {@code lokr_w2}, {@code lokr_w2_a·lokr_w2_b} or
 * Tucker {@code rebuild(lokr_t2, lokr_w2_a, lokr_w2_b)}): {@code ΔW = kron(w1, w2) · alpha/r} with {@code r} the rank
 * of the decomposed factor ({@code lokr_w1_b.shape[0]}, else {@code lokr_w2_b.shape[0]}); the scale is forced to 1 when
 * both factors are full matrices.</li>
 * <li><b>Full</b> ({@code diff}, optional {@code diff_b}): ΔW as stored, {@code diff_b} as the bias delta.</li>
 * </ul>
 *
 * <p>LoHa, LoKr and full modules cannot be written as {@code B·A}; they become <em>full-delta</em> modules
 * ({@link io.lorica.api.adapter.LoraModule#fullDelta}: rank 0, empty A/B, {@code delta} = the F32 ΔW with alpha/r
 * already applied, scale 1), which only the fused (weight-patching) path applies. alpha 0 or missing means
 * {@code alpha = rank}, as LyCORIS defines it.
 *
 * <p>{@code dora_scale} follows {@link KohyaFormat}: kept as the DoRA magnitude {@code [out]} when stored on the output
 * axis, dropped with a warning when stored on the input axis ({@code [1, in]}); Diffusers always drops it.
 *
 * <p>Not supported (keys dropped with a warning, or an error when a module has nothing else): IA3, GLoRA, (B)OFT, norm
 * modules, {@code lokr_t1}, biases of LoRA factors.
 *
 * <p>Deviations from LyCORIS itself: the rank used for LoKr's scale is the true rank ({@code w_b.shape[0]}); LyCORIS'
 * own loader reads {@code lokr_w2_a.shape[1]}, which for Tucker LoKr is not the rank. LoHa is scaled once by
 * {@code alpha/r} as in the formula above (and as A1111/ComfyUI apply it).
 */
public final class LycorisFormat implements AdapterFormat {

    /** The format name, recorded as {@link LoraAdapter#format()}. */
    public static final String NAME = "lycoris";

    @Override
    public String name() {
        return NAME;
    }

    /**
     * Recognised with confidence 1 when every key has a kohya prefix and some are LyCORIS tensors (0.7 when some keys
     * lack the prefix); plain kohya files are recognised with 0.5 only, so that {@link KohyaFormat} is preferred.
     */
    @Override
    public Recognition recognise(TensorSource source) {
        KohyaStyleConverter.KeyCensus census = KohyaStyleConverter.KeyCensus.of(source);
        if (census.kohya() == 0) {
            return Recognition.no("no key starts with lora_unet_/lora_te_/lora_te1_/lora_te2_");
        }
        if (census.lycoris() == 0) {
            return Recognition.yes(0.5, "kohya-style keys without LyCORIS tensors; plain kohya LoRA, which the "
                    + "kohya format handles");
        }
        return census.recognition(1.0, 0.7, ", " + census.lycoris() + " LyCORIS tensors (e.g. '"
                + census.exampleLycoris() + "')");
    }

    @Override
    public LoraAdapter convert(TensorSource source, ConversionContext context) {
        return KohyaStyleConverter.convert(NAME, source, context, true);
    }
}
