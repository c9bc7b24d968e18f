package io.lorica.benchmarks;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;

import io.lorica.api.Component;
import io.lorica.api.DType;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LayerKind;
import io.lorica.api.format.ModuleCatalog;
import io.lorica.loader.safetensors.DTypes;
import io.lorica.loader.safetensors.SafetensorsWriter;
import io.lorica.models.ReferenceModels;

/**
 * Writes synthetic LoRA files of real size: a kohya-style SDXL LoRA with the given rank on every UNet attention target
 * (the 722 modules kohya's default trains) and on every Linear of both text encoders, in fp16 — about 230 MB at rank 32.
 */
public final class SyntheticLoras {

    private SyntheticLoras() {
    }

    /** {@code java -cp benchmarks.jar io.lorica.benchmarks.SyntheticLoras FILE [rank]}: writes the SDXL kohya file. */
    public static void main(String[] args) throws IOException {
        if (args.length < 1) {
            System.err.println("usage: SyntheticLoras FILE [rank]");
            System.exit(64);
        }
        Path target = Path.of(args[0]);
        int tensors = sdxlKohya(target, args.length > 1 ? Integer.parseInt(args[1]) : 32);
        System.out.printf("%s: %d tensors, %.1f MB%n", target, tensors, java.nio.file.Files.size(target) / 1e6);
    }

    /** Writes the file and returns its tensor count. */
    public static int sdxlKohya(Path target, int rank) throws IOException {
        ModuleCatalog catalog = ReferenceModels.catalog(ModelFamily.SDXL);
        SafetensorsWriter writer = new SafetensorsWriter();
        SplittableRandom random = new SplittableRandom(1234);
        int tensors = 0;
        tensors += add(writer, "lora_unet_", catalog.modules(Component.UNET), rank, random, true);
        tensors += add(writer, "lora_te1_", catalog.modules(Component.TEXT_ENCODER), rank, random, false);
        tensors += add(writer, "lora_te2_", catalog.modules(Component.TEXT_ENCODER_2), rank, random, false);
        writer.metadata("ss_network_dim", Integer.toString(rank));
        writer.metadata("ss_network_alpha", Integer.toString(rank / 2));
        writer.metadata("ss_base_model_version", "sdxl_base_v1-0");
        writer.write(target);
        return tensors;
    }

    private static int add(SafetensorsWriter writer, String prefix, Map<String, LayerGeometry> modules, int rank,
                           SplittableRandom random, boolean attentionsOnly) {
        int tensors = 0;
        for (Map.Entry<String, LayerGeometry> module : modules.entrySet()) {
            String path = module.getKey();
            if (attentionsOnly && !path.contains(".attentions.")) {
                continue;
            }
            if (path.equals("text_projection")) {
                continue;
            }
            LayerGeometry g = module.getValue();
            String stem = prefix + path.replace('.', '_');
            boolean conv = g.kind() == LayerKind.CONV;
            long[] downShape = conv ? new long[] {rank, g.inFeatures(), g.kernelHeight(), g.kernelWidth()} : new long[] {rank, g.inFeatures()};
            long[] upShape = conv ? new long[] {g.outFeatures(), rank, 1, 1} : new long[] {g.outFeatures(), rank};
            writer.add(stem + ".lora_down.weight", DType.F16, downShape, randomHalf(product(downShape), random, 0.02f));
            writer.add(stem + ".lora_up.weight", DType.F16, upShape, randomHalf(product(upShape), random, 0.01f));
            writer.add(stem + ".alpha", DType.F16, new long[0], DTypes.f16(rank / 2f));
            tensors += 3;
        }
        return tensors;
    }

    private static long product(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    private static ByteBuffer randomHalf(long count, SplittableRandom random, float scale) {
        ByteBuffer buffer = ByteBuffer.allocate(Math.toIntExact(count * 2)).order(ByteOrder.LITTLE_ENDIAN);
        for (long i = 0; i < count; i++) {
            buffer.putShort(DTypes.floatToHalf((float) (random.nextDouble(-1, 1) * scale)));
        }
        return buffer.flip();
    }
}
