package io.lorica.engine.onnx;

import ai.onnxruntime.OnnxJavaType;
import io.lorica.api.DType;

import java.util.Optional;

/** Conversions between ONNX {@code TensorProto.DataType} numbers, ONNX Runtime's Java types and {@link DType}. */
public final class OnnxTypes {

    /** ONNX FLOAT. */
    public static final int FLOAT = 1;
    /** ONNX UINT8. */
    public static final int UINT8 = 2;
    /** ONNX INT8. */
    public static final int INT8 = 3;
    /** ONNX UINT16. */
    public static final int UINT16 = 4;
    /** ONNX INT16. */
    public static final int INT16 = 5;
    /** ONNX INT32. */
    public static final int INT32 = 6;
    /** ONNX INT64. */
    public static final int INT64 = 7;
    /** ONNX STRING. */
    public static final int STRING = 8;
    /** ONNX BOOL. */
    public static final int BOOL = 9;
    /** ONNX FLOAT16. */
    public static final int FLOAT16 = 10;
    /** ONNX DOUBLE. */
    public static final int DOUBLE = 11;
    /** ONNX UINT32. */
    public static final int UINT32 = 12;
    /** ONNX UINT64. */
    public static final int UINT64 = 13;
    /** ONNX BFLOAT16. */
    public static final int BFLOAT16 = 16;

    private OnnxTypes() {
    }

    /** The {@link DType} of an ONNX element type, empty for types Lorica does not handle (strings, unsigned > 8 bit). */
    public static Optional<DType> dtype(int onnxType) {
        switch (onnxType) {
            case FLOAT: return Optional.of(DType.F32);
            case UINT8: return Optional.of(DType.U8);
            case INT8: return Optional.of(DType.I8);
            case INT16: return Optional.of(DType.I16);
            case INT32: return Optional.of(DType.I32);
            case INT64: return Optional.of(DType.I64);
            case BOOL: return Optional.of(DType.BOOL);
            case FLOAT16: return Optional.of(DType.F16);
            case DOUBLE: return Optional.of(DType.F64);
            case BFLOAT16: return Optional.of(DType.BF16);
            default: return Optional.empty();
        }
    }

    /** The ONNX element type number of {@code dtype}. */
    public static int onnxType(DType dtype) {
        switch (dtype) {
            case F32: return FLOAT;
            case U8: return UINT8;
            case I8: return INT8;
            case I16: return INT16;
            case I32: return INT32;
            case I64: return INT64;
            case BOOL: return BOOL;
            case F16: return FLOAT16;
            case F64: return DOUBLE;
            case BF16: return BFLOAT16;
            default: throw new IllegalArgumentException("no ONNX type for " + dtype);
        }
    }

    /** Bytes per element of an ONNX type, or -1 when it has no fixed size (strings) or is unknown. */
    public static int byteSize(int onnxType) {
        switch (onnxType) {
            case FLOAT: case INT32: case UINT32: return 4;
            case UINT8: case INT8: case BOOL: return 1;
            case UINT16: case INT16: case FLOAT16: case BFLOAT16: return 2;
            case INT64: case DOUBLE: case UINT64: return 8;
            default: return -1;
        }
    }

    /** A readable name, e.g. {@code FLOAT16} or {@code type 8}. */
    public static String name(int onnxType) {
        try {
            return ai.onnx.proto.OnnxMl.TensorProto.DataType.forNumber(onnxType).name();
        } catch (RuntimeException e) {
            return "type " + onnxType;
        }
    }

    /** ONNX Runtime's Java type for tensors of {@code dtype}. */
    public static OnnxJavaType javaType(DType dtype) {
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
            default: throw new IllegalArgumentException("no ONNX Runtime tensor type for " + dtype);
        }
    }

    /** The {@link DType} of ONNX Runtime's Java type, empty for types Lorica does not handle (strings, unsigned). */
    public static Optional<DType> dtype(OnnxJavaType type) {
        switch (type) {
            case FLOAT: return Optional.of(DType.F32);
            case FLOAT16: return Optional.of(DType.F16);
            case BFLOAT16: return Optional.of(DType.BF16);
            case DOUBLE: return Optional.of(DType.F64);
            case INT64: return Optional.of(DType.I64);
            case INT32: return Optional.of(DType.I32);
            case INT16: return Optional.of(DType.I16);
            case INT8: return Optional.of(DType.I8);
            case UINT8: return Optional.of(DType.U8);
            case BOOL: return Optional.of(DType.BOOL);
            default: return Optional.empty();
        }
    }
}
