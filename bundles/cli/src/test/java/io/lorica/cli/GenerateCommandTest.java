package io.lorica.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.ModelFamily;
import io.lorica.pipelines.image.Npy;
import io.lorica.pipelines.image.NpyArray;
import io.lorica.pipelines.noise.TorchGenerator;
import io.lorica.testkit.LoraFile;
import io.lorica.testkit.LoraFiles;
import io.lorica.testkit.LoraFormat;
import io.lorica.testkit.LoraSpec;
import io.lorica.testkit.PipelineSpec;
import io.lorica.testkit.PipelineWriter;
import io.lorica.testkit.WrittenPipeline;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import javax.imageio.ImageIO;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code lorica generate} end to end, in process: Diffusers' "Load LoRAs for inference" tutorial as command lines on
 * the test kit's tiny SD 1.5 pipeline, compared through the {@code --output-npy} images, and the rejected inputs.
 * Every configuration is generated once per class (each run opens the pipeline anew).
 */
class GenerateCommandTest {

    private static final String PROMPT = "toy_face of a hacker with a hoodie, pixel art";
    /** What "changed" means: far above float noise. */
    private static final double CHANGED = 1e-3;
    /** Fused weights are rounded once, the dynamic branch is not: a little apart. */
    private static final double FUSED_TOLERANCE = 1e-4;
    private static final String BLEND = "{\"names\": [\"pixel\", \"toy\"], \"weights\": [0.5, 1.0]}";
    private static final byte[] PNG_SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

    static {
        // as LoricaCli.main does: the libraries' informational logging stays quiet
        if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
            System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        }
    }

    @TempDir
    static Path root;

    private static Path model;
    private static Path pixel;
    private static Path toy;
    /** Images by configuration name, each generated once. */
    private static final Map<String, Run> RUNS = new HashMap<>();

    /** One invocation of the command line: exit code, standard output and standard error. */
    record Run(int code, String out, String err, Path png, Path npy) {

        List<String> errLines() {
            return err.isEmpty() ? List.of() : List.of(err.split("\\R"));
        }

        String lastErrLine() {
            List<String> lines = errLines();
            return lines.isEmpty() ? "" : lines.get(lines.size() - 1);
        }

        float[] image() {
            NpyArray array = Npy.read(npy);
            assertArrayEquals(new long[] {64, 64, 3}, array.shape(), "the npy image is [H, W, 3]");
            return array.data();
        }
    }

    @BeforeAll
    static void writePipelineAndLoras() {
        WrittenPipeline written = PipelineWriter.write(root.resolve("tiny-sd15"), PipelineSpec.tiny(ModelFamily.SD15),
                42);
        model = written.directory();
        pixel = lora(written, "pixel.safetensors", LoraFormat.DIFFUSERS, 1);
        toy = lora(written, "toy.safetensors", LoraFormat.KOHYA, 2);
    }

    private static Path lora(WrittenPipeline written, String name, LoraFormat format, long seed) {
        Path file = root.resolve(name);
        LoraFile lora = LoraFiles.write(written, file, LoraSpec.defaults().withFormat(format).withSeed(seed)
                .withStrength(0.5f));
        assertTrue(lora.moduleCount() > 0, "modules written for " + name);
        return file;
    }

    static Run cli(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = LoricaCli.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8), null, null);
    }

    /** {@code lorica generate} with the tutorial's prompt, 3 euler steps, seed 0 unless latents are given. */
    static Run generate(String name, String... options) {
        Path png = root.resolve(name + ".png");
        Path npy = root.resolve(name + ".npy");
        List<String> args = new ArrayList<>(List.of("generate", "--model", model.toString(), "--prompt", PROMPT,
                "--negative-prompt", "blurry", "--steps", "3", "--scheduler", "euler", "--cpu", "--output",
                png.toString(), "--output-npy", npy.toString()));
        List<String> extra = List.of(options);
        if (!extra.contains("--latents") && !extra.contains("--seed")) {
            args.addAll(List.of("--seed", "0"));
        }
        args.addAll(extra);
        Run run = cli(args.toArray(new String[0]));
        return new Run(run.code(), run.out(), run.err(), png, npy);
    }

    /** The image of one configuration, generated on first use; the run must succeed. */
    static float[] image(String name, String... options) {
        Run run = RUNS.computeIfAbsent(name, n -> {
            Run r = generate(n, options);
            assertEquals(0, r.code(), () -> "lorica generate " + String.join(" ", options) + " failed:\n" + r.err());
            assertTrue(Files.isRegularFile(r.npy()), "the npy is written");
            return r;
        });
        return run.image();
    }

    static Run ran(String name) {
        return RUNS.get(name);
    }

    private static float[] base() {
        return image("base");
    }

    private static float[] pixel() {
        return image("pixel", "--lora", "pixel=" + pixel);
    }

    private static float[] toy() {
        return image("toy", "--lora", "toy=" + toy);
    }

    private static float[] blend() {
        return image("blend", "--lora", "pixel=" + pixel, "--lora", "toy=" + toy, "--set-adapters", BLEND);
    }

    private static double maxDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length, "image sizes");
        double max = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs(a[i] - b[i]));
        }
        return max;
    }

    /** One configuration computed by the same sessions from the same inputs: equal bit for bit. */
    private static void assertSame(float[] expected, float[] actual, String what) {
        assertArrayEquals(expected, actual, () -> what + " (max difference " + maxDiff(expected, actual) + ")");
    }

    private static void assertChanged(float[] a, float[] b, String what) {
        double diff = maxDiff(a, b);
        assertTrue(diff > CHANGED, what + ": max difference only " + diff);
    }

    // ---------------------------------------------------------------- the tutorial, step by step

    @Test
    void pixel_changesTheBaseImage() {
        assertChanged(base(), pixel(), "--lora pixel differs from the base model");
        assertTrue(ran("pixel").err().contains("lorica: active adapters [pixel]"), ran("pixel").err());
        assertTrue(ran("base").err().contains("lorica: active adapters []"), ran("base").err());
    }

    @Test
    void loraScale_point9Differs_zeroIsTheBaseModel() {
        float[] scaled = image("pixel-0.9", "--lora", "pixel=" + pixel, "--lora-scale", "0.9");
        assertChanged(pixel(), scaled, "--lora-scale 0.9 differs from 1.0");
        assertChanged(base(), scaled, "--lora-scale 0.9 differs from the base model");
        assertSame(base(), image("pixel-0", "--lora", "pixel=" + pixel, "--lora-scale", "0"),
                "--lora-scale 0 is the base model");
    }

    @Test
    void secondLoad_isTheOnlyActiveAdapter_likeDiffusers() {
        float[] both = image("pixel-then-toy", "--lora", "pixel=" + pixel, "--lora", "toy=" + toy);
        assertTrue(ran("pixel-then-toy").err().contains("lorica: active adapters [toy], all [pixel, toy]"),
                ran("pixel-then-toy").err());
        assertSame(toy(), both, "pixel then toy loaded: toy alone acts");
        assertChanged(pixel(), toy(), "toy differs from pixel");
        assertChanged(base(), toy(), "toy differs from the base model");
        assertSame(toy(), image("set-toy", "--lora", "pixel=" + pixel, "--lora", "toy=" + toy, "--set-adapters",
                "{\"names\": [\"toy\"]}"), "set_adapters(\"toy\") after loading toy changes nothing");
    }

    @Test
    void blend_differsFromEachAdapterAlone() {
        float[] blend = blend();
        assertTrue(ran("blend").err().contains("lorica: active adapters [pixel, toy]"), ran("blend").err());
        assertChanged(toy(), blend, "the blend differs from toy");
        assertChanged(pixel(), blend, "the blend differs from pixel");
    }

    @Test
    void perBlockScales_allOneIsWeightOne_otherBlocksChangeTheImage() {
        String ones = "{\"names\": [\"pixel\"], \"weights\": [{\"unet\": {\"down\": 1.0, \"mid\": 1.0, \"up\": 1.0},"
                + " \"text_encoder\": 1.0}]}";
        assertSame(pixel(), image("per-block-ones", "--lora", "pixel=" + pixel, "--lora", "toy=" + toy,
                "--set-adapters", ones), "per-block scales of 1.0 equal weight 1.0");
        String blocks = "{\"names\": [\"pixel\"], \"weights\": [{\"unet\": {\"down\": {\"block_1\": [0.0, 1.0]},"
                + " \"up\": {\"block_1\": [0.2, 0.6, 1.0]}}}]}";
        float[] perBlock = image("per-block", "--lora", "pixel=" + pixel, "--lora", "toy=" + toy, "--set-adapters",
                blocks);
        assertChanged(pixel(), perBlock, "per-block scales change the image");
        assertChanged(base(), perBlock, "per-block scales still apply pixel somewhere");
    }

    @Test
    void disableLora_isTheBaseModel() {
        float[] disabled = image("disabled", "--lora", "pixel=" + pixel, "--lora", "toy=" + toy, "--disable-lora");
        assertTrue(ran("disabled").err().contains("lora disabled"), ran("disabled").err());
        assertSame(base(), disabled, "--disable-lora with both loaded is the base model");
    }

    @Test
    void deletePixel_afterTheBlend_restoresToyAlone() {
        float[] deleted = image("deleted", "--lora", "pixel=" + pixel, "--lora", "toy=" + toy, "--set-adapters", BLEND,
                "--delete", "pixel");
        assertTrue(ran("deleted").err().contains("lorica: active adapters [toy], all [toy]"), ran("deleted").err());
        assertSame(toy(), deleted, "deleting pixel restores toy alone");
    }

    @Test
    void fuse_equalsTheDynamicBlendWithinRounding() {
        float[] fused = image("fused", "--lora", "pixel=" + pixel, "--lora", "toy=" + toy, "--set-adapters", BLEND,
                "--fuse");
        assertTrue(ran("fused").err().contains("lorica: fused [pixel, toy]"), ran("fused").err());
        double diff = maxDiff(blend(), fused);
        assertTrue(diff <= FUSED_TOLERANCE, "fused == dynamic: max difference " + diff + " > " + FUSED_TOLERANCE);
        assertChanged(toy(), fused, "the fused blend is not toy alone");
    }

    // ---------------------------------------------------------------- outputs

    @Test
    void outputs_pngWithParameters_andNpyOfTheSameImage() throws IOException {
        float[] image = base();
        Run run = ran("base");
        assertTrue(run.out().startsWith(run.png() + " 64x64 seed 0,"), run.out());
        byte[] png = Files.readAllBytes(run.png());
        assertArrayEquals(PNG_SIGNATURE, Arrays.copyOf(png, 8), "PNG signature");
        Map<String, String> text = textChunks(png);
        String parameters = text.get("parameters");
        assertNotNull(parameters, "tEXt parameters in " + text.keySet());
        assertTrue(parameters.startsWith(PROMPT + "\n"), parameters);
        assertTrue(parameters.contains("Seed: 0,"), parameters);
        assertTrue(parameters.contains("Steps: 3,"), parameters);
        assertTrue(parameters.contains("Negative prompt: blurry"), parameters);

        NpyArray npy = Npy.read(run.npy());
        assertArrayEquals(new long[] {64, 64, 3}, npy.shape());
        for (float v : image) {
            assertTrue(v >= 0 && v <= 1, "values in [0, 1], got " + v);
        }
        // the PNG holds the npy image in 8 bits
        BufferedImage decoded = ImageIO.read(new ByteArrayInputStream(png));
        assertEquals(64, decoded.getWidth());
        assertEquals(64, decoded.getHeight());
        int worst = 0;
        for (int y = 0; y < 64; y++) {
            for (int x = 0; x < 64; x++) {
                int rgb = decoded.getRGB(x, y);
                int[] channels = {(rgb >> 16) & 0xff, (rgb >> 8) & 0xff, rgb & 0xff};
                for (int c = 0; c < 3; c++) {
                    int expected = Math.round(image[(y * 64 + x) * 3 + c] * 255f);
                    worst = Math.max(worst, Math.abs(expected - channels[c]));
                }
            }
        }
        assertTrue(worst <= 1, "PNG pixels are the npy image times 255, worst difference " + worst);
    }

    @Test
    void latents_ofTorchRandnSeedZero_equalTheSeedZeroImage() {
        Path latents = root.resolve("latents-seed0.npy");
        Npy.write(latents, new NpyArray(new long[] {1, 4, 8, 8}, new TorchGenerator(0).randn(1, 4, 8, 8)));
        // without --seed the run's seed is random: equal images mean the latents were used
        assertSame(base(), image("latents", "--latents", latents.toString()), "--latents randn(seed 0) == --seed 0");
        assertFalse(ran("latents").err().contains("lorica: seed "), "no random seed announced with --latents");
    }

    // ---------------------------------------------------------------- rejected input: exit 2, one line

    /**
     * Runs a rejected command line: exit code 2, nothing on standard output, the error as the last line of standard
     * error, naming the problem; unless {@code onlyLine}, informational lines (note, loaded adapter, active adapters) may
     * come before it.
     */
    private static Run assertRejected(String fragment, boolean onlyLine, List<String> args) {
        Run run = cli(args.toArray(new String[0]));
        assertEquals(2, run.code(), () -> "exit code for " + args + ", stderr:\n" + run.err());
        assertEquals("", run.out(), "nothing on standard output");
        String last = run.lastErrLine();
        assertTrue(last.startsWith("lorica: "), "the error line starts with 'lorica: ': " + run.err());
        assertTrue(last.contains(fragment), "the error names " + fragment + ": " + last);
        if (onlyLine) {
            assertEquals(1, run.errLines().size(), "exactly one line on standard error: " + run.err());
        } else {
            // besides the error, informational lines only: no stack trace, no progress
            for (String line : run.errLines().subList(0, run.errLines().size() - 1)) {
                assertTrue(line.startsWith("lorica: note: ") || line.startsWith("lorica: loaded adapter ")
                        || line.startsWith("lorica: active adapters "),
                        "informational line before the error: " + line + "\n" + run.err());
            }
        }
        return run;
    }

    private static List<String> command(String... options) {
        List<String> args = new ArrayList<>(List.of("generate", "--prompt", PROMPT, "--steps", "3", "--output",
                root.resolve("rejected.png").toString()));
        args.addAll(List.of(options));
        return args;
    }

    private static List<String> withModel(String... options) {
        List<String> args = command("--model", model.toString(), "--cpu");
        args.addAll(List.of(options));
        return args;
    }

    @Test
    void rejected_missingModel() {
        assertRejected("--model", true, command("--seed", "0"));
    }

    @Test
    void rejected_modelFolderThatDoesNotExist() {
        Path missing = root.resolve("no-such-model");
        assertRejected(missing.toString(), true, command("--model", missing.toString(), "--seed", "0"));
    }

    @Test
    void rejected_loraWithoutName() {
        assertRejected("--lora expects NAME=FILE", true, withModel("--lora", pixel.toString(), "--seed", "0"));
        assertRejected("--lora expects NAME=FILE", true, withModel("--lora", "pixel=", "--seed", "0"));
    }

    @Test
    void rejected_loraFileThatDoesNotExist() {
        Path missing = root.resolve("missing.safetensors");
        assertRejected(missing.toString(), false, withModel("--lora", "gone=" + missing, "--seed", "0"));
        assertFalse(Files.exists(root.resolve("rejected.png")), "no image written");
    }

    @Test
    void rejected_setAdaptersNamingAnAdapterNotLoaded() {
        assertRejected("toy", false, withModel("--lora", "pixel=" + pixel, "--set-adapters",
                "{\"names\": [\"toy\"]}", "--seed", "0"));
    }

    @Test
    void rejected_malformedJson() {
        assertRejected("--set-adapters", false, withModel("--lora", "pixel=" + pixel, "--set-adapters",
                "{\"names\": [\"pixel\"", "--seed", "0"));
    }

    @Test
    void rejected_zeroSteps() {
        List<String> args = withModel("--seed", "0");
        args.set(args.indexOf("--steps") + 1, "0");
        assertRejected("steps", false, args);
    }

    @Test
    void rejected_unknownScheduler() {
        assertRejected("--scheduler foo", false, withModel("--scheduler", "foo", "--seed", "0"));
    }

    @Test
    void rejected_seedTogetherWithLatents() {
        Path latents = root.resolve("latents-any.npy");
        Npy.write(latents, new NpyArray(new long[] {1, 4, 8, 8}, new float[256]));
        assertRejected("--seed and --latents", true, withModel("--seed", "0", "--latents", latents.toString()));
    }

    @Test
    void rejected_latentsOfTheWrongSize() {
        Path latents = root.resolve("latents-16.npy");
        Npy.write(latents, new NpyArray(new long[] {1, 4, 16, 16}, new float[4 * 16 * 16]));
        assertRejected("latents", false, withModel("--latents", latents.toString()));
    }

    /** Latents with the right number of values but another shape than [1, 4, H/8, W/8]. */
    @Test
    void rejected_latentsOfTheRightSizeButAnotherShape() {
        Path latents = root.resolve("latents-4x16.npy");
        Npy.write(latents, new NpyArray(new long[] {1, 4, 4, 16}, new TorchGenerator(0).randn(1, 4, 8, 8)));
        assertRejected("latents", false, withModel("--latents", latents.toString()));
    }

    @Test
    void rejected_aSizeTheUnetCannotTake() {
        // 72 is a multiple of 8, but the latents (9x9) do not meet the UNet's skip connections after down-sampling
        assertRejected("multiples of 64", false, withModel("--height", "72"));
    }

    // ---------------------------------------------------------------- help and the test kit

    @Test
    void help_printsTheUsageAndExitsZero() {
        Run run = cli("generate", "--help");
        assertEquals(0, run.code(), run.err());
        assertEquals(GenerateCommand.USAGE, run.out());
        assertTrue(run.out().startsWith("usage: lorica generate --model DIR"), run.out());
        assertTrue(run.out().contains("--set-adapters JSON") && run.out().contains("euler"), run.out());
        assertEquals("", run.err());
    }

    @Test
    void testkitWrite_writesATinyPipeline() {
        Path dir = root.resolve("written-by-cli");
        Run run = cli("testkit", "write", dir.toString(), "sd15", "tiny");
        assertEquals(0, run.code(), run.err());
        assertTrue(Files.isRegularFile(dir.resolve("model_index.json")), "model_index.json in " + dir);
        assertTrue(Files.isRegularFile(dir.resolve("unet/model.onnx")), "unet/model.onnx in " + dir);
        assertTrue(run.out().contains("wrote tiny sd15 pipeline"), run.out());
    }

    // ---------------------------------------------------------------- helpers

    /** The tEXt chunks of a PNG, keyword to text; checks the chunk layout up to IEND. */
    static Map<String, String> textChunks(byte[] png) {
        Map<String, String> text = new LinkedHashMap<>();
        ByteBuffer buffer = ByteBuffer.wrap(png);
        buffer.position(8);
        boolean end = false;
        while (!end) {
            assertTrue(buffer.remaining() >= 12, "a complete chunk");
            int length = buffer.getInt();
            byte[] type = new byte[4];
            buffer.get(type);
            byte[] data = new byte[length];
            buffer.get(data);
            buffer.getInt(); // CRC
            String name = new String(type, StandardCharsets.ISO_8859_1);
            if (name.equals("tEXt")) {
                int zero = 0;
                while (data[zero] != 0) {
                    zero++;
                }
                text.put(new String(data, 0, zero, StandardCharsets.ISO_8859_1),
                        new String(data, zero + 1, length - zero - 1, StandardCharsets.ISO_8859_1));
            }
            end = name.equals("IEND");
        }
        assertEquals(0, buffer.remaining(), "nothing after IEND");
        return text;
    }
}
