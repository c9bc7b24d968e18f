package io.lorica.policy.registry;

import io.lorica.api.registry.FuseBackend;

import io.lorica.api.AdapterNames;
import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.format.AdapterFormatException;
import io.lorica.api.format.AdapterLoader;
import io.lorica.api.format.ModuleCatalog;
import io.lorica.api.policy.AdapterSettings;
import io.lorica.api.policy.AdapterWeight;
import io.lorica.api.registry.AdapterInfo;
import io.lorica.api.registry.AdapterReference;
import io.lorica.api.registry.AdapterRegistry;
import io.lorica.api.registry.AdapterRegistryEvent;
import io.lorica.api.registry.AdapterRegistryListener;
import io.lorica.api.registry.FuseRequest;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The adapter registry of one pipeline: Diffusers' pipeline-level LoRA operations on immutable state. Plain Java; the
 * OSGi wiring (loader, engine, listener whiteboard) lives elsewhere.
 *
 * <h2>State and threading</h2>
 * The whole state (loaded adapters, default {@link AdapterSettings}, what is fused where) is one immutable
 * {@link RegistrySnapshot} in a volatile field. Every mutation runs under one lock, builds a new snapshot
 * (copy-on-write) and publishes it with a single write; every read ({@link #defaults()}, {@link #adapters()},
 * {@link #snapshot()}, {@link #effective(Optional)}, ...) is one volatile read, lock-free. A generation should take
 * {@link #snapshot()} once and use its settings, adapters and fused record together. Reading and converting an adapter
 * file ({@link #load}) happens outside the lock; only the final registration is locked. The {@link FuseBackend} is
 * called under the lock, so engine calls never overlap.
 *
 * <h2>Diffusers correspondences</h2>
 * <table>
 * <caption>Operations</caption>
 * <tr><th>Diffusers</th><th>here</th></tr>
 * <tr><td>{@code load_lora_weights(src, adapter_name)}</td><td>{@link #load(AdapterReference, String)}</td></tr>
 * <tr><td>{@code set_adapters(names, weights)}</td><td>{@link #setAdapters(List, List)}</td></tr>
 * <tr><td>{@code enable_lora()} / {@code disable_lora()}</td><td>{@link #enableLora()} / {@link #disableLora()}</td></tr>
 * <tr><td>{@code get_active_adapters()} / {@code get_list_adapters()}</td><td>{@link #getActiveAdapters()} /
 * {@link #getListAdapters()}</td></tr>
 * <tr><td>{@code delete_adapters(names)}</td><td>{@link #deleteAdapters(List)}</td></tr>
 * <tr><td>{@code fuse_lora(...)} / {@code unfuse_lora(components)} / {@code fused_loras}</td>
 * <td>{@link #fuseLora(FuseRequest)} / {@link #unfuseLora(Set)} / {@link #getFusedAdapters()}</td></tr>
 * <tr><td>{@code cross_attention_kwargs={"scale": c}} per call</td><td>a request's own settings,
 * {@link #effective(Optional)}</td></tr>
 * </table>
 * Replicated as in Diffusers: a successful load makes the new adapter the only active one with weight 1.0;
 * {@code set_adapters} is absolute, not cumulative, and {@code None} weights mean 1.0; {@code get_active_adapters}
 * reports the active list whether or not LoRA is disabled (Diffusers' {@code disable_lora} only sets a flag on the
 * layers); deleting active adapters keeps the remaining active ones active; a fused adapter keeps acting whether or not
 * it is active and ignores the call scale; the error messages of §2.14 of the LoRA semantics reference.
 *
 * <h2>Deliberate deviations from Diffusers</h2>
 * <ul>
 * <li>Loading is atomic over all components, and unnamed loads get {@code default_0}, {@code default_1}, ... from one
 *     registry-wide counter that never hands out a name twice (Diffusers counts per component and can collide,
 *     silently overwriting an adapter). A load that registers no module at all is an error (Diffusers warns).</li>
 * <li>{@code delete_adapters} with unknown names throws, naming them and the present adapters (Diffusers ignores them).
 *     A fused adapter is unfused first (Diffusers leaves its delta baked into the weights). When the deleted adapters
 *     were active and none stays active, the alphabetically first remaining adapter becomes active with weight 1.0 for
 *     the whole pipeline (Diffusers chooses per layer, which can diverge); the change is logged with Diffusers'
 *     warning and announced by a {@link AdapterRegistryEvent.Kind#SETTINGS_CHANGED} event naming that adapter.</li>
 * <li>{@code fuse_lora} is all or nothing: if the backend fails (safe fusing found NaN, engine error) the fused record
 *     and the weights stay as they were (Diffusers keeps the layers merged before the failing one). Its
 *     {@code lora_scale} is not left behind in the adapter scalings, it applies to named inactive adapters too, and a
 *     named adapter that is not loaded is an error (Diffusers skips it). Fusing when no adapter is active and none is
 *     named is an error (Diffusers does nothing).</li>
 * <li>Active adapters that are not fused keep acting in fused components (Diffusers skips the whole LoRA branch of a
 *     merged layer); see {@link RegistrySnapshot} for the state model.</li>
 * <li>A weight that names a component outside the family, or an A1111 block vector of another family's length, is
 *     rejected (Diffusers drops unknown component keys with a warning).</li>
 * </ul>
 *
 * <h2>Fused scales</h2>
 * An adapter is fused with {@code loraScale · w}, where {@code w} is its weight in the default settings (1.0 when it
 * is not active). A weight that is one number on the whole component (a plain number, a component dict entry that is
 * a number, the text-encoder part {@code teWeight · BASE} of a block vector, ...) is used as is; a weight that varies
 * by layer within the component (UNet block dicts, the UNet part of a block vector, per-layer overrides that can match
 * there) cannot be expressed by one fused scale and is fused with {@code w = 1.0} (logged as a warning).
 *
 * <h2>Events</h2>
 * After each successful change an {@link AdapterRegistryEvent} goes to every listener added with
 * {@link #addListener(AdapterRegistryListener)}: outside the lock, in commit order, on the thread of a mutating call
 * (possibly another thread's, when two change the registry at once). A listener that throws is logged and does not
 * affect the registry or the other listeners. Calls that change nothing (enabling when enabled, unfusing components
 * with nothing fused, fusing adapters already fused) send no event.
 */
public final class DefaultAdapterRegistry implements AdapterRegistry {

    private static final Logger LOG = LoggerFactory.getLogger(DefaultAdapterRegistry.class);

    private static final String AUTO_NAME_PREFIX = "default_";

    private final String pipelineId;
    private final ModelFamily family;
    /** The model adapters are converted for; null for the family's reference model. */
    private final ModuleCatalog catalog;
    private final AdapterLoader loader;
    private final FuseBackend backend;

    private final ReentrantLock lock = new ReentrantLock();
    private volatile RegistrySnapshot state;
    /** The next auto-name index; guarded by {@link #lock}. */
    private long nextAutoIndex;

    private final CopyOnWriteArrayList<AdapterRegistryListener> listeners = new CopyOnWriteArrayList<>();
    private final ConcurrentLinkedQueue<AdapterRegistryEvent> pending = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean delivering = new AtomicBoolean();

    /**
     * A registry with nothing loaded, LoRA enabled, call scale 1.0.
     *
     * @param pipelineId  the id of the pipeline, not blank
     * @param family      the model family; adapters are loaded for it
     * @param loader      reads and converts adapter files
     * @param fuseBackend the engine side of {@code fuse_lora}; {@link FuseBackend#NONE} when no engine is attached
     * @throws IllegalArgumentException when an argument is null or the id is blank
     */
    public DefaultAdapterRegistry(String pipelineId, ModelFamily family, AdapterLoader loader,
            FuseBackend fuseBackend) {
        this(pipelineId, family, null, loader, fuseBackend);
    }

    /**
     * A registry with nothing loaded whose adapters are converted against {@code catalog}: the pipeline's models as
     * opened, which may differ in width from the family's reference model.
     *
     * @throws IllegalArgumentException when an argument is null or the id is blank
     */
    public static DefaultAdapterRegistry forCatalog(String pipelineId, ModuleCatalog catalog, AdapterLoader loader,
            FuseBackend fuseBackend) {
        if (catalog == null) {
            throw new IllegalArgumentException("catalog of pipeline " + pipelineId + " must not be null");
        }
        return new DefaultAdapterRegistry(pipelineId, catalog.family(), catalog, loader, fuseBackend);
    }

    private DefaultAdapterRegistry(String pipelineId, ModelFamily family, ModuleCatalog catalog,
            AdapterLoader loader, FuseBackend fuseBackend) {
        if (pipelineId == null || pipelineId.isBlank()) {
            throw new IllegalArgumentException("pipelineId must not be blank, got '" + pipelineId + "'");
        }
        if (family == null || loader == null || fuseBackend == null) {
            throw new IllegalArgumentException("family, loader and fuseBackend of pipeline " + pipelineId
                    + " must not be null (use FuseBackend.NONE when no engine is attached)");
        }
        this.pipelineId = pipelineId;
        this.family = family;
        this.catalog = catalog;
        this.loader = loader;
        this.backend = fuseBackend == FuseBackend.NONE ? FuseBackend.none(pipelineId) : fuseBackend;
        this.state = RegistrySnapshot.empty(family);
    }

    @Override
    public String pipelineId() {
        return pipelineId;
    }

    @Override
    public ModelFamily family() {
        return family;
    }

    /** The current state as one consistent immutable snapshot (lock-free). */
    public RegistrySnapshot snapshot() {
        return state;
    }

    /**
     * The settings a generation runs with, from the current snapshot: the request's own settings when it brings some
     * (checked, never stored), else the defaults. See {@link RegistrySnapshot#effective(Optional)}; a generation that
     * also needs the adapters should call that on one {@link #snapshot()} instead.
     *
     * @throws IllegalArgumentException when an adapter of the override is not loaded ("Adapter name(s) {…} not in the
     *                                  list of present adapters: {…}.") or a weight does not fit the family
     */
    public AdapterSettings effective(Optional<AdapterSettings> requestOverride) {
        return state.effective(requestOverride);
    }

    // ---------------------------------------------------------------------------------------------------- loading

    /**
     * {@inheritDoc}
     *
     * <p>The file is read and converted for this registry's family outside the registry lock; the name is checked
     * before (to fail fast) and again when registering. On any failure nothing is registered and no auto-name is used
     * up. Auto-names skip names that are taken.
     *
     * @throws IllegalArgumentException "Adapter name {name} already in use in the model - please select a new adapter
     *                                  name." when the name is taken; also when it is invalid or nothing in the file
     *                                  targets this family
     * @throws AdapterFormatException   when the loader rejects the file
     */
    @Override
    public AdapterInfo load(AdapterReference reference, String adapterName) {
        if (reference == null) {
            throw new IllegalArgumentException("reference must not be null");
        }
        if (adapterName != null) {
            AdapterNames.require(adapterName, "adapterName");
            requireFreeName(state, adapterName);
        }
        LoraAdapter adapter = catalog != null ? loader.load(reference, catalog) : loader.load(reference, family);
        if (adapter == null) {
            throw new IllegalStateException("the adapter loader returned nothing for " + reference.describe());
        }
        if (adapter.family() != family) {
            throw new IllegalStateException("the adapter loader converted " + reference.describe() + " for "
                    + adapter.family().id() + ", but pipeline " + pipelineId + " is " + family.id());
        }
        if (adapter.moduleCount() == 0) {
            throw new IllegalArgumentException("nothing in " + reference.describe() + " targets a layer of "
                    + family.id() + " (" + RegistryChecks.ids(family.components()) + "); no adapter was loaded");
        }
        AdapterInfo info;
        lock.lock();
        try {
            RegistrySnapshot s = state;
            String name = adapterName != null ? requireFreeName(s, adapterName) : nextAutoName(s);
            Map<String, LoraAdapter> adapters = new LinkedHashMap<>(s.adapters());
            adapters.put(name, adapter);
            Map<String, AdapterReference> sources = new LinkedHashMap<>(s.sources());
            sources.put(name, reference);
            AdapterSettings defaults = s.defaults().withAdapters(Map.of(name, AdapterWeight.ONE));
            RegistrySnapshot next = commit(s, adapters, sources, defaults, s.fused());
            info = AdapterInfo.of(name, adapter, reference, true, false);
            enqueue(AdapterRegistryEvent.Kind.LOADED, List.of(name), next);
            LOG.info("Pipeline {}: loaded adapter {} from {} ({} modules in {}); it is now the only active adapter",
                    pipelineId, name, reference.describe(), adapter.moduleCount(),
                    RegistryChecks.ids(adapter.components()));
        } finally {
            lock.unlock();
        }
        deliver();
        return info;
    }

    private static String requireFreeName(RegistrySnapshot s, String name) {
        if (s.adapters().containsKey(name)) {
            throw new IllegalArgumentException("Adapter name " + name
                    + " already in use in the model - please select a new adapter name.");
        }
        return name;
    }

    /** Under the lock: the next {@code default_<n>} that is free; the counter never goes back. */
    private String nextAutoName(RegistrySnapshot s) {
        while (true) {
            String name = AUTO_NAME_PREFIX + nextAutoIndex++;
            if (!s.adapters().containsKey(name)) {
                return name;
            }
        }
    }

    // ----------------------------------------------------------------------------------------------------- reads

    @Override
    public List<AdapterInfo> adapters() {
        RegistrySnapshot s = state;
        List<AdapterInfo> infos = new ArrayList<>(s.adapters().size());
        s.adapters().keySet().forEach(name -> infos.add(info(s, name)));
        return Collections.unmodifiableList(infos);
    }

    @Override
    public Optional<AdapterInfo> adapter(String name) {
        RegistrySnapshot s = state;
        return s.adapters().containsKey(name) ? Optional.of(info(s, name)) : Optional.empty();
    }

    private static AdapterInfo info(RegistrySnapshot s, String name) {
        return AdapterInfo.of(name, s.adapters().get(name), s.sources().get(name),
                s.defaults().adapters().containsKey(name), s.fusedAdapters().contains(name));
    }

    @Override
    public Map<String, LoraAdapter> loadedAdapters() {
        return state.adapters();
    }

    @Override
    public AdapterSettings defaults() {
        return state.defaults();
    }

    /**
     * {@inheritDoc}
     *
     * <p>As Diffusers' {@code get_active_adapters}, this is the active list whether or not LoRA is disabled
     * ({@code disable_lora} keeps the active set); {@code defaults().enabled()} tells whether it applies.
     */
    @Override
    public List<String> getActiveAdapters() {
        return state.defaults().names();
    }

    @Override
    public Map<Component, List<String>> getListAdapters() {
        RegistrySnapshot s = state;
        Map<Component, List<String>> list = new EnumMap<>(Component.class);
        for (Component component : family.components()) {
            List<String> names = new ArrayList<>();
            s.adapters().forEach((name, adapter) -> {
                if (!adapter.modules(component).isEmpty()) {
                    names.add(name);
                }
            });
            if (!names.isEmpty()) {
                list.put(component, List.copyOf(names));
            }
        }
        return Collections.unmodifiableMap(list);
    }

    @Override
    public Set<String> getFusedAdapters() {
        return state.fusedAdapters();
    }

    // -------------------------------------------------------------------------------------------------- settings

    /**
     * {@inheritDoc}
     *
     * <p>Checks in Diffusers' order: lengths ("Length of adapter names {n} is not equal to the length of the weights
     * {m}"), then names ("Adapter name(s) {…} not in the list of present adapters: {…}."); a null entry in
     * {@code weights} means 1.0, as Diffusers' {@code None}. A name listed twice is rejected.
     */
    @Override
    public void setAdapters(List<String> names, List<AdapterWeight> weights) {
        if (names == null) {
            throw new IllegalArgumentException("adapter names must not be null");
        }
        if (weights != null && weights.size() != names.size()) {
            throw new IllegalArgumentException("Length of adapter names " + names.size()
                    + " is not equal to the length of the weights " + weights.size());
        }
        List<AdapterWeight> resolved = null;
        if (weights != null) {
            resolved = new ArrayList<>(weights.size());
            for (AdapterWeight weight : weights) {
                resolved.add(weight == null ? AdapterWeight.ONE : weight);
            }
        }
        lock.lock();
        try {
            RegistrySnapshot s = state;
            RegistryChecks.requireLoaded(names, s.adapters().keySet());
            AdapterSettings requested = AdapterSettings.of(names, resolved);
            RegistryChecks.requireValid(requested, s.adapters().keySet(), family);
            AdapterSettings defaults = s.defaults().withAdapters(requested.adapters());
            RegistrySnapshot next = commit(s, s.adapters(), s.sources(), defaults, s.fused());
            enqueue(AdapterRegistryEvent.Kind.SETTINGS_CHANGED, defaults.names(), next);
        } finally {
            lock.unlock();
        }
        deliver();
    }

    /**
     * {@inheritDoc}
     *
     * @throws IllegalArgumentException when {@code settings} is null, an adapter is not loaded ("Adapter name(s) {…}
     *                                  not in the list of present adapters: {…}.") or a weight does not fit the family
     */
    @Override
    public void setDefaults(AdapterSettings settings) {
        lock.lock();
        try {
            RegistrySnapshot s = state;
            RegistryChecks.requireValid(settings, s.adapters().keySet(), family);
            RegistrySnapshot next = commit(s, s.adapters(), s.sources(), settings, s.fused());
            enqueue(AdapterRegistryEvent.Kind.SETTINGS_CHANGED, settings.names(), next);
        } finally {
            lock.unlock();
        }
        deliver();
    }

    /** {@inheritDoc} A no-op (no event) when LoRA is already enabled. */
    @Override
    public void enableLora() {
        setEnabled(true);
    }

    /**
     * {@inheritDoc}
     *
     * <p>The fused record is kept too; which weights a disabled generation runs with is the engine's business (the
     * base model, per the API). A no-op (no event) when LoRA is already disabled.
     */
    @Override
    public void disableLora() {
        setEnabled(false);
    }

    private void setEnabled(boolean enabled) {
        lock.lock();
        try {
            RegistrySnapshot s = state;
            if (s.defaults().enabled() == enabled) {
                return;
            }
            AdapterSettings defaults = s.defaults().withEnabled(enabled);
            RegistrySnapshot next = commit(s, s.adapters(), s.sources(), defaults, s.fused());
            enqueue(AdapterRegistryEvent.Kind.SETTINGS_CHANGED, List.of(), next);
        } finally {
            lock.unlock();
        }
        deliver();
    }

    // ---------------------------------------------------------------------------------------------------- delete

    /**
     * {@code delete_adapters(adapter_names)}, atomically: unknown names throw (a deviation; Diffusers ignores them),
     * naming them and the present adapters in Diffusers' {@code set_adapters} words ("Adapter name(s) {…} not in the
     * list of present adapters: {…}."). Fused adapters among them are unfused first through the backend (the other
     * fused adapters of those components are re-fused with their recorded scales); if that fails nothing is deleted.
     * Deleted active adapters leave the active set and the others stay active; if none stays active but adapters
     * remain, the alphabetically first remaining one becomes active with weight 1.0 (Diffusers' per-layer rule,
     * simplified to the whole pipeline), with Diffusers' warning "Adapter {x} was active which is now deleted. Setting
     * active adapter to {y}." in the log. Events, in order: {@code UNFUSED} (when fused adapters were deleted),
     * {@code DELETED}, {@code SETTINGS_CHANGED} naming the newly activated adapter (when there is one). An empty list
     * does nothing; repeated names count once.
     *
     * @throws IllegalArgumentException when a name is not loaded
     * @throws IllegalStateException    when unfusing a deleted adapter fails in the engine
     */
    @Override
    public void deleteAdapters(List<String> names) {
        if (names == null) {
            throw new IllegalArgumentException("adapter names must not be null");
        }
        if (names.isEmpty()) {
            return;
        }
        lock.lock();
        try {
            RegistrySnapshot s = state;
            RegistryChecks.requireLoaded(names, s.adapters().keySet());
            Set<String> deleted = new LinkedHashSet<>(names);

            List<String> unfused = new ArrayList<>();
            s.fusedAdapters().forEach(name -> {
                if (deleted.contains(name)) {
                    unfused.add(name);
                }
            });
            Map<Component, Map<String, Float>> fused = copyFused(s.fused());
            fused.values().forEach(m -> m.keySet().removeAll(deleted));
            if (!unfused.isEmpty()) {
                applyFused(s, fused, false);
            }

            Map<String, LoraAdapter> adapters = new LinkedHashMap<>(s.adapters());
            adapters.keySet().removeAll(deleted);
            Map<String, AdapterReference> sources = new LinkedHashMap<>(s.sources());
            sources.keySet().removeAll(deleted);

            List<String> deletedActive = s.defaults().names().stream().filter(deleted::contains).toList();
            AdapterSettings defaults = s.defaults().without(deleted);
            String fallback = null;
            if (!deletedActive.isEmpty() && defaults.adapters().isEmpty() && !adapters.isEmpty()) {
                fallback = adapters.keySet().stream().sorted().findFirst().orElseThrow();
                defaults = defaults.withAdapters(Map.of(fallback, AdapterWeight.ONE));
                LOG.warn("Pipeline {}: Adapter {} was active which is now deleted. Setting active adapter to {}.",
                        pipelineId, String.join(", ", deletedActive), fallback);
            }
            RegistrySnapshot next = commit(s, adapters, sources, defaults, fused);
            if (!unfused.isEmpty()) {
                enqueue(AdapterRegistryEvent.Kind.UNFUSED, unfused, next);
            }
            enqueue(AdapterRegistryEvent.Kind.DELETED, List.copyOf(deleted), next);
            if (fallback != null) {
                enqueue(AdapterRegistryEvent.Kind.SETTINGS_CHANGED, List.of(fallback), next);
            }
            LOG.info("Pipeline {}: deleted adapters {}{}", pipelineId, deleted,
                    unfused.isEmpty() ? "" : " (unfused " + unfused + " first)");
        } finally {
            lock.unlock();
        }
        deliver();
    }

    // ------------------------------------------------------------------------------------------------------ fuse

    /**
     * {@inheritDoc}
     *
     * <p>Checks the components ("`components` cannot be an empty list.", "{c} is not found in
     * self._lora_loadable_modules=[…].") and the named adapters ("Adapter name(s) {…} not in the list of present
     * adapters: {…}."); without names it fuses the active adapters. Into each requested component go the adapters with
     * modules there that are not fused there yet (already fused ones keep their scale, as Diffusers skips merged
     * adapters), each with {@code loraScale · w} (see the class javadoc on fused scales). Then the backend is called
     * and, only when it succeeded, the fused record is updated; on failure the registry and the weights are as before.
     * Nothing new to fuse (all already fused, or no modules in those components) is a no-op.
     *
     * @throws IllegalArgumentException when no adapter is active and none is named, or as above, or when safe fusing
     *                                  finds NaN/infinite weights (the backend's message)
     * @throws IllegalStateException    when no engine is attached ("fusing needs an inference engine; none is attached
     *                                  to pipeline {id}") or the engine fails
     */
    @Override
    public void fuseLora(FuseRequest request) {
        if (request == null) {
            throw new IllegalArgumentException("fuse request must not be null");
        }
        lock.lock();
        try {
            RegistrySnapshot s = state;
            Set<Component> components = RegistryChecks.requireComponents(family, request.components());
            List<String> toFuse = request.fusesActiveAdapters() ? s.defaults().names() : request.adapterNames();
            RegistryChecks.requireLoaded(toFuse, s.adapters().keySet());
            if (toFuse.isEmpty()) {
                throw new IllegalArgumentException("nothing to fuse: no adapter is active in pipeline " + pipelineId
                        + " and none is named; loaded adapters: " + s.adapters().keySet());
            }
            Map<Component, Map<String, Float>> fused = copyFused(s.fused());
            Set<String> newlyFused = new LinkedHashSet<>();
            for (Component component : family.components()) {
                if (!components.contains(component)) {
                    continue;
                }
                Map<String, Float> here = fused.computeIfAbsent(component, c -> new LinkedHashMap<>());
                for (String name : toFuse) {
                    if (s.adapters().get(name).modules(component).isEmpty()) {
                        continue;
                    }
                    if (here.containsKey(name)) {
                        LOG.info("Pipeline {}: adapter {} is already fused into {}; it keeps its fused scale {}",
                                pipelineId, name, component, here.get(name));
                        continue;
                    }
                    here.put(name, fusedScale(name, request.loraScale(), s.defaults().weight(name), component));
                    newlyFused.add(name);
                }
            }
            if (newlyFused.isEmpty()) {
                LOG.info("Pipeline {}: nothing new to fuse into {} (adapters {} are fused there already or have no "
                        + "modules there)", pipelineId, components, toFuse);
                return;
            }
            applyFused(s, fused, request.safeFusing());
            RegistrySnapshot next = commit(s, s.adapters(), s.sources(), s.defaults(), fused);
            enqueue(AdapterRegistryEvent.Kind.FUSED, List.copyOf(newlyFused), next);
            LOG.info("Pipeline {}: fused {} into {} with lora_scale {}", pipelineId, newlyFused, components,
                    request.loraScale());
        } finally {
            lock.unlock();
        }
        deliver();
    }

    /**
     * {@inheritDoc}
     *
     * <p>Only components with something fused are passed to the backend; when none has, this is a no-op (and needs no
     * engine). On success nothing is recorded as fused in these components any more; on failure nothing changes.
     *
     * @throws IllegalStateException when the engine fails or none is attached while something is fused
     */
    @Override
    public void unfuseLora(Set<Component> components) {
        Set<Component> requested = RegistryChecks.requireComponents(family, components);
        lock.lock();
        try {
            RegistrySnapshot s = state;
            Map<Component, Map<String, Float>> fused = copyFused(s.fused());
            Set<String> removed = new LinkedHashSet<>();
            for (Component component : requested) {
                Map<String, Float> gone = fused.remove(component);
                if (gone != null) {
                    removed.addAll(gone.keySet());
                }
            }
            if (removed.isEmpty()) {
                return;
            }
            applyFused(s, fused, false);
            RegistrySnapshot next = commit(s, s.adapters(), s.sources(), s.defaults(), fused);
            List<String> names = s.adapters().keySet().stream().filter(removed::contains).toList();
            enqueue(AdapterRegistryEvent.Kind.UNFUSED, names, next);
            LOG.info("Pipeline {}: unfused {} from {}", pipelineId, names, requested);
        } finally {
            lock.unlock();
        }
        deliver();
    }

    /** {@code loraScale · w}, {@code w} being the adapter's weight on the whole component, 1.0 if it varies. */
    private float fusedScale(String name, double loraScale, Optional<AdapterWeight> weight, Component component) {
        double w = 1.0;
        if (weight.isPresent()) {
            OptionalDouble uniform = uniformWeight(weight.get(), component);
            if (uniform.isPresent()) {
                w = uniform.getAsDouble();
            } else {
                LOG.warn("Pipeline {}: the weight of adapter {} varies by layer in {}; fusing it with weight 1.0 "
                        + "(times lora_scale {})", pipelineId, name, component, loraScale);
            }
        }
        float scale = (float) (loraScale * w);
        if (!Float.isFinite(scale)) {
            throw new IllegalArgumentException("fused scale of adapter '" + name + "' in " + component
                    + " is not a finite float: lora_scale " + loraScale + " x weight " + w);
        }
        return scale;
    }

    /** The one weight {@code weight} gives every layer of {@code component}, or empty when it varies by layer. */
    static OptionalDouble uniformWeight(AdapterWeight weight, Component component) {
        if (weight instanceof AdapterWeight.Uniform uniform) {
            return OptionalDouble.of(uniform.value());
        }
        if (weight instanceof AdapterWeight.PerComponent perComponent) {
            return perComponent.weightFor(component) instanceof AdapterWeight.Uniform uniform
                    ? OptionalDouble.of(uniform.value())
                    : OptionalDouble.empty();
        }
        if (weight instanceof AdapterWeight.BlockVector vector) {
            return component == Component.UNET
                    ? OptionalDouble.empty()
                    : OptionalDouble.of(vector.teWeight() * vector.ratios().get(0));
        }
        if (weight instanceof AdapterWeight.WithOverrides overrides) {
            boolean overridden = overrides.overrides().stream()
                    .anyMatch(o -> o.component().map(c -> c == component).orElse(true));
            return overridden ? OptionalDouble.empty() : uniformWeight(overrides.base(), component);
        }
        return OptionalDouble.empty();
    }

    /**
     * Under the lock: brings the engine from {@code s.fused()} to {@code target}, one backend call per group of changed
     * components with the same target (an empty target unfuses). When a call fails, the groups already changed are
     * restored to {@code s.fused()} and the failure is rethrown, so the weights match the unchanged record.
     */
    private void applyFused(RegistrySnapshot s, Map<Component, Map<String, Float>> target, boolean safeFusing) {
        Map<Map<String, Float>, Set<Component>> groups = group(s.fused(), target);
        List<Set<Component>> applied = new ArrayList<>();
        for (Map.Entry<Map<String, Float>, Set<Component>> group : groups.entrySet()) {
            try {
                callBackend(s, group.getKey(), group.getValue(), safeFusing);
            } catch (RuntimeException failure) {
                rollBack(s, applied, failure);
                throw translate(failure, group.getValue());
            }
            applied.add(group.getValue());
        }
    }

    private void rollBack(RegistrySnapshot s, List<Set<Component>> applied, RuntimeException failure) {
        Map<Component, Map<String, Float>> changed = new EnumMap<>(Component.class);
        applied.forEach(components -> components.forEach(c -> changed.put(c, null)));
        if (changed.isEmpty()) {
            return;
        }
        Map<Component, Map<String, Float>> before = new EnumMap<>(Component.class);
        changed.keySet().forEach(c -> before.put(c, s.fusedIn(c)));
        Map<Map<String, Float>, Set<Component>> restore = new LinkedHashMap<>();
        before.forEach((c, scales) -> restore.computeIfAbsent(scales, k -> EnumSet.noneOf(Component.class)).add(c));
        for (Map.Entry<Map<String, Float>, Set<Component>> group : restore.entrySet()) {
            try {
                callBackend(s, group.getKey(), group.getValue(), false);
            } catch (RuntimeException rollbackFailure) {
                if (rollbackFailure != failure) {
                    failure.addSuppressed(rollbackFailure);
                }
                LOG.error("Pipeline {}: restoring the fused weights of {} after a failed change failed; the engine's "
                        + "weights may not match the fused record {}", pipelineId, group.getValue(), s.fused(),
                        rollbackFailure);
            }
        }
    }

    private void callBackend(RegistrySnapshot s, Map<String, Float> scales, Set<Component> components,
            boolean safeFusing) {
        Set<Component> view = Collections.unmodifiableSet(EnumSet.copyOf(components));
        if (scales.isEmpty()) {
            backend.unfuse(view);
        } else {
            Map<String, LoraAdapter> adapters = new LinkedHashMap<>();
            scales.keySet().forEach(name -> adapters.put(name, s.adapters().get(name)));
            backend.fuse(Collections.unmodifiableMap(adapters), view,
                    Collections.unmodifiableMap(new LinkedHashMap<>(scales)), safeFusing);
        }
    }

    private RuntimeException translate(RuntimeException failure, Set<Component> components) {
        if (failure instanceof IllegalArgumentException || failure instanceof IllegalStateException) {
            return failure;
        }
        return new IllegalStateException("the inference engine failed to change the fused weights of "
                + RegistryChecks.ids(components) + " in pipeline " + pipelineId + ": " + failure, failure);
    }

    /** Changed components grouped by their target (in family order), for as few backend calls as possible. */
    private Map<Map<String, Float>, Set<Component>> group(Map<Component, Map<String, Float>> current,
            Map<Component, Map<String, Float>> target) {
        Map<Map<String, Float>, Set<Component>> groups = new LinkedHashMap<>();
        for (Component component : family.components()) {
            Map<String, Float> before = current.getOrDefault(component, Map.of());
            Map<String, Float> after = target.getOrDefault(component, Map.of());
            if (!before.equals(after)) {
                groups.computeIfAbsent(after, k -> EnumSet.noneOf(Component.class)).add(component);
            }
        }
        return groups;
    }

    private static Map<Component, Map<String, Float>> copyFused(Map<Component, Map<String, Float>> fused) {
        Map<Component, Map<String, Float>> copy = new EnumMap<>(Component.class);
        fused.forEach((component, scales) -> copy.put(component, new LinkedHashMap<>(scales)));
        return copy;
    }

    // ---------------------------------------------------------------------------------------------------- commit

    /** Under the lock: publishes the next snapshot. */
    private RegistrySnapshot commit(RegistrySnapshot s, Map<String, LoraAdapter> adapters,
            Map<String, AdapterReference> sources, AdapterSettings defaults, Map<Component, Map<String, Float>> fused) {
        RegistrySnapshot next = new RegistrySnapshot(family, s.version() + 1, adapters, sources, defaults, fused);
        state = next;
        return next;
    }

    // ---------------------------------------------------------------------------------------------------- events

    /**
     * Adds a listener (once; adding it again does nothing). It receives the events of changes committed after this
     * call, and possibly of changes committed just before whose delivery is still under way.
     */
    public void addListener(AdapterRegistryListener listener) {
        if (listener == null) {
            throw new IllegalArgumentException("listener must not be null");
        }
        listeners.addIfAbsent(listener);
    }

    /** Removes a listener; unknown listeners are ignored. */
    public void removeListener(AdapterRegistryListener listener) {
        listeners.remove(listener);
    }

    /** Under the lock: queues the event of a committed change, so that queue order is commit order. */
    private void enqueue(AdapterRegistryEvent.Kind kind, Collection<String> names, RegistrySnapshot next) {
        pending.add(new AdapterRegistryEvent(kind, pipelineId, List.copyOf(names), next.defaults()));
    }

    /**
     * Outside the lock: delivers queued events in order. One thread delivers at a time; a thread that finds another
     * delivering leaves its events to it, and a listener that changes the registry has its event delivered after the
     * current one, by the same loop.
     */
    private void deliver() {
        while (!pending.isEmpty()) {
            if (!delivering.compareAndSet(false, true)) {
                return;
            }
            try {
                AdapterRegistryEvent event;
                while ((event = pending.poll()) != null) {
                    for (AdapterRegistryListener listener : listeners) {
                        try {
                            listener.adapterRegistryChanged(event);
                        } catch (RuntimeException e) {
                            LOG.warn("Pipeline {}: adapter registry listener {} failed on {} event {}", pipelineId,
                                    listener, event.kind(), event.adapterNames(), e);
                        }
                    }
                }
            } finally {
                delivering.set(false);
            }
        }
    }

    @Override
    public String toString() {
        RegistrySnapshot s = state;
        return "DefaultAdapterRegistry[" + pipelineId + ", " + family.id() + ", adapters=" + s.adapters().keySet()
                + ", active=" + s.defaults().names() + (s.defaults().enabled() ? "" : " (disabled)") + ", fused="
                + s.fusedAdapters() + "]";
    }

    /** For tests: whether the registry lock is free (no mutation under way). */
    boolean isIdle() {
        return !lock.isLocked();
    }
}
