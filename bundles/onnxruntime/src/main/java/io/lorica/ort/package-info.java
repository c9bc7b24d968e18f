/**
 * The ONNX Runtime service of Lorica: one long-lived {@link ai.onnxruntime.OrtEnvironment}, the execution providers
 * that are usable on this machine and the one chosen (CUDA when it initialises, CPU otherwise), and session options
 * configured accordingly.
 *
 * <p>This package deliberately depends on nothing but ONNX Runtime itself: the bundle that carries it also carries the
 * ONNX Runtime natives and is never refreshed (a second class loader would map a second copy of the natives).
 */
@Export
@Version("1.0.0")
package io.lorica.ort;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
