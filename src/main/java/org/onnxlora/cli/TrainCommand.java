package org.onnxlora.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.data.Batcher;
import org.onnxlora.data.BatcherSource;
import org.onnxlora.data.DataConfig;
import org.onnxlora.data.Dataset;
import org.onnxlora.data.ReaderOptions;
import org.onnxlora.data.TextTokenizer;
import org.onnxlora.io.AtomicFiles;
import org.onnxlora.io.Json;
import org.onnxlora.io.ModelIO;
import org.onnxlora.io.SharedExternalData;
import org.onnxlora.lora.AdapterInit;
import org.onnxlora.lora.LoraConfig;
import org.onnxlora.lora.LoraMetadata;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.lora.PatchPass;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.runtime.Device;
import org.onnxlora.runtime.InputSpec;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.train.ArtifactStore;
import org.onnxlora.train.Batch;
import org.onnxlora.train.Checkpoint;
import org.onnxlora.train.LrSchedule;
import org.onnxlora.train.TrainConfig;
import org.onnxlora.train.Trainer;
import org.onnxlora.train.TrainingCompiler;
import org.onnxlora.train.TrainingSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "train", mixinStandardHelpOptions = true,
        description = {
            "Fine-tune the LoRA adapters of a BART export on text pairs, on CPU or CUDA.",
            "",
            "--model takes a patched model, or a base model plus --rank/--alpha/--target (patched on the fly into",
            "RUN/model.onnx). The input model is never modified. Data is JSONL, CSV or TSV with a source and a",
            "target field; it is tokenized with the model's tokenizer.json, truncated, batched by length, and fed",
            "with teacher forcing (decoder input = labels shifted right, padding ignored in the loss).",
            "",
            "RUN/ receives: artifacts/ (compiled graphs), checkpoints/step-N/ (adapters, AdamW moments, data",
            "position; written atomically), metrics.jsonl (loss, lr, grad norm, tokens/s per step; validation",
            "loss per eval), summary.json, and the final JSON summary is printed on stdout. A killed run continues",
            "with --resume and ends with bit-identical adapters."},
        footer = {"", "Examples:",
            "  onnx-lora train --model model.onnx --tokenizer tokenizer.json --train train.jsonl --valid valid.jsonl \\",
            "      --out run1 --rank 8 --alpha 16 --target q_proj,v_proj --batch-size 16 --lr 1e-3 --epochs 1",
            "  onnx-lora train ... --out run1 --resume        # continue a killed run",
            "  onnx-lora merge --model run1/model.onnx --adapter run1 --out merged.onnx"})
final class TrainCommand extends BaseCommand {
    @Option(names = "--model", required = true, paramLabel = "FILE", description = "Patched model, or base model (then give --rank/--alpha/--target).")
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

    @Option(names = "--decoder-start-token-id", description = "Decoder start token (default: the model family's, 2 for BART).")
    Integer decoderStart;

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

    @Option(names = "--threads", defaultValue = "0", description = "Intra-op threads; 0 = one per core (default: ${DEFAULT-VALUE}).")
    int threads;

    @Option(names = "--tf32", description = "Let CUDA use TF32 for float32 matrix products (faster; off by default).")
    boolean tf32;

    @Option(names = "--resume", description = "Continue the run in --out from its latest checkpoint.")
    boolean resume;

    @Option(names = "--force", description = "Start over in an existing --out (its contents are replaced).")
    boolean force;

    @Mixin
    CompileCommand.TrainingOptions training;

    @Override
    int execute() throws IOException {
        if ((steps == null) == (epochs == null)) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "give exactly one of --steps or --epochs");
        }
        Device dev = Device.parse(device);
        org.onnxlora.runtime.Sessions.requireDevice(RuntimeOptions.defaults().withDevice(dev));
        prepareRunDir();
        ModelFamily family = ModelFamily.bart();

        ModelProto patched = loadOrPatch(family);
        long modelVocab = InputSpec.modelVocab(patched.getGraph());
        try (TextTokenizer tok = TextTokenizer.load(tokenizer)) {
            if (modelVocab > 0) {
                tok.checkFits(modelVocab);
            }
            DataConfig dc = dataOptions.config(tok).withDecoderStartTokenId(decoderStart != null ? decoderStart : (int) family.decoderStartTokenId());
            ReaderOptions ro = dataOptions.reader();
            Dataset trainSet = Dataset.load(train, ro, tok, dc, output.progress());
            report(train, trainSet);
            List<Batch> validBatches = List.of();
            if (valid != null) {
                Dataset v = Dataset.load(valid, ro, tok, dc, output.progress());
                report(valid, v);
                validBatches = Batcher.inOrder(v.examples(), batchSize, dc);
            }
            Batcher batcher = new Batcher(trainSet.examples(), batchSize, seed, dc);
            long total = steps != null ? steps
                    : (long) Math.ceil(epochs * batcher.batchesPerEpoch() / gradAccum);
            TrainConfig tc = new TrainConfig(total, gradAccum, new LrSchedule(LrSchedule.parse(schedule), lr, warmup, total),
                    evalEvery, saveEvery, keep, seed);
            String fingerprint = fingerprint(patched, total);
            Path artifacts = out.resolve("artifacts");
            if (!resume || !Files.exists(artifacts.resolve(ArtifactStore.MANIFEST))) {
                TrainingCompiler.Options opts = training.compilerOptions();
                SharedExternalData data = ArtifactStore.write(new TrainingCompiler().compile(patched, opts), opts,
                        artifacts);
                if (!Files.exists(out.resolve("model.onnx"))) {
                    // the patched model of the run, sharing the artifacts' copy of the frozen weights
                    ModelIO.save(data.reference(patched, out), out.resolve("model.onnx"), ModelIO.ExternalData.NEVER);
                }
            }
            patched = null; // release the source mapping before the sessions map the artifacts
            System.gc();
            writeRunInfo(fingerprint, total, batcher.batchesPerEpoch());
            RuntimeOptions rt = RuntimeOptions.defaults().withThreads(threads).withDevice(dev).withAllowTf32(tf32);
            try (TrainingSession session = new TrainingSession(artifacts, rt)) {
                Trainer trainer = new Trainer(session, tc, out, fingerprint, output.progress());
                BatcherSource source = new BatcherSource(batcher);
                long start = 0;
                if (resume) {
                    Optional<Path> latest = Checkpoint.latest(out);
                    if (latest.isPresent()) {
                        start = trainer.resume(Checkpoint.load(latest.get()), source);
                        output.info("resuming %s from step %d", out, start);
                    } else {
                        output.info("no checkpoint in %s yet: starting from step 0", out);
                    }
                }
                output.info("training %d adapters on %s: %d examples, %d batches/epoch, %d steps (batch %d x %d accum)",
                        session.adapters().size(), dev, trainSet.examples().size(), batcher.batchesPerEpoch(), total,
                        batchSize, gradAccum);
                Trainer.Summary summary = trainer.run(source, validBatches, start);
                Map<String, Object> o = new LinkedHashMap<>();
                o.put("steps", summary.steps());
                o.put("train_loss", summary.trainLoss());
                o.put("valid_loss", summary.validLoss());
                o.put("initial_valid_loss", summary.initialValidLoss());
                o.put("tokens_per_second", summary.tokensPerSecond());
                o.put("seconds", summary.seconds());
                o.put("adapter", summary.adapters());
                o.put("checkpoint", summary.checkpoint());
                o.put("model", out.resolve("model.onnx").toString());
                o.put("metrics", out.resolve("metrics.jsonl").toString());
                String json = Json.builder().setPrettyPrinting().serializeNulls().create().toJson(o);
                AtomicFiles.writeString(out.resolve("summary.json"), json + "\n");
                output.result("%s", json);
            }
        }
        return 0;
    }

    private void prepareRunDir() throws IOException {
        boolean exists = Files.isDirectory(out) && Files.list(out).findAny().isPresent();
        if (resume) {
            if (!Files.exists(out.resolve("run.json"))) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "--resume: " + out + " is not a run folder (no run.json)");
            }
            return;
        }
        if (exists && !force) {
            throw new OnnxLoraException(ErrorCode.IO, out + " already holds a run; pass --resume to continue it or --force"
                    + " to start over");
        }
        if (Files.exists(model) && Files.exists(out) && model.toRealPath().startsWith(out.toRealPath())) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "--model lies inside --out, which --force would delete");
        }
        if (exists) {
            org.onnxlora.io.FileTrees.delete(out);
        }
        Files.createDirectories(out);
    }

    private ModelProto loadOrPatch(ModelFamily family) {
        Path runModel = out.resolve("model.onnx");
        if (resume && Files.exists(runModel)) {
            return ModelIO.load(runModel);
        }
        ModelProto m = ModelIO.load(model);
        if (LoraMetadata.read(m).isPresent()) {
            return m;
        }
        LoraConfig cfg = lora.config(LoraConfig.Init.KAIMING, seed, false);
        output.info("patching %s on the fly (r=%d, alpha=%s, targets %s)", model, lora.rank,
                InspectCommand.num(lora.alpha), String.join(",", lora.targets));
        return new PatchPass(family).patch(m, null, cfg, new AdapterInit(cfg.init(), seed));
    }

    private void report(Path file, Dataset d) {
        output.info("%s: %d examples%s%s", file, d.examples().size(),
                d.skippedRows() > 0 ? ", " + d.skippedRows() + " bad rows skipped" : "",
                d.truncatedSources() + d.truncatedTargets() > 0 ? ", " + d.truncatedSources() + " sources and "
                        + d.truncatedTargets() + " targets truncated" : "");
    }

    /** What must not change between a run and its resumption. */
    private String fingerprint(ModelProto patched, long total) throws IOException {
        Map<String, Object> f = new LinkedHashMap<>();
        f.put("lora", LoraMetadata.read(patched).map(LoraMetadata::toJson).orElse(""));
        f.put("model_weight_bytes", ModelIO.weightBytes(patched));
        f.put("train", train.toAbsolutePath().normalize().toString());
        f.put("train_bytes", Files.size(train));
        f.put("batch_size", batchSize);
        f.put("grad_accum", gradAccum);
        f.put("lr", lr);
        f.put("schedule", schedule);
        f.put("warmup", warmup);
        f.put("steps", total);
        f.put("seed", seed);
        f.put("max_lengths", dataOptions.maxSourceLength + "/" + dataOptions.maxTargetLength);
        f.put("compile", Json.builder().create().toJson(training.compilerOptions()));
        try {
            byte[] h = MessageDigest.getInstance("SHA-256")
                    .digest(Json.builder().create().toJson(f).getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(h);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private void writeRunInfo(String fingerprint, long total, long batchesPerEpoch) throws IOException {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("fingerprint", fingerprint);
        o.put("model", model.toAbsolutePath().toString());
        o.put("tokenizer", tokenizer.toAbsolutePath().toString());
        o.put("train", train.toAbsolutePath().toString());
        o.put("valid", valid == null ? null : valid.toAbsolutePath().toString());
        o.put("steps", total);
        o.put("batches_per_epoch", batchesPerEpoch);
        o.put("batch_size", batchSize);
        o.put("lr", lr);
        o.put("seed", seed);
        AtomicFiles.writeString(out.resolve("run.json"), Json.builder().setPrettyPrinting().serializeNulls()
                .create().toJson(o) + "\n");
    }
}
