package org.onnxlora.cli;

import java.io.IOException;
import java.nio.file.Path;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Progress;
import org.onnxlora.api.RunListener;
import org.onnxlora.api.TrainOptions;
import org.onnxlora.api.TrainingRun;
import org.onnxlora.train.Precision;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.runtime.Device;
import org.onnxlora.runtime.RuntimeOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "train", mixinStandardHelpOptions = true,
        description = {
            "Fine-tune the LoRA adapters of a BART export on text pairs, on CPU or CUDA.",
            "",
            "--model takes a patched model, or a base model plus --rank/--alpha/--target (patched on the fly into",
            "RUN/model.onnx). An Optimum folder (encoder_model.onnx + decoder_model.onnx) is patched file by file",
            "into RUN/model/ and trained as one joined graph; merge RUN/model writes the adapters into every file.",
            "The model's inputs are fed as graphs/bart.json names them (3- and 4-input exports, static shapes);",
            "an input it cannot feed is refused before any work. The input model is never modified.",
            "Data is JSONL, CSV or TSV with a source and a",
            "target field; it is tokenized with the model's tokenizer.json, truncated, batched by length, and fed",
            "with teacher forcing (decoder input = labels shifted right, padding ignored in the loss).",
            "",
            "RUN/ receives: run.json (the settings), model.onnx, artifacts/ (compiled graphs), checkpoints/step-N/",
            "(adapters, AdamW moments, data position; written atomically), data-cache/ (the tokenized data, so a resumed",
            "run does not tokenize again), metrics.jsonl (loss, lr, grad norm, tokens/s per step; validation loss per",
            "eval), tb/ (the same scalars as TensorBoard event files: tensorboard --logdir RUN/tb), summary.json,",
            "and the final JSON summary is printed on stdout; 'onnx-lora report RUN' draws it. One process at a time",
            "writes a run folder (a second one is refused, naming the first's pid).",
            "",
            "A killed run continues with --resume and ends with bit-identical adapters. Ctrl-C (or SIGTERM) finishes",
            "the current step, writes a checkpoint, says where, and exits with 130 (143); a second Ctrl-C quits at",
            "once. --resume refuses, naming the setting, if the model or data files (by content), the LoRA shape,",
            "batch, lengths, learning-rate schedule, seed or loss/optimizer options differ from the run's;",
            "--steps/--epochs may change (down to the checkpoint's step), and the schedule is then recomputed for the",
            "new length. --eval-every, --save-every, --keep-checkpoints, --device and --threads may change freely;",
            "--gpu-memory, --cuda-option and --recompute are recorded and must be given again.",
            "",
            "--force replaces a run folder's run files (the names above) and nothing else: other files in it, and",
            "the --model, --tokenizer and data files wherever they are, are never deleted; a folder that holds",
            "files but no run is refused. A folder whose run never saved a checkpoint is started over without it."},
        footer = {"", "Examples:",
            "  onnx-lora train --model model.onnx --tokenizer tokenizer.json --train train.jsonl --valid valid.jsonl \\",
            "      --out run1 --rank 8 --alpha 16 --target q_proj,v_proj --batch-size 16 --lr 1e-3 --epochs 1",
            "  onnx-lora train ... --out run1 --resume        # continue a killed or interrupted run",
            "  onnx-lora train ... --out run1 --resume --steps 2000   # extend a finished run",
            "  onnx-lora merge --model run1/model.onnx --adapter run1 --out merged.onnx"})
final class TrainCommand extends BaseCommand {
    @Option(names = "--model", required = true, paramLabel = "FILE|DIR",
            description = "Patched model, or base model (then give --rank/--alpha/--target); a file or an Optimum folder.")
    Path model;

    @Option(names = "--tokenizer", required = true, paramLabel = "FILE", description = "The model's Hugging Face tokenizer.json.")
    Path tokenizer;

    @Option(names = "--train", required = true, paramLabel = "FILE", description = "Training data: .jsonl, .csv or .tsv.")
    Path train;

    @Option(names = "--valid", paramLabel = "FILE", description = "Validation data (loss reported every --eval-every steps and at the end).")
    Path valid;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Run folder.")
    Path out;

    @Mixin
    DataOptions dataOptions;

    @Mixin
    ModelOptions modelOptions;

    @Mixin
    LoraOptions lora;

    @Option(names = "--batch-size", defaultValue = "32", description = "Examples per micro-batch (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--grad-accum", defaultValue = "1", description = "Micro-batches per optimizer step (default: ${DEFAULT-VALUE}).")
    int gradAccum;

    @Option(names = "--lr", defaultValue = "5e-4", description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--steps", description = "Optimizer steps to train.")
    Long steps;

    @Option(names = "--epochs", description = "Epochs to train (instead of --steps).")
    Double epochs;

    @Option(names = "--warmup", defaultValue = "0", description = "Linear warm-up steps (default: ${DEFAULT-VALUE}).")
    long warmup;

    @Option(names = "--schedule", defaultValue = "linear", description = "constant, linear or cosine (default: ${DEFAULT-VALUE}).")
    String schedule;

    @Option(names = "--eval-every", defaultValue = "0", description = "Validate every N steps; 0 = at the end only (default: ${DEFAULT-VALUE}).")
    long evalEvery;

    @Option(names = "--save-every", defaultValue = "0", description = "Checkpoint every N steps; 0 = at the end only (default: ${DEFAULT-VALUE}).")
    long saveEvery;

    @Option(names = "--keep-checkpoints", defaultValue = "2", description = "Checkpoints to keep; 0 = all (default: ${DEFAULT-VALUE}).")
    int keep;

    @Option(names = "--seed", defaultValue = "42", description = "Seed of data order and adapter init (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu, cuda or cuda:N (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--devices", description = "Data-parallel devices, comma-separated (cuda:0,cuda:1 or cpu,cpu):"
            + " one session each, every batch split across them, one optimizer step; replaces --device.")
    String devices;

    @Option(names = "--threads", defaultValue = "0", description = "Intra-op threads; 0 = one per core (default: ${DEFAULT-VALUE}).")
    int threads;

    @Option(names = "--tf32", description = "Same as --precision tf32: TF32 for float32 matrix products on CUDA.")
    boolean tf32;

    @Option(names = "--resume", description = "Continue the run in --out from its latest checkpoint, with the same"
            + " settings (the first that differs is named); a longer --steps extends it.")
    boolean resume;

    @Option(names = "--force", description = "Start over in an existing run folder: its run files are replaced,"
            + " nothing else in it is touched.")
    boolean force;

    @Mixin
    CompileCommand.TrainingOptions training;

    @Mixin
    GpuMemoryOptions gpuMemory;

    @Option(names = "--data-cache", paramLabel = "DIR", description = "Where tokenized data is kept between runs, keyed by"
            + " a hash of the data, the tokenizer and the data options (default: RUN/data-cache; give one DIR to several"
            + " runs to share it).")
    Path dataCache;

    @Option(names = "--no-data-cache", description = "Tokenize the data every time; read and write no cache.")
    boolean noDataCache;

    @Override
    int execute() throws IOException {
        if ((steps == null) == (epochs == null)) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "give exactly one of --steps or --epochs");
        }
        if (resume && force) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "--resume continues the run in --out and --force"
                    + " replaces it: give one of them");
        }
        TrainOptions options = options();
        TrainingRun run = resume ? TrainingRun.resume(out, options) : force ? TrainingRun.replace(out, options)
                : TrainingRun.create(out, options);
        if (devices != null) {
            run.onDevices(java.util.Arrays.stream(devices.split(",", -1)).map(Device::parse).toList());
        }
        StopSignals[] stop = new StopSignals[1];
        TrainingRun.Result r = run.run(listener(), () -> stop[0] = StopSignals.install(output));
        if (r.interrupted()) {
            output.info("interrupted after step %d of %d; checkpoint %s; continue with --resume",
                    r.summary().steps(), r.totalSteps(), r.summary().checkpoint());
            return stop[0].exitCode();
        }
        output.result("%s", r.json());
        return 0;
    }

    /** The flags as the library's options; a bad flag is refused before any model or data is read. */
    private TrainOptions options() {
        if (epochs != null) {
            Flags.finiteAbove("--epochs", epochs, 0);
        }
        Flags.atLeast("--batch-size", batchSize, 1);
        TrainOptions o = new TrainOptions(model, tokenizer, train, valid, null, modelOptions.decoderStart, lora.rank,
                lora.alpha, lora.targets, dataOptions.settings(), batchSize, gradAccum, lr, steps, epochs, warmup,
                schedule, evalEvery, saveEvery, keep, seed, null, null, dataCache, !noDataCache);
        o.check();
        ModelFamily family = modelOptions.family();
        Precision precision = training.precision(tf32);
        o = o.withCompiler(family, training.compilerOptions(family).withPrecision(precision));
        return o.withRuntime(gpuMemory.apply(RuntimeOptions.defaults()).withThreads(threads).withDevice(Device.parse(device))
                .withAllowTf32(precision == Precision.TF32));
    }

    private RunListener listener() {
        return new RunListener() {
            @Override
            public void info(String line) {
                output.info("%s", line);
            }

            @Override
            public void detail(String line) {
                output.detail("%s", line);
            }

            @Override
            public Progress progress() {
                return output.progress();
            }
        };
    }
}
