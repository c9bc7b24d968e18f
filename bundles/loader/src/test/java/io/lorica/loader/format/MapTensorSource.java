package io.lorica.loader.format;

import io.lorica.api.DType;
import io.lorica.api.TensorData;
import io.lorica.api.TensorInfo;
import io.lorica.api.format.TensorSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * An in-memory {@link TensorSource} for tests: keys in insertion order, tensors built from float arrays in F32, F16 or
 * BF16, string metadata; counts data reads so tests can check that recognition never touches tensor data.
 */
final class MapTensorSource implements TensorSource {

    private final String name;
    private final Map<String, TensorData> tensors = new LinkedHashMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();
    private int dataReads;

    MapTensorSource(String name) {
        this.name = name;
    }

    MapTensorSource() {
        this("test.safetensors");
    }

    static long[] shape(long... dims) {
        return dims;
    }

    /** {@code count} values {@code start, start + step, ...}. */
    static float[] seq(int count, float start, float step) {
        float[] out = new float[count];
        for (int i = 0; i < count; i++) {
            out[i] = start + i * step;
        }
        return out;
    }

    MapTensorSource put(String key, TensorData data) {
        tensors.put(key, data);
        return this;
    }

    MapTensorSource f32(String key, long[] shape, float... values) {
        return put(key, TensorData.ofFloats(shape, values));
    }

    MapTensorSource f16(String key, long[] shape, float... values) {
        ByteBuffer buffer = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            buffer.putShort(toHalf(v));
        }
        buffer.flip();
        return put(key, new TensorData(DType.F16, shape, buffer));
    }

    MapTensorSource bf16(String key, long[] shape, float... values) {
        ByteBuffer buffer = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            int bits = Float.floatToIntBits(v);
            bits += 0x7fff + ((bits >>> 16) & 1);
            buffer.putShort((short) (bits >>> 16));
        }
        buffer.flip();
        return put(key, new TensorData(DType.BF16, shape, buffer));
    }

    /** A 0-d F32 tensor, as kohya stores {@code .alpha}. */
    MapTensorSource scalar(String key, float value) {
        return f32(key, new long[0], value);
    }

    MapTensorSource meta(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    int dataReads() {
        return dataReads;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public Set<String> keys() {
        return Collections.unmodifiableSet(tensors.keySet());
    }

    @Override
    public TensorInfo info(String key) {
        return require(key).info();
    }

    @Override
    public TensorData tensor(String key) {
        dataReads++;
        return require(key);
    }

    @Override
    public Map<String, String> metadata() {
        return Collections.unmodifiableMap(metadata);
    }

    private TensorData require(String key) {
        TensorData data = tensors.get(key);
        if (data == null) {
            throw new IllegalArgumentException("key '" + key + "' is not in " + name);
        }
        return data;
    }

    /** float to IEEE binary16, round to nearest even. */
    static short toHalf(float value) {
        int bits = Float.floatToIntBits(value);
        int sign = (bits >>> 16) & 0x8000;
        int exponent = (bits >>> 23) & 0xff;
        int mantissa = bits & 0x7fffff;
        if (exponent == 0xff) {
            return (short) (sign | 0x7c00 | (mantissa != 0 ? 0x200 : 0));
        }
        int e = exponent - 127 + 15;
        if (e >= 0x1f) {
            return (short) (sign | 0x7c00);
        }
        if (e <= 0) {
            if (e < -10) {
                return (short) sign;
            }
            mantissa |= 0x800000;
            int shift = 14 - e;
            int half = mantissa >> shift;
            int rest = mantissa & ((1 << shift) - 1);
            int halfway = 1 << (shift - 1);
            if (rest > halfway || (rest == halfway && (half & 1) == 1)) {
                half++;
            }
            return (short) (sign | half);
        }
        int half = (e << 10) | (mantissa >> 13);
        int rest = mantissa & 0x1fff;
        if (rest > 0x1000 || (rest == 0x1000 && (half & 1) == 1)) {
            half++;
        }
        return (short) (sign | half);
    }
}
