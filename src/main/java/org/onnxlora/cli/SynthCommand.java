package org.onnxlora.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.ModelIO;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.synth.BartShape;
import org.onnxlora.synth.SyntheticBart;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code onnx-lora synth}: writes a randomly initialised, BART-shaped ONNX model for tests and benchmarks. */
@Command(name = "synth", mixinStandardHelpOptions = true,
        description = {
            "Write a synthetic BartForConditionalGeneration ONNX model with random weights, laid out as "
                    + "torch.onnx.export (TorchScript) writes one, for tests and benchmarks.",
            "Needs about 1.2x the model's size in Java heap (large: ~2.2 GB; set -Xmx if the default is smaller)."
        })
public final class SynthCommand implements Callable<Integer> {
    /** Heap beyond the weights themselves: graph protos, buffers, GC headroom. */
    private static final double HEAP_FACTOR = 1.15;

    @Spec
    CommandSpec spec;

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
    public Integer call() {
        BartShape s = shape();
        if (Files.exists(out) && !force) {
            throw new OnnxLoraException(ErrorCode.IO, out + " already exists; pass --force to overwrite it");
        }
        checkHeap(s);
        spec.commandLine().getErr().printf(Locale.ROOT, "synth: %s: %,d parameters, %s of weights%n",
                s, s.parameterCount(), megabytes(s.weightBytes()));
        long start = System.nanoTime();
        ModelProto model = SyntheticBart.generate(s, seed);
        ModelIO.save(model, out, externalData ? ModelIO.ExternalData.ALWAYS : ModelIO.ExternalData.AUTO);
        double seconds = (System.nanoTime() - start) / 1e9;
        Path data = out.resolveSibling(out.getFileName() + ".data");
        spec.commandLine().getOut().printf(Locale.ROOT, "wrote %s%s (%s) in %.1f s%n", out,
                Files.exists(data) && externalData ? " + " + data.getFileName() : "",
                megabytes(s.weightBytes()), seconds);
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
