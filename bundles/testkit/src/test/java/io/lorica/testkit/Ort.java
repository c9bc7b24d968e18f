package io.lorica.testkit;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import io.lorica.testkit.internal.Half;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** A small ONNX Runtime (CPU) session wrapper for the tests: inputs from arrays, outputs as float arrays. */
final class Ort implements AutoCloseable {

    static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();

    /** An output: shape and values (fp16 converted to float). */
    record Output(long[] shape, float[] values) {
    }

    private final OrtSession session;

    Ort(Path model) throws OrtException {
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setIntraOpNumThreads(2);
            session = ENV.createSession(model.toString(), options);
        }
    }

    Map<String, NodeInfo> inputs() throws OrtException {
        return session.getInputInfo();
    }

    Map<String, NodeInfo> outputs() throws OrtException {
        return session.getOutputInfo();
    }

    static TensorInfo info(NodeInfo node) {
        return (TensorInfo) node.getInfo();
    }

    /** Runs with the given inputs (closed afterwards). */
    Map<String, Output> run(Map<String, OnnxTensor> inputs) throws OrtException {
        try (OrtSession.Result result = session.run(inputs)) {
            Map<String, Output> outputs = new LinkedHashMap<>();
            for (Map.Entry<String, OnnxValue> entry : result) {
                OnnxTensor tensor = (OnnxTensor) entry.getValue();
                FloatBuffer buffer = tensor.getFloatBuffer();
                float[] values = new float[buffer.remaining()];
                buffer.get(values);
                outputs.put(entry.getKey(), new Output(tensor.getInfo().getShape(), values));
            }
            return outputs;
        } finally {
            inputs.values().forEach(OnnxTensor::close);
        }
    }

    static OnnxTensor floats(float[] values, long... shape) throws OrtException {
        return OnnxTensor.createTensor(ENV, FloatBuffer.wrap(values), shape);
    }

    static OnnxTensor halfs(float[] values, long... shape) throws OrtException {
        ByteBuffer bytes = ByteBuffer.allocateDirect(values.length * 2).order(ByteOrder.nativeOrder());
        for (float v : values) {
            bytes.putShort(Half.fromFloat(v));
        }
        bytes.rewind();
        return OnnxTensor.createTensor(ENV, bytes, shape, OnnxJavaType.FLOAT16);
    }

    /** A float tensor of the type {@code half} selects. */
    static OnnxTensor floating(boolean half, float[] values, long... shape) throws OrtException {
        return half ? halfs(values, shape) : floats(values, shape);
    }

    static OnnxTensor ints(int[] values, long... shape) throws OrtException {
        return OnnxTensor.createTensor(ENV, IntBuffer.wrap(values), shape);
    }

    static OnnxTensor longs(long[] values, long... shape) throws OrtException {
        return OnnxTensor.createTensor(ENV, LongBuffer.wrap(values), shape);
    }

    @Override
    public void close() throws OrtException {
        session.close();
    }
}
