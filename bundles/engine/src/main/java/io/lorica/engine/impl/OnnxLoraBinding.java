package io.lorica.engine.impl;

import ai.onnxruntime.OnnxTensor;
import io.lorica.api.engine.LoraBinding;
import io.lorica.api.engine.LoraMode;
import io.lorica.engine.lora.DynamicInputs;

import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A binding made by an {@link OnnxModelHandle}: the LoRA branch inputs to feed (dynamic: the request's
 * rank-concatenated factors; fused and base: zero-rank factors) and, in fused mode, a reference to the (shared) session
 * with patched weights. Runs hold its read lock, {@link #close()} takes the write lock, so closing waits for in-flight runs.
 */
final class OnnxLoraBinding implements LoraBinding {

    private final OnnxModelHandle owner;
    private final LoraMode mode;
    private final List<String> adapterNames;
    private final int layerCount;
    private final DynamicInputs.Request ownedInputs;
    private final PatchedSession ownedSession;
    private final boolean base;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private volatile boolean closed;

    OnnxLoraBinding(OnnxModelHandle owner, LoraMode mode, List<String> adapterNames, int layerCount,
            DynamicInputs.Request ownedInputs, PatchedSession ownedSession, boolean base) {
        this.owner = owner;
        this.mode = mode;
        this.adapterNames = List.copyOf(adapterNames);
        this.layerCount = layerCount;
        this.ownedInputs = ownedInputs;
        this.ownedSession = ownedSession;
        this.base = base;
    }

    @Override
    public LoraMode mode() {
        return mode;
    }

    @Override
    public List<String> adapterNames() {
        return adapterNames;
    }

    @Override
    public int layerCount() {
        return layerCount;
    }

    OnnxModelHandle owner() {
        return owner;
    }

    /** The branch inputs this binding feeds; null means the handle's zero-rank inputs. */
    Map<String, OnnxTensor> loraInputs() {
        return ownedInputs == null ? null : ownedInputs.tensors();
    }

    /** The session this binding runs on; null means the handle's dynamic session. */
    PatchedSession session() {
        return ownedSession;
    }

    ReentrantReadWriteLock lock() {
        return lock;
    }

    boolean isClosed() {
        return closed;
    }

    @Override
    public void close() {
        if (base) {
            return;
        }
        lock.writeLock().lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            if (ownedInputs != null) {
                ownedInputs.close();
            }
            if (ownedSession != null) {
                ownedSession.release();
            }
        } finally {
            lock.writeLock().unlock();
            owner.released(this);
        }
    }

    @Override
    public String toString() {
        return "OnnxLoraBinding[" + mode + ", " + adapterNames + ", " + layerCount + " layers"
                + (closed ? ", closed" : "") + "]";
    }
}
