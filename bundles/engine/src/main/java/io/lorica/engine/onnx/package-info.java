/**
 * Reading and writing ONNX models ({@code model.onnx} plus external data) without loading the weights into the heap:
 * initializers stored as external data are memory-mapped and exposed as zero-copy little-endian views.
 */
package io.lorica.engine.onnx;
