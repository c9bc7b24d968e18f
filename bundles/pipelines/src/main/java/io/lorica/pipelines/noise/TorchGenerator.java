package io.lorica.pipelines.noise;

/**
 * PyTorch's CPU random generator: {@code torch.Generator().manual_seed(seed)} followed by {@code torch.randn} draws
 * the same float32 values here, so a Lorica generation and a Diffusers generation with a CPU generator start from the
 * same noise (and an ancestral sampler's later draws continue the same sequence).
 *
 * <p>The engine is the 32-bit Mersenne Twister seeded as {@code std::mt19937(seed & 0xffffffff)}. A float uniform is
 * the low 24 bits of one draw times 2^-24. {@code randn} of 16 or more contiguous float32 values fills the tensor
 * with uniforms and transforms each block of 16 with Box-Muller ({@code u1 = 1 - data[j]}, {@code u2 = data[j + 8]},
 * {@code r = sqrt(-2 ln u1)}, {@code theta = 2pi * u2} in float32 as torch's AVX2 kernel computes it, cos to {@code j},
 * sin to {@code j + 8}); when the count is not a multiple of 16, the
 * last 16 values are drawn again and transformed. Fewer than 16 values use the scalar double-precision path (two
 * 53-bit uniforms per value, the sine half cached for the next value), as torch does.
 *
 * <p>Not thread-safe: one generator per generation, as in Diffusers.
 */
public final class TorchGenerator {

    private static final int N = 624;
    private static final int M = 397;
    private static final double TWO_PI = 2.0 * Math.PI;
    private static final float TWO_PI_FLOAT = (float) TWO_PI;

    private final int[] state = new int[N];
    private int index;
    private double cachedNormal = Double.NaN;

    /** A generator after {@code manual_seed(seed)}. */
    public TorchGenerator(long seed) {
        manualSeed(seed);
    }

    /** {@code manual_seed(seed)}: resets the state (torch keeps the low 32 bits for the CPU engine). */
    public void manualSeed(long seed) {
        state[0] = (int) seed;
        for (int i = 1; i < N; i++) {
            state[i] = 1812433253 * (state[i - 1] ^ (state[i - 1] >>> 30)) + i;
        }
        index = N;
        cachedNormal = Double.NaN;
    }

    /** The next 32-bit draw of the engine, as an unsigned value in a long. */
    public long nextUInt32() {
        if (index >= N) {
            twist();
        }
        int y = state[index++];
        y ^= y >>> 11;
        y ^= (y << 7) & 0x9d2c5680;
        y ^= (y << 15) & 0xefc60000;
        y ^= y >>> 18;
        return y & 0xffffffffL;
    }

    private void twist() {
        for (int i = 0; i < N; i++) {
            int y = (state[i] & 0x80000000) | (state[(i + 1) % N] & 0x7fffffff);
            int next = state[(i + M) % N] ^ (y >>> 1);
            if ((y & 1) != 0) {
                next ^= 0x9908b0df;
            }
            state[i] = next;
        }
        index = 0;
    }

    /** A float uniform in [0, 1) as torch draws it: 24 random bits. */
    public float nextFloat() {
        return (nextUInt32() & 0xffffffL) * 0x1.0p-24f;
    }

    /** A double uniform in [0, 1) as torch draws it: 53 random bits of a 64-bit draw made of two 32-bit draws. */
    public double nextDouble() {
        long high = nextUInt32();
        long low = nextUInt32();
        long bits = (high << 32) | low;
        return (bits & ((1L << 53) - 1)) * 0x1.0p-53;
    }

    /**
     * {@code torch.randn(shape, generator=this)} in float32, row-major.
     *
     * @throws IllegalArgumentException when a dimension is negative or the count exceeds an array
     */
    public float[] randn(long... shape) {
        long count = 1;
        for (long dim : shape) {
            if (dim < 0) {
                throw new IllegalArgumentException("randn shape " + java.util.Arrays.toString(shape)
                        + " has a negative dimension");
            }
            count = Math.multiplyExact(count, dim);
        }
        if (count > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("randn of " + count + " values does not fit one array");
        }
        float[] out = new float[(int) count];
        fillNormal(out);
        return out;
    }

    /** Fills {@code data} as {@code torch.randn} of {@code data.length} contiguous float32 values does. */
    public void fillNormal(float[] data) {
        int size = data.length;
        if (size >= 16) {
            for (int i = 0; i < size; i++) {
                data[i] = nextFloat();
            }
            for (int i = 0; i + 16 <= size; i += 16) {
                boxMuller16(data, i);
            }
            if (size % 16 != 0) {
                int start = size - 16;
                for (int i = 0; i < 16; i++) {
                    data[start + i] = nextFloat();
                }
                boxMuller16(data, start);
            }
        } else {
            for (int i = 0; i < size; i++) {
                data[i] = (float) nextScalarNormal();
            }
        }
    }

    private static void boxMuller16(float[] data, int offset) {
        for (int j = 0; j < 8; j++) {
            float u1 = 1 - data[offset + j];
            float u2 = data[offset + j + 8];
            float radius = (float) Math.sqrt((float) (-2 * (float) Math.log(u1)));
            float theta = TWO_PI_FLOAT * u2;
            data[offset + j] = (float) (radius * (float) Math.cos(theta));
            data[offset + j + 8] = (float) (radius * (float) Math.sin(theta));
        }
    }

    /** torch's {@code normal_distribution<double>}: Box-Muller on two double uniforms, the sine half cached. */
    private double nextScalarNormal() {
        if (!Double.isNaN(cachedNormal)) {
            double cached = cachedNormal;
            cachedNormal = Double.NaN;
            return cached;
        }
        double u1 = nextDouble();
        double u2 = nextDouble();
        double r = Math.sqrt(-2.0 * Math.log1p(-u2));
        double theta = TWO_PI * u1;
        cachedNormal = r * Math.sin(theta);
        return r * Math.cos(theta);
    }
}
