package io.lorica.testkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.lorica.api.ModelFamily;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The same seed writes byte-identical pipelines; another seed other weights and nothing else. */
class DeterminismTest {

    @ParameterizedTest
    @EnumSource(ModelFamily.class)
    void sameSeedSameBytesOtherSeedOtherWeights(ModelFamily family) throws IOException {
        WrittenPipeline first = TinyPipelines.of(family);
        WrittenPipeline again = PipelineWriter.write(TinyPipelines.folder(family.id() + "-again"),
                PipelineSpec.tiny(family), TinyPipelines.SEED);
        WrittenPipeline other = PipelineWriter.write(TinyPipelines.folder(family.id() + "-other"),
                PipelineSpec.tiny(family), TinyPipelines.SEED + 1);
        List<Path> files = files(first.directory());
        assertEquals(files, files(again.directory()));
        assertEquals(files, files(other.directory()));
        assertEquals(family == ModelFamily.SDXL ? 18 : 12, files.size(), files.toString());
        for (Path file : files) {
            byte[] bytes = Files.readAllBytes(first.directory().resolve(file));
            assertArrayEquals(bytes, Files.readAllBytes(again.directory().resolve(file)), file + " same seed");
            byte[] otherBytes = Files.readAllBytes(other.directory().resolve(file));
            boolean differs = file.getFileName().toString().equals("model.onnx")
                    || file.getFileName().toString().equals("model_index.json");
            assertEquals(differs, !java.util.Arrays.equals(bytes, otherBytes), file + " other seed");
            if (file.getFileName().toString().equals("model.onnx")) {
                assertEquals(bytes.length, otherBytes.length, file + ": only the values change");
            }
        }
        assertFalse(first.models().isEmpty());
    }

    private static List<Path> files(Path root) throws IOException {
        try (Stream<Path> paths = Files.walk(root)) {
            return paths.filter(Files::isRegularFile).map(root::relativize).sorted().collect(Collectors.toList());
        }
    }
}
