package io.lorica.testkit;

/**
 * How the ONNX graphs of a written pipeline look from the outside: input and output element types, the timestep's
 * shape, the precision of weights and computation, and whether the UNet keeps its weights in external data.
 *
 * <p>{@link #defaults()} is what an fp32 export produces: {@code input_ids} INT32 (as Diffusers' ONNX exports, e.g.
 * the {@code onnx} revision of SD 1.5; current Optimum writes INT64, see {@link IdType#INT64}), {@code timestep} a FLOAT
 * scalar (current Optimum: {@code "timestep": {}}, a 0-dimensional input), FLOAT everywhere else, the UNet in one
 * {@code model.onnx}.
 *
 * @param inputIds         element type of the text encoders' {@code input_ids}
 * @param timestepType     element type of the UNet's {@code timestep}
 * @param timestepShape    shape of the UNet's {@code timestep}
 * @param precision        storage and compute precision of weights, activations, inputs and outputs
 * @param unetExternalData whether the UNet's initializers of 1 KiB or more go to {@code unet/model.onnx_data}
 */
public record ExportOptions(IdType inputIds, TimestepType timestepType, TimestepShape timestepShape,
        Precision precision, boolean unetExternalData) {

    /** Element type of {@code input_ids}. */
    public enum IdType {
        /** {@code tensor(int32)}. */
        INT32,
        /** {@code tensor(int64)}. */
        INT64
    }

    /** Element type of {@code timestep}; the graph casts it to float before the sinusoidal embedding. */
    public enum TimestepType {
        /** {@code tensor(float)}. */
        FLOAT,
        /** {@code tensor(float16)}. */
        FLOAT16,
        /** {@code tensor(int64)}, as older Optimum exports have it. */
        INT64
    }

    /** Shape of {@code timestep}; one value is broadcast to the batch, as Diffusers' {@code timesteps.expand}. */
    public enum TimestepShape {
        /** A 0-dimensional scalar {@code []}. */
        SCALAR,
        /** A fixed {@code [1]}. */
        ONE,
        /** {@code [steps]}: one value, or one per batch row. */
        BATCH
    }

    /** Where half precision is used. */
    public enum Precision {
        /** FLOAT weights, activations, inputs and outputs. */
        FLOAT32,
        /**
         * FLOAT16 weights, inputs and outputs; computation in FLOAT: every weight reaches its MatMul/Gemm/Conv through a
         * Cast node, inputs are cast up and outputs down. Runs on ONNX Runtime's CPU provider.
         */
        FLOAT16_STORAGE,
        /**
         * FLOAT16 throughout, as a GPU fp16 export (the sinusoidal time embeddings are computed in FLOAT and cast, as
         * Diffusers does). ONNX Runtime's CPU provider lacks fp16 kernels for some of the operators; use CUDA.
         */
        FLOAT16
    }

    /** @throws IllegalArgumentException when a field is null */
    public ExportOptions {
        if (inputIds == null || timestepType == null || timestepShape == null || precision == null) {
            throw new IllegalArgumentException("export options must not be null, got inputIds " + inputIds
                    + ", timestepType " + timestepType + ", timestepShape " + timestepShape + ", precision "
                    + precision);
        }
    }

    /** The fp32 export: INT32 ids, FLOAT scalar timestep, FLOAT32, no external data. */
    public static ExportOptions defaults() {
        return new ExportOptions(IdType.INT32, TimestepType.FLOAT, TimestepShape.SCALAR, Precision.FLOAT32, false);
    }

    /** An fp16 GPU export: FLOAT16 throughout (timestep too), UNet weights in external data. */
    public static ExportOptions fp16() {
        return new ExportOptions(IdType.INT32, TimestepType.FLOAT16, TimestepShape.SCALAR, Precision.FLOAT16, true);
    }

    /** A copy with {@code value} as {@link #inputIds()}. */
    public ExportOptions withInputIds(IdType value) {
        return new ExportOptions(value, timestepType, timestepShape, precision, unetExternalData);
    }

    /** A copy with {@code type} and {@code shape} as the timestep's. */
    public ExportOptions withTimestep(TimestepType type, TimestepShape shape) {
        return new ExportOptions(inputIds, type, shape, precision, unetExternalData);
    }

    /** A copy with {@code value} as {@link #precision()}. */
    public ExportOptions withPrecision(Precision value) {
        return new ExportOptions(inputIds, timestepType, timestepShape, value, unetExternalData);
    }

    /** A copy with {@code value} as {@link #unetExternalData()}. */
    public ExportOptions withUnetExternalData(boolean value) {
        return new ExportOptions(inputIds, timestepType, timestepShape, precision, value);
    }
}
