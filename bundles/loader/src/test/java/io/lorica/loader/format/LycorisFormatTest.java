package io.lorica.loader.format;

import static io.lorica.loader.format.Fixtures.assertFloats;
import static io.lorica.loader.format.Fixtures.assertOutcome;
import static io.lorica.loader.format.Fixtures.assertRejected;
import static io.lorica.loader.format.Fixtures.assertShape;
import static io.lorica.loader.format.Fixtures.assertWarning;
import static io.lorica.loader.format.Fixtures.convert;
import static io.lorica.loader.format.Fixtures.values;
import static io.lorica.loader.format.MapTensorSource.shape;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.Component;
import io.lorica.api.DType;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LoadReport.KeyOutcome;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.adapter.LoraModule;
import io.lorica.api.format.ModuleCatalog;
import io.lorica.api.format.Recognition;

import java.util.LinkedHashMap;
import java.util.Map;

import org.junit.jupiter.api.Test;

/**
 * LyCORIS: LoHa, LoKr, LoCon Tucker, full deltas against hand-computed values on tiny layers (real module paths,
 * 2x2 / 4x4 / 2x2-kernel geometries), DoRA, recognition and errors.
 */
class LycorisFormatTest {

    private static final LycorisFormat LYCORIS = new LycorisFormat();

    private static final String TO_Q = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q";
    private static final String Q = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q";
    private static final String CONV1 = "down_blocks.1.resnets.0.conv1";
    private static final String C1 = "lora_unet_down_blocks_1_resnets_0_conv1";
    private static final String CONV2 = "down_blocks.1.resnets.0.conv2";
    private static final String C2 = "lora_unet_down_blocks_1_resnets_0_conv2";
    private static final String FF = "up_blocks.1.attentions.0.transformer_blocks.0.ff.net.2";
    private static final String F = "lora_unet_up_blocks_1_attentions_0_transformer_blocks_0_ff_net_2";
    private static final String PROJ = "down_blocks.0.attentions.0.proj_in";
    private static final String P = "lora_unet_down_blocks_0_attentions_0_proj_in";

    /** Tiny layers at real SD 1.5 paths. */
    private static final ModuleCatalog TINY;

    static {
        Map<String, LayerGeometry> unet = new LinkedHashMap<>();
        unet.put(TO_Q, LayerGeometry.linear(2, 2));
        unet.put(CONV1, LayerGeometry.conv(1, 2, 2, 1, 1));
        unet.put(CONV2, LayerGeometry.conv(2, 2, 2, 1, 1));
        unet.put(FF, LayerGeometry.linear(4, 4));
        unet.put(PROJ, LayerGeometry.conv(2, 2, 1, 1, 0));
        TINY = TinyModels.of(ModelFamily.SD15, Component.UNET, unet);
    }

    private static LoraModule only(LoraAdapter adapter, String path) {
        return adapter.module(Component.UNET, path).orElseThrow(() -> new AssertionError(adapter.modules()));
    }

    private static LoraModule fullDelta(LoraAdapter adapter, String path) {
        LoraModule m = only(adapter, path);
        assertTrue(m.isFullDelta());
        assertEquals(0, m.rank());
        assertEquals(1f, m.scale());
        assertEquals(DType.F32, m.delta().orElseThrow().dtype());
        assertShape(m.delta().orElseThrow(), m.geometry().weightShape());
        return m;
    }

    @Test
    void name() {
        assertEquals("lycoris", LYCORIS.name());
    }

    // ------------------------------------------------------------------------------------------------------ LoHa

    /** (w1a·w1b) ⊙ (w2a·w2b) · alpha/r: [[3,4],[6,8]] ⊙ [[.5,1],[.5,1]] · 2/1 = [[3,8],[6,16]]. */
    @Test
    void loha_linearRank1() {
        MapTensorSource source = new MapTensorSource()
                .f32(Q + ".hada_w1_a", shape(2, 1), 1, 2)
                .f32(Q + ".hada_w1_b", shape(1, 2), 3, 4)
                .f32(Q + ".hada_w2_a", shape(2, 1), 1, 1)
                .f32(Q + ".hada_w2_b", shape(1, 2), 0.5f, 1)
                .scalar(Q + ".alpha", 2);
        LoraAdapter adapter = convert(LYCORIS, source, TINY);
        LoraModule m = fullDelta(adapter, TO_Q);
        assertFloats(new float[] {3, 8, 6, 16}, m.delta().orElseThrow());
        assertOutcome(adapter, Q + ".hada_w1_a", KeyOutcome.CONVERTED, "unet/" + TO_Q + ".delta");
        assertOutcome(adapter, Q + ".alpha", KeyOutcome.CONVERTED, "unet/" + TO_Q + ".delta");
        assertTrue(adapter.needsFusedMode());
        assertTrue(adapter.ranks().isEmpty());
    }

    /** Rank 2: [[1,2],[3,4]] ⊙ [[1,2],[0,2]] = [[1,4],[0,8]], alpha 1 / r 2; alpha missing: scale 1. */
    @Test
    void loha_linearRank2_alphaAndMissingAlpha() {
        MapTensorSource source = new MapTensorSource()
                .f32(Q + ".hada_w1_a", shape(2, 2), 1, 0, 0, 1)
                .f32(Q + ".hada_w1_b", shape(2, 2), 1, 2, 3, 4)
                .f32(Q + ".hada_w2_a", shape(2, 2), 1, 1, 0, 1)
                .f32(Q + ".hada_w2_b", shape(2, 2), 1, 0, 0, 2)
                .scalar(Q + ".alpha", 1);
        assertFloats(new float[] {0.5f, 2, 0, 4}, fullDelta(convert(LYCORIS, source, TINY), TO_Q).delta().orElseThrow());

        MapTensorSource noAlpha = new MapTensorSource()
                .f32(Q + ".hada_w1_a", shape(2, 2), 1, 0, 0, 1)
                .f32(Q + ".hada_w1_b", shape(2, 2), 1, 2, 3, 4)
                .f32(Q + ".hada_w2_a", shape(2, 2), 1, 1, 0, 1)
                .f32(Q + ".hada_w2_b", shape(2, 2), 1, 0, 0, 2);
        LoraAdapter adapter = convert(LYCORIS, noAlpha, TINY);
        assertFloats(new float[] {1, 4, 0, 8}, fullDelta(adapter, TO_Q).delta().orElseThrow());
        assertWarning(adapter, "alpha missing for 1 module");
    }

    /** Conv 1->2, 2x2 kernel, w_b flattened [r, in·kh·kw]. */
    @Test
    void loha_convFlattened() {
        MapTensorSource source = new MapTensorSource()
                .f32(C1 + ".hada_w1_a", shape(2, 1), 1, 2)
                .f32(C1 + ".hada_w1_b", shape(1, 4), 1, 2, 3, 4)
                .f32(C1 + ".hada_w2_a", shape(2, 1), 1, -1)
                .f32(C1 + ".hada_w2_b", shape(1, 4), 1, 1, 0.5f, 0.5f);
        LoraModule m = fullDelta(convert(LYCORIS, source, TINY), CONV1);
        assertShape(m.delta().orElseThrow(), 2, 1, 2, 2);
        assertFloats(new float[] {1, 2, 1.5f, 2, -2, -4, -3, -4}, m.delta().orElseThrow());
    }

    /** Tucker rank 1: rebuild[o,i,y,x] = t[y,x]·wa[o]·wb[i]. */
    @Test
    void loha_tuckerRank1() {
        MapTensorSource source = new MapTensorSource()
                .f32(C1 + ".hada_w1_a", shape(1, 2), 1, 2)
                .f32(C1 + ".hada_w1_b", shape(1, 1), 2)
                .f32(C1 + ".hada_t1", shape(1, 1, 2, 2), 1, 2, 3, 4)
                .f32(C1 + ".hada_w2_a", shape(1, 2), 1, 0.5f)
                .f32(C1 + ".hada_w2_b", shape(1, 1), 1)
                .f32(C1 + ".hada_t2", shape(1, 1, 2, 2), 1, 1, 1, 1)
                .scalar(C1 + ".alpha", 1);
        LoraModule m = fullDelta(convert(LYCORIS, source, TINY), CONV1);
        assertFloats(new float[] {2, 4, 6, 8, 2, 4, 6, 8}, m.delta().orElseThrow());
    }

    /** Tucker rank 2 against an independent einsum. */
    @Test
    void loha_tuckerRank2_matchesEinsum() {
        int r = 2;
        float[] t1 = values(shape(r, r, 2, 2), -1f);
        float[] a1 = values(shape(r, 2), 0.5f);
        float[] b1 = values(shape(r, 2), -0.25f);
        float[] t2 = values(shape(r, r, 2, 2), 0.125f);
        float[] a2 = values(shape(r, 2), 1f);
        float[] b2 = values(shape(r, 2), -2f);
        MapTensorSource source = new MapTensorSource()
                .f32(C2 + ".hada_w1_a", shape(r, 2), a1).f32(C2 + ".hada_w1_b", shape(r, 2), b1)
                .f32(C2 + ".hada_t1", shape(r, r, 2, 2), t1)
                .f32(C2 + ".hada_w2_a", shape(r, 2), a2).f32(C2 + ".hada_w2_b", shape(r, 2), b2)
                .f32(C2 + ".hada_t2", shape(r, r, 2, 2), t2)
                .scalar(C2 + ".alpha", 3);
        float[] expected = new float[16];
        for (int o = 0; o < 2; o++) {
            for (int i = 0; i < 2; i++) {
                for (int s = 0; s < 4; s++) {
                    double x = 0;
                    double y = 0;
                    for (int p = 0; p < r; p++) {
                        for (int q = 0; q < r; q++) {
                            x += t1[(p * r + q) * 4 + s] * a1[p * 2 + o] * b1[q * 2 + i];
                            y += t2[(p * r + q) * 4 + s] * a2[p * 2 + o] * b2[q * 2 + i];
                        }
                    }
                    expected[(o * 2 + i) * 4 + s] = (float) (x * y * 3 / r);
                }
            }
        }
        assertFloats(expected, fullDelta(convert(LYCORIS, source, TINY), CONV2).delta().orElseThrow());
    }

    @Test
    void loha_halfPrecisionInputs_f32Delta() {
        MapTensorSource source = new MapTensorSource()
                .f16(Q + ".hada_w1_a", shape(2, 1), 1, 2)
                .bf16(Q + ".hada_w1_b", shape(1, 2), 3, 4)
                .f16(Q + ".hada_w2_a", shape(2, 1), 1, 1)
                .f16(Q + ".hada_w2_b", shape(1, 2), 0.5f, 1);
        source.f16(Q + ".alpha", shape(), 2);
        assertFloats(new float[] {3, 8, 6, 16}, fullDelta(convert(LYCORIS, source, TINY), TO_Q).delta().orElseThrow());
    }

    // ------------------------------------------------------------------------------------------------------ LoKr

    /** Both factors full: kron([[1,2],[3,4]], [[0,1],[1,0]]), scale forced to 1 (alpha 8 ignored). */
    @Test
    void lokr_bothFull_scaleOne() {
        MapTensorSource source = new MapTensorSource()
                .f32(F + ".lokr_w1", shape(2, 2), 1, 2, 3, 4)
                .f32(F + ".lokr_w2", shape(2, 2), 0, 1, 1, 0)
                .scalar(F + ".alpha", 8);
        LoraAdapter adapter = convert(LYCORIS, source, TINY);
        assertFloats(new float[] {0, 1, 0, 2, 1, 0, 2, 0, 0, 3, 0, 4, 3, 0, 4, 0},
                fullDelta(adapter, FF).delta().orElseThrow());
        assertTrue(Fixtures.report(adapter, F + ".lokr_w1").reason().contains("scale 1"));
    }

    /** w1 = I, w2 = [1,2]ᵀ·[1,1], alpha 2 / r 1: 2·kron(I, [[1,1],[2,2]]). */
    @Test
    void lokr_decomposedW2_alphaOverRank() {
        MapTensorSource source = new MapTensorSource()
                .f32(F + ".lokr_w1", shape(2, 2), 1, 0, 0, 1)
                .f32(F + ".lokr_w2_a", shape(2, 1), 1, 2)
                .f32(F + ".lokr_w2_b", shape(1, 2), 1, 1)
                .scalar(F + ".alpha", 2);
        assertFloats(new float[] {2, 2, 0, 0, 4, 4, 0, 0, 0, 0, 2, 2, 0, 0, 4, 4},
                fullDelta(convert(LYCORIS, source, TINY), FF).delta().orElseThrow());
    }

    /** w1 = [1,1]ᵀ·[1,2] = [[1,2],[1,2]], w2 = I, alpha 1 / r 1. */
    @Test
    void lokr_decomposedW1() {
        MapTensorSource source = new MapTensorSource()
                .f32(F + ".lokr_w1_a", shape(2, 1), 1, 1)
                .f32(F + ".lokr_w1_b", shape(1, 2), 1, 2)
                .f32(F + ".lokr_w2", shape(2, 2), 1, 0, 0, 1)
                .scalar(F + ".alpha", 1);
        assertFloats(new float[] {1, 0, 2, 0, 0, 1, 0, 2, 1, 0, 2, 0, 0, 1, 0, 2},
                fullDelta(convert(LYCORIS, source, TINY), FF).delta().orElseThrow());
    }

    /** Conv, w1 [1,1] = 2, Tucker w2: t2 [1,1,2,2], w2_a [r, b], w2_b [r, d]; scale alpha/r with r = w2_b rows. */
    @Test
    void lokr_convTucker() {
        MapTensorSource source = new MapTensorSource()
                .f32(C2 + ".lokr_w1", shape(1, 1), 2)
                .f32(C2 + ".lokr_t2", shape(1, 1, 2, 2), 1, 2, 3, 4)
                .f32(C2 + ".lokr_w2_a", shape(1, 2), 1, -1)
                .f32(C2 + ".lokr_w2_b", shape(1, 2), 1, 0.5f)
                .scalar(C2 + ".alpha", 1);
        assertFloats(new float[] {2, 4, 6, 8, 1, 2, 3, 4, -2, -4, -6, -8, -1, -2, -3, -4},
                fullDelta(convert(LYCORIS, source, TINY), CONV2).delta().orElseThrow());
    }

    /** Conv, w1 [1,2], w2 = w2_a [2,1] · w2_b [1, d·kh·kw] (d = 1), alpha 2 / r 1. */
    @Test
    void lokr_convFlattenedW2() {
        MapTensorSource source = new MapTensorSource()
                .f32(C2 + ".lokr_w1", shape(1, 2), 1, -1)
                .f32(C2 + ".lokr_w2_a", shape(2, 1), 1, 2)
                .f32(C2 + ".lokr_w2_b", shape(1, 4), 1, 2, 3, 4)
                .scalar(C2 + ".alpha", 2);
        assertFloats(new float[] {2, 4, 6, 8, -2, -4, -6, -8, 4, 8, 12, 16, -4, -8, -12, -16},
                fullDelta(convert(LYCORIS, source, TINY), CONV2).delta().orElseThrow());
    }

    // ------------------------------------------------------------------------------------------- LoCon + Tucker

    /** lora_mid folded into A: A[m,n,y,x] = mid[m,0,y,x]·down[0,n]; stays low rank with alpha/r. */
    @Test
    void loconTucker_foldedIntoA() {
        MapTensorSource source = new MapTensorSource()
                .f32(C2 + ".lora_down.weight", shape(1, 2, 1, 1), 1, 2)
                .f32(C2 + ".lora_mid.weight", shape(1, 1, 2, 2), 1, 0, 0, 1)
                .f32(C2 + ".lora_up.weight", shape(2, 1, 1, 1), 1, 3)
                .scalar(C2 + ".alpha", 0.5f);
        LoraAdapter adapter = convert(LYCORIS, source, TINY);
        LoraModule m = only(adapter, CONV2);
        assertFalse(m.isFullDelta());
        assertEquals(1, m.rank());
        assertEquals(0.5f, m.scale());
        assertShape(m.a(), 1, 2, 2, 2);
        assertFloats(new float[] {1, 0, 0, 1, 2, 0, 0, 2}, m.a());
        assertFloats(new float[] {1, 3}, m.b());
        assertOutcome(adapter, C2 + ".lora_mid.weight", KeyOutcome.CONVERTED, "unet/" + CONV2 + ".lora_A");
        assertFalse(adapter.needsFusedMode());
    }

    /** Rank 2: B·A equals the three-way Tucker contraction up·mid·down. */
    @Test
    void loconTucker_rank2_matchesContraction() {
        int r = 2;
        float[] down = values(shape(r, 2, 1, 1), -0.5f);
        float[] mid = values(shape(r, r, 2, 2), 0.25f);
        float[] up = values(shape(2, r, 1, 1), 1f);
        MapTensorSource source = new MapTensorSource()
                .f32(C2 + ".lora_down.weight", shape(r, 2, 1, 1), down)
                .f32(C2 + ".lora_mid.weight", shape(r, r, 2, 2), mid)
                .f32(C2 + ".lora_up.weight", shape(2, r, 1, 1), up);
        LoraModule m = only(convert(LYCORIS, source, TINY), CONV2);
        float[] expected = new float[16];
        for (int o = 0; o < 2; o++) {
            for (int i = 0; i < 2; i++) {
                for (int s = 0; s < 4; s++) {
                    double sum = 0;
                    for (int p = 0; p < r; p++) {
                        for (int q = 0; q < r; q++) {
                            sum += up[o * r + p] * mid[(p * r + q) * 4 + s] * down[q * 2 + i];
                        }
                    }
                    expected[(o * 2 + i) * 4 + s] = (float) sum;
                }
            }
        }
        float[] actual = Fixtures.product(m.b(), m.a());
        for (int k = 0; k < expected.length; k++) {
            assertEquals(expected[k], actual[k], 1e-5, "element " + k);
        }
        assertEquals(1f, m.scale());
    }

    // ------------------------------------------------------------------------------------------------------ full

    @Test
    void fullDiff_withBias() {
        MapTensorSource source = new MapTensorSource()
                .f32(Q + ".diff", shape(2, 2), 1, 2, 3, 4)
                .f32(Q + ".diff_b", shape(2), 0.5f, -0.5f)
                .scalar(Q + ".alpha", 4);
        LoraAdapter adapter = convert(LYCORIS, source, TINY);
        LoraModule m = fullDelta(adapter, TO_Q);
        assertFloats(new float[] {1, 2, 3, 4}, m.delta().orElseThrow());
        assertFloats(new float[] {0.5f, -0.5f}, m.bias().orElseThrow());
        assertOutcome(adapter, Q + ".diff_b", KeyOutcome.CONVERTED, "unet/" + TO_Q + ".bias");
        assertOutcome(adapter, Q + ".alpha", KeyOutcome.DROPPED, "");
    }

    @Test
    void fullDiff_twoDimensionalForOneByOneConv() {
        MapTensorSource source = new MapTensorSource().f16(P + ".diff", shape(2, 2), 1, 2, 3, 4);
        LoraModule m = fullDelta(convert(LYCORIS, source, TINY), PROJ);
        assertShape(m.delta().orElseThrow(), 2, 2, 1, 1);
        assertFloats(new float[] {1, 2, 3, 4}, m.delta().orElseThrow());
    }

    // ------------------------------------------------------------------------------------------------------ DoRA

    @Test
    void dora_onLoha_keptAsMagnitude() {
        MapTensorSource source = new MapTensorSource()
                .f32(Q + ".hada_w1_a", shape(2, 1), 1, 2)
                .f32(Q + ".hada_w1_b", shape(1, 2), 3, 4)
                .f32(Q + ".hada_w2_a", shape(2, 1), 1, 1)
                .f32(Q + ".hada_w2_b", shape(1, 2), 0.5f, 1)
                .f32(Q + ".dora_scale", shape(2, 1), 7, 9);
        LoraModule m = fullDelta(convert(LYCORIS, source, TINY), TO_Q);
        assertFloats(new float[] {7, 9}, m.magnitude().orElseThrow());
    }

    @Test
    void dora_inputAxisOnLocon_dropped() {
        MapTensorSource source = new MapTensorSource()
                .f32(C1 + ".lora_down.weight", shape(1, 1, 2, 2), 1, 2, 3, 4)
                .f32(C1 + ".lora_up.weight", shape(2, 1, 1, 1), 1, 1)
                .f32(C1 + ".dora_scale", shape(1, 1, 1, 1), 5);
        // out = 2, in = 1: [1, 1, 1, 1] is the input axis
        LoraAdapter adapter = convert(LYCORIS, source, TINY);
        assertFalse(only(adapter, CONV1).isDora());
        assertOutcome(adapter, C1 + ".dora_scale", KeyOutcome.DROPPED, "");
    }

    // ------------------------------------------------------------------------------------------------------ A13

    /** A13: LoHa, LoKr, lora_mid and diff modules (rejected by Diffusers) load, next to plain LoRA. */
    @Test
    void a13_lycorisFileLoads() {
        MapTensorSource source = new MapTensorSource()
                .f32(Q + ".hada_w1_a", shape(2, 1), 1, 2)
                .f32(Q + ".hada_w1_b", shape(1, 2), 3, 4)
                .f32(Q + ".hada_w2_a", shape(2, 1), 1, 1)
                .f32(Q + ".hada_w2_b", shape(1, 2), 0.5f, 1)
                .f32(F + ".lokr_w1", shape(2, 2), 1, 2, 3, 4)
                .f32(F + ".lokr_w2", shape(2, 2), 0, 1, 1, 0)
                .f32(C2 + ".lora_down.weight", shape(1, 2, 1, 1), 1, 2)
                .f32(C2 + ".lora_mid.weight", shape(1, 1, 2, 2), 1, 0, 0, 1)
                .f32(C2 + ".lora_up.weight", shape(2, 1, 1, 1), 1, 3)
                .f16(P + ".diff", shape(2, 2, 1, 1), 1, 2, 3, 4)
                .f32(C1 + ".lora_down.weight", shape(1, 1, 2, 2), 1, 2, 3, 4)
                .f32(C1 + ".lora_up.weight", shape(2, 1, 1, 1), 1, 1);
        Recognition lycoris = LYCORIS.recognise(source);
        assertTrue(lycoris.recognised());
        assertEquals(1.0, lycoris.confidence());
        assertFalse(new KohyaFormat().recognise(source).recognised());
        assertEquals(0, source.dataReads());

        LoraAdapter adapter = convert(LYCORIS, source, TINY);
        assertEquals("lycoris", adapter.format());
        assertEquals(5, adapter.moduleCount());
        assertTrue(only(adapter, TO_Q).isFullDelta());
        assertTrue(only(adapter, FF).isFullDelta());
        assertTrue(only(adapter, PROJ).isFullDelta());
        assertFalse(only(adapter, CONV2).isFullDelta());
        assertFalse(only(adapter, CONV1).isFullDelta());
        assertEquals(java.util.Set.of(1), adapter.ranks());
        assertTrue(adapter.needsFusedMode());
        assertEquals(0, adapter.report().count(KeyOutcome.DROPPED));
    }

    @Test
    void plainKohyaFile_recognisedWithLowConfidence_andConverted() {
        MapTensorSource source = Fixtures.kohya(new MapTensorSource(), Q, LayerGeometry.linear(2, 2), 1, 1f);
        Recognition r = LYCORIS.recognise(source);
        assertTrue(r.recognised());
        assertEquals(0.5, r.confidence());
        assertTrue(new KohyaFormat().recognise(source).isBetterThan(r));
        assertEquals(1f, only(convert(LYCORIS, source, TINY), TO_Q).scale());
    }

    @Test
    void lycorisOnSdxlWithLdmNames() {
        ModuleCatalog sdxl = TinyModels.sdxl();
        String stem = "lora_unet_input_blocks_4_1_transformer_blocks_1_ff_net_2";
        MapTensorSource source = new MapTensorSource()
                .f32(stem + ".lokr_w1", shape(2, 2), 1, 0, 0, 1)
                .f32(stem + ".lokr_w2", shape(4, 4), values(shape(4, 4), 0f));
        LoraAdapter adapter = convert(LYCORIS, source, sdxl);
        assertTrue(adapter.module(Component.UNET, "down_blocks.1.attentions.0.transformer_blocks.1.ff.net.2")
                .orElseThrow().isFullDelta());
    }

    // ------------------------------------------------------------------------------------------------------ errors

    @Test
    void lohaMissingFactor_isRejected() {
        MapTensorSource source = new MapTensorSource()
                .f32(Q + ".hada_w1_a", shape(2, 1), 1, 2)
                .f32(Q + ".hada_w1_b", shape(1, 2), 3, 4)
                .f32(Q + ".hada_w2_a", shape(2, 1), 1, 1);
        assertRejected(() -> LYCORIS.convert(source, TinyModels.context(TINY)), "hada_w2_b", Q);
    }

    @Test
    void lohaOneTuckerCore_isRejected() {
        MapTensorSource source = new MapTensorSource()
                .f32(C1 + ".hada_w1_a", shape(1, 2), 1, 2)
                .f32(C1 + ".hada_w1_b", shape(1, 1), 2)
                .f32(C1 + ".hada_t1", shape(1, 1, 2, 2), 1, 2, 3, 4)
                .f32(C1 + ".hada_w2_a", shape(1, 2), 1, 0.5f)
                .f32(C1 + ".hada_w2_b", shape(1, 1), 1);
        assertRejected(() -> LYCORIS.convert(source, TinyModels.context(TINY)), "hada_t2");
    }

    @Test
    void lohaShapeMismatch_isRejected() {
        MapTensorSource source = new MapTensorSource()
                .f32(Q + ".hada_w1_a", shape(3, 1), 1, 2, 3)
                .f32(Q + ".hada_w1_b", shape(1, 2), 3, 4)
                .f32(Q + ".hada_w2_a", shape(2, 1), 1, 1)
                .f32(Q + ".hada_w2_b", shape(1, 2), 0.5f, 1);
        assertRejected(() -> LYCORIS.convert(source, TinyModels.context(TINY)), Q + ".hada_w1_a", "found shape [3, 1]",
                "expected [2, 1]");
        MapTensorSource ranks = new MapTensorSource()
                .f32(Q + ".hada_w1_a", shape(2, 1), 1, 2)
                .f32(Q + ".hada_w1_b", shape(2, 2), 3, 4, 5, 6)
                .f32(Q + ".hada_w2_a", shape(2, 1), 1, 1)
                .f32(Q + ".hada_w2_b", shape(1, 2), 0.5f, 1);
        assertRejected(() -> LYCORIS.convert(ranks, TinyModels.context(TINY)), "ranks disagree");
    }

    @Test
    void lokrProductMismatch_isRejected() {
        MapTensorSource source = new MapTensorSource()
                .f32(F + ".lokr_w1", shape(2, 2), 1, 2, 3, 4)
                .f32(F + ".lokr_w2", shape(3, 2), 0, 1, 1, 0, 1, 1);
        assertRejected(() -> LYCORIS.convert(source, TinyModels.context(TINY)), "LoKr", "found shape [6, 4]",
                "expected [4, 4]");
    }

    @Test
    void lokrMissingFactor_isRejected() {
        MapTensorSource source = new MapTensorSource()
                .f32(F + ".lokr_w1", shape(2, 2), 1, 2, 3, 4)
                .f32(F + ".lokr_w2_a", shape(2, 1), 1, 2);
        assertRejected(() -> LYCORIS.convert(source, TinyModels.context(TINY)), "lokr_w2_b");
    }

    @Test
    void mixedKindsInOneModule_isRejected() {
        MapTensorSource source = new MapTensorSource()
                .f32(Q + ".lora_down.weight", shape(1, 2), 1, 2)
                .f32(Q + ".lora_up.weight", shape(2, 1), 1, 2)
                .f32(Q + ".hada_w1_a", shape(2, 1), 1, 2);
        assertRejected(() -> LYCORIS.convert(source, TinyModels.context(TINY)), "mixes LoRA/LoCon and LoHa");
    }

    @Test
    void tuckerMidOnLinearLayer_isRejected() {
        MapTensorSource source = new MapTensorSource()
                .f32(Q + ".lora_down.weight", shape(1, 2), 1, 2)
                .f32(Q + ".lora_mid.weight", shape(1, 1, 1, 1), 1)
                .f32(Q + ".lora_up.weight", shape(2, 1), 1, 2);
        assertRejected(() -> LYCORIS.convert(source, TinyModels.context(TINY)), "lora_mid", "needs a convolution");
    }

    @Test
    void fullDiffShapeMismatch_isRejected() {
        MapTensorSource source = new MapTensorSource().f32(Q + ".diff", shape(2, 3), 1, 2, 3, 4, 5, 6);
        assertRejected(() -> LYCORIS.convert(source, TinyModels.context(TINY)), "full delta", "[2, 3]", "[2, 2]");
    }

    @Test
    void unsupportedModuleKind_droppedWithWarning() {
        MapTensorSource source = new MapTensorSource()
                .f32(Q + ".diff", shape(2, 2), 1, 2, 3, 4)
                .f32(F + ".weight", shape(4), 1, 2, 3, 4);
        LoraAdapter adapter = convert(LYCORIS, source, TINY);
        assertEquals(1, adapter.moduleCount());
        assertOutcome(adapter, F + ".weight", KeyOutcome.DROPPED, "");
        assertWarning(adapter, "has no LoRA weights");
    }

    @Test
    void nanInFactor_warnsButLoads() {
        MapTensorSource source = new MapTensorSource()
                .f32(Q + ".hada_w1_a", shape(2, 1), Float.NaN, 2)
                .f32(Q + ".hada_w1_b", shape(1, 2), 3, 4)
                .f32(Q + ".hada_w2_a", shape(2, 1), 1, 1)
                .f32(Q + ".hada_w2_b", shape(1, 2), 0.5f, 1);
        LoraAdapter adapter = convert(LYCORIS, source, TINY);
        assertWarning(adapter, "'" + Q + ".hada_w1_a' contains 1 NaN/Inf value");
    }
}
