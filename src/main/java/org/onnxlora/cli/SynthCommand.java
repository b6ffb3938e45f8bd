package org.onnxlora.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.ModelIO;
import org.onnxlora.io.OutputGuard;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.synth.BartShape;
import org.onnxlora.synth.SyntheticBart;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code onnx-lora synth}: writes a randomly initialised, BART-shaped ONNX model for tests and benchmarks. */
@Command(name = "synth", mixinStandardHelpOptions = true,
        description = {
            "Write a synthetic BartForConditionalGeneration ONNX model with random weights, laid out as "
                    + "torch.onnx.export (TorchScript) writes one, for tests and benchmarks.",
            "",
            "Presets: tiny (the test fixture's shape, 2 MB), base (bart-base, 713 MB), large (bart-large, 1.8 GB);",
            "the file is larger than 4 bytes x parameters because the export keeps a transposed copy of the tied",
            "embedding for lm_head. Needs about 1.2x the model's size in Java heap (large: ~2.2 GB)."
        },
        footer = {"", "Examples:",
            "  onnx-lora synth --preset base --out /tmp/bart-base.onnx",
            "  onnx-lora synth --preset tiny --layers 1 --d-model 32 --heads 2 --fp16 --out tiny16.onnx"})
public final class SynthCommand extends BaseCommand {
    /** Heap beyond the weights themselves: graph protos, buffers, GC headroom. */
    private static final double HEAP_FACTOR = 1.15;

    @Option(names = "--preset", defaultValue = "tiny", paramLabel = "NAME",
            description = "tiny (the test fixture's shape), base (bart-base) or large (bart-large). Default: ${DEFAULT-VALUE}.")
    String preset;

    @Option(names = "--vocab", paramLabel = "N", description = "Override the vocabulary size.")
    Integer vocab;

    @Option(names = "--d-model", paramLabel = "N", description = "Override the hidden size.")
    Integer dModel;

    @Option(names = "--layers", paramLabel = "N", description = "Override both encoder and decoder layer counts.")
    Integer layers;

    @Option(names = "--encoder-layers", paramLabel = "N", description = "Override the encoder layer count.")
    Integer encoderLayers;

    @Option(names = "--decoder-layers", paramLabel = "N", description = "Override the decoder layer count.")
    Integer decoderLayers;

    @Option(names = "--heads", paramLabel = "N", description = "Override the attention head count.")
    Integer heads;

    @Option(names = "--ffn", paramLabel = "N", description = "Override the feed-forward size.")
    Integer ffn;

    @Option(names = "--max-positions", paramLabel = "N", description = "Override max_position_embeddings.")
    Integer maxPositions;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "N",
            description = "Seed of the random weights (same seed, same bytes). Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--fp16", description = "Store weights and compute in float16.")
    boolean fp16;

    @Option(names = {"-o", "--out"}, required = true, paramLabel = "FILE", description = "The .onnx file to write.")
    Path out;

    @Option(names = "--external-data",
            description = "Write weights to FILE.data next to the model (always done beyond protobuf's 2 GB).")
    boolean externalData;

    @Option(names = "--force", description = "Overwrite FILE if it exists.")
    boolean force;

    /** The shape the options describe: the preset with each given override applied. */
    BartShape shape() {
        BartShape s = BartShape.preset(preset);
        if (vocab != null) {
            s = s.withVocab(vocab);
        }
        if (dModel != null) {
            s = s.withDModel(dModel);
        }
        if (heads != null) {
            s = s.withHeads(heads);
        }
        int enc = encoderLayers != null ? encoderLayers : layers != null ? layers : s.encoderLayers();
        int dec = decoderLayers != null ? decoderLayers : layers != null ? layers : s.decoderLayers();
        s = s.withLayers(enc, dec);
        if (ffn != null) {
            s = s.withFfn(ffn);
        }
        if (maxPositions != null) {
            s = s.withMaxPositions(maxPositions);
        }
        return fp16 ? s.withDtype(BartShape.Dtype.FLOAT16) : s;
    }

    @Override
    int execute() {
        BartShape s = shape();
        OutputGuard.check(out, OutputGuard.Kind.MODEL, force, java.util.List.of());
        checkHeap(s);
        output.info("synth: %s: %,d parameters, %s of weights", s, s.parameterCount(), megabytes(s.weightBytes()));
        long start = System.nanoTime();
        ModelProto model = SyntheticBart.generate(s, seed);
        output.detail("synth: generated in %.1f s", (System.nanoTime() - start) / 1e9);
        ModelIO.save(model, out, externalData ? ModelIO.ExternalData.ALWAYS : ModelIO.ExternalData.AUTO);
        Path data = out.resolveSibling(out.getFileName() + ".data");
        output.result("wrote %s%s (%s) in %.1f s", out, Files.exists(data) ? " + " + data.getFileName() : "",
                megabytes(s.weightBytes()), (System.nanoTime() - start) / 1e9);
        return 0;
    }

    /** Fail in a second with advice rather than with an OutOfMemoryError after a minute of work. */
    private static void checkHeap(BartShape s) {
        long need = (long) (s.weightBytes() * HEAP_FACTOR);
        long max = Runtime.getRuntime().maxMemory();
        if (max != Long.MAX_VALUE && need > max) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, String.format(Locale.ROOT,
                    "this model needs about %s of Java heap but the JVM may use only %s; "
                            + "run java with -Xmx%dm or more", megabytes(need), megabytes(max), (need >> 20) + 64));
        }
    }

    private static String megabytes(long bytes) {
        return String.format(Locale.ROOT, "%.0f MB", bytes / 1e6);
    }
}
