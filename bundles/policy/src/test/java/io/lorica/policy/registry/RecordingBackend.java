package io.lorica.policy.registry;

import io.lorica.api.registry.FuseBackend;

import io.lorica.api.Component;
import io.lorica.api.adapter.LoraAdapter;

import java.util.EnumMap;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * A test double of the engine: records every call and keeps what an engine would hold (per component, the adapters
 * fused into its weights with their scales), so tests can compare it with the registry's record. Can be told to fail
 * calls; a failing call changes nothing, as the contract requires.
 */
final class RecordingBackend implements FuseBackend {

    /** One backend call; {@code scales} is empty for unfuse. */
    record Call(String kind, Set<Component> components, Map<String, Float> scales, boolean safeFusing) {
    }

    final List<Call> calls = new CopyOnWriteArrayList<>();
    final Map<Component, Map<String, Float>> weights = new EnumMap<>(Component.class);
    volatile Predicate<Call> failWhen = call -> false;
    volatile Supplier<RuntimeException> failure = () -> new IllegalArgumentException(
            "NaNs detected in the merged weights. The adapter broken seems to be broken");

    @Override
    public synchronized void fuse(Map<String, LoraAdapter> adapters, Set<Component> components,
            Map<String, Float> adapterScales, boolean safeFusing) {
        if (!adapters.keySet().equals(adapterScales.keySet()) || components.isEmpty()) {
            throw new AssertionError("bad fuse call " + adapters.keySet() + " " + adapterScales + " " + components);
        }
        Call call = new Call("fuse", EnumSet.copyOf(components), new LinkedHashMap<>(adapterScales), safeFusing);
        calls.add(call);
        if (failWhen.test(call)) {
            throw failure.get();
        }
        components.forEach(c -> weights.put(c, new LinkedHashMap<>(adapterScales)));
    }

    @Override
    public synchronized void unfuse(Set<Component> components) {
        if (components.isEmpty()) {
            throw new AssertionError("unfuse without components");
        }
        Call call = new Call("unfuse", EnumSet.copyOf(components), Map.of(), false);
        calls.add(call);
        if (failWhen.test(call)) {
            throw failure.get();
        }
        components.forEach(weights::remove);
    }

    /** What the engine holds, without empty entries, comparable to {@link RegistrySnapshot#fused()}. */
    synchronized Map<Component, Map<String, Float>> held() {
        Map<Component, Map<String, Float>> held = new EnumMap<>(Component.class);
        weights.forEach((c, m) -> {
            if (!m.isEmpty()) {
                held.put(c, Map.copyOf(m));
            }
        });
        return held;
    }
}
