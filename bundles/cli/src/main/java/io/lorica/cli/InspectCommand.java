package io.lorica.cli;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.lorica.api.Component;
import io.lorica.api.DType;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LoadReport;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.adapter.LoraModule;
import io.lorica.api.format.AdapterFormatException;
import io.lorica.loader.impl.BuiltInFormats;
import io.lorica.loader.impl.DefaultAdapterLoader;
import io.lorica.loader.impl.FormatRegistry;
import io.lorica.loader.safetensors.SafetensorsFile;
import io.lorica.models.ReferenceModels;

/** {@code lorica lora inspect}: reads one LoRA file with the built-in formats and reports what it holds. */
final class InspectCommand {

    private static final int LISTED_KEYS = 20;

    private final PrintStream out;
    private final PrintStream err;

    InspectCommand(PrintStream out, PrintStream err) {
        this.out = out;
        this.err = err;
    }

    int run(Path file, Optional<String> familyName, boolean json) {
        FormatRegistry registry = new FormatRegistry();
        BuiltInFormats.register(registry);
        DefaultAdapterLoader loader = new DefaultAdapterLoader(registry, reference -> file, ReferenceModels::catalog);
        try (SafetensorsFile source = SafetensorsFile.open(file)) {
            List<ModelFamily> families = new ArrayList<>();
            if (familyName.isPresent()) {
                families.add(ModelFamily.fromId(familyName.get()));
            } else {
                families.add(ModelFamily.SDXL);
                families.add(ModelFamily.SD15);
            }
            LoraAdapter adapter = null;
            List<String> failures = new ArrayList<>();
            for (ModelFamily family : families) {
                try {
                    LoraAdapter candidate = loader.load(source, family);
                    if (adapter == null || dropped(candidate) < dropped(adapter)) {
                        adapter = candidate;
                    }
                } catch (AdapterFormatException e) {
                    failures.add(family.id() + ": " + e.getMessage());
                }
            }
            if (adapter == null) {
                err.println("lorica: " + file + " was rejected");
                failures.forEach(f -> err.println("  " + f));
                return LoricaCli.REJECTED;
            }
            Map<String, Object> report = report(file, source, loader, adapter);
            if (json) {
                out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(report));
            } else {
                printText(report, adapter);
            }
            return LoricaCli.OK;
        } catch (AdapterFormatException | IllegalArgumentException e) {
            err.println("lorica: " + e.getMessage());
            return LoricaCli.REJECTED;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException("cannot write the JSON report", e);
        } catch (java.io.IOException e) {
            err.println("lorica: cannot read " + file + ": " + e.getMessage());
            return LoricaCli.REJECTED;
        }
    }

    private static long dropped(LoraAdapter adapter) {
        return adapter.report().keys().stream().filter(k -> k.outcome() == LoadReport.KeyOutcome.DROPPED).count();
    }

    private static Map<String, Object> report(Path file, SafetensorsFile source, DefaultAdapterLoader loader, LoraAdapter adapter) {
        Map<String, Object> report = new LinkedHashMap<>();
        report.put("file", file.toString());
        try {
            report.put("bytes", Files.size(file));
        } catch (java.io.IOException e) {
            report.put("bytes", null);
        }
        report.put("tensors", source.keys().size());
        TreeMap<String, Integer> dtypes = new TreeMap<>();
        for (String key : source.keys()) {
            DType dtype = source.info(key).dtype();
            dtypes.merge(dtype.name(), 1, Integer::sum);
        }
        report.put("dtypes", dtypes);
        report.put("format", adapter.format());
        Map<String, Object> recognition = new LinkedHashMap<>();
        for (var entry : loader.recognise(source).entrySet()) {
            recognition.put(entry.getKey(), Map.of("recognised", entry.getValue().recognised(),
                    "confidence", entry.getValue().confidence(), "reason", entry.getValue().reason()));
        }
        report.put("recognition", recognition);
        report.put("family", adapter.family().id());
        Map<String, Object> components = new LinkedHashMap<>();
        for (Component component : adapter.components()) {
            Map<String, LoraModule> modules = adapter.modules(component);
            TreeMap<Integer, Integer> ranks = new TreeMap<>();
            TreeMap<Float, Integer> alphas = new TreeMap<>();
            TreeMap<String, Integer> kinds = new TreeMap<>();
            int dora = 0;
            int full = 0;
            for (LoraModule module : modules.values()) {
                ranks.merge(module.rank(), 1, Integer::sum);
                alphas.merge(module.alpha(), 1, Integer::sum);
                kinds.merge(module.geometry().kind().name().toLowerCase(java.util.Locale.ROOT), 1, Integer::sum);
                dora += module.magnitude().isPresent() ? 1 : 0;
                full += module.delta().isPresent() ? 1 : 0;
            }
            Map<String, Object> summary = new LinkedHashMap<>();
            summary.put("modules", modules.size());
            summary.put("kinds", kinds);
            summary.put("ranks", ranks);
            summary.put("alphas", alphas);
            summary.put("dora", dora);
            summary.put("fullDelta", full);
            components.put(component.id(), summary);
        }
        report.put("components", components);
        report.put("metadata", new TreeMap<>(adapter.metadata()));
        Map<String, Long> outcomes = new TreeMap<>();
        List<Map<String, String>> keys = new ArrayList<>();
        for (LoadReport.KeyReport key : adapter.report().keys()) {
            outcomes.merge(key.outcome().name().toLowerCase(java.util.Locale.ROOT), 1L, Long::sum);
            Map<String, String> entry = new LinkedHashMap<>();
            entry.put("key", key.key());
            entry.put("outcome", key.outcome().name());
            entry.put("target", key.target());
            entry.put("reason", key.reason());
            keys.add(entry);
        }
        report.put("outcomes", outcomes);
        report.put("warnings", adapter.report().warnings());
        report.put("keys", keys);
        return report;
    }

    @SuppressWarnings("unchecked")
    private void printText(Map<String, Object> report, LoraAdapter adapter) {
        out.printf("file:       %s (%s bytes, %s tensors, dtypes %s)%n", report.get("file"), report.get("bytes"),
                report.get("tensors"), report.get("dtypes"));
        out.printf("format:     %s%n", report.get("format"));
        ((Map<String, Map<String, Object>>) report.get("recognition")).forEach((name, verdict) ->
                out.printf("            %-10s %s %.2f  %s%n", name, Boolean.TRUE.equals(verdict.get("recognised")) ? "yes" : "no ",
                        ((Number) verdict.get("confidence")).doubleValue(), verdict.get("reason")));
        out.printf("family:     %s%n", report.get("family"));
        out.println("components:");
        ((Map<String, Map<String, Object>>) report.get("components")).forEach((component, summary) ->
                out.printf("  %-15s %4s modules  kinds %s  ranks %s  alphas %s  dora %s  full-delta %s%n", component,
                        summary.get("modules"), summary.get("kinds"), summary.get("ranks"), summary.get("alphas"),
                        summary.get("dora"), summary.get("fullDelta")));
        Map<String, String> metadata = (Map<String, String>) report.get("metadata");
        out.println("metadata:" + (metadata.isEmpty() ? "   (none)" : ""));
        metadata.forEach((key, value) -> out.printf("  %s = %s%n", key, value.length() > 200 ? value.substring(0, 200) + "..." : value));
        out.printf("keys:       %s%n", report.get("outcomes"));
        int listed = 0;
        for (LoadReport.KeyReport key : adapter.report().keys()) {
            if (key.outcome() == LoadReport.KeyOutcome.DROPPED && listed < LISTED_KEYS) {
                out.printf("  %-9s %s -> %s %s%n", key.outcome().name().toLowerCase(java.util.Locale.ROOT), key.key(),
                        key.target(), key.reason().isEmpty() ? "" : "(" + key.reason() + ")");
                listed++;
            }
        }
        long dropped = dropped(adapter);
        if (dropped > listed) {
            out.printf("  ... %d more dropped (use --json for every key)%n", dropped - listed);
        }
        for (String warning : adapter.report().warnings()) {
            out.println("warning:    " + warning);
        }
    }
}
