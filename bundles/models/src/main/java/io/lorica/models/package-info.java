/**
 * The reference module structure of Stable Diffusion 1.5 and SDXL in Diffusers names: every Linear and Conv2d a LoRA
 * can target in the UNet and the text encoders, with its geometry, and the original (LDM / "sgm") UNet layout names
 * that kohya-style files use. Loaders resolve file keys against it; the scale policy expands block weights over it.
 */
@Export
@Version("1.0.0")
package io.lorica.models;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
