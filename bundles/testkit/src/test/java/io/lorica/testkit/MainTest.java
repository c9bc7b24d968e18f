package io.lorica.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.ModelFamily;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;

/** The command line writes pipelines and LoRA files and reports wrong usage with status 64. */
class MainTest {

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    private int run(String... args) {
        out.reset();
        err.reset();
        return Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    @Test
    void writesAPipelineAndLoras() throws IOException {
        Path dir = TinyPipelines.folder("main-sdxl");
        assertEquals(0, run("write", dir.toString(), "sdxl", "tiny", "--seed", "3", "--ids", "int64",
                "--timestep", "int64", "--timestep-shape", "batch", "--external-data"), err.toString());
        assertTrue(out.toString().contains("unet"), out.toString());
        assertTrue(Files.exists(dir.resolve("unet/model.onnx_data")));
        assertTrue(Files.exists(dir.resolve("tokenizer_2/vocab.json")));
        PipelineSpec spec = PipelineSpec.read(dir);
        assertEquals(PipelineSpec.tiny(ModelFamily.SDXL), spec);
        assertTrue(Files.readString(dir.resolve("model_index.json")).contains("random weights, seed 3"));

        Path lora = dir.resolve("style.safetensors");
        assertEquals(0, run("lora", dir.toString(), lora.toString(), "--format", "kohya", "--rank", "2",
                "--alpha", "1", "--fp16", "--targets", "all", "--seed", "9"), err.toString());
        assertTrue(out.toString().contains("kohya"), out.toString());
        assertTrue(LoraFilesTest.header(lora).entries().containsKey("lora_te2_text_projection.alpha"));
        assertEquals(0, run("lora", dir.toString(), dir.resolve("peft.safetensors").toString()), err.toString());
    }

    @Test
    void wrongUsage() {
        assertEquals(Main.USAGE, run());
        assertTrue(err.toString().contains("usage:"));
        assertEquals(Main.USAGE, run("paint", "x"));
        assertTrue(err.toString().contains("unknown command 'paint'"), err.toString());
        assertEquals(Main.USAGE, run("write", "x", "sd21"));
        assertTrue(err.toString().contains("unknown model family 'sd21'"), err.toString());
        assertEquals(Main.USAGE, run("write", "x", "sd15", "huge"));
        assertEquals(Main.USAGE, run("write", "x", "--seed", "many"));
        assertEquals(Main.USAGE, run("write", "x", "--rank", "4"));
        assertTrue(err.toString().contains("unknown option --rank"), err.toString());
        assertEquals(Main.USAGE, run("write", "x", "--precision", "fp8"));
        assertEquals(Main.USAGE, run("lora", "x"));
        assertEquals(Main.USAGE, run("lora", "x", "y", "--format", "lycoris"));
        assertEquals(Main.USAGE, run("write", "x", "--seed"));
        assertEquals(1, run("lora", TinyPipelines.folder("empty").toString(), "y.safetensors"));
        assertTrue(err.toString().contains("model_index.json"), err.toString());
    }
}
