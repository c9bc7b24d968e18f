package io.lorica.engine.lora;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import io.lorica.api.Component;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LayerKind;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.adapter.LoraModule;
import io.lorica.api.policy.EffectiveScales;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Builds, per request, the factor inputs of every branch of a {@link BranchLayout} from the active adapters and their
 * effective scales: the rank concatenation of the adapters touching each layer (lora-semantics §4.5, exact).
 *
 * <p>Linear: {@code down = [s1·A1ᵀ | s2·A2ᵀ | ...]} ({@code [in, ΣR]}), {@code up = [B1ᵀ ; B2ᵀ ; ...]}
 * ({@code [ΣR, out]}), so {@code (x·down)·up = Σ s·x·Aᵀ·Bᵀ = Σ s·(B·A·xᵀ)ᵀ}. Conv: {@code down = [s1·A1 ; s2·A2 ; ...]}
 * along the output-channel axis ({@code [ΣR, in, kh, kw]}), {@code up = [B1 | B2 | ...]} along the input-channel axis
 * ({@code [out, ΣR, 1, 1]}). Layers no adapter touches get zero-rank factors ({@code [in, 0]} and {@code [0, out]}),
 * which ONNX Runtime accepts and which contribute exactly zero.
 *
 * <p>Modules that are not plain LoRA cannot be a low-rank branch: DoRA (non-linear normalisation), full deltas
 * (LoHa/LoKr/diff) and {@code lora_bias}. They are never dropped silently: {@link Request#needsFusedPath()} lists
 * them, as {@link Request#unapplied()} lists everything not applied (also modules of layers without a branch).
 *
 * <p>Tensors are float32, built on direct buffers (no copy at run time). fp16 factors for fp16 graphs are future work.
 */
public final class DynamicInputs {

    private DynamicInputs() {
    }

    /** Why an adapter's module was not applied by the branches. */
    public enum Reason {
        /** DoRA: needs the fused path. */
        DORA,
        /** A full delta (LoHa, LoKr, diff): needs the fused path. */
        FULL_DELTA,
        /** {@code lora_B.bias}: needs the fused path (it patches the base bias). */
        LORA_BIAS,
        /** The layer has no branch in this graph (not bound, or skipped by the rewriter). */
        NO_BRANCH
    }

    /**
     * A module of an adapter that the branches do not apply.
     *
     * @param adapter    the adapter name
     * @param modulePath the module path
     * @param reason     why
     */
    public record Unapplied(String adapter, String modulePath, Reason reason) {
    }

    /**
     * The inputs of one request; closing it closes the tensors.
     */
    public static final class Request implements AutoCloseable {
        private final Map<String, OnnxTensor> tensors;
        private final List<Unapplied> unapplied;

        Request(Map<String, OnnxTensor> tensors, List<Unapplied> unapplied) {
            this.tensors = Collections.unmodifiableMap(tensors);
            this.unapplied = List.copyOf(unapplied);
        }

        /** Input name -> tensor, for every branch of the layout; add the model's own inputs and run. */
        public Map<String, OnnxTensor> tensors() {
            return tensors;
        }

        /** Everything the branches do not apply. */
        public List<Unapplied> unapplied() {
            return unapplied;
        }

        /** The modules that need the fused path (DoRA, full delta, LoRA bias). */
        public List<Unapplied> needsFusedPath() {
            return unapplied.stream().filter(u -> u.reason() != Reason.NO_BRANCH).toList();
        }

        /** Closes every tensor. */
        @Override
        public void close() {
            tensors.values().forEach(OnnxTensor::close);
        }
    }

    /**
     * Builds the branch inputs for one request.
     *
     * @param env      the ONNX Runtime environment
     * @param layout   the branches of the rewritten graph
     * @param scales   the effective scales ({@code alpha/r · weight · callScale}) of the active adapters
     * @param adapters the loaded adapters by name; every adapter named in {@code scales} for this component must be
     *                 present
     * @throws IllegalArgumentException when an adapter is missing or a module's geometry does not match the branch
     * @throws IllegalStateException    when ONNX Runtime cannot create a tensor
     */
    public static Request build(OrtEnvironment env, BranchLayout layout, EffectiveScales scales,
            Map<String, LoraAdapter> adapters) {
        if (env == null || layout == null || scales == null || adapters == null) {
            throw new IllegalArgumentException("env, layout, scales and adapters must not be null");
        }
        Component component = layout.component();
        List<Unapplied> unapplied = new ArrayList<>();
        for (String path : scales.modules(component)) {
            if (layout.branch(path).isEmpty()) {
                for (String adapter : scales.adapters(component, path).keySet()) {
                    unapplied.add(new Unapplied(adapter, path, Reason.NO_BRANCH));
                }
            }
        }
        Map<String, OnnxTensor> tensors = new LinkedHashMap<>();
        try {
            for (BranchLayout.Branch branch : layout.branches().values()) {
                List<LoraModule> modules = new ArrayList<>();
                List<Float> factors = new ArrayList<>();
                int total = 0;
                for (Map.Entry<String, Float> e : scales.adapters(component, branch.modulePath()).entrySet()) {
                    LoraAdapter adapter = adapters.get(e.getKey());
                    if (adapter == null) {
                        throw new IllegalArgumentException("adapter '" + e.getKey() + "' has scales but is not loaded");
                    }
                    Optional<LoraModule> found = adapter.module(component, branch.modulePath());
                    if (found.isEmpty()) {
                        continue;
                    }
                    LoraModule module = found.get();
                    Reason reason = module.isDora() ? Reason.DORA : module.isFullDelta() ? Reason.FULL_DELTA
                            : module.bias().isPresent() ? Reason.LORA_BIAS : null;
                    if (reason != null) {
                        unapplied.add(new Unapplied(e.getKey(), branch.modulePath(), reason));
                        continue;
                    }
                    check(branch, module, e.getKey());
                    if (e.getValue() == 0f) {
                        continue;
                    }
                    modules.add(module);
                    factors.add(e.getValue());
                    total += module.rank();
                }
                FloatBuffer down = direct(product(branch.downShape(total)));
                FloatBuffer up = direct(product(branch.upShape(total)));
                fill(branch, modules, factors, total, down, up);
                tensors.put(branch.downInput(), OnnxTensor.createTensor(env, down, branch.downShape(total)));
                tensors.put(branch.upInput(), OnnxTensor.createTensor(env, up, branch.upShape(total)));
            }
        } catch (OrtException e) {
            tensors.values().forEach(OnnxTensor::close);
            throw new IllegalStateException("cannot create LoRA branch tensors: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            tensors.values().forEach(OnnxTensor::close);
            throw e;
        }
        return new Request(tensors, unapplied);
    }

    private static void fill(BranchLayout.Branch branch, List<LoraModule> modules, List<Float> factors, int total,
            FloatBuffer down, FloatBuffer up) {
        int in = branch.inFeatures();
        int out = branch.outFeatures();
        int offset = 0;
        for (int m = 0; m < modules.size(); m++) {
            LoraModule module = modules.get(m);
            float s = factors.get(m);
            int r = module.rank();
            float[] a = module.a().toFloatArray();
            float[] b = module.b().toFloatArray();
            if (branch.kind() == LayerKind.LINEAR) {
                // down[i, offset + k] = s * A[k, i]; up[offset + k, o] = B[o, k]
                for (int k = 0; k < r; k++) {
                    for (int i = 0; i < in; i++) {
                        down.put(i * total + offset + k, s * a[k * in + i]);
                    }
                    for (int o = 0; o < out; o++) {
                        up.put((offset + k) * out + o, b[o * r + k]);
                    }
                }
            } else {
                // down[offset + k, ...] = s * A[k, ...]; up[o, offset + k] = B[o, k]
                int kernel = in * branch.kernelHeight() * branch.kernelWidth();
                for (int k = 0; k < r; k++) {
                    for (int j = 0; j < kernel; j++) {
                        down.put((offset + k) * kernel + j, s * a[k * kernel + j]);
                    }
                    for (int o = 0; o < out; o++) {
                        up.put(o * total + offset + k, b[o * r + k]);
                    }
                }
            }
            offset += r;
        }
    }

    private static void check(BranchLayout.Branch branch, LoraModule module, String adapter) {
        LayerGeometry g = module.geometry();
        if (g.kind() != branch.kind() || g.inFeatures() != branch.inFeatures()
                || g.outFeatures() != branch.outFeatures() || g.kernelHeight() != branch.kernelHeight()
                || g.kernelWidth() != branch.kernelWidth()) {
            throw new IllegalArgumentException("adapter '" + adapter + "' module " + branch.modulePath() + " has "
                    + g + " but the graph's layer is " + branch.kind() + " " + branch.inFeatures() + "->"
                    + branch.outFeatures() + " " + branch.kernelHeight() + "x" + branch.kernelWidth());
        }
    }

    private static int product(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return Math.toIntExact(n);
    }

    private static FloatBuffer direct(int n) {
        return ByteBuffer.allocateDirect(Math.multiplyExact(n, Float.BYTES)).order(ByteOrder.nativeOrder())
                .asFloatBuffer();
    }
}
