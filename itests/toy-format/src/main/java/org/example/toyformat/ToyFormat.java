package org.example.toyformat;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import io.lorica.api.Component;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LoadReport;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.adapter.LoraModule;
import io.lorica.api.format.AdapterFormat;
import io.lorica.api.format.AdapterFormatException;
import io.lorica.api.format.ConversionContext;
import io.lorica.api.format.Recognition;
import io.lorica.api.format.TensorSource;

/**
 * A toy adapter format as a third party would write it against Lorica's API: files whose metadata says
 * {@code format=toy} and whose keys read {@code toy/<component>/<module path>/down|up}, with a per-file alpha in the
 * metadata.
 */
@org.osgi.service.component.annotations.Component(service = AdapterFormat.class, property = "service.ranking:Integer=50")
public final class ToyFormat implements AdapterFormat {

    @Override
    public String name() {
        return "toy";
    }

    @Override
    public Recognition recognise(TensorSource source) {
        if (!"toy".equals(source.metadata().get("format"))) {
            return Recognition.no("metadata format is not 'toy'");
        }
        for (String key : source.keys()) {
            if (!key.startsWith("toy/")) {
                return Recognition.no("key " + key + " does not start with toy/");
            }
        }
        return Recognition.yes(1.0, "toy metadata and toy/ keys");
    }

    @Override
    public LoraAdapter convert(TensorSource source, ConversionContext context) {
        float alpha = Float.parseFloat(source.metadata().getOrDefault("alpha", "0"));
        Map<Component, Map<String, LoraModule>> modules = new LinkedHashMap<>();
        List<LoadReport.KeyReport> keys = new java.util.ArrayList<>();
        for (String key : source.keys()) {
            if (!key.endsWith("/down")) {
                continue;
            }
            String[] parts = key.split("/");
            Component component = Component.fromId(parts[1]);
            String path = parts[2];
            Optional<LayerGeometry> geometry = context.catalog().geometry(component, path);
            if (geometry.isEmpty()) {
                throw new AdapterFormatException(source.name(), key, "module " + path + " is not part of " + context.family());
            }
            String upKey = "toy/" + parts[1] + "/" + path + "/up";
            var a = source.tensor(key);
            var b = source.tensor(upKey);
            int rank = (int) a.shape()[0];
            modules.computeIfAbsent(component, c -> new LinkedHashMap<>()).put(path,
                    new LoraModule(component, path, geometry.get(), rank, alpha, a, b, Optional.empty(), Optional.empty(), Optional.empty()));
            keys.add(new LoadReport.KeyReport(key, LoadReport.KeyOutcome.USED, path, ""));
            keys.add(new LoadReport.KeyReport(upKey, LoadReport.KeyOutcome.USED, path, ""));
        }
        return new LoraAdapter(name(), context.family(), modules, source.metadata(), new LoadReport(keys, List.of()));
    }
}
