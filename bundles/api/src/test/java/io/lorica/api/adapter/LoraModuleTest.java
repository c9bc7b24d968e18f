package io.lorica.api.adapter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.Component;
import io.lorica.api.DType;
import io.lorica.api.TensorData;

import java.nio.ByteBuffer;
import java.util.Optional;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** LayerGeometry and LoraModule. */
class LoraModuleTest {

    static final String TO_Q = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q";
    static final String CONV1 = "down_blocks.1.resnets.0.conv1";

    static TensorData zeros(long... shape) {
        long count = 1;
        for (long d : shape) {
            count *= d;
        }
        return TensorData.ofFloats(shape, new float[(int) count]);
    }

    static LoraModule linear(int rank, float alpha) {
        return LoraModule.of(Component.UNET, TO_Q, LayerGeometry.linear(8, 6), alpha, zeros(rank, 8), zeros(6, rank));
    }

    static LoraModule module(LayerGeometry geometry, int rank, TensorData a, TensorData b) {
        return new LoraModule(Component.UNET, TO_Q, geometry, rank, 1f, a, b, Optional.empty(), Optional.empty(),
                Optional.empty());
    }

    static String message(Executable executable) {
        return assertThrows(IllegalArgumentException.class, executable).getMessage();
    }

    @Test
    void layerGeometry_whenLinearHasKernelOrStride_rejects() {
        assertEquals("a linear layer must have kernel 1x1, stride 1 and padding 0, got kernel 3x3, stride 1, padding 1",
                message(() -> new LayerGeometry(LayerKind.LINEAR, 4, 4, 3, 3, 1, 1)));
        assertEquals("inFeatures must be >= 1, got 0", message(() -> LayerGeometry.linear(0, 4)));
        assertEquals("padding must be >= 0, got -1", message(() -> LayerGeometry.conv(4, 4, 3, 1, -1)));
    }

    @Test
    void layerGeometry_loraShapes_followPeftLayout() {
        LayerGeometry conv = LayerGeometry.conv(320, 640, 3, 2, 1);
        assertEquals("[4, 320, 3, 3]", java.util.Arrays.toString(conv.aShape(4)));
        assertEquals("[640, 4, 1, 1]", java.util.Arrays.toString(conv.bShape(4)));
        assertEquals("[640, 320, 3, 3]", java.util.Arrays.toString(conv.weightShape()));
        LayerGeometry linear = LayerGeometry.linear(768, 320);
        assertEquals("[4, 768]", java.util.Arrays.toString(linear.aShape(4)));
        assertEquals("[320, 4]", java.util.Arrays.toString(linear.bShape(4)));
    }

    @Test
    void loraModule_whenShapesFitGeometry_computesScaleAlphaOverRank() {
        LoraModule module = linear(4, 8f);
        assertEquals(4, module.rank());
        assertEquals(2f, module.scale());
        assertFalse(module.isDora());
        assertFalse(module.isFullDelta());
    }

    @Test
    void loraModule_whenAlphaMissingOrZero_usesRankSoScaleIsOne() {
        LoraModule module = linear(4, 0f);
        assertEquals(4f, module.alpha());
        assertEquals(1f, module.scale());
    }

    @Test
    void loraModule_whenAlphaNegativeOrNaN_rejectsNamingModule() {
        assertEquals("module " + TO_Q + ": alpha must be a finite number >= 0, got -1.0", message(() -> linear(4, -1f)));
        assertThrows(IllegalArgumentException.class, () -> linear(4, Float.NaN));
    }

    @Test
    void loraModule_whenBRankDiffersFromA_rejectsNamingModule() {
        assertEquals("module " + TO_Q + ": A has rank 4 but B has rank 8",
                message(() -> module(LayerGeometry.linear(8, 6), 4, zeros(4, 8), zeros(6, 8))));
    }

    @Test
    void loraModule_whenDeclaredRankDiffersFromTensors_rejects() {
        assertEquals("module " + TO_Q + ": A and B have rank 4 but the module declares rank 8",
                message(() -> module(LayerGeometry.linear(8, 6), 8, zeros(4, 8), zeros(6, 4))));
    }

    @Test
    void loraModule_whenAInputFeaturesDifferFromLayer_rejectsWithBothShapes() {
        assertEquals("module " + TO_Q + ": A has shape [4, 768] but the layer (linear 320->320) needs [4, 320]",
                message(() -> module(LayerGeometry.linear(320, 320), 4, zeros(4, 768), zeros(320, 4))));
    }

    @Test
    void loraModule_whenBOutputFeaturesDifferFromLayer_rejects() {
        assertTrue(message(() -> module(LayerGeometry.linear(8, 6), 2, zeros(2, 8), zeros(5, 2)))
                .contains("B has shape [5, 2] but the layer (linear 8->6) needs [6, 2]"));
    }

    @Test
    void loraModule_whenConvGetsTwoDimensionalLora_rejectsAskingForFourDimensions() {
        LayerGeometry proj = LayerGeometry.conv(8, 8, 1, 1, 0);
        assertEquals("module " + TO_Q + ": A is F32[2, 8] but a conv layer needs 4-D LoRA tensors",
                message(() -> module(proj, 2, zeros(2, 8), zeros(8, 2))));
    }

    @Test
    void loraModule_whenConvKernelMatches_accepts_andWhenKernelDiffers_rejects() {
        LayerGeometry conv = LayerGeometry.conv(4, 6, 3, 1, 1);
        LoraModule ok = new LoraModule(Component.UNET, CONV1, conv, 2, 1f, zeros(2, 4, 3, 3), zeros(6, 2, 1, 1),
                Optional.empty(), Optional.empty(), Optional.empty());
        assertEquals(0.5f, ok.scale());
        assertTrue(message(() -> new LoraModule(Component.UNET, CONV1, conv, 2, 1f, zeros(2, 4, 1, 1),
                zeros(6, 2, 1, 1), Optional.empty(), Optional.empty(), Optional.empty()))
                .contains("A has shape [2, 4, 1, 1] but the layer (conv 4->6 3x3) needs [2, 4, 3, 3]"));
    }

    @Test
    void loraModuleOf_whenAIsScalar_rejectsAskingForTwoDimensions() {
        assertEquals("module " + TO_Q + ": A is F32[] but a linear layer needs 2-D LoRA tensors",
                message(() -> LoraModule.of(Component.UNET, TO_Q, LayerGeometry.linear(8, 6), 1f,
                        TensorData.ofFloats(new long[] {}, 4f), zeros(6, 4))));
    }

    @Test
    void loraModule_whenTensorIsInteger_rejects() {
        TensorData ints = new TensorData(DType.I32, new long[] {2, 8}, ByteBuffer.allocate(64));
        assertEquals("module " + TO_Q + ": A is I32[2, 8] but LoRA weights must be F16, BF16, F32 or F64",
                message(() -> module(LayerGeometry.linear(8, 6), 2, ints, zeros(6, 2))));
    }

    @Test
    void loraModule_whenBiasOrMagnitudeNotOutFeatures_rejects() {
        LayerGeometry g = LayerGeometry.linear(8, 6);
        assertTrue(message(() -> new LoraModule(Component.UNET, TO_Q, g, 2, 1f, zeros(2, 8), zeros(6, 2),
                Optional.of(zeros(8)), Optional.empty(), Optional.empty())).contains("bias has shape [8]"));
        assertTrue(message(() -> new LoraModule(Component.UNET, TO_Q, g, 2, 1f, zeros(2, 8), zeros(6, 2),
                Optional.empty(), Optional.of(zeros(1, 6, 1, 1)), Optional.empty()))
                .contains("DoRA magnitude has shape [1, 6, 1, 1]"));
        LoraModule dora = new LoraModule(Component.UNET, TO_Q, g, 2, 1f, zeros(2, 8), zeros(6, 2),
                Optional.of(zeros(6)), Optional.of(zeros(6)), Optional.empty());
        assertTrue(dora.isDora());
    }

    @Test
    void loraModule_fullDelta_hasRankZeroEmptyFactorsAndScaleOne() {
        LoraModule module = LoraModule.fullDelta(Component.UNET, CONV1, LayerGeometry.conv(4, 6, 3, 1, 1),
                zeros(6, 4, 3, 3));
        assertEquals(0, module.rank());
        assertEquals(1f, module.scale());
        assertTrue(module.isFullDelta());
        assertEquals(0, module.a().elementCount());
        assertTrue(module.b().hasShape(6, 0, 1, 1));
    }

    @Test
    void loraModule_whenRankZeroWithoutDeltaOrDeltaWithRank_rejects() {
        LayerGeometry g = LayerGeometry.linear(8, 6);
        assertTrue(message(() -> module(g, 0, zeros(0, 8), zeros(6, 0)))
                .endsWith("rank 0 is only allowed for a full-delta module, but delta is absent"));
        assertTrue(message(() -> new LoraModule(Component.UNET, TO_Q, g, 2, 1f, zeros(2, 8), zeros(6, 2),
                Optional.empty(), Optional.empty(), Optional.of(zeros(6, 8))))
                .endsWith("a full-delta module must have rank 0 (empty A and B), got rank 2"));
        assertTrue(message(() -> LoraModule.fullDelta(Component.UNET, TO_Q, g, zeros(8, 6)))
                .contains("delta has shape [8, 6] but the layer (linear 8->6) needs [6, 8]"));
    }

    @Test
    void loraModule_whenModulePathIsNotDotted_rejectsNamingPath() {
        assertTrue(message(() -> LoraModule.of(Component.UNET, "lora_unet_down blocks", LayerGeometry.linear(8, 6), 1f,
                zeros(2, 8), zeros(6, 2))).startsWith("modulePath 'lora_unet_down blocks' is not a Diffusers module path"));
        assertTrue(message(() -> LoraModule.of(Component.UNET, "a..b", LayerGeometry.linear(8, 6), 1f,
                zeros(2, 8), zeros(6, 2))).startsWith("modulePath 'a..b'"));
    }
}
