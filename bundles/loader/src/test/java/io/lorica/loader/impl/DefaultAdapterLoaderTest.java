package io.lorica.loader.impl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import io.lorica.api.Component;
import io.lorica.api.DType;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.format.AdapterFormat;
import io.lorica.api.format.AdapterFormatException;
import io.lorica.api.format.ConversionContext;
import io.lorica.api.format.Recognition;
import io.lorica.api.format.TensorSource;
import io.lorica.api.registry.AdapterReference;
import io.lorica.loader.safetensors.DTypes;
import io.lorica.loader.safetensors.SafetensorsWriter;
import io.lorica.models.ReferenceModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The loader with the real built-in formats, real files and the real SD 1.5 / SDXL module lists. */
class DefaultAdapterLoaderTest {

    private static final String TO_Q = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q";

    @TempDir
    Path dir;

    private Path kohyaSd15(String name, float alpha) throws IOException {
        String stem = "lora_unet_" + TO_Q.replace('.', '_');
        Path file = dir.resolve(name);
        new SafetensorsWriter()
                .add(stem + ".lora_down.weight", DTypes.tensor(DType.F16, new long[] {4, 320}, new float[4 * 320]))
                .add(stem + ".lora_up.weight", DTypes.tensor(DType.F16, new long[] {320, 4}, new float[320 * 4]))
                .add(stem + ".alpha", DTypes.tensor(DType.F32, new long[0], alpha))
                .write(file);
        return file;
    }

    private static DefaultAdapterLoader loader(FormatRegistry registry) {
        return new DefaultAdapterLoader(registry, reference -> ((AdapterReference.FileReference) reference).path(), ReferenceModels::catalog);
    }

    private static FormatRegistry builtIns() {
        FormatRegistry registry = new FormatRegistry();
        BuiltInFormats.register(registry);
        return registry;
    }

    @Test
    void load_kohyaFile_convertsWithTheKohyaFormatAgainstTheRealModuleList() throws IOException {
        Path file = kohyaSd15("a.safetensors", 2f);
        LoraAdapter adapter = loader(builtIns()).load(new AdapterReference.FileReference(file), ModelFamily.SD15);
        assertEquals("kohya", adapter.format());
        assertEquals(0.5f, adapter.modules(Component.UNET).get(TO_Q).scale(), 1e-6f);
        assertEquals(List.of("diffusers", "kohya", "lycoris"), loader(builtIns()).formats());
    }

    @Test
    void load_whenNoFormatRecognisesTheFile_listsEveryVerdict() throws IOException {
        Path file = dir.resolve("x.safetensors");
        new SafetensorsWriter().add("emb_params", DTypes.tensor(DType.F32, new long[] {2}, 1f, 2f)).write(file);
        AdapterFormatException e = assertThrows(AdapterFormatException.class,
                () -> loader(builtIns()).load(new AdapterReference.FileReference(file), ModelFamily.SD15));
        assertTrue(e.getMessage().contains("no adapter format recognises this file"), e.getMessage());
        assertTrue(e.getMessage().contains("kohya:") && e.getMessage().contains("diffusers:"), e.getMessage());
    }

    @Test
    void load_withoutAnyFormat_saysNoneIsRegistered() throws IOException {
        Path file = kohyaSd15("a.safetensors", 1f);
        AdapterFormatException e = assertThrows(AdapterFormatException.class,
                () -> loader(new FormatRegistry()).load(new AdapterReference.FileReference(file), ModelFamily.SD15));
        assertTrue(e.getMessage().contains("no format is registered"), e.getMessage());
    }

    @Test
    void load_truncatedFile_isRejectedNamingTheFile() throws IOException {
        Path file = kohyaSd15("a.safetensors", 1f);
        Path truncated = dir.resolve("t.safetensors");
        java.nio.file.Files.write(truncated, java.util.Arrays.copyOf(java.nio.file.Files.readAllBytes(file), 100));
        AdapterFormatException e = assertThrows(AdapterFormatException.class,
                () -> loader(builtIns()).load(new AdapterReference.FileReference(truncated), ModelFamily.SD15));
        assertTrue(e.getMessage().contains("t.safetensors"), e.getMessage());
    }

    @Test
    void load_aBrokenThirdPartyFormat_isSkippedAndTheOthersStillWork() throws IOException {
        FormatRegistry registry = builtIns();
        registry.add(new Throwing("broken", true, false), 100, 7);
        Path file = kohyaSd15("a.safetensors", 1f);
        LoraAdapter adapter = loader(registry).load(new AdapterReference.FileReference(file), ModelFamily.SD15);
        assertEquals("kohya", adapter.format());
        assertEquals("format failed: java.lang.IllegalStateException: broken recognise",
                loader(registry).recognise(new AdapterReference.FileReference(file)).get("broken").reason());
    }

    @Test
    void load_whenTheChosenFormatFailsToConvert_wrapsTheFailureNamingTheFormat() throws IOException {
        FormatRegistry registry = builtIns();
        registry.add(new Throwing("greedy", false, true), 100, 7);
        Path file = kohyaSd15("a.safetensors", 1f);
        AdapterFormatException e = assertThrows(AdapterFormatException.class,
                () -> loader(registry).load(new AdapterReference.FileReference(file), ModelFamily.SD15));
        assertTrue(e.getMessage().contains("format greedy failed to convert it"), e.getMessage());
    }

    @Test
    void load_tieInConfidence_goesToTheHigherRankedFormat() throws IOException {
        FormatRegistry registry = builtIns();
        AdapterFormat kohya = registry.snapshot().get(1).format();
        registry.add(new Delegating("kohya-plus", kohya), 10, 7);
        Path file = kohyaSd15("a.safetensors", 1f);
        assertEquals("kohya", loader(registry).load(new AdapterReference.FileReference(file), ModelFamily.SD15).format());
        assertEquals("kohya-plus", loader(registry).formats().get(0));
        Map<String, Recognition> verdicts = loader(registry).recognise(new AdapterReference.FileReference(file));
        assertEquals(verdicts.get("kohya").confidence(), verdicts.get("kohya-plus").confidence());
    }

    /** A format that throws where told to. */
    private record Throwing(String name, boolean inRecognise, boolean inConvert) implements AdapterFormat {
        @Override
        public Recognition recognise(TensorSource source) {
            if (inRecognise) {
                throw new IllegalStateException(name + " recognise");
            }
            return Recognition.yes(1.0, "always");
        }

        @Override
        public LoraAdapter convert(TensorSource source, ConversionContext context) {
            throw new IllegalStateException(name + " convert");
        }
    }

    /** Recognises like another format (same confidence) and converts with it. */
    private record Delegating(String name, AdapterFormat delegate) implements AdapterFormat {
        @Override
        public Recognition recognise(TensorSource source) {
            return delegate.recognise(source);
        }

        @Override
        public LoraAdapter convert(TensorSource source, ConversionContext context) {
            return delegate.convert(source, context);
        }
    }
}
