package io.lorica.engine.impl;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.policy.EffectiveScales;

import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A session of a handle's rewritten graph whose weights have the adapters of {@link #scales()} merged in (none: the
 * pristine weights). Reference counted: whoever publishes it (the handle, for its base session; the fused-session cache)
 * holds one reference, each binding and run one more; the last release closes the session.
 */
final class PatchedSession {

    private static final Logger LOG = LoggerFactory.getLogger(PatchedSession.class);

    private final OrtSession session;
    private final EffectiveScales scales;
    private final Map<String, LoraAdapter> adapters;
    private final AtomicInteger references = new AtomicInteger(1);

    PatchedSession(OrtSession session, EffectiveScales scales, Map<String, LoraAdapter> adapters) {
        this.session = session;
        this.scales = scales;
        this.adapters = adapters;
    }

    OrtSession session() {
        return session;
    }

    /** The scales merged into the weights; empty for the pristine weights. */
    EffectiveScales scales() {
        return scales;
    }

    /** The adapters merged in, by name. */
    Map<String, LoraAdapter> adapters() {
        return adapters;
    }

    /** Takes a reference unless the session is already closed. */
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

    /** Drops a reference; the last one closes the session. */
    void release() {
        if (references.decrementAndGet() == 0) {
            try {
                session.close();
            } catch (OrtException e) {
                LOG.warn("closing a session failed: {}", e.getMessage());
            }
        }
    }

    /** Whether the session has been closed. */
    boolean isClosed() {
        return references.get() == 0;
    }
}
