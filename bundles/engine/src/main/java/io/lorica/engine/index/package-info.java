/**
 * The mapping from Diffusers module paths to the ONNX nodes and weight initializers that implement them, resolved
 * through the graph for both the legacy TorchScript exporter's naming and the dynamo exporter's naming.
 */
package io.lorica.engine.index;
