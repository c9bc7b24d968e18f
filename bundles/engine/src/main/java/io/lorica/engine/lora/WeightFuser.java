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
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Fused mode (Diffusers {@code fuse_lora}): patched weights {@code W' = W_base + Σ s·ΔW}, always computed from the
 * <em>pristine</em> base weights of the model given at construction, so fusing again with other adapters or scales
 * never accumulates, and {@link #unfuse} returns the base bytes exactly.
 *
 * <p>Per bound layer, in float32: for plain LoRA modules the weight stays in its stored layout and type and the deltas
 * of every adapter acting there are added in one product {@code W + L·R}, the factors concatenated along the rank with
 * the effective scales {@code s} folded into {@code L} ({@code [in, out]} MatMul weights: {@code L = [s·Aᵀ]},
 * {@code R = [Bᵀ]}; {@code [out, in(, kh, kw)]} weights: {@code L = [s·B]}, {@code R = [A]}), computed by a
 * {@link FuseKernel} (on ONNX Runtime in the engine: GEMMs on its execution provider) and rounded once to the stored
 * type (F32, F16, BF16 or F64). A layer with a DoRA or full-delta module (LoHa, LoKr, diff) is merged in PyTorch layout
 * in plain Java, adapter by adapter in activation order: {@code ΔW = B·A} or the full delta, and DoRA as PEFT does,
 * {@code W ← (m/‖W + sΔW‖) ⊙ (W + sΔW)} with the norm per output row (lora-semantics §4.7). A {@code lora_B.bias} adds
 * {@code s·bias} to the base bias.
 *
 * <p>The scales are those of {@link EffectiveScales} ({@code alpha/r · weight · callScale}); Diffusers'
 * {@code lora_scale} of {@code fuse_lora} is part of the call scale. The returned map (initializer name -> patched
 * tensor on a direct buffer) is injected into a session with {@code SessionOptions.addExternalInitializers} (the
 * engine's model handles), or applied to a model with {@link OnnxModel#withInitializer} ({@link #apply}).
 */
public final class WeightFuser {

    private final OnnxModel pristine;
    private final ModuleIndex index;
    private final FuseKernel kernel;
    private final BufferPool pool;

    /**
     * A fuser computing in plain Java ({@link FuseKernel#JAVA}).
     *
     * @param pristine the unmodified model whose weights every fusion starts from
     * @param index    the module index of that model
     */
    public WeightFuser(OnnxModel pristine, ModuleIndex index) {
        this(pristine, index, FuseKernel.JAVA);
    }

    /**
     * @param pristine the unmodified model whose weights every fusion starts from
     * @param index    the module index of that model
     * @param kernel   what computes the low-rank products
     */
    public WeightFuser(OnnxModel pristine, ModuleIndex index, FuseKernel kernel) {
        this(pristine, index, kernel, null);
    }

    /**
     * @param pristine the unmodified model whose weights every fusion starts from
     * @param index    the module index of that model
     * @param kernel   what computes the low-rank products
     * @param pool     where {@link #fuseInto} takes the buffers of patched weights from (null: new buffers)
     */
    public WeightFuser(OnnxModel pristine, ModuleIndex index, FuseKernel kernel, BufferPool pool) {
        if (pristine == null || index == null || kernel == null) {
            throw new IllegalArgumentException("pristine model, index and kernel must not be null");
        }
        this.pristine = pristine;
        this.index = index;
        this.kernel = kernel;
        this.pool = pool;
    }

    /**
     * Patched weights whose buffers come from the fuser's pool: {@link #close()} gives them back, so it must only be
     * called once nothing uses the tensors any more (e.g. after ONNX Runtime copied them into a session).
     *
     * @param weights initializer name -> patched tensor
     */
    public record Fused(Map<String, TensorData> weights, List<ByteBuffer> buffers, BufferPool pool)
            implements AutoCloseable {

        /** Gives the buffers back to the pool. */
        @Override
        public void close() {
            if (pool != null) {
                buffers.forEach(pool::give);
            }
        }
    }

    /**
     * As {@link #fuse}, with the low-rank layers' buffers taken from the fuser's pool.
     *
     * @throws IllegalArgumentException as {@link #fuse}; the buffers taken so far are given back
     */
    public Fused fuseInto(EffectiveScales scales, Map<String, LoraAdapter> adapters, boolean safe) {
        List<ByteBuffer> buffers = new ArrayList<>();
        try {
            return new Fused(fuse(scales, adapters, safe, buffers), List.copyOf(buffers), pool);
        } catch (RuntimeException e) {
            if (pool != null) {
                buffers.forEach(pool::give);
            }
            throw e;
        }
    }

    /** One adapter's module acting on a layer, with its effective scale. */
    private record Acting(String adapter, LoraModule module, float scale) {
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
        return fuse(scales, adapters, safe, null);
    }

    /** {@link #fuse}; with {@code buffers}, low-rank results go to buffers from the pool, listed there. */
    private Map<String, TensorData> fuse(EffectiveScales scales, Map<String, LoraAdapter> adapters, boolean safe,
            List<ByteBuffer> buffers) {
        if (scales == null || adapters == null) {
            throw new IllegalArgumentException("scales and adapters must not be null");
        }
        Component component = index.component();
        // validate everything first (nothing is computed for a request with an error), then merge the layers in
        // parallel, and assemble the result, or report the first failure, in graph order
        List<Layer> layers = new ArrayList<>();
        java.util.Set<String> weights = new java.util.HashSet<>();
        for (String path : scales.modules(component)) {
            LayerBinding binding = index.binding(path).orElseThrow(() -> new IllegalArgumentException("module " + path
                    + " of " + component + " has adapter scales but is not bound in the graph"));
            if (binding.op() == LayerOp.CONV && binding.group() != 1) {
                throw new IllegalArgumentException("module " + path + " is a grouped convolution (group "
                        + binding.group() + "); merging LoRA into it is not supported");
            }
            if (!weights.add(binding.weightInitializer())) {
                throw new IllegalArgumentException("module " + path + " shares weight initializer '"
                        + binding.weightInitializer() + "' with another module");
            }
            LayerGeometry g = binding.geometry();
            List<Acting> acting = new ArrayList<>();
            boolean special = false;
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
                acting.add(new Acting(name, module, s));
                special |= module.isDora() || module.isFullDelta();
            }
            if (acting.isEmpty()) {
                continue;
            }
            Initializer weightInit = initializer(binding.weightInitializer(), path);
            DType dtype = weightInit.dtype();
            if (!Floats.isFloating(dtype)) {
                throw new IllegalArgumentException("module " + path + ": weight type " + dtype
                        + " cannot hold a merged LoRA weight");
            }
            Initializer biasInit = null;
            if (acting.stream().anyMatch(a -> a.module().bias().isPresent())) {
                biasInit = binding.bias().map(b -> initializer(b, path)).orElse(null);
                if (biasInit == null) {
                    String name = acting.stream().filter(a -> a.module().bias().isPresent()).findFirst()
                            .orElseThrow().adapter();
                    throw new IllegalArgumentException("adapter '" + name + "' module " + path
                            + ": Impossible to merge LoRA with `lora_bias=True` because the base layer has no bias.");
                }
            }
            layers.add(new Layer(binding, weightInit, biasInit, acting, special));
        }
        Object[] results = new Object[layers.size()];
        java.util.stream.IntStream.range(0, layers.size()).parallel().forEach(i -> {
            Layer layer = layers.get(i);
            try {
                ByteBuffer weight = layer.special() ? sequential(layer.binding(), layer.weight(), layer.acting(), safe,
                        component) : lowRank(layer.binding(), layer.weight(), layer.acting(), safe, component, buffers);
                TensorData bias = layer.bias() == null ? null
                        : bias(layer.binding(), layer.bias(), layer.acting(), safe, component);
                results[i] = new TensorData[] {new TensorData(layer.weight().dtype(), layer.weight().shape(), weight),
                    bias};
            } catch (RuntimeException e) {
                results[i] = e;
            }
        });
        Map<String, TensorData> patched = new LinkedHashMap<>();
        for (int i = 0; i < results.length; i++) {
            if (results[i] instanceof RuntimeException e) {
                throw e;
            }
            TensorData[] r = (TensorData[]) results[i];
            patched.put(layers.get(i).weight().name(), r[0]);
            if (r[1] != null) {
                patched.put(layers.get(i).bias().name(), r[1]);
            }
        }
        return patched;
    }

    /** One layer to merge: validated, with the adapters acting on it. */
    private record Layer(LayerBinding binding, Initializer weight, Initializer bias, List<Acting> acting,
            boolean special) {
    }

    /** All plain LoRA: {@code W + L·R} in the stored layout through the kernel. */
    private ByteBuffer lowRank(LayerBinding binding, Initializer weightInit, List<Acting> acting, boolean safe,
            Component component, List<ByteBuffer> buffers) {
        LayerGeometry g = binding.geometry();
        boolean inOut = binding.layout() == WeightLayout.IN_OUT;
        int out = g.outFeatures();
        int cols = Math.toIntExact(weightInit.elementCount() / out);
        int rows = inOut ? cols : out;
        int width = inOut ? out : cols;
        int total = 0;
        for (Acting a : acting) {
            total += a.module().rank();
        }
        float[] left = new float[rows * total];
        float[] right = new float[total * width];
        int offset = 0;
        for (Acting a : acting) {
            int r = a.module().rank();
            float s = a.scale();
            float[] fa = a.module().a().toFloatArray();
            float[] fb = a.module().b().toFloatArray();
            if (inOut) {
                // W [in, out] += [s·Aᵀ] [in, R] · [Bᵀ] [R, out]
                for (int k = 0; k < r; k++) {
                    for (int i = 0; i < rows; i++) {
                        left[i * total + offset + k] = s * fa[k * rows + i];
                    }
                    for (int o = 0; o < width; o++) {
                        right[(offset + k) * width + o] = fb[o * r + k];
                    }
                }
            } else {
                // W [out, in·kh·kw] += [s·B] [out, R] · [A] [R, in·kh·kw]
                for (int o = 0; o < rows; o++) {
                    for (int k = 0; k < r; k++) {
                        left[o * total + offset + k] = s * fb[o * r + k];
                    }
                }
                System.arraycopy(fa, 0, right, offset * width, r * width);
            }
            offset += r;
        }
        ByteBuffer target = null;
        if (buffers != null && pool != null) {
            target = pool.take(weightInit.elementCount() * weightInit.dtype().byteSize());
            synchronized (buffers) {
                buffers.add(target);
            }
        }
        FuseKernel.Sum sum = kernel.addProduct(weightInit.data().data(), weightInit.dtype(), rows, width, left, right,
                total, safe, target);
        if (safe && !sum.finite()) {
            // attribute the failure to an adapter, as Diffusers does, by merging them one by one (this throws); what
            // only the rounding by the kernel made non-finite is an overflow of the stored type
            sequential(binding, weightInit, acting, true, component);
            throw overflows(acting, binding.modulePath(), component, weightInit.dtype());
        }
        return sum.data();
    }

    /**
     * Adapter by adapter in PyTorch layout, for layers with DoRA or full-delta modules (and to attribute a safe-fusing
     * failure): the weight is transposed to {@code [out, in]} only when such a module needs it.
     */
    private ByteBuffer sequential(LayerBinding binding, Initializer weightInit, List<Acting> acting, boolean safe,
            Component component) {
        String path = binding.modulePath();
        int out = binding.geometry().outFeatures();
        boolean storedTransposed = binding.layout() == WeightLayout.IN_OUT;
        float[] w = decode(weightInit.data().data(), weightInit.dtype(), weightInit.elementCount());
        boolean canonical = !storedTransposed;
        int cols = w.length / out;
        for (Acting a : acting) {
            LoraModule module = a.module();
            float s = a.scale();
            if (module.isDora() || module.isFullDelta()) {
                if (!canonical) {
                    w = Floats.transpose(w, cols, out);
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
                addScaledProduct(w, s, Floats.transpose(module.a().toFloatArray(), r, cols),
                        Floats.transpose(module.b().toFloatArray(), out, r), cols, r, out);
            }
            if (safe && !finite(w)) {
                throw broken(a, path, component);
            }
        }
        if (safe && !finiteAfterRounding(w, weightInit.dtype())) {
            throw overflows(acting, path, component, weightInit.dtype());
        }
        float[] stored = storedTransposed && canonical ? Floats.transpose(w, out, cols) : w;
        return Floats.encodeDirect(stored, weightInit.dtype());
    }

    /** Diffusers' safe-fusing message, naming the adapter whose merge made the layer non-finite. */
    private static IllegalArgumentException broken(Acting a, String path, Component component) {
        return new IllegalArgumentException("NaNs detected in the merged weights. The adapter " + a.adapter()
                + " seems to be broken (module " + path + " of " + component + ")");
    }

    /** The same for a merge that is finite in float32 but overflows the stored type. */
    private static IllegalArgumentException overflows(List<Acting> acting, String path, Component component,
            DType dtype) {
        return new IllegalArgumentException("NaNs detected in the merged weights. The adapter(s) " + names(acting)
                + " seem to be broken: module " + path + " of " + component + " overflows " + dtype);
    }

    /** The base bias plus {@code s·bias} of every module with a LoRA bias (validated by the caller). */
    private TensorData bias(LayerBinding binding, Initializer biasInit, List<Acting> acting, boolean safe,
            Component component) {
        String path = binding.modulePath();
        float[] bias = null;
        for (Acting a : acting) {
            if (a.module().bias().isEmpty()) {
                continue;
            }
            if (bias == null) {
                bias = biasInit.data().toFloatArray();
            }
            float[] lb = a.module().bias().get().toFloatArray();
            for (int o = 0; o < bias.length; o++) {
                bias[o] += a.scale() * lb[o];
            }
            if (safe && !finite(bias)) {
                throw broken(a, path, component);
            }
        }
        if (safe && !finiteAfterRounding(bias, biasInit.dtype())) {
            throw overflows(acting, path, component, biasInit.dtype());
        }
        return new TensorData(biasInit.dtype(), biasInit.shape(), Floats.encodeDirect(bias, biasInit.dtype()));
    }

    private static String names(List<Acting> acting) {
        List<String> names = new ArrayList<>();
        acting.forEach(a -> names.add(a.adapter()));
        return String.join(", ", names);
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
    static void addScaledProduct(float[] w, float s, float[] left, float[] right, int rows, int r, int width) {
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

    /** Whether every value is finite and stays finite when rounded to {@code dtype}. */
    static boolean finiteAfterRounding(float[] values, DType dtype) {
        for (float v : values) {
            if (!Float.isFinite(v) || dtype == DType.F16 && Math.abs(v) >= 65520f
                    || dtype == DType.BF16 && Float.isInfinite(Float.intBitsToFloat(Floats.floatToBfloat16(v) << 16))) {
                return false;
            }
        }
        return true;
    }

    /** The binary16 values of every 16-bit pattern, for fast decoding. */
    private static final class HalfTable {
        static final float[] VALUES = new float[1 << 16];

        static {
            for (int i = 0; i < VALUES.length; i++) {
                VALUES[i] = TensorData.halfToFloat((short) i);
            }
        }
    }

    /** {@code count} elements of {@code dtype} from little-endian {@code bytes} (position 0) as float32. */
    static float[] decode(ByteBuffer bytes, DType dtype, long count) {
        if (count > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("a weight of " + count + " elements is too large to merge in Java");
        }
        float[] w = new float[(int) count];
        ByteBuffer in = bytes.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        in.position(0);
        switch (dtype) {
            case F32:
                in.asFloatBuffer().get(w);
                break;
            case F16: {
                float[] table = HalfTable.VALUES;
                java.nio.ShortBuffer s = in.asShortBuffer();
                for (int i = 0; i < w.length; i++) {
                    w[i] = table[s.get(i) & 0xffff];
                }
                break;
            }
            case BF16: {
                java.nio.ShortBuffer s = in.asShortBuffer();
                for (int i = 0; i < w.length; i++) {
                    w[i] = Float.intBitsToFloat((s.get(i) & 0xffff) << 16);
                }
                break;
            }
            case F64: {
                java.nio.DoubleBuffer d = in.asDoubleBuffer();
                for (int i = 0; i < w.length; i++) {
                    w[i] = (float) d.get(i);
                }
                break;
            }
            default:
                throw new IllegalArgumentException("weight type " + dtype + " cannot hold a merged LoRA weight");
        }
        return w;
    }
}
