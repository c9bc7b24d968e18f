package io.lorica.engine.impl;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxTensorLike;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.lorica.api.Component;
import io.lorica.api.DType;
import io.lorica.api.TensorData;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.engine.LoraBinding;
import io.lorica.api.engine.LoraMode;
import io.lorica.api.engine.ModelHandle;
import io.lorica.api.engine.ModelRole;
import io.lorica.api.engine.TensorSpec;
import io.lorica.api.policy.EffectiveScales;
import io.lorica.engine.index.ModuleIndex;
import io.lorica.engine.lora.BranchLayout;
import io.lorica.engine.lora.BufferPool;
import io.lorica.engine.lora.DynamicInputs;
import io.lorica.engine.lora.LoraGraphRewriter;
import io.lorica.engine.lora.OrtFuseKernel;
import io.lorica.engine.lora.WeightFuser;
import io.lorica.engine.onnx.Initializer;
import io.lorica.engine.onnx.OnnxModel;
import io.lorica.engine.onnx.OnnxTypes;
import io.lorica.engine.onnx.ValueInfo;
import io.lorica.ort.OrtRuntime;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantReadWriteLock;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link ModelHandle} on ONNX Runtime. At open the graph of a LoRA-loadable role is indexed, rewritten once with a
 * LoRA branch on every bound layer ({@link LoraGraphRewriter}) and loaded into ONE long-lived dynamic session that
 * serves every adapter configuration: a {@link LoraMode#DYNAMIC} binding only holds per-request branch inputs, built and
 * cached by {@link DynamicInputs}. A {@link LoraMode#FUSED} binding runs on a session of the rewritten graph whose
 * weights were patched from the pristine weights ({@link WeightFuser}) with the binding's adapters plus those fused into
 * the base; its branches are fed zero-rank factors. Fused sessions are shared by bindings of the same configuration and
 * the most recent ones are kept for reuse ({@code fusedSessionCache}). A dynamic request with modules the branches
 * cannot express (DoRA, full deltas, LoRA bias, layers the rewriter skipped) is served by a fused binding instead, with
 * one warning naming them.
 *
 * <p>The graph's own inputs and outputs are those of the original model; the branch inputs are hidden. The rewritten
 * graph is serialized once and handed to ONNX Runtime as bytes without its weights' data: every external initializer
 * is given to each session through {@code SessionOptions.addInitializer} as a tensor over the memory-mapped data file
 * (sessions share those pages), and the patched weights of a fused session are injected with
 * {@code addExternalInitializers} in place of external-data stubs (never a second serialized copy of the weights, never
 * the 2 GB protobuf limit). The session config entry
 * {@code session.model_external_initializers_file_folder_path} names the original model's folder, so nothing is
 * written to disk (the model folder may be read-only).
 *
 * <p>The dynamic session's weights are the pristine ones until {@link #fuseBase} replaces the session by one whose
 * weights have adapters baked in (Diffusers' {@code fuse_lora}); dynamic bindings then act on top of that fused base
 * (merged plus active adapters, as in Diffusers), and {@link #unfuseBase()} swaps back to the pristine weights. A swap
 * is atomic: new runs use the new session, in-flight runs finish on the old one, which is closed after them. Fused
 * weights are computed by an {@link OrtFuseKernel} on the engine's execution provider.
 *
 * <p>Thread-safe: runs hold a read lock of the handle and of their binding, {@link #close()} takes the write lock,
 * so it waits for in-flight runs.
 */
public final class OnnxModelHandle implements ModelHandle {

    private static final Logger LOG = LoggerFactory.getLogger(OnnxModelHandle.class);

    /**
     * Tuning of a handle.
     *
     * @param factorCacheBytes  bound of the dynamic factor cache ({@link DynamicInputs}), bytes
     * @param fusedSessionCache fused sessions kept for reuse after their last binding closed
     * @param fuseBufferBytes   bound of the buffers of computed fused weights kept for the next fusion, bytes
     * @param prepacking        whether ONNX Runtime may pre-pack weights for its CPU kernels (faster MatMuls, but each
     *                          session then holds a packed copy of the weights; without it, the sessions of a model
     *                          run on the memory-mapped weights they share)
     */
    public record Options(long factorCacheBytes, int fusedSessionCache, long fuseBufferBytes, boolean prepacking) {

        /** The defaults: 256 MB of factors, one idle fused session, no fused-weight buffers kept, pre-packing. */
        public static final Options DEFAULTS = new Options(DynamicInputs.DEFAULT_CACHE_BYTES, 1, 0, true);

        /** Validates. */
        public Options {
            if (factorCacheBytes < 0 || fusedSessionCache < 0 || fuseBufferBytes < 0) {
                throw new IllegalArgumentException("factorCacheBytes, fusedSessionCache and fuseBufferBytes must not be"
                        + " negative");
            }
        }
    }

    private final OrtRuntime runtime;
    private final OrtEnvironment env;
    private final Path modelFile;
    private final ModelRole role;
    private final OnnxModel pristine;
    private final ModuleIndex index;
    private final OnnxModel rewritten;
    private final byte[] rewrittenBytes;
    private final boolean external;
    private final Map<String, OnnxTensor> mappedWeights;
    private final BranchLayout layout;
    private final List<ValueInfo> inputs;
    private final Set<String> inputNames;
    private final Set<String> outputNames;
    private final Map<String, TensorSpec> inputSpecs;
    private final Map<String, TensorSpec> outputSpecs;
    private final Map<String, LayerGeometry> targets;
    private final Options options;
    private final AtomicInteger sessionsCreated = new AtomicInteger();
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private final Set<OnnxLoraBinding> fusedBindings = ConcurrentHashMap.newKeySet();
    private final Object swapLock = new Object();
    private final Object fusedLock = new Object();
    private final LinkedHashMap<FusedKey, PatchedSession> fusedSessions = new LinkedHashMap<>(8, 0.75f, true);
    private volatile PatchedSession current;
    private final DynamicInputs factors;
    private final DynamicInputs.Request zeroRank;
    private final OnnxLoraBinding base;
    private OrtFuseKernel kernel;
    private final BufferPool fuseBuffers;
    private volatile boolean closed;

    OnnxModelHandle(OrtRuntime runtime, Path modelFile, ModelRole role, OnnxModel model, ModuleIndex index) {
        this(runtime, modelFile, role, model, index, Options.DEFAULTS);
    }

    OnnxModelHandle(OrtRuntime runtime, Path modelFile, ModelRole role, OnnxModel model, ModuleIndex index,
            Options options) {
        this.runtime = runtime;
        this.env = runtime.environment();
        this.modelFile = modelFile;
        this.role = role;
        this.pristine = model;
        this.index = index;
        this.options = options;
        this.fuseBuffers = new BufferPool(options.fuseBufferBytes(), "fused weights");
        Set<String> initializerNames = model.initializers().keySet();
        List<ValueInfo> graphInputs = new ArrayList<>();
        for (ValueInfo input : model.inputs()) {
            if (!initializerNames.contains(input.name())) {
                graphInputs.add(input);
            }
        }
        this.inputs = List.copyOf(graphInputs);
        Set<String> in = new LinkedHashSet<>();
        inputs.forEach(v -> in.add(v.name()));
        this.inputNames = Collections.unmodifiableSet(in);
        Set<String> out = new LinkedHashSet<>();
        model.outputs().forEach(v -> out.add(v.name()));
        this.outputNames = Collections.unmodifiableSet(out);
        this.inputSpecs = specs(inputs);
        this.outputSpecs = specs(model.outputs());
        Map<String, LayerGeometry> t = new LinkedHashMap<>();
        if (index != null) {
            LoraGraphRewriter.Rewritten r = LoraGraphRewriter.rewrite(model, index);
            this.rewritten = r.model();
            this.layout = r.layout();
            index.bindings().forEach((path, binding) -> t.put(path, binding.geometry()));
            if (!layout.skipped().isEmpty()) {
                LOG.info("{}: layers without a LoRA branch (served by fused bindings): {}", modelFile,
                        layout.skipped());
            }
        } else {
            this.rewritten = model;
            this.layout = null;
        }
        this.targets = Collections.unmodifiableMap(t);
        this.rewrittenBytes = rewritten.toBytes();
        this.external = rewritten.initializers().values().stream().anyMatch(Initializer::isExternal);
        this.mappedWeights = mappedWeights(rewritten);
        DynamicInputs f = null;
        DynamicInputs.Request zero = null;
        try {
            this.current = createSession(Map.of(), EffectiveScales.empty(), Map.of());
            if (layout != null) {
                f = new DynamicInputs(env, layout, options.factorCacheBytes());
                zero = f.request(EffectiveScales.empty(), Map.of());
            }
        } catch (RuntimeException e) {
            if (current != null) {
                current.release();
            }
            if (f != null) {
                f.close();
            }
            mappedWeights.values().forEach(OnnxTensor::close);
            throw e;
        }
        this.factors = f;
        this.zeroRank = zero;
        this.base = new OnnxLoraBinding(this, LoraMode.DYNAMIC, List.of(), 0, null, null, true);
    }

    /** Tensors over the memory-mapped data of every external initializer, shared by all sessions of the handle. */
    private Map<String, OnnxTensor> mappedWeights(OnnxModel model) {
        Map<String, OnnxTensor> mapped = new LinkedHashMap<>();
        try {
            for (Initializer initializer : model.initializers().values()) {
                if (!initializer.isExternal()) {
                    continue;
                }
                TensorData data = initializer.data();
                ByteBuffer bytes = data.data().order(ByteOrder.nativeOrder());
                mapped.put(initializer.name(), OnnxTensor.createTensor(env, bytes, data.shape(),
                        OnnxTypes.javaType(data.dtype())));
            }
        } catch (OrtException | RuntimeException e) {
            mapped.values().forEach(OnnxTensor::close);
            throw new IllegalStateException("cannot map the external weights of " + modelFile + ": " + e.getMessage(),
                    e);
        }
        return Collections.unmodifiableMap(mapped);
    }

    @Override
    public ModelRole role() {
        return role;
    }

    @Override
    public Path modelFile() {
        return modelFile;
    }

    @Override
    public Set<String> inputNames() {
        return inputNames;
    }

    @Override
    public Set<String> outputNames() {
        return outputNames;
    }

    @Override
    public Map<String, TensorSpec> inputSpecs() {
        return inputSpecs;
    }

    @Override
    public Map<String, TensorSpec> outputSpecs() {
        return outputSpecs;
    }

    private static Map<String, TensorSpec> specs(List<ValueInfo> values) {
        Map<String, TensorSpec> specs = new LinkedHashMap<>();
        for (ValueInfo v : values) {
            long[] shape = v.shape().stream().mapToLong(ValueInfo.Dim::value).toArray();
            specs.put(v.name(), new TensorSpec(v.dtype(), shape, v.hasShape()));
        }
        return Collections.unmodifiableMap(specs);
    }

    @Override
    public Map<String, LayerGeometry> loraTargets() {
        return targets;
    }

    /** The module index of the graph; null for roles without a component. */
    public ModuleIndex index() {
        return index;
    }

    /** The LoRA branches of the dynamic session's graph; null for roles without a component. */
    public BranchLayout layout() {
        return layout;
    }

    /** How many ONNX Runtime sessions this handle has created (the dynamic one plus one per fused binding). */
    int sessionsCreated() {
        return sessionsCreated.get();
    }

    @Override
    public LoraBinding bind(LoraMode mode, EffectiveScales scales, Map<String, LoraAdapter> adapters) {
        if (mode == null || scales == null || adapters == null) {
            throw new IllegalArgumentException("mode, scales and adapters must not be null");
        }
        lock.readLock().lock();
        try {
            requireOpen();
            Component component = role.component().orElse(null);
            if (component == null) {
                if (!scales.isEmpty()) {
                    throw new IllegalArgumentException("model " + modelFile + " (" + role
                            + ") is not LoRA-loadable, but adapter scales were given for " + scales.components());
                }
                return base;
            }
            List<String> names = new ArrayList<>();
            for (String path : scales.modules(component)) {
                if (index.binding(path).isEmpty()) {
                    String why = index.problems().get(path);
                    throw new IllegalArgumentException("module " + path + " is not a LoRA target of the " + component
                            + " graph " + modelFile + (why == null ? "" : ": " + why));
                }
                for (String adapter : scales.adapters(component, path).keySet()) {
                    if (!adapters.containsKey(adapter)) {
                        throw new IllegalArgumentException("adapter '" + adapter + "' has scales on " + component
                                + "/" + path + " but is not among the adapters given " + adapters.keySet());
                    }
                    if (!names.contains(adapter)) {
                        names.add(adapter);
                    }
                }
            }
            int layers = scales.modules(component).size();
            if (layers == 0) {
                return base;
            }
            if (mode == LoraMode.FUSED) {
                return fused(scales, adapters, names, layers);
            }
            DynamicInputs.Request request = factors.request(scales, adapters);
            if (!request.unapplied().isEmpty()) {
                List<DynamicInputs.Unapplied> unapplied = request.unapplied();
                request.close();
                LOG.warn("{}: LoRA modules the dynamic branches cannot express, serving this request fused: {}",
                        modelFile, unapplied);
                return fused(scales, adapters, names, layers);
            }
            return new OnnxLoraBinding(this, LoraMode.DYNAMIC, names, layers, request, null, false);
        } finally {
            lock.readLock().unlock();
        }
    }

    private LoraBinding fused(EffectiveScales request, Map<String, LoraAdapter> requestAdapters, List<String> names,
            int layers) {
        // on a fused base the binding's weights hold the base's adapters too (merged + active, as in Diffusers)
        PatchedSession b = current;
        EffectiveScales scales = withBase(request, b);
        Map<String, LoraAdapter> adapters = new LinkedHashMap<>(b.adapters());
        for (Map.Entry<String, LoraAdapter> e : requestAdapters.entrySet()) {
            LoraAdapter known = adapters.get(e.getKey());
            if (known != null && known != e.getValue() && !known.equals(e.getValue())) {
                throw new IllegalArgumentException("adapter '" + e.getKey() + "' is fused into the base of "
                        + modelFile + " but a different adapter of that name was given");
            }
            adapters.put(e.getKey(), e.getValue());
        }
        Component component = role.component().orElseThrow();
        Map<String, LoraAdapter> used = new LinkedHashMap<>();
        for (String name : scales.adapterNames()) {
            used.put(name, adapters.get(name));
        }
        FusedKey key = new FusedKey(scales, used);
        PatchedSession session;
        synchronized (fusedLock) {
            session = fusedSessions.get(key);
            if (session == null || !session.acquire()) {
                session = createPatched(fuser().fuseInto(scales, used, false), scales,
                        Collections.unmodifiableMap(used));
                if (options.fusedSessionCache() > 0) {
                    session.acquire();
                    PatchedSession replaced = fusedSessions.put(key, session);
                    if (replaced != null) {
                        replaced.release();
                    }
                    trimFusedCache();
                }
            } else {
                LOG.debug("{}: reusing the fused session of {}", modelFile, scales.adapterNames());
            }
        }
        LOG.debug("{}: fused binding of {} on {}", modelFile, names, component);
        OnnxLoraBinding binding = new OnnxLoraBinding(this, LoraMode.FUSED, names, layers, null, session, false);
        fusedBindings.add(binding);
        return binding;
    }

    /** Under {@code fusedLock}: drops the least recently used cached fused sessions beyond the configured number. */
    private void trimFusedCache() {
        Iterator<Map.Entry<FusedKey, PatchedSession>> it = fusedSessions.entrySet().iterator();
        while (fusedSessions.size() > options.fusedSessionCache() && it.hasNext()) {
            PatchedSession evicted = it.next().getValue();
            it.remove();
            evicted.release();
        }
    }

    /** Fused sessions are shared by configuration: the merged scales and the very adapter instances. */
    private static final class FusedKey {
        private final EffectiveScales scales;
        private final List<LoraAdapter> adapters;

        FusedKey(EffectiveScales scales, Map<String, LoraAdapter> adapters) {
            this.scales = scales;
            this.adapters = List.copyOf(adapters.values());
        }

        @Override
        public boolean equals(Object o) {
            if (!(o instanceof FusedKey k) || !k.scales.equals(scales) || k.adapters.size() != adapters.size()) {
                return false;
            }
            for (int i = 0; i < adapters.size(); i++) {
                if (k.adapters.get(i) != adapters.get(i)) {
                    return false;
                }
            }
            return true;
        }

        @Override
        public int hashCode() {
            int h = scales.hashCode();
            for (LoraAdapter a : adapters) {
                h = h * 31 + System.identityHashCode(a);
            }
            return h;
        }
    }

    /** A fuser from the pristine weights, computing on the engine's execution provider into pooled buffers. */
    private WeightFuser fuser() {
        return new WeightFuser(pristine, index, kernel(), fuseBuffers);
    }

    /** The fuse kernel on the engine's execution provider, made on first use. */
    private synchronized OrtFuseKernel kernel() {
        if (kernel == null) {
            kernel = new OrtFuseKernel(env, () -> {
                try {
                    return runtime.newSessionOptions();
                } catch (OrtException e) {
                    throw new IllegalStateException("cannot make session options: " + e.getMessage(), e);
                }
            });
        }
        return kernel;
    }

    private EffectiveScales withBase(EffectiveScales request, PatchedSession b) {
        if (b.scales().isEmpty()) {
            return request;
        }
        Component component = role.component().orElseThrow();
        EffectiveScales.Builder builder = EffectiveScales.builder();
        for (String path : b.scales().modules(component)) {
            b.scales().adapters(component, path).forEach((a, s) -> builder.put(component, path, a, s));
        }
        for (String path : request.modules(component)) {
            request.adapters(component, path).forEach((a, s) -> builder.put(component, path, a,
                    s + b.scales().scale(component, path, a)));
        }
        return builder.build();
    }

    /**
     * Bakes adapters into the weights of the handle's long-lived dynamic session (Diffusers' {@code fuse_lora}): a new
     * session of the rewritten graph is built, outside any lock, with the weights {@code W_pristine + Σ s·ΔW} over
     * exactly {@code scales} (replacing whatever was fused before), then swapped in atomically. New runs of the base
     * binding and of dynamic bindings use it (dynamic adapters act on top of the fused ones); in-flight runs finish
     * on the old session, which is closed after them. On failure the current session is left untouched. Empty scales
     * restore the pristine weights, as {@link #unfuseBase()}.
     *
     * @param scales   the effective scales ({@code alpha/r · weight · lora_scale}) of this handle's component; scales
     *                 of other components are ignored
     * @param adapters the adapters by name, holding every adapter named in {@code scales}
     * @param safe     Diffusers' {@code safe_fusing}: refuse NaN or infinite weights
     * @throws IllegalArgumentException when a module is not a LoRA target, an adapter is missing, the role is not
     *                                  LoRA-loadable, or (safe) the merged weights are not finite ("NaNs detected in
     *                                  the merged weights. The adapter {name} seems to be broken")
     * @throws IllegalStateException    when the handle is closed or ONNX Runtime cannot create the session
     */
    public void fuseBase(EffectiveScales scales, Map<String, LoraAdapter> adapters, boolean safe) {
        PatchedSession next = prepareBase(scales, adapters, safe);
        PatchedSession previous;
        try {
            previous = install(next);
        } catch (RuntimeException e) {
            next.release();
            throw e;
        }
        previous.release();
    }

    /**
     * Restores the pristine weights of the handle's dynamic session (Diffusers' {@code unfuse_lora}), swapping in a
     * session over the unmodified rewritten graph as {@link #fuseBase} does; nothing happens when nothing is fused.
     *
     * @throws IllegalStateException when the handle is closed or ONNX Runtime cannot create the session; the current
     *                               session is then left untouched
     */
    public void unfuseBase() {
        if (current.scales().isEmpty()) {
            requireOpen();
            return;
        }
        fuseBase(EffectiveScales.empty(), Map.of(), false);
    }

    /** The adapters baked into the weights of the dynamic session, in activation order; empty when pristine. */
    @Override
    public List<String> fusedAdapters() {
        return current.scales().adapterNames();
    }

    /** The scales baked into the weights of the dynamic session; empty when pristine. */
    public EffectiveScales fusedScales() {
        return current.scales();
    }

    /** Counters of the dynamic factor cache; null for roles without a component. */
    public DynamicInputs.Stats factorCacheStats() {
        return factors == null ? null : factors.stats();
    }

    /**
     * Builds, outside any lock, the session a later {@link #install} puts in place; the caller owns the returned
     * reference and must {@link PatchedSession#release()} it if it is not installed.
     */
    PatchedSession prepareBase(EffectiveScales scales, Map<String, LoraAdapter> adapters, boolean safe) {
        if (scales == null || adapters == null) {
            throw new IllegalArgumentException("scales and adapters must not be null");
        }
        requireOpen();
        Component component = role.component().orElse(null);
        if (component == null) {
            if (!scales.isEmpty()) {
                throw new IllegalArgumentException("model " + modelFile + " (" + role
                        + ") is not LoRA-loadable, but adapter scales were given for " + scales.components());
            }
            return createSession(Map.of(), EffectiveScales.empty(), Map.of());
        }
        EffectiveScales.Builder own = EffectiveScales.builder();
        Map<String, LoraAdapter> used = new LinkedHashMap<>();
        for (String path : scales.modules(component)) {
            if (index.binding(path).isEmpty()) {
                String why = index.problems().get(path);
                throw new IllegalArgumentException("module " + path + " is not a LoRA target of the " + component
                        + " graph " + modelFile + (why == null ? "" : ": " + why));
            }
            for (Map.Entry<String, Float> e : scales.adapters(component, path).entrySet()) {
                LoraAdapter adapter = adapters.get(e.getKey());
                if (adapter == null) {
                    throw new IllegalArgumentException("adapter '" + e.getKey() + "' has scales on " + component
                            + "/" + path + " but is not among the adapters given " + adapters.keySet());
                }
                own.put(component, path, e.getKey(), e.getValue());
                used.put(e.getKey(), adapter);
            }
        }
        EffectiveScales mine = own.build();
        WeightFuser.Fused patched = mine.isEmpty() ? null : fuser().fuseInto(mine, used, safe);
        return createPatched(patched, mine, Collections.unmodifiableMap(used));
    }

    /**
     * Puts {@code next} in place as the dynamic session, taking over the caller's reference, and hands the caller the
     * handle's reference to the previous one (to {@link PatchedSession#release()} or to re-install on rollback).
     *
     * @throws IllegalStateException when the handle is closed; {@code next} is then still the caller's
     */
    PatchedSession install(PatchedSession next) {
        lock.readLock().lock();
        try {
            requireOpen();
            synchronized (swapLock) {
                PatchedSession previous = current;
                current = next;
                return previous;
            }
        } finally {
            lock.readLock().unlock();
        }
    }

    private PatchedSession acquireCurrent() {
        while (true) {
            PatchedSession s = current;
            if (s.acquire()) {
                return s;
            }
        }
    }

    @Override
    public LoraBinding base() {
        return base;
    }

    @Override
    public Map<String, TensorData> run(Map<String, TensorData> inputs, LoraBinding binding) {
        return run(inputs, binding, outputNames);
    }

    @Override
    public Map<String, TensorData> run(Map<String, TensorData> inputs, LoraBinding binding, Set<String> outputs) {
        if (inputs == null || binding == null || outputs == null) {
            throw new IllegalArgumentException("inputs, binding and outputs must not be null");
        }
        if (outputs.isEmpty()) {
            throw new IllegalArgumentException("no output asked for; " + modelFile + " has " + outputNames);
        }
        for (String name : outputs) {
            if (!outputNames.contains(name)) {
                throw new IllegalArgumentException("unknown output '" + name + "' of " + modelFile + "; it has "
                        + outputNames);
            }
        }
        if (!(binding instanceof OnnxLoraBinding) || ((OnnxLoraBinding) binding).owner() != this) {
            throw new IllegalArgumentException("binding " + binding + " was not made by the handle of " + modelFile);
        }
        OnnxLoraBinding b = (OnnxLoraBinding) binding;
        lock.readLock().lock();
        try {
            requireOpen();
            b.lock().readLock().lock();
            try {
                if (b.isClosed()) {
                    throw new IllegalStateException("binding " + b + " of " + modelFile + " is closed");
                }
                validate(inputs);
                Map<String, OnnxTensor> lora = b.loraInputs();
                if (lora == null && zeroRank != null) {
                    lora = zeroRank.tensors();
                }
                if (b.session() != null) {
                    return execute(b.session().session(), inputs, lora, outputs);
                }
                PatchedSession s = acquireCurrent();
                try {
                    return execute(s.session(), inputs, lora, outputs);
                } finally {
                    s.release();
                }
            } finally {
                b.lock().readLock().unlock();
            }
        } finally {
            lock.readLock().unlock();
        }
    }

    private Map<String, TensorData> execute(OrtSession target, Map<String, TensorData> inputs,
            Map<String, OnnxTensor> lora, Set<String> outputs) {
        Map<String, OnnxTensor> created = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, TensorData> e : inputs.entrySet()) {
                created.put(e.getKey(), toTensor(e.getValue()));
            }
            Map<String, OnnxTensor> feed = new HashMap<>(created);
            if (lora != null) {
                feed.putAll(lora);
            }
            try (OrtSession.Result result = target.run(feed, outputs)) {
                Map<String, TensorData> copies = new LinkedHashMap<>();
                for (Map.Entry<String, OnnxValue> e : result) {
                    copies.put(e.getKey(), copy(e.getKey(), e.getValue()));
                }
                return Collections.unmodifiableMap(copies);
            }
        } catch (OrtException e) {
            throw new IllegalStateException("ONNX Runtime failed to run " + modelFile + ": " + e.getMessage(), e);
        } finally {
            created.values().forEach(OnnxTensor::close);
        }
    }

    private void validate(Map<String, TensorData> given) {
        List<String> missing = new ArrayList<>();
        for (String name : inputNames) {
            if (!given.containsKey(name)) {
                missing.add(name);
            }
        }
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException("missing input(s) " + missing + " of " + modelFile + "; it takes "
                    + inputNames);
        }
        for (String name : given.keySet()) {
            if (!inputNames.contains(name)) {
                throw new IllegalArgumentException("unknown input '" + name + "' for " + modelFile + "; it takes "
                        + inputNames);
            }
        }
        Map<String, Long> symbols = new HashMap<>();
        Map<String, String> symbolSource = new HashMap<>();
        for (ValueInfo info : inputs) {
            TensorData t = given.get(info.name());
            if (t == null) {
                throw new IllegalArgumentException("input '" + info.name() + "' is null");
            }
            if (info.dtype().isPresent() && info.dtype().get() != t.dtype()) {
                throw new IllegalArgumentException("input '" + info.name() + "' has type " + t.dtype()
                        + " but " + modelFile + " expects " + info.dtype().get());
            }
            if (!info.hasShape()) {
                continue;
            }
            long[] shape = t.shape();
            if (shape.length != info.shape().size()) {
                throw new IllegalArgumentException("input '" + info.name() + "' has shape " + Arrays.toString(shape)
                        + " but " + modelFile + " expects " + info.shape());
            }
            for (int i = 0; i < shape.length; i++) {
                ValueInfo.Dim d = info.shape().get(i);
                if (d.isFixed() && d.value() != shape[i]) {
                    throw new IllegalArgumentException("input '" + info.name() + "' has shape "
                            + Arrays.toString(shape) + " but " + modelFile + " expects " + info.shape()
                            + " (dimension " + i + ")");
                }
                if (!d.isFixed() && d.symbol() != null && !d.symbol().isEmpty()) {
                    Long seen = symbols.putIfAbsent(d.symbol(), shape[i]);
                    symbolSource.putIfAbsent(d.symbol(), info.name());
                    if (seen != null && seen != shape[i]) {
                        throw new IllegalArgumentException("input '" + info.name() + "' has " + d.symbol() + "="
                                + shape[i] + " but input '" + symbolSource.get(d.symbol()) + "' has " + d.symbol()
                                + "=" + seen);
                    }
                }
            }
        }
    }

    private OnnxTensor toTensor(TensorData data) throws OrtException {
        ByteBuffer source = data.data();
        ByteBuffer direct = source;
        if (!source.isDirect()) {
            direct = ByteBuffer.allocateDirect(source.remaining());
            direct.put(source).rewind();
        }
        return OnnxTensor.createTensor(env, direct.order(ByteOrder.nativeOrder()), data.shape(),
                OnnxTypes.javaType(data.dtype()));
    }

    private static TensorData copy(String name, OnnxValue value) {
        if (!(value instanceof OnnxTensor)) {
            throw new IllegalStateException("output '" + name + "' is not a tensor but " + value.getType());
        }
        OnnxTensor tensor = (OnnxTensor) value;
        DType dtype = OnnxTypes.dtype(tensor.getInfo().type).orElseThrow(() -> new IllegalStateException("output '"
                + name + "' has unsupported type " + tensor.getInfo().type));
        ByteBuffer bytes = tensor.getByteBuffer();
        ByteBuffer copy = ByteBuffer.allocate(bytes.remaining()).order(ByteOrder.LITTLE_ENDIAN);
        copy.put(bytes.order(ByteOrder.nativeOrder())).flip();
        return new TensorData(dtype, tensor.getInfo().getShape(), copy);
    }

    /** Config entry telling ONNX Runtime where the external data of a model loaded from bytes lies. */
    static final String EXTERNAL_FOLDER_ENTRY = "session.model_external_initializers_file_folder_path";

    /**
     * A session of the rewritten graph with {@code patched} weights and every other external weight from the mapped
     * data. Patched weights are validated here (name, type, shape), their initializers replaced in the serialized graph
     * by external-data stubs ({@link #PATCHED_LOCATION}, never read) and their values injected with
     * {@code addExternalInitializers}, which puts them in place before ONNX Runtime optimises the graph (so layout
     * transformations such as NCHWc reordering of Conv weights see the patched values; {@code addInitializer} is
     * applied after them) and copies them, so the buffers are released once the session exists.
     */
    private PatchedSession createPatched(WeightFuser.Fused fused, EffectiveScales scales,
            Map<String, LoraAdapter> adapters) {
        try {
            return createSession(fused == null ? Map.of() : fused.weights(), scales, adapters);
        } finally {
            if (fused != null) {
                fused.close();
            }
        }
    }

    private PatchedSession createSession(Map<String, TensorData> patched, EffectiveScales scales,
            Map<String, LoraAdapter> adapters) {
        for (Map.Entry<String, TensorData> e : patched.entrySet()) {
            Initializer initializer = rewritten.initializer(e.getKey()).orElseThrow(() -> new IllegalStateException(
                    "fused weight '" + e.getKey() + "' is not an initializer of " + modelFile));
            TensorData value = e.getValue();
            if (initializer.dtype() != value.dtype() || !Arrays.equals(initializer.shape(), value.shape())) {
                throw new IllegalStateException("fused weight '" + e.getKey() + "' is " + value.info()
                        + " but the initializer is " + initializer.dtype() + Arrays.toString(initializer.shape()));
            }
        }
        byte[] bytes = patched.isEmpty() ? rewrittenBytes : stubbed(patched.keySet());
        Map<String, OnnxTensorLike> injected = new LinkedHashMap<>();
        try (OrtSession.SessionOptions sessionOptions = runtime.newSessionOptions()) {
            if (external) {
                sessionOptions.addConfigEntry(EXTERNAL_FOLDER_ENTRY, rewritten.folder().toString());
            }
            if (!options.prepacking()) {
                sessionOptions.addConfigEntry("session.disable_prepacking", "1");
            }
            for (Map.Entry<String, OnnxTensor> e : mappedWeights.entrySet()) {
                if (!patched.containsKey(e.getKey())) {
                    sessionOptions.addInitializer(e.getKey(), e.getValue());
                }
            }
            for (Map.Entry<String, TensorData> e : patched.entrySet()) {
                injected.put(e.getKey(), toTensor(e.getValue()));
            }
            sessionOptions.addExternalInitializers(injected);
            OrtSession created = env.createSession(bytes, sessionOptions);
            sessionsCreated.incrementAndGet();
            return new PatchedSession(created, scales, adapters);
        } catch (OrtException e) {
            throw new IllegalStateException("ONNX Runtime cannot create a session for " + modelFile + ": "
                    + e.getMessage(), e);
        } finally {
            injected.values().forEach(OnnxTensorLike::close);
        }
    }

    /** External-data location of the stubs of patched weights; their values come from the session options. */
    static final String PATCHED_LOCATION = "lorica-patched-weights.bin";

    /** The rewritten graph serialized with the initializers {@code names} replaced by external-data stubs. */
    private byte[] stubbed(Set<String> names) {
        GraphProto graph = rewritten.proto().getGraph();
        GraphProto.Builder builder = graph.toBuilder();
        for (int i = 0; i < graph.getInitializerCount(); i++) {
            TensorProto tensor = graph.getInitializer(i);
            if (names.contains(tensor.getName())) {
                TensorProto.Builder stub = TensorProto.newBuilder().setName(tensor.getName())
                        .setDataType(tensor.getDataType()).addAllDims(tensor.getDimsList())
                        .setDataLocation(TensorProto.DataLocation.EXTERNAL);
                long length = OnnxTypes.byteSize(tensor.getDataType());
                for (long d : tensor.getDimsList()) {
                    length *= d;
                }
                stub.addExternalData(StringStringEntryProto.newBuilder().setKey("location").setValue(PATCHED_LOCATION));
                stub.addExternalData(StringStringEntryProto.newBuilder().setKey("offset").setValue("0"));
                stub.addExternalData(StringStringEntryProto.newBuilder().setKey("length")
                        .setValue(Long.toString(length)));
                builder.setInitializer(i, stub);
            }
        }
        return rewritten.proto().toBuilder().setGraph(builder).build().toByteArray();
    }

    void released(OnnxLoraBinding binding) {
        fusedBindings.remove(binding);
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("the handle of " + modelFile + " is closed");
        }
    }

    /** The lock runs hold for reading and {@link #close()} for writing (for tests). */
    ReentrantReadWriteLock lockForTest() {
        return lock;
    }

    /** Whether {@link #close()} has been called. */
    public boolean isClosed() {
        return closed;
    }

    @Override
    public void close() {
        lock.writeLock().lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            for (OnnxLoraBinding binding : List.copyOf(fusedBindings)) {
                binding.close();
            }
            synchronized (fusedLock) {
                fusedSessions.values().forEach(PatchedSession::release);
                fusedSessions.clear();
            }
            if (zeroRank != null) {
                zeroRank.close();
            }
            if (factors != null) {
                factors.close();
            }
            current.release();
            synchronized (this) {
                if (kernel != null) {
                    kernel.close();
                }
            }
            mappedWeights.values().forEach(OnnxTensor::close);
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public String toString() {
        return "OnnxModelHandle[" + role + ", " + modelFile + (index == null ? "" : ", " + index.family() + ", "
                + targets.size() + " LoRA targets") + (closed ? ", closed" : "") + "]";
    }
}
