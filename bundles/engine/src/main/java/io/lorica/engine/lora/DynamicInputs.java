package io.lorica.engine.lora;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import io.lorica.api.Component;
import io.lorica.api.DType;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LayerKind;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.adapter.LoraModule;
import io.lorica.api.policy.EffectiveScales;
import io.lorica.engine.onnx.OnnxTypes;

import java.lang.ref.WeakReference;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The factor inputs of the LoRA branches of one rewritten graph ({@link BranchLayout}), built per request from the
 * active adapters and their effective scales by rank concatenation (lora-semantics §4.5, exact), and cached so that
 * switching or re-weighting adapters costs little host work.
 *
 * <p><b>Math.</b> Linear: {@code down = [s1·A1 ; s2·A2 ; ...]} ({@code [ΣR, in]}), {@code up = [B1ᵀ ; B2ᵀ ; ...]}
 * ({@code [ΣR, out]}), so {@code (x·downᵀ)·up = Σ s·x·Aᵀ·Bᵀ}. Conv: {@code down = [s1·A1 ; s2·A2 ; ...]} along the
 * output-channel axis ({@code [ΣR, in, kh, kw]}), {@code up = [B1 | B2 | ...]} along the input-channel axis
 * ({@code [out, ΣR, 1, 1]}). The scale of each adapter may be folded into either factor; per branch it goes into the
 * smaller one (down when {@code in·kh·kw <= out}, else up), so the per-request work is as small as possible. Layers no
 * adapter touches get zero-rank factors, which ONNX Runtime accepts and which contribute exactly zero.
 *
 * <p><b>Caching.</b> Per adapter (by identity, weakly held) each module is prepared once: the unscaled factor in the
 * branch's dtype and layout (used without a copy when that adapter is alone on the layer) and the scaled factor's
 * float32 source. Per request and branch, the concatenated unscaled factor (keyed by the adapters) and the scaled factor
 * (keyed by the adapters and their scales) come from an LRU cache of shared, reference-counted tensors bounded in bytes:
 * switching back to a mix seen before costs map look-ups only, a new mix costs one scaled copy of the smaller factors.
 * Cached tensors are immutable and shared by concurrent requests; a request holds a reference to each tensor it feeds
 * until it is closed, so eviction never frees a tensor in use.
 *
 * <p>Modules that are not plain LoRA cannot be a low-rank branch: DoRA (non-linear normalisation), full deltas
 * (LoHa/LoKr/diff) and {@code lora_bias}. They are never dropped silently: {@link Request#needsFusedPath()} lists
 * them, as {@link Request#unapplied()} lists everything not applied (also modules of layers without a branch).
 *
 * <p>Thread-safe.
 */
public final class DynamicInputs implements AutoCloseable {

    /** Default bound of the cache of concatenated and scaled factors. */
    public static final long DEFAULT_CACHE_BYTES = 256L << 20;

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
     * Cache counters.
     *
     * @param hits          factor tensors found in the cache
     * @param misses        factor tensors built
     * @param cachedTensors tensors in the cache now
     * @param cachedBytes   bytes of the tensors in the cache now (views of prepared adapters count 0)
     * @param adapters      adapters prepared and still reachable
     * @param allocations   direct buffers allocated for factors (the others were reused from released factors)
     * @param pooledBytes   bytes of released factor buffers kept for reuse
     */
    public record Stats(long hits, long misses, int cachedTensors, long cachedBytes, int adapters, long allocations,
            long pooledBytes) {
    }

    /**
     * The inputs of one request; closing it releases the tensors (idempotent).
     */
    public static final class Request implements AutoCloseable {
        private final Map<String, OnnxTensor> tensors;
        private final List<Unapplied> unapplied;
        private final List<Shared> held;
        private boolean closed;

        Request(Map<String, OnnxTensor> tensors, List<Unapplied> unapplied, List<Shared> held) {
            this.tensors = Collections.unmodifiableMap(tensors);
            this.unapplied = List.copyOf(unapplied);
            this.held = held;
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

        /** Releases every tensor. */
        @Override
        public synchronized void close() {
            if (closed) {
                return;
            }
            closed = true;
            held.forEach(Shared::release);
        }
    }

    private final OrtEnvironment env;
    private final BranchLayout layout;
    private final List<BranchLayout.Branch> branches;
    private final boolean[] scaleDown;
    private final long budget;
    private final Object lock = new Object();
    private final LinkedHashMap<Key, Shared> cache = new LinkedHashMap<>(256, 0.75f, true);
    private final List<Prepared> prepared = new ArrayList<>();
    private final Shared[] zeroDown;
    private final Shared[] zeroUp;
    private final BufferPool pool;
    private long cachedBytes;
    private long hits;
    private long misses;
    private long nextToken;
    private boolean closed;

    /**
     * @param env         the ONNX Runtime environment
     * @param layout      the branches of the rewritten graph
     * @param budgetBytes the bound of the factor cache, in bytes (0 keeps nothing beyond the requests in flight)
     * @throws IllegalArgumentException when an argument is null or the budget negative
     * @throws IllegalStateException    when ONNX Runtime cannot create the zero-rank tensors
     */
    public DynamicInputs(OrtEnvironment env, BranchLayout layout, long budgetBytes) {
        if (env == null || layout == null || budgetBytes < 0) {
            throw new IllegalArgumentException("env and layout must not be null, the budget not negative");
        }
        this.env = env;
        this.layout = layout;
        this.branches = List.copyOf(layout.branches().values());
        this.budget = budgetBytes;
        this.pool = new BufferPool(budgetBytes, "LoRA factors");
        this.scaleDown = new boolean[branches.size()];
        this.zeroDown = new Shared[branches.size()];
        this.zeroUp = new Shared[branches.size()];
        try {
            for (int b = 0; b < branches.size(); b++) {
                BranchLayout.Branch branch = branches.get(b);
                scaleDown[b] = branch.downWidth() <= branch.outFeatures();
                zeroDown[b] = tensor(Floats.allocateDirect(0, "zero-rank factor"), branch.dtype(), branch.downShape(0), 0);
                zeroUp[b] = tensor(Floats.allocateDirect(0, "zero-rank factor"), branch.dtype(), branch.upShape(0), 0);
            }
        } catch (RuntimeException e) {
            releaseAll(zeroDown);
            releaseAll(zeroUp);
            throw e;
        }
    }

    /** The branches these inputs feed. */
    public BranchLayout layout() {
        return layout;
    }

    /** Current cache counters. */
    public Stats stats() {
        synchronized (lock) {
            expunge();
            return new Stats(hits, misses, cache.size(), cachedBytes, prepared.size(), pool.allocations(),
                    pool.pooled());
        }
    }

    /**
     * Builds the branch inputs for one request.
     *
     * @param scales   the effective scales ({@code alpha/r · weight · callScale}) of the active adapters
     * @param adapters the loaded adapters by name; every adapter named in {@code scales} for this component must be
     *                 present
     * @throws IllegalArgumentException when an adapter is missing or a module's geometry does not match the branch
     * @throws IllegalStateException    when closed, or when ONNX Runtime cannot create a tensor
     */
    public Request request(EffectiveScales scales, Map<String, LoraAdapter> adapters) {
        if (scales == null || adapters == null) {
            throw new IllegalArgumentException("scales and adapters must not be null");
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
        List<Shared> held = new ArrayList<>();
        Map<LoraAdapter, Prepared> byAdapter = new java.util.IdentityHashMap<>();
        try {
            for (int b = 0; b < branches.size(); b++) {
                BranchLayout.Branch branch = branches.get(b);
                Map<String, Float> acting = scales.adapters(component, branch.modulePath());
                List<Prepared> used = new ArrayList<>(acting.size());
                List<Module> modules = new ArrayList<>(acting.size());
                float[] factors = new float[acting.size()];
                for (Map.Entry<String, Float> e : acting.entrySet()) {
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
                    Prepared p = byAdapter.computeIfAbsent(adapter, this::prepared);
                    factors[used.size()] = e.getValue();
                    used.add(p);
                    modules.add(p.module(b, branch, module, scaleDown[b]));
                }
                Shared down;
                Shared up;
                if (used.isEmpty()) {
                    down = acquire(zeroDown[b]);
                    held.add(down);
                    up = acquire(zeroUp[b]);
                    held.add(up);
                } else {
                    long[] tokens = new long[used.size()];
                    for (int i = 0; i < tokens.length; i++) {
                        tokens[i] = used.get(i).token;
                    }
                    float[] s = Arrays.copyOf(factors, used.size());
                    Shared scaled = factor(b, !scaleDown[b], tokens, s, modules);
                    held.add(scaled);
                    Shared fixed = factor(b, scaleDown[b], tokens, null, modules);
                    held.add(fixed);
                    down = scaleDown[b] ? scaled : fixed;
                    up = scaleDown[b] ? fixed : scaled;
                }
                tensors.put(branch.downInput(), down.tensor);
                tensors.put(branch.upInput(), up.tensor);
            }
        } catch (RuntimeException e) {
            held.forEach(Shared::release);
            throw e;
        }
        return new Request(tensors, unapplied, held);
    }

    /**
     * Drops what was prepared for {@code adapter} and every cached tensor built from it (e.g. when it is deleted);
     * requests still holding such tensors keep them until they are closed. Adapters no longer reachable are dropped
     * on their own.
     */
    public void forget(LoraAdapter adapter) {
        synchronized (lock) {
            for (Iterator<Prepared> it = prepared.iterator(); it.hasNext(); ) {
                Prepared p = it.next();
                if (p.get() == adapter) {
                    it.remove();
                    evictToken(p.token);
                }
            }
        }
    }

    /** Releases the cache and the zero-rank tensors; tensors held by open requests live until those close. */
    @Override
    public void close() {
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            cache.values().forEach(Shared::release);
            cache.clear();
            cachedBytes = 0;
            prepared.clear();
            releaseAll(zeroDown);
            releaseAll(zeroUp);
        }
    }

    // ------------------------------------------------------------------------------------------------------------

    /**
     * The factor of branch {@code b} on side {@code up} for the adapters {@code tokens} (with {@code s}: scaled),
     * acquired for the caller: from the cache, or built and cached.
     */
    private Shared factor(int b, boolean up, long[] tokens, float[] s, List<Module> modules) {
        boolean view = s == null && tokens.length == 1;
        Key key = new Key(b, up, tokens, s);
        synchronized (lock) {
            requireOpen();
            Shared hit = cache.get(key);
            if (hit != null) {
                hits++;
                return acquire(hit);
            }
            misses++;
        }
        Shared built = view ? tensor(modules.get(0).fixed, branches.get(b).dtype(), shape(b, up,
                modules.get(0).rank), 0) : build(b, up, s, modules);
        synchronized (lock) {
            if (closed) {
                built.release();
                throw new IllegalStateException("the LoRA branch inputs are closed");
            }
            Shared raced = cache.get(key);
            if (raced != null) {
                built.release();
                return acquire(raced);
            }
            cache.put(key, built);
            cachedBytes += built.bytes;
            Shared result = acquire(built);
            evictOverBudget(key);
            return result;
        }
    }

    /** Concatenates the modules' factors of one side, scaled by {@code s} when given (the scaled side). */
    private Shared build(int b, boolean up, float[] s, List<Module> modules) {
        BranchLayout.Branch branch = branches.get(b);
        DType dtype = branch.dtype();
        int esize = dtype.byteSize();
        int total = 0;
        for (Module m : modules) {
            total += m.rank;
        }
        boolean rankLeading = !(up && branch.kind() == LayerKind.CONV);
        int width = up ? branch.outFeatures() : branch.downWidth();
        ByteBuffer buffer = pool.take((long) total * width * esize);
        int offset = 0;
        for (int i = 0; i < modules.size(); i++) {
            Module m = modules.get(i);
            int r = m.rank;
            if (rankLeading) {
                int at = offset * width * esize;
                if (s != null) {
                    Floats.encode(m.source, 0, r * width, s[i], dtype, buffer, at);
                } else {
                    buffer.put(at, m.fixed, 0, r * width * esize);
                }
            } else {
                // [out, ΣR]: row o holds every adapter's r columns, side by side
                for (int o = 0; o < width; o++) {
                    int at = (o * total + offset) * esize;
                    if (s != null) {
                        Floats.encode(m.source, o * r, r, s[i], dtype, buffer, at);
                    } else {
                        buffer.put(at, m.fixed, o * r * esize, r * esize);
                    }
                }
            }
            offset += r;
        }
        try {
            Shared shared = tensor(buffer, dtype, shape(b, up, total), buffer.capacity());
            shared.pool = pool;
            return shared;
        } catch (RuntimeException e) {
            pool.give(buffer);
            throw e;
        }
    }

    private long[] shape(int b, boolean up, int rank) {
        return up ? branches.get(b).upShape(rank) : branches.get(b).downShape(rank);
    }

    private Shared tensor(ByteBuffer buffer, DType dtype, long[] shape, long bytes) {
        try {
            return new Shared(OnnxTensor.createTensor(env, buffer.duplicate().order(java.nio.ByteOrder.nativeOrder()),
                    shape, OnnxTypes.javaType(dtype)), buffer, bytes);
        } catch (OrtException e) {
            throw new IllegalStateException("cannot create a LoRA factor tensor " + Arrays.toString(shape) + ": "
                    + e.getMessage(), e);
        }
    }

    private Prepared prepared(LoraAdapter adapter) {
        synchronized (lock) {
            requireOpen();
            expunge();
            for (Prepared p : prepared) {
                if (p.get() == adapter) {
                    return p;
                }
            }
            Prepared p = new Prepared(adapter, nextToken++, branches.size());
            prepared.add(p);
            return p;
        }
    }

    /** Drops adapters that are no longer reachable, with their cached tensors. Under the lock. */
    private void expunge() {
        for (Iterator<Prepared> it = prepared.iterator(); it.hasNext(); ) {
            Prepared p = it.next();
            if (p.get() == null) {
                it.remove();
                evictToken(p.token);
            }
        }
    }

    /** Under the lock. */
    private void evictToken(long token) {
        for (Iterator<Map.Entry<Key, Shared>> it = cache.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Key, Shared> e = it.next();
            if (e.getKey().uses(token)) {
                it.remove();
                cachedBytes -= e.getValue().bytes;
                e.getValue().release();
            }
        }
    }

    /** Under the lock: evicts least recently used entries (never {@code keep}) until the cache fits its budget. */
    private void evictOverBudget(Key keep) {
        for (Iterator<Map.Entry<Key, Shared>> it = cache.entrySet().iterator(); it.hasNext()
                && cachedBytes > budget; ) {
            Map.Entry<Key, Shared> e = it.next();
            if (e.getKey().equals(keep)) {
                continue;
            }
            it.remove();
            cachedBytes -= e.getValue().bytes;
            e.getValue().release();
        }
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("the LoRA branch inputs are closed");
        }
    }

    private static Shared acquire(Shared shared) {
        shared.refs.incrementAndGet();
        return shared;
    }

    private static void releaseAll(Shared[] shared) {
        for (int i = 0; i < shared.length; i++) {
            if (shared[i] != null) {
                shared[i].release();
                shared[i] = null;
            }
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

    /**
     * A tensor shared by the cache and the requests feeding it; the last release closes it and, when the buffer is its
     * own, returns the buffer to the pool.
     */
    static final class Shared {
        final OnnxTensor tensor;
        final ByteBuffer buffer;
        final long bytes;
        final AtomicInteger refs = new AtomicInteger(1);
        BufferPool pool;

        Shared(OnnxTensor tensor, ByteBuffer buffer, long bytes) {
            this.tensor = tensor;
            this.buffer = buffer;
            this.bytes = bytes;
        }

        void release() {
            if (refs.decrementAndGet() == 0) {
                tensor.close();
                if (pool != null) {
                    pool.give(buffer);
                }
            }
        }
    }

    /**
     * One adapter's modules prepared for the branches, weakly referencing the adapter: per branch, the unscaled factor
     * in the branch's dtype and block layout, and the scaled factor's float32 source.
     */
    private static final class Prepared extends WeakReference<LoraAdapter> {
        final long token;
        private final Module[] modules;

        Prepared(LoraAdapter adapter, long token, int branches) {
            super(adapter);
            this.token = token;
            this.modules = new Module[branches];
        }

        synchronized Module module(int b, BranchLayout.Branch branch, LoraModule module, boolean scaleDown) {
            Module m = modules[b];
            if (m == null) {
                m = new Module(branch, module, scaleDown);
                modules[b] = m;
            }
            return m;
        }
    }

    /**
     * One module's factors in block layout: down {@code A [r, in·kh·kw]}; up {@code Bᵀ [r, out]} (linear) or
     * {@code B [out, r]} (conv).
     */
    private static final class Module {
        final int rank;
        /** The float32 source of the scaled side. */
        final float[] source;
        /** The unscaled side in the branch's dtype. */
        final ByteBuffer fixed;

        Module(BranchLayout.Branch branch, LoraModule module, boolean scaleDown) {
            this.rank = module.rank();
            float[] down = scaleDown ? module.a().toFloatArray() : null;
            float[] up = scaleDown ? null : upBlock(branch, module);
            this.source = scaleDown ? down : up;
            this.fixed = Floats.encodeDirect(scaleDown ? upBlock(branch, module) : module.a().toFloatArray(),
                    branch.dtype());
        }

        private static float[] upBlock(BranchLayout.Branch branch, LoraModule module) {
            float[] b = module.b().toFloatArray();
            if (branch.kind() == LayerKind.CONV) {
                return b;
            }
            return Floats.transpose(b, branch.outFeatures(), module.rank());
        }
    }

    /** A cache key: branch, side, the adapters (tokens) and, for the scaled side, their scales. */
    private static final class Key {
        final int branch;
        final boolean up;
        final long[] tokens;
        final float[] scales;
        final int hash;

        Key(int branch, boolean up, long[] tokens, float[] scales) {
            this.branch = branch;
            this.up = up;
            this.tokens = tokens;
            this.scales = scales;
            this.hash = ((branch * 31 + (up ? 1 : 0)) * 31 + Arrays.hashCode(tokens)) * 31 + Arrays.hashCode(scales);
        }

        boolean uses(long token) {
            for (long t : tokens) {
                if (t == token) {
                    return true;
                }
            }
            return false;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && k.hash == hash && k.branch == branch && k.up == up
                    && Arrays.equals(k.tokens, tokens) && Arrays.equals(k.scales, scales);
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }
}
