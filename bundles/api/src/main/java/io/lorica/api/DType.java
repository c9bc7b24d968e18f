package io.lorica.api;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * An element type of a dense tensor, named as in the safetensors header ({@code "dtype": "F16"}); every value is
 * stored little-endian.
 */
public enum DType {
    /** IEEE 754 binary32. */
    F32("F32", 4, true),
    /** IEEE 754 binary16 (half). */
    F16("F16", 2, true),
    /** bfloat16: the upper 16 bits of a binary32. */
    BF16("BF16", 2, true),
    /** IEEE 754 binary64. */
    F64("F64", 8, true),
    /** Signed 64-bit integer. */
    I64("I64", 8, false),
    /** Signed 32-bit integer. */
    I32("I32", 4, false),
    /** Signed 16-bit integer. */
    I16("I16", 2, false),
    /** Signed 8-bit integer. */
    I8("I8", 1, false),
    /** Unsigned 8-bit integer. */
    U8("U8", 1, false),
    /** Boolean, one byte, 0 = false. */
    BOOL("BOOL", 1, false);

    private final String safetensorsName;
    private final int byteSize;
    private final boolean floatingPoint;

    DType(String safetensorsName, int byteSize, boolean floatingPoint) {
        this.safetensorsName = safetensorsName;
        this.byteSize = byteSize;
        this.floatingPoint = floatingPoint;
    }

    /** The name used in safetensors headers, e.g. {@code "BF16"}. */
    public String safetensorsName() {
        return safetensorsName;
    }

    /** Bytes per element. */
    public int byteSize() {
        return byteSize;
    }

    /** Whether this is a floating-point type (F16, BF16, F32, F64), the only kinds LoRA weights may have. */
    public boolean isFloatingPoint() {
        return floatingPoint;
    }

    /**
     * The type with the given safetensors name.
     *
     * @throws IllegalArgumentException naming the value and the supported names when it is not one of them
     */
    public static DType fromSafetensorsName(String name) {
        for (DType type : values()) {
            if (type.safetensorsName.equals(name)) {
                return type;
            }
        }
        throw new IllegalArgumentException("unsupported dtype '" + name + "', expected one of "
                + Arrays.stream(values()).map(DType::safetensorsName).collect(Collectors.joining(", ")));
    }
}
