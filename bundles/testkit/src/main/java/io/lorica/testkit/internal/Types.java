package io.lorica.testkit.internal;

import io.lorica.testkit.ExportOptions;

/**
 * The ONNX element types a precision gives inputs/outputs, stored weights and computation.
 *
 * @param io      graph inputs and outputs (other than ids and timestep)
 * @param weights stored weights
 * @param compute activations
 */
public record Types(int io, int weights, int compute) {

    /** The types of {@code precision}. */
    public static Types of(ExportOptions.Precision precision) {
        return switch (precision) {
            case FLOAT32 -> new Types(OnnxGraph.FLOAT, OnnxGraph.FLOAT, OnnxGraph.FLOAT);
            case FLOAT16_STORAGE -> new Types(OnnxGraph.FLOAT16, OnnxGraph.FLOAT16, OnnxGraph.FLOAT);
            case FLOAT16 -> new Types(OnnxGraph.FLOAT16, OnnxGraph.FLOAT16, OnnxGraph.FLOAT16);
        };
    }

    /** A net over {@code graph} with these weight and compute types. */
    public Net net(OnnxGraph graph) {
        return new Net(graph, weights, compute);
    }

    /** Adds a graph output {@code name} of the io type, fed from {@code value} (compute type) by a Cast or Identity. */
    public void output(Net net, String value, String name, Object... dims) {
        OnnxGraph graph = net.graph();
        if (io == compute) {
            graph.node("", "Identity").in(value).outTo(name);
        } else {
            graph.node("", "Cast").in(value).attr("to", (long) io).outTo(name);
        }
        graph.output(name, io, dims);
    }
}
