package io.lorica.engine.impl;

import io.lorica.api.Component;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.adapter.LoraModule;
import io.lorica.api.policy.EffectiveScales;
import io.lorica.api.registry.FuseBackend;

import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@link FuseBackend} of one pipeline on the ONNX engine: one {@link OnnxModelHandle} per component, whose
 * long-lived dynamic session gets the fused weights ({@link OnnxModelHandle#fuseBase}).
 *
 * <p>All or nothing across components: the new sessions of every named component are built first (nothing changes
 * when one fails, e.g. safe fusing finding NaN), then swapped in one after the other; should a swap fail (a handle
 * closed meanwhile), the components already swapped get their previous sessions back. Per component the scale of a
 * module is {@code adapterScales[a] · module.scale()} ({@code alpha/r}).
 */
public final class EngineFuseBackend implements FuseBackend {

    private static final Logger LOG = LoggerFactory.getLogger(EngineFuseBackend.class);

    private final Map<Component, OnnxModelHandle> handles;

    /**
     * @param handles the handle of each component of the pipeline (at least one; none null)
     * @throws IllegalArgumentException when the map is null, empty or holds nulls
     */
    public EngineFuseBackend(Map<Component, OnnxModelHandle> handles) {
        if (handles == null || handles.isEmpty()) {
            throw new IllegalArgumentException("handles must name at least one component");
        }
        Map<Component, OnnxModelHandle> copy = new EnumMap<>(Component.class);
        for (Map.Entry<Component, OnnxModelHandle> e : handles.entrySet()) {
            if (e.getKey() == null || e.getValue() == null) {
                throw new IllegalArgumentException("handles must not contain null components or handles");
            }
            copy.put(e.getKey(), e.getValue());
        }
        this.handles = Collections.unmodifiableMap(copy);
    }

    /** The handles by component. */
    public Map<Component, OnnxModelHandle> handles() {
        return handles;
    }

    @Override
    public void fuse(Map<String, LoraAdapter> adapters, Set<Component> components, Map<String, Float> adapterScales,
            boolean safeFusing) {
        if (adapters == null || adapterScales == null) {
            throw new IllegalArgumentException("adapters and adapterScales must not be null");
        }
        List<Component> targets = targets(components);
        for (String name : adapters.keySet()) {
            Float s = adapterScales.get(name);
            if (s == null || !Float.isFinite(s)) {
                throw new IllegalArgumentException("adapter '" + name + "' needs a finite scale, got " + s);
            }
            if (adapters.get(name) == null) {
                throw new IllegalArgumentException("adapter '" + name + "' is null");
            }
        }
        Map<Component, EffectiveScales> scales = new LinkedHashMap<>();
        for (Component component : targets) {
            EffectiveScales.Builder builder = EffectiveScales.builder();
            for (Map.Entry<String, LoraAdapter> a : adapters.entrySet()) {
                float adapterScale = adapterScales.get(a.getKey());
                for (LoraModule module : a.getValue().modules(component).values()) {
                    builder.put(component, module.modulePath(), a.getKey(), adapterScale * module.scale());
                }
            }
            scales.put(component, builder.build());
        }
        List<PatchedSession> prepared = new ArrayList<>();
        try {
            for (Component component : targets) {
                prepared.add(handles.get(component).prepareBase(scales.get(component), adapters, safeFusing));
            }
        } catch (RuntimeException e) {
            prepared.forEach(PatchedSession::release);
            throw e;
        }
        swap(targets, prepared);
    }

    @Override
    public void unfuse(Set<Component> components) {
        List<Component> targets = targets(components);
        List<PatchedSession> prepared = new ArrayList<>();
        try {
            for (Component component : targets) {
                prepared.add(handles.get(component).prepareBase(EffectiveScales.empty(), Map.of(), false));
            }
        } catch (RuntimeException e) {
            prepared.forEach(PatchedSession::release);
            throw e;
        }
        swap(targets, prepared);
    }

    private void swap(List<Component> targets, List<PatchedSession> prepared) {
        List<PatchedSession> previous = new ArrayList<>();
        for (int i = 0; i < targets.size(); i++) {
            try {
                previous.add(handles.get(targets.get(i)).install(prepared.get(i)));
            } catch (RuntimeException e) {
                for (int j = i; j < prepared.size(); j++) {
                    prepared.get(j).release();
                }
                for (int j = 0; j < previous.size(); j++) {
                    PatchedSession back = previous.get(j);
                    try {
                        handles.get(targets.get(j)).install(back).release();
                    } catch (RuntimeException rollback) {
                        back.release();
                        LOG.warn("cannot restore the weights of {}: {}", targets.get(j), rollback.getMessage());
                        e.addSuppressed(rollback);
                    }
                }
                throw e;
            }
        }
        previous.forEach(PatchedSession::release);
    }

    private List<Component> targets(Set<Component> components) {
        if (components == null || components.isEmpty()) {
            throw new IllegalArgumentException("components must not be empty");
        }
        Set<String> missing = new TreeSet<>();
        List<Component> targets = new ArrayList<>();
        for (Component c : components) {
            if (c == null) {
                throw new IllegalArgumentException("components must not contain null");
            }
            if (!handles.containsKey(c)) {
                missing.add(c.toString());
            } else {
                targets.add(c);
            }
        }
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException("no model handle for component(s) " + missing + "; this backend has "
                    + handles.keySet());
        }
        Collections.sort(targets);
        return targets;
    }

    @Override
    public String toString() {
        return "EngineFuseBackend" + handles.keySet();
    }
}
