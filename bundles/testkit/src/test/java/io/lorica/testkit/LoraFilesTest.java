package io.lorica.testkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.Component;
import io.lorica.api.DType;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LayerKind;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.adapter.LoraModule;
import io.lorica.api.format.AdapterFormat;
import io.lorica.api.format.ConversionContext;
import io.lorica.api.format.ModuleCatalog;
import io.lorica.loader.format.DiffusersFormat;
import io.lorica.loader.format.KohyaFormat;
import io.lorica.loader.safetensors.SafetensorsFile;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** LoRA files: valid safetensors with the expected keys and shapes, loaded by Lorica's own loader. */
class LoraFilesTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** A parsed safetensors header: entries in file order and metadata. */
    record Header(Map<String, JsonNode> entries, Map<String, String> metadata, long dataSize) {
    }

    static Header header(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        long length = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, (8 + length) % 8, "header padded to 8 bytes");
        JsonNode root = JSON.readTree(new String(bytes, 8, (int) length, StandardCharsets.UTF_8));
        Map<String, JsonNode> entries = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        long offset = 0;
        for (Map.Entry<String, JsonNode> field : root.properties()) {
            if (field.getKey().equals("__metadata__")) {
                field.getValue().properties().forEach(e -> metadata.put(e.getKey(), e.getValue().asText()));
                continue;
            }
            JsonNode offsets = field.getValue().get("data_offsets");
            assertEquals(offset, offsets.get(0).asLong(), "contiguous data: " + field.getKey());
            offset = offsets.get(1).asLong();
            entries.put(field.getKey(), field.getValue());
        }
        assertEquals(bytes.length, 8 + length + offset, "data fills the file");
        return new Header(entries, metadata, offset);
    }

    private static long[] shape(JsonNode entry) {
        long[] shape = new long[entry.get("shape").size()];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = entry.get("shape").get(i).asLong();
        }
        return shape;
    }

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void diffusersFilesLoad(ModelFamily family) throws IOException {
        ModuleCatalog catalog = PipelineSpec.tiny(family).catalog();
        Path file = TinyPipelines.folder("lora").resolve(family.id() + "-diffusers.safetensors");
        LoraFile written = LoraFiles.write(catalog, file, LoraSpec.defaults().withRank(4, 8f));
        Header header = header(file);
        assertEquals(written.tensors(), header.entries().size());
        assertEquals(Files.size(file), written.bytes());

        int expectedModules = 0;
        for (Component component : family.components()) {
            for (Map.Entry<String, LayerGeometry> entry : catalog.modules(component).entrySet()) {
                if (!LoraTargets.attention().test(component, entry.getKey())) {
                    continue;
                }
                expectedModules++;
                String key = component.id() + "." + entry.getKey();
                JsonNode a = header.entries().get(key + ".lora_A.weight");
                JsonNode b = header.entries().get(key + ".lora_B.weight");
                assertTrue(a != null && b != null, "A and B of " + key);
                assertEquals("F32", a.get("dtype").asText());
                assertArrayEquals(entry.getValue().aShape(4), shape(a), key);
                assertArrayEquals(entry.getValue().bShape(4), shape(b), key);
            }
        }
        assertEquals(expectedModules, written.moduleCount());
        assertEquals(2 * expectedModules, header.entries().size());
        assertEquals("pt", header.metadata().get("format"));
        JsonNode config = JSON.readTree(header.metadata().get("lora_adapter_metadata"));
        assertEquals(4, config.get("unet.r").asInt());
        assertEquals(8.0, config.get("unet.lora_alpha").asDouble());
        assertEquals(8.0, config.get("text_encoder.lora_alpha").asDouble());
        assertTrue(config.get("unet.target_modules").isArray());

        LoraAdapter adapter = load(new DiffusersFormat(), file, catalog);
        assertEquals(expectedModules, adapter.moduleCount());
        for (Component component : family.components()) {
            for (LoraModule module : adapter.modules(component).values()) {
                assertEquals(4, module.rank());
                assertEquals(8f, module.alpha());
                assertEquals(catalog.modules(component).get(module.modulePath()), module.geometry());
            }
        }
        assertEquals(new java.util.HashSet<>(written.modules().get(Component.UNET)),
                adapter.modules(Component.UNET).keySet(), "the same UNet modules");
    }

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void kohyaFilesLoadEveryLinearAndConv(ModelFamily family) throws IOException {
        ModuleCatalog catalog = PipelineSpec.tiny(family).catalog();
        Path file = TinyPipelines.folder("lora").resolve(family.id() + "-kohya.safetensors");
        LoraFile written = LoraFiles.write(catalog, file, LoraSpec.defaults().withFormat(LoraFormat.KOHYA)
                .withRank(2, 1f).withDtype(DType.F16).withTargets(LoraTargets.all()));
        Header header = header(file);
        int modules = family.components().stream().mapToInt(c -> catalog.modules(c).size()).sum();
        assertEquals(modules, written.moduleCount());
        assertEquals(3 * modules, header.entries().size());
        String te = family == ModelFamily.SDXL ? "lora_te1_" : "lora_te_";
        JsonNode alpha = header.entries().get(te + "text_model_encoder_layers_0_self_attn_q_proj.alpha");
        assertEquals("F16", alpha.get("dtype").asText());
        assertEquals(0, alpha.get("shape").size(), "alpha is a scalar");
        JsonNode down = header.entries().get("lora_unet_conv_in.lora_down.weight");
        assertArrayEquals(new long[] {2, 4, 3, 3}, shape(down));
        JsonNode up = header.entries().get("lora_unet_conv_in.lora_up.weight");
        assertArrayEquals(new long[] {catalog.modules(Component.UNET).get("conv_in").outFeatures(), 2, 1, 1}, shape(up));
        if (family == ModelFamily.SDXL) {
            assertTrue(header.entries().containsKey("lora_te2_text_projection.lora_down.weight"));
        }
        assertEquals("2", header.metadata().get("ss_network_dim"));
        assertEquals("networks.lora", header.metadata().get("ss_network_module"));

        LoraAdapter adapter = load(new KohyaFormat(), file, catalog);
        assertEquals(modules, adapter.moduleCount());
        LoraModule conv = adapter.module(Component.UNET, "down_blocks.0.downsamplers.0.conv").orElseThrow();
        assertEquals(LayerKind.CONV, conv.geometry().kind());
        assertEquals(2, conv.geometry().stride());
        assertEquals(1f, conv.alpha());
        assertEquals(2, conv.rank());
    }

    @Test
    void deltasAreVisibleButFinite() throws IOException {
        ModuleCatalog catalog = PipelineSpec.tiny(ModelFamily.SD15).catalog();
        Path file = TinyPipelines.folder("lora").resolve("magnitude.safetensors");
        LoraFiles.write(catalog, file, LoraSpec.defaults());
        LoraAdapter adapter = load(new DiffusersFormat(), file, catalog);
        for (LoraModule module : adapter.modules(Component.UNET).values()) {
            LayerGeometry g = module.geometry();
            float[] a = module.a().toFloatArray();
            float[] b = module.b().toFloatArray();
            int rank = module.rank();
            int in = g.inFeatures();
            double sum = 0;
            for (int o = 0; o < g.outFeatures(); o++) {
                for (int i = 0; i < in; i++) {
                    double d = 0;
                    for (int r = 0; r < rank; r++) {
                        d += b[o * rank + r] * a[r * in + i];
                    }
                    d *= module.scale();
                    sum += d * d;
                }
            }
            double deltaStd = Math.sqrt(sum / ((double) g.outFeatures() * in));
            double weightStd = 1 / Math.sqrt(3.0 * in);
            double ratio = deltaStd / weightStd;
            assertTrue(ratio > 0.1 && ratio < 1.5, module.modulePath() + ": delta/weight " + ratio);
        }
    }

    @Test
    void sameSpecSameBytesAndCommandLinePipelines() throws IOException {
        WrittenPipeline pipeline = TinyPipelines.of(ModelFamily.SDXL);
        Path first = TinyPipelines.folder("lora").resolve("same-1.safetensors");
        Path second = TinyPipelines.folder("lora").resolve("same-2.safetensors");
        LoraSpec spec = LoraSpec.defaults().withSeed(5);
        LoraFiles.write(pipeline, first, spec);
        LoraFiles.write(pipeline.directory(), second, spec);
        assertArrayEquals(Files.readAllBytes(first), Files.readAllBytes(second));
        Path other = TinyPipelines.folder("lora").resolve("same-3.safetensors");
        LoraFiles.write(pipeline, other, spec.withSeed(6));
        assertEquals(Files.size(first), Files.size(other));
        assertTrue(!java.util.Arrays.equals(Files.readAllBytes(first), Files.readAllBytes(other)));

        LoraFile unetOnly = LoraFiles.write(pipeline, other,
                spec.withTargets(LoraTargets.onlyIn(Component.UNET, LoraTargets.attention())));
        assertEquals(List.of(Component.UNET), new ArrayList<>(unetOnly.modules().keySet()));
        IllegalArgumentException none = assertThrows(IllegalArgumentException.class,
                () -> LoraFiles.write(pipeline, other, spec.withTargets((c, p) -> false)));
        assertTrue(none.getMessage().contains("select none"), none.getMessage());
        assertThrows(IllegalArgumentException.class, () -> LoraSpec.defaults().withRank(0, 1f));
        assertThrows(IllegalArgumentException.class, () -> LoraSpec.defaults().withDtype(DType.BF16));
    }

    @Test
    void unetOnlyFolders() throws IOException {
        Path folder = TinyPipelines.folder("unet-only");
        PipelineWriter.writeUnet(folder, UnetSpec.tiny(ModelFamily.SDXL), ExportOptions.defaults(), 1);
        Path file = folder.resolve("unet-lora.safetensors");
        LoraFile written = LoraFiles.write(folder, file, LoraSpec.defaults());
        assertEquals(List.of(Component.UNET), new ArrayList<>(written.modules().keySet()));
        ModuleCatalog catalog = PipelineSpec.tiny(ModelFamily.SDXL).catalog();
        assertEquals(written.moduleCount(), load(new DiffusersFormat(), file, catalog).moduleCount());
    }

    static LoraAdapter load(AdapterFormat format, Path file, ModuleCatalog catalog) throws IOException {
        try (SafetensorsFile source = SafetensorsFile.open(file)) {
            assertEquals(1.0, format.recognise(source).confidence(), format.name() + " recognises the file");
            return format.convert(source, new ConversionContext(catalog.family(), catalog));
        }
    }
}
