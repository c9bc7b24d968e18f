package io.lorica.engine.lora;

import io.lorica.api.Component;
import io.lorica.api.DType;
import io.lorica.api.TensorData;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.adapter.LoraModule;
import io.lorica.api.policy.EffectiveScales;
import io.lorica.engine.index.LayerBinding;
import io.lorica.engine.index.LayerBinding.LayerOp;
import io.lorica.engine.index.LayerBinding.WeightLayout;
import io.lorica.engine.index.ModuleIndex;
import io.lorica.engine.onnx.Initializer;
import io.lorica.engine.onnx.OnnxModel;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Fused mode (Diffusers {@code fuse_lora}): patched weights {@code W' = W_base + Σ s·ΔW}, always computed from the
 * <em>pristine</em> base weights of the model given at construction, so fusing again with other adapters or scales
 * never accumulates, and {@link #unfuse} returns the base bytes exactly.
 *
 * <p>Per bound layer, in float32 and in the PyTorch layout {@code [out, in(, kh, kw)]}: the base weight (a MatMul
 * {@link WeightLayout#IN_OUT} weight is transposed), then for each adapter acting there, in activation order:
 * {@code ΔW = B·A} (conv: {@code ΔW[o,i,y,x] = Σ_k B[o,k] A[k,i,y,x]}), or the module's full delta (LoHa, LoKr, diff),
 * added with its effective scale {@code s}; a DoRA module merges as PEFT does, {@code W ← (m/‖W + sΔW‖) ⊙ (W + sΔW)}
 * with the norm per output row (lora-semantics §4.7); a {@code lora_B.bias} adds {@code s·bias} to the base bias.
 * The result is transposed back to the stored layout and rounded once to the stored type (F32, F16, BF16 or F64).
 *
 * <p>The scales are those of {@link EffectiveScales} ({@code alpha/r · weight · callScale}); Diffusers'
 * {@code lora_scale} of {@code fuse_lora} is part of the call scale. The returned map (initializer name -> patched
 * tensor) is fed through {@link OnnxModel#withInitializer} ({@link #apply}) or {@code SessionOptions.addInitializer}.
 */
public final class WeightFuser {

    private final OnnxModel pristine;
    private final ModuleIndex index;

    /**
     * @param pristine the unmodified model whose weights every fusion starts from
     * @param index    the module index of that model
     */
    public WeightFuser(OnnxModel pristine, ModuleIndex index) {
        if (pristine == null || index == null) {
            throw new IllegalArgumentException("pristine model and index must not be null");
        }
        this.pristine = pristine;
        this.index = index;
    }

    /**
     * Computes the patched weights (and biases, for LoRA bias) of every layer an adapter acts on.
     *
     * @param scales   the effective scale of each adapter on each layer, in activation order
     * @param adapters the adapters by name
     * @param safe     Diffusers' {@code safe_fusing}: refuse NaN/Inf results
     * @return initializer name -> patched tensor; nothing is modified anywhere
     * @throws IllegalArgumentException when an adapter is missing, a module is not bound in the graph or does not fit
     *                                  the layer, a layer is a grouped convolution, a LoRA bias meets a layer without
     *                                  bias, or (safe mode) the merge yields NaN/Inf: "NaNs detected in the merged
     *                                  weights. The adapter {name} seems to be broken" naming the module too; also
     *                                  (safe mode) when the result overflows a 16-bit stored type
     */
    public Map<String, TensorData> fuse(EffectiveScales scales, Map<String, LoraAdapter> adapters, boolean safe) {
        if (scales == null || adapters == null) {
            throw new IllegalArgumentException("scales and adapters must not be null");
        }
        Component component = index.component();
        Map<String, TensorData> patched = new LinkedHashMap<>();
        for (String path : scales.modules(component)) {
            LayerBinding binding = index.binding(path).orElseThrow(() -> new IllegalArgumentException("module " + path
                    + " of " + component + " has adapter scales but is not bound in the graph"));
            if (binding.op() == LayerOp.CONV && binding.group() != 1) {
                throw new IllegalArgumentException("module " + path + " is a grouped convolution (group "
                        + binding.group() + "); merging LoRA into it is not supported");
            }
            if (patched.containsKey(binding.weightInitializer())) {
                throw new IllegalArgumentException("module " + path + " shares weight initializer '"
                        + binding.weightInitializer() + "' with another module");
            }
            LayerGeometry g = binding.geometry();
            int out = g.outFeatures();
            Initializer weightInit = initializer(binding.weightInitializer(), path);
            // the weight stays in its stored layout ([in, out] for MatMul) unless a DoRA or full-delta module needs the
            // canonical [out, in]: low-rank deltas are added in place through transposed (small) factors, so the big
            // matrix is never transposed
            boolean storedTransposed = binding.layout() == WeightLayout.IN_OUT;
            float[] w = weightInit.data().toFloatArray();
            boolean canonical = !storedTransposed;
            int cols = w.length / out;
            float[] bias = null;
            boolean changed = false;
            for (Map.Entry<String, Float> entry : scales.adapters(component, path).entrySet()) {
                String name = entry.getKey();
                LoraAdapter adapter = adapters.get(name);
                if (adapter == null) {
                    throw new IllegalArgumentException("adapter '" + name + "' has scales but is not loaded");
                }
                Optional<LoraModule> found = adapter.module(component, path);
                if (found.isEmpty()) {
                    continue;
                }
                LoraModule module = found.get();
                if (!module.geometry().equals(g) && !sameShape(module.geometry(), g)) {
                    throw new IllegalArgumentException("adapter '" + name + "' module " + path + " has "
                            + module.geometry() + " but the graph's layer is " + g);
                }
                float s = entry.getValue();
                if (s == 0f && !module.isDora()) {
                    continue;
                }
                if (module.isDora() || module.isFullDelta()) {
                    if (!canonical) {
                        w = transpose(w, cols, out);
                        canonical = true;
                    }
                    float[] delta = module.isFullDelta() ? module.delta().orElseThrow().toFloatArray()
                            : product(module.b().toFloatArray(), module.a().toFloatArray(), out, module.rank(), cols);
                    if (module.isDora()) {
                        dora(w, delta, s, module.magnitude().orElseThrow().toFloatArray(), out, cols);
                    } else {
                        for (int i = 0; i < w.length; i++) {
                            w[i] += s * delta[i];
                        }
                    }
                } else if (canonical) {
                    // W [out, in] += s · B [out, r] · A [r, in]
                    addScaledProduct(w, s, module.b().toFloatArray(), module.a().toFloatArray(), out, module.rank(), cols);
                } else {
                    // W [in, out] += s · Aᵀ [in, r] · Bᵀ [r, out]
                    int r = module.rank();
                    addScaledProduct(w, s, transpose(module.a().toFloatArray(), r, cols),
                            transpose(module.b().toFloatArray(), out, r), cols, r, out);
                }
                if (module.bias().isPresent()) {
                    if (binding.bias().isEmpty()) {
                        throw new IllegalArgumentException("adapter '" + name + "' module " + path
                                + ": Impossible to merge LoRA with `lora_bias=True` because the base layer has no bias.");
                    }
                    if (bias == null) {
                        bias = initializer(binding.bias().get(), path).data().toFloatArray();
                    }
                    float[] lb = module.bias().get().toFloatArray();
                    for (int o = 0; o < out; o++) {
                        bias[o] += s * lb[o];
                    }
                }
                changed = true;
                if (safe && (!finite(w) || (bias != null && !finite(bias)))) {
                    throw new IllegalArgumentException("NaNs detected in the merged weights. The adapter " + name
                            + " seems to be broken (module " + path + " of " + component + ")");
                }
            }
            if (!changed) {
                continue;
            }
            if (safe && (overflows(w, weightInit.dtype()) || (bias != null && overflows(bias,
                    initializer(binding.bias().get(), path).dtype())))) {
                throw new IllegalArgumentException("NaNs detected in the merged weights. The adapter(s) "
                        + String.join(", ", scales.adapters(component, path).keySet()) + " seem to be broken: module "
                        + path + " of " + component + " overflows " + weightInit.dtype());
            }
            float[] stored = storedTransposed && canonical ? transpose(w, out, cols) : w;
            patched.put(weightInit.name(), encode(stored, weightInit.dtype(), weightInit.shape(), path));
            if (bias != null) {
                Initializer biasInit = initializer(binding.bias().get(), path);
                patched.put(biasInit.name(), encode(bias, biasInit.dtype(), biasInit.shape(), path));
            }
        }
        return patched;
    }

    /**
     * The pristine tensors of {@code initializerNames} (e.g. the keys of a {@link #fuse} result): feeding them back
     * restores the base model byte for byte.
     *
     * @throws IllegalArgumentException when a name is not an initializer of the model
     */
    public Map<String, TensorData> unfuse(Collection<String> initializerNames) {
        Map<String, TensorData> base = new LinkedHashMap<>();
        for (String name : initializerNames) {
            base.put(name, initializer(name, "(unfuse)").data());
        }
        return base;
    }

    /** {@code model} with each tensor of {@code weights} replacing the initializer of that name. */
    public static OnnxModel apply(OnnxModel model, Map<String, TensorData> weights) {
        OnnxModel result = model;
        for (Map.Entry<String, TensorData> e : weights.entrySet()) {
            result = result.withInitializer(e.getKey(), e.getValue());
        }
        return result;
    }

    private Initializer initializer(String name, String path) {
        return pristine.initializer(name).orElseThrow(() -> new IllegalArgumentException("module " + path
                + ": initializer '" + name + "' is not in the model"));
    }

    private static boolean sameShape(LayerGeometry a, LayerGeometry b) {
        return java.util.Arrays.equals(a.weightShape(), b.weightShape());
    }

    /**
     * {@code B [out, r] · A [r, cols]} in fp32: row by row, each output row accumulated over the rank with contiguous,
     * vectorisable inner loops (the JIT turns them into SIMD multiply-adds).
     */
    private static float[] product(float[] b, float[] a, int out, int r, int cols) {
        float[] d = new float[out * cols];
        for (int o = 0; o < out; o++) {
            int row = o * cols;
            for (int k = 0; k < r; k++) {
                float bk = b[o * r + k];
                int aRow = k * cols;
                for (int j = 0; j < cols; j++) {
                    d[row + j] += bk * a[aRow + j];
                }
            }
        }
        return d;
    }

    /** Columns per tile: a tile of one weight row stays in the L1 cache while the rank loop runs over it. */
    private static final int TILE = 1024;

    /**
     * {@code w [rows, width] += s · left [rows, r] · right [r, width]}, in place. Each row is processed in column tiles
     * that stay in the L1 cache across the rank loop, with contiguous inner loops the JIT vectorises; large matrices
     * are split by rows over the common fork-join pool.
     */
    private static void addScaledProduct(float[] w, float s, float[] left, float[] right, int rows, int r, int width) {
        if ((long) rows * width >= 1 << 20) {
            java.util.stream.IntStream.range(0, (rows + 63) / 64).parallel().forEach(block ->
                    addRows(w, s, left, right, block * 64, Math.min(rows, block * 64 + 64), r, width));
        } else {
            addRows(w, s, left, right, 0, rows, r, width);
        }
    }

    private static void addRows(float[] w, float s, float[] left, float[] right, int from, int to, int r, int width) {
        for (int row = from; row < to; row++) {
            int wRow = row * width;
            for (int start = 0; start < width; start += TILE) {
                int end = Math.min(width, start + TILE);
                for (int k = 0; k < r; k++) {
                    // no shortcut for zeros: 0 · NaN must stay NaN so that safe fusing sees a broken factor
                    float f = s * left[row * r + k];
                    int rRow = k * width;
                    for (int j = start; j < end; j++) {
                        w[wRow + j] += f * right[rRow + j];
                    }
                }
            }
        }
    }

    private static void dora(float[] w, float[] delta, float s, float[] magnitude, int out, int cols) {
        for (int o = 0; o < out; o++) {
            double norm = 0;
            for (int j = 0; j < cols; j++) {
                float v = w[o * cols + j] + s * delta[o * cols + j];
                w[o * cols + j] = v;
                norm += (double) v * v;
            }
            float factor = (float) (magnitude[o] / Math.sqrt(norm));
            for (int j = 0; j < cols; j++) {
                w[o * cols + j] *= factor;
            }
        }
    }

    private static boolean finite(float[] values) {
        for (float v : values) {
            if (!Float.isFinite(v)) {
                return false;
            }
        }
        return true;
    }

    /** Whether rounding to {@code dtype} would turn a finite value into an infinity. */
    private static boolean overflows(float[] values, DType dtype) {
        for (float v : values) {
            if (dtype == DType.F16 && Math.abs(v) >= 65520f
                    || dtype == DType.BF16 && Float.isInfinite(Float.intBitsToFloat(floatToBfloat16(v) << 16))) {
                return true;
            }
        }
        return false;
    }

    private static float[] transpose(float[] m, int rows, int cols) {
        float[] t = new float[m.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                t[c * rows + r] = m[r * cols + c];
            }
        }
        return t;
    }

    private static TensorData encode(float[] values, DType dtype, long[] shape, String path) {
        ByteBuffer buffer = ByteBuffer.allocate(Math.multiplyExact(values.length, dtype.byteSize()))
                .order(ByteOrder.LITTLE_ENDIAN);
        if (dtype == DType.F32) {
            buffer.asFloatBuffer().put(values);
            return new TensorData(dtype, shape, buffer);
        }
        for (float v : values) {
            switch (dtype) {
                case F32:
                    buffer.putFloat(v);
                    break;
                case F16:
                    buffer.putShort(floatToHalf(v));
                    break;
                case BF16:
                    buffer.putShort(floatToBfloat16(v));
                    break;
                case F64:
                    buffer.putDouble(v);
                    break;
                default:
                    throw new IllegalArgumentException("module " + path + ": weight type " + dtype
                            + " cannot hold a merged LoRA weight");
            }
        }
        buffer.flip();
        return new TensorData(dtype, shape, buffer);
    }

    /** IEEE 754 binary16 bits of {@code f}, rounded to nearest even; overflow gives infinity. */
    static short floatToHalf(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int value = bits & 0x7fffffff;
        if (value >= 0x7f800000) {
            return (short) (sign | 0x7c00 | (value > 0x7f800000 ? 0x200 : 0));
        }
        if (value >= 0x477ff000) {
            return (short) (sign | 0x7c00);
        }
        if (value < 0x38800000) {
            int m = (int) Math.rint(Float.intBitsToFloat(value) * 0x1p24f);
            return (short) (sign | m);
        }
        int exponent = (value >>> 23) - 127 + 15;
        int mantissa = value & 0x7fffff;
        int half = (exponent << 10) | (mantissa >>> 13);
        int rest = mantissa & 0x1fff;
        if (rest > 0x1000 || (rest == 0x1000 && (half & 1) == 1)) {
            half++;
        }
        return (short) (sign | half);
    }

    /** bfloat16 bits of {@code f}, rounded to nearest even. */
    static short floatToBfloat16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((bits >>> 16) | 0x40);
        }
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }
}
