package io.lorica.api.format;

import io.lorica.api.ModelFamily;

/**
 * What a format needs to know about the model it converts for.
 *
 * @param family  the target model family (e.g. selects SDXL's LDM block renaming)
 * @param catalog the target model's real LoRA-able modules, to resolve ambiguous names such as kohya's
 *                underscore-flattened paths and to read layer geometry; its family must be {@code family}
 */
public record ConversionContext(ModelFamily family, ModuleCatalog catalog) {

    /** @throws IllegalArgumentException when a field is null or the catalog is for another family */
    public ConversionContext {
        if (family == null || catalog == null) {
            throw new IllegalArgumentException("family and catalog must not be null");
        }
        if (catalog.family() != family) {
            throw new IllegalArgumentException("catalog is for " + catalog.family() + " but the target family is "
                    + family);
        }
    }
}
