package io.lorica.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lorica.api.DType;
import io.lorica.loader.safetensors.DTypes;
import io.lorica.loader.safetensors.SafetensorsWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LoricaCliTest {

    private static final String TO_Q = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q";

    @TempDir
    Path dir;

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    private int run(String... args) {
        return LoricaCli.run(args, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    private String out() {
        return out.toString(StandardCharsets.UTF_8);
    }

    private String err() {
        return err.toString(StandardCharsets.UTF_8);
    }

    /** A kohya file with one SD 1.5 UNet module, or one with SDXL-only modules (deep transformer block, text encoder 2). */
    private Path kohya(boolean sdxl) throws IOException {
        Path file = dir.resolve("toy.safetensors");
        SafetensorsWriter writer = new SafetensorsWriter().metadata("ss_network_dim", "4");
        if (sdxl) {
            String stem = "lora_unet_down_blocks_2_attentions_0_transformer_blocks_5_attn1_to_q";
            writer.add(stem + ".lora_down.weight", DTypes.tensor(DType.F16, new long[] {4, 1280}, new float[4 * 1280]))
                    .add(stem + ".lora_up.weight", DTypes.tensor(DType.F16, new long[] {1280, 4}, new float[1280 * 4]))
                    .add("lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", DTypes.tensor(DType.F16, new long[] {4, 1280}, new float[4 * 1280]))
                    .add("lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_up.weight", DTypes.tensor(DType.F16, new long[] {5120, 4}, new float[5120 * 4]));
        } else {
            String stem = "lora_unet_" + TO_Q.replace('.', '_');
            writer.add(stem + ".lora_down.weight", DTypes.tensor(DType.F16, new long[] {4, 320}, new float[4 * 320]))
                    .add(stem + ".lora_up.weight", DTypes.tensor(DType.F16, new long[] {320, 4}, new float[320 * 4]))
                    .add(stem + ".alpha", DTypes.tensor(DType.F16, new long[0], 2f));
        }
        writer.write(file);
        return file;
    }

    @Test
    void inspect_kohyaFile_printsFormatFamilyModulesAndExitsZero() throws IOException {
        Path file = kohya(false);
        assertEquals(0, run("lora", "inspect", file.toString(), "--family", "sd15"), err());
        String text = out();
        assertTrue(text.contains("format:     kohya"), text);
        assertTrue(text.contains("family:     sd15"), text);
        assertTrue(text.contains("unet               1 modules"), text);
        assertTrue(text.contains("ranks {4=1}") && text.contains("alphas {2.0=1}"), text);
        assertTrue(text.contains("ss_network_dim = 4"), text);
    }

    @Test
    void inspect_json_isMachineReadableWithTheWholeKeyReport() throws IOException {
        Path file = kohya(false);
        assertEquals(0, run("lora", "inspect", "--json", file.toString(), "--family", "sd15"), err());
        JsonNode json = new ObjectMapper().readTree(out());
        assertEquals("kohya", json.get("format").asText());
        assertEquals(3, json.get("tensors").asInt());
        assertEquals(1, json.get("components").get("unet").get("ranks").get("4").asInt());
        assertEquals(3, json.get("keys").size());
        assertTrue(json.get("recognition").get("kohya").get("recognised").asBoolean());
    }

    @Test
    void inspect_withoutFamily_picksTheFamilyTheFileFits() throws IOException {
        assertEquals(0, run("lora", "inspect", kohya(true).toString(), "--json"), err());
        assertEquals("sdxl", new ObjectMapper().readTree(out()).get("family").asText(), out());
    }

    @Test
    void inspect_sdxlFileForSd15_exitsTwoSayingWhichFamilyItLooksLike() throws IOException {
        assertEquals(2, run("lora", "inspect", kohya(true).toString(), "--family", "sd15"));
        assertTrue(err().contains("SDXL"), err());
    }

    @Test
    void inspect_truncatedFile_exitsTwoWithTheReasonOnStderr() throws IOException {
        Path file = kohya(false);
        Path truncated = dir.resolve("cut.safetensors");
        Files.write(truncated, java.util.Arrays.copyOf(Files.readAllBytes(file), 64));
        assertEquals(2, run("lora", "inspect", truncated.toString()));
        assertTrue(err().contains("cut.safetensors"), err());
        assertEquals("", out());
    }

    @Test
    void inspect_missingFile_exitsTwo() {
        assertEquals(2, run("lora", "inspect", dir.resolve("nope.safetensors").toString()));
        assertTrue(err().contains("is not a readable file"), err());
    }

    @Test
    void usageErrors_exitSixtyFour() {
        assertEquals(64, run());
        assertEquals(64, run("lora", "inspect"));
        assertEquals(64, run("lora", "inspect", "a", "b"));
        assertEquals(64, run("lora", "inspect", "a", "--bogus"));
        assertEquals(64, run("lora", "inspect", "a", "--family"));
        // generate reports wrong usage as rejected input: exit 2 with a one-line error (see GenerateCommand.USAGE)
        assertEquals(2, run("generate"));
        assertEquals(0, run("--help"));
    }

    @Test
    void inspect_unknownFamily_isRejectedNamingIt() throws IOException {
        assertEquals(2, run("lora", "inspect", kohya(false).toString(), "--family", "sd3"));
        assertTrue(err().contains("sd3"), err());
    }

    @Test
    void inspect_diffusersPeftFile_withDoraAndMetadata() throws IOException {
        Path file = dir.resolve("peft.safetensors");
        new SafetensorsWriter()
                .add("unet." + TO_Q + ".lora_A.weight", DTypes.tensor(DType.F32, new long[] {2, 320}, new float[2 * 320]))
                .add("unet." + TO_Q + ".lora_B.weight", DTypes.tensor(DType.F32, new long[] {320, 2}, new float[320 * 2]))
                .add("unet." + TO_Q + ".lora_magnitude_vector", DTypes.tensor(DType.F32, new long[] {320}, new float[320]))
                .metadata("lora_adapter_metadata", "{\"unet.r\": 2, \"unet.lora_alpha\": 8, \"unet.use_dora\": true}")
                .write(file);
        assertEquals(0, run("lora", "inspect", file.toString(), "--family", "sd15", "--json"), err());
        JsonNode json = new ObjectMapper().readTree(out());
        assertEquals("diffusers", json.get("format").asText());
        assertEquals(1, json.get("components").get("unet").get("dora").asInt());
        assertEquals(1, json.get("components").get("unet").get("alphas").get("8.0").asInt());
    }

    @Test
    void inspect_lycorisLohaFile_becomesAFullDelta() throws IOException {
        String stem = "lora_unet_" + TO_Q.replace('.', '_');
        Path file = dir.resolve("loha.safetensors");
        new SafetensorsWriter()
                .add(stem + ".hada_w1_a", DTypes.tensor(DType.F16, new long[] {320, 2}, new float[320 * 2]))
                .add(stem + ".hada_w1_b", DTypes.tensor(DType.F16, new long[] {2, 320}, new float[2 * 320]))
                .add(stem + ".hada_w2_a", DTypes.tensor(DType.F16, new long[] {320, 2}, new float[320 * 2]))
                .add(stem + ".hada_w2_b", DTypes.tensor(DType.F16, new long[] {2, 320}, new float[2 * 320]))
                .add(stem + ".alpha", DTypes.tensor(DType.F16, new long[0], 1f))
                .write(file);
        assertEquals(0, run("lora", "inspect", file.toString(), "--family", "sd15", "--json"), err());
        JsonNode json = new ObjectMapper().readTree(out());
        assertEquals("lycoris", json.get("format").asText());
        assertEquals(1, json.get("components").get("unet").get("fullDelta").asInt());
    }
}
