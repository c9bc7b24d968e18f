package io.lorica.engine.impl;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
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
import io.lorica.api.policy.EffectiveScales;
import io.lorica.engine.index.ModuleIndex;
import io.lorica.engine.lora.BranchLayout;
import io.lorica.engine.lora.DynamicInputs;
import io.lorica.engine.lora.LoraGraphRewriter;
import io.lorica.engine.lora.WeightFuser;
import io.lorica.engine.onnx.Initializer;
import io.lorica.engine.onnx.OnnxModel;
import io.lorica.engine.onnx.ValueInfo;
import io.lorica.ort.OrtRuntime;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
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
 * serves every adapter configuration: a {@link LoraMode#DYNAMIC} binding only holds per-request branch inputs
 * ({@link DynamicInputs}). A {@link LoraMode#FUSED} binding owns a session of the rewritten graph whose weights were
 * patched from the pristine weights ({@link WeightFuser}) with the binding's adapters plus those fused into the base;
 * its branches are fed zero-rank factors. A dynamic request
 * with modules the branches cannot express (DoRA, full deltas, LoRA bias, layers the rewriter skipped) is served by a
 * fused binding instead, with one warning naming them.
 *
 * <p>The graph's own inputs and outputs are those of the original model; the branch inputs are hidden. Rewritten
 * graphs are handed to ONNX Runtime as bytes; for models with external data the session config entry
 * {@code session.model_external_initializers_file_folder_path} names the original model's folder, so the relative
 * data locations resolve and nothing is written to disk (the model folder may be read-only).
 *
 * <p>The dynamic session's weights are the pristine ones until {@link #fuseBase} replaces the session by one whose
 * weights have adapters baked in (Diffusers' {@code fuse_lora}); dynamic bindings then act on top of that fused base
 * (merged plus active adapters, as in Diffusers), and {@link #unfuseBase()} swaps back to the pristine weights. A swap
 * is atomic: new runs use the new session, in-flight runs finish on the old one, which is closed after them.
 *
 * <p>Thread-safe: runs hold a read lock of the handle and of their binding, {@link #close()} takes the write lock,
 * so it waits for in-flight runs.
 */
public final class OnnxModelHandle implements ModelHandle {

    private static final Logger LOG = LoggerFactory.getLogger(OnnxModelHandle.class);

    private final OrtRuntime runtime;
    private final OrtEnvironment env;
    private final Path modelFile;
    private final ModelRole role;
    private final OnnxModel pristine;
    private final ModuleIndex index;
    private final OnnxModel rewritten;
    private final BranchLayout layout;
    private final List<ValueInfo> inputs;
    private final Set<String> inputNames;
    private final Set<String> outputNames;
    private final Map<String, LayerGeometry> targets;
    private final AtomicInteger sessionsCreated = new AtomicInteger();
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private final Set<OnnxLoraBinding> fusedBindings = ConcurrentHashMap.newKeySet();
    private final Object swapLock = new Object();
    private volatile BaseSession current;
    private final DynamicInputs.Request zeroRank;
    private final OnnxLoraBinding base;
    private volatile boolean closed;

    OnnxModelHandle(OrtRuntime runtime, Path modelFile, ModelRole role, OnnxModel model, ModuleIndex index) {
        this.runtime = runtime;
        this.env = runtime.environment();
        this.modelFile = modelFile;
        this.role = role;
        this.pristine = model;
        this.index = index;
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
        OrtSession session = createSession(rewritten);
        this.current = new BaseSession(session, EffectiveScales.empty(), Map.of());
        try {
            this.zeroRank = layout == null ? null
                    : DynamicInputs.build(env, layout, EffectiveScales.empty(), Map.of());
        } catch (RuntimeException e) {
            closeQuietly(session);
            throw e;
        }
        this.base = new OnnxLoraBinding(this, LoraMode.DYNAMIC, List.of(), 0, null, null, true);
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
            DynamicInputs.Request request = DynamicInputs.build(env, layout, scales, adapters);
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
        BaseSession b = current;
        EffectiveScales scales = withBase(request, b);
        Map<String, LoraAdapter> adapters = new LinkedHashMap<>(b.adapters);
        for (Map.Entry<String, LoraAdapter> e : requestAdapters.entrySet()) {
            LoraAdapter known = adapters.get(e.getKey());
            if (known != null && !known.equals(e.getValue())) {
                throw new IllegalArgumentException("adapter '" + e.getKey() + "' is fused into the base of "
                        + modelFile + " but a different adapter of that name was given");
            }
            adapters.put(e.getKey(), e.getValue());
        }
        OrtSession fusedSession = createSession(patchedModel(scales, adapters, false));
        DynamicInputs.Request zero;
        try {
            zero = DynamicInputs.build(env, layout, EffectiveScales.empty(), Map.of());
        } catch (RuntimeException e) {
            closeQuietly(fusedSession);
            throw e;
        }
        OnnxLoraBinding binding = new OnnxLoraBinding(this, LoraMode.FUSED, names, layers, zero, fusedSession, false);
        fusedBindings.add(binding);
        return binding;
    }

    private EffectiveScales withBase(EffectiveScales request, BaseSession b) {
        if (b.scales.isEmpty()) {
            return request;
        }
        Component component = role.component().orElseThrow();
        EffectiveScales.Builder builder = EffectiveScales.builder();
        for (String path : b.scales.modules(component)) {
            b.scales.adapters(component, path).forEach((a, s) -> builder.put(component, path, a, s));
        }
        for (String path : request.modules(component)) {
            request.adapters(component, path).forEach((a, s) -> builder.put(component, path, a,
                    s + b.scales.scale(component, path, a)));
        }
        return builder.build();
    }

    /** The rewritten graph with the weights patched by {@link WeightFuser}, names and shapes validated. */
    private OnnxModel patchedModel(EffectiveScales scales, Map<String, LoraAdapter> adapters, boolean safe) {
        Map<String, TensorData> patched = new WeightFuser(pristine, index).fuse(scales, adapters, safe);
        OnnxModel model = rewritten;
        for (Map.Entry<String, TensorData> e : patched.entrySet()) {
            Initializer initializer = rewritten.initializer(e.getKey()).orElseThrow(() -> new IllegalStateException(
                    "fused weight '" + e.getKey() + "' is not an initializer of " + modelFile));
            TensorData value = e.getValue();
            if (initializer.dtype() != value.dtype() || !Arrays.equals(initializer.shape(), value.shape())) {
                throw new IllegalStateException("fused weight '" + e.getKey() + "' is " + value.info()
                        + " but the initializer is " + initializer.dtype() + Arrays.toString(initializer.shape()));
            }
            model = model.withInitializer(e.getKey(), value);
        }
        return model;
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
        BaseSession next = prepareBase(scales, adapters, safe);
        BaseSession previous;
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
        if (current.scales.isEmpty()) {
            requireOpen();
            return;
        }
        fuseBase(EffectiveScales.empty(), Map.of(), false);
    }

    /** The adapters baked into the weights of the dynamic session, in activation order; empty when pristine. */
    public List<String> fusedAdapters() {
        return current.scales.adapterNames();
    }

    /** The scales baked into the weights of the dynamic session; empty when pristine. */
    public EffectiveScales fusedScales() {
        return current.scales;
    }

    /**
     * Builds, outside any lock, the session a later {@link #install} puts in place; the caller owns the returned
     * reference and must {@link BaseSession#release()} it if it is not installed.
     */
    BaseSession prepareBase(EffectiveScales scales, Map<String, LoraAdapter> adapters, boolean safe) {
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
            return new BaseSession(createSession(rewritten), EffectiveScales.empty(), Map.of());
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
        OnnxModel model = mine.isEmpty() ? rewritten : patchedModel(mine, used, safe);
        return new BaseSession(createSession(model), mine, Collections.unmodifiableMap(used));
    }

    /**
     * Puts {@code next} in place as the dynamic session, taking over the caller's reference, and hands the caller the
     * handle's reference to the previous one (to {@link BaseSession#release()} or to re-install on rollback).
     *
     * @throws IllegalStateException when the handle is closed; {@code next} is then still the caller's
     */
    BaseSession install(BaseSession next) {
        lock.readLock().lock();
        try {
            requireOpen();
            synchronized (swapLock) {
                BaseSession previous = current;
                current = next;
                return previous;
            }
        } finally {
            lock.readLock().unlock();
        }
    }

    private BaseSession acquireCurrent() {
        while (true) {
            BaseSession s = current;
            if (s.acquire()) {
                return s;
            }
        }
    }

    /**
     * A dynamic session over the rewritten graph with the weights of some fused adapters, reference counted: the
     * handle holds one reference while it is current, each run one while it executes; the last release closes it.
     */
    final class BaseSession {

        private final OrtSession session;
        private final EffectiveScales scales;
        private final Map<String, LoraAdapter> adapters;
        private final AtomicInteger references = new AtomicInteger(1);

        BaseSession(OrtSession session, EffectiveScales scales, Map<String, LoraAdapter> adapters) {
            this.session = session;
            this.scales = scales;
            this.adapters = adapters;
        }

        boolean acquire() {
            while (true) {
                int n = references.get();
                if (n == 0) {
                    return false;
                }
                if (references.compareAndSet(n, n + 1)) {
                    return true;
                }
            }
        }

        void release() {
            if (references.decrementAndGet() == 0) {
                closeQuietly(session);
            }
        }

        /** Whether the session has been closed (for tests). */
        boolean isClosed() {
            return references.get() == 0;
        }

        EffectiveScales scales() {
            return scales;
        }
    }

    @Override
    public LoraBinding base() {
        return base;
    }

    @Override
    public Map<String, TensorData> run(Map<String, TensorData> inputs, LoraBinding binding) {
        if (inputs == null || binding == null) {
            throw new IllegalArgumentException("inputs and binding must not be null");
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
                    return execute(b.session(), inputs, lora);
                }
                BaseSession s = acquireCurrent();
                try {
                    return execute(s.session, inputs, lora);
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
            Map<String, OnnxTensor> lora) {
        Map<String, OnnxTensor> created = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, TensorData> e : inputs.entrySet()) {
                created.put(e.getKey(), toTensor(e.getKey(), e.getValue()));
            }
            Map<String, OnnxTensor> feed = new HashMap<>(created);
            if (lora != null) {
                feed.putAll(lora);
            }
            try (OrtSession.Result result = target.run(feed, outputNames)) {
                Map<String, TensorData> outputs = new LinkedHashMap<>();
                for (Map.Entry<String, OnnxValue> e : result) {
                    outputs.put(e.getKey(), copy(e.getKey(), e.getValue()));
                }
                return Collections.unmodifiableMap(outputs);
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

    private OnnxTensor toTensor(String name, TensorData data) throws OrtException {
        ByteBuffer source = data.data();
        ByteBuffer direct = ByteBuffer.allocateDirect(source.remaining()).order(ByteOrder.nativeOrder());
        direct.put(source).rewind();
        return OnnxTensor.createTensor(env, direct, data.shape(), javaType(name, data.dtype()));
    }

    private static OnnxJavaType javaType(String name, DType dtype) {
        switch (dtype) {
            case F32: return OnnxJavaType.FLOAT;
            case F16: return OnnxJavaType.FLOAT16;
            case BF16: return OnnxJavaType.BFLOAT16;
            case F64: return OnnxJavaType.DOUBLE;
            case I64: return OnnxJavaType.INT64;
            case I32: return OnnxJavaType.INT32;
            case I16: return OnnxJavaType.INT16;
            case I8: return OnnxJavaType.INT8;
            case U8: return OnnxJavaType.UINT8;
            case BOOL: return OnnxJavaType.BOOL;
            default: throw new IllegalArgumentException("input '" + name + "' has unsupported type " + dtype);
        }
    }

    private static DType dtype(String name, OnnxJavaType type) {
        switch (type) {
            case FLOAT: return DType.F32;
            case FLOAT16: return DType.F16;
            case BFLOAT16: return DType.BF16;
            case DOUBLE: return DType.F64;
            case INT64: return DType.I64;
            case INT32: return DType.I32;
            case INT16: return DType.I16;
            case INT8: return DType.I8;
            case UINT8: return DType.U8;
            case BOOL: return DType.BOOL;
            default: throw new IllegalStateException("output '" + name + "' has unsupported type " + type);
        }
    }

    private static TensorData copy(String name, OnnxValue value) {
        if (!(value instanceof OnnxTensor)) {
            throw new IllegalStateException("output '" + name + "' is not a tensor but " + value.getType());
        }
        OnnxTensor tensor = (OnnxTensor) value;
        DType dtype = dtype(name, tensor.getInfo().type);
        ByteBuffer bytes = tensor.getByteBuffer();
        ByteBuffer copy = ByteBuffer.allocate(bytes.remaining()).order(ByteOrder.LITTLE_ENDIAN);
        copy.put(bytes.order(ByteOrder.nativeOrder())).flip();
        return new TensorData(dtype, tensor.getInfo().getShape(), copy);
    }

    /** Config entry telling ONNX Runtime where the external data of a model loaded from bytes lies. */
    static final String EXTERNAL_FOLDER_ENTRY = "session.model_external_initializers_file_folder_path";

    private OrtSession createSession(OnnxModel model) {
        boolean external = model.initializers().values().stream().anyMatch(Initializer::isExternal);
        try (OrtSession.SessionOptions options = runtime.newSessionOptions()) {
            if (external) {
                options.addConfigEntry(EXTERNAL_FOLDER_ENTRY, model.folder().toString());
            }
            OrtSession created = env.createSession(model.toBytes(), options);
            sessionsCreated.incrementAndGet();
            return created;
        } catch (OrtException e) {
            throw new IllegalStateException("ONNX Runtime cannot create a session for " + modelFile + ": "
                    + e.getMessage(), e);
        }
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
            if (zeroRank != null) {
                zeroRank.close();
            }
            current.release();
        } finally {
            lock.writeLock().unlock();
        }
    }

    private void closeQuietly(OrtSession s) {
        try {
            s.close();
        } catch (OrtException e) {
            LOG.warn("{}: closing a session failed: {}", modelFile, e.getMessage());
        }
    }

    @Override
    public String toString() {
        return "OnnxModelHandle[" + role + ", " + modelFile + (index == null ? "" : ", " + index.family() + ", "
                + targets.size() + " LoRA targets") + (closed ? ", closed" : "") + "]";
    }
}
