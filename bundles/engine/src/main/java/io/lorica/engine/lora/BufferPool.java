package io.lorica.engine.lora;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * Direct buffers kept for reuse, by exact size, up to a bound in bytes. Fresh direct memory costs zeroing and a page
 * fault per page on first touch, which dominates building LoRA factors and fused weights; successive mixes of the same
 * adapters, and successive fusions of the same model, need buffers of the same sizes. Reused buffers are not cleared:
 * their users overwrite every byte. Thread-safe.
 */
public final class BufferPool {

    private final long limit;
    private final String purpose;
    private final Map<Integer, ArrayDeque<ByteBuffer>> free = new HashMap<>();
    private long pooled;
    private long allocations;

    /**
     * @param limit   the most bytes kept (0: none)
     * @param purpose what the buffers hold, for error messages
     */
    public BufferPool(long limit, String purpose) {
        if (limit < 0) {
            throw new IllegalArgumentException("limit must not be negative");
        }
        this.limit = limit;
        this.purpose = purpose;
    }

    /** A little-endian direct buffer of exactly {@code bytes} bytes, positioned at 0: reused, else allocated. */
    public synchronized ByteBuffer take(long bytes) {
        if (bytes <= Integer.MAX_VALUE) {
            ArrayDeque<ByteBuffer> queue = free.get((int) bytes);
            if (queue != null && !queue.isEmpty()) {
                pooled -= bytes;
                return queue.pop();
            }
        }
        allocations++;
        return Floats.allocateDirect(bytes, purpose);
    }

    /** Keeps {@code buffer} (one this pool handed out, no longer used by anyone) if the bound allows. */
    public synchronized void give(ByteBuffer buffer) {
        int size = buffer.capacity();
        if (size == 0 || pooled + size > limit) {
            return;
        }
        free.computeIfAbsent(size, k -> new ArrayDeque<>()).push(buffer.clear());
        pooled += size;
    }

    /** How many buffers were allocated rather than reused. */
    public synchronized long allocations() {
        return allocations;
    }

    /** Bytes kept for reuse now. */
    public synchronized long pooled() {
        return pooled;
    }
}
