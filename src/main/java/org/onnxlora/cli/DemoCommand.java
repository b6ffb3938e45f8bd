package org.onnxlora.cli;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Progress;
import org.onnxlora.api.DataSettings;
import org.onnxlora.api.LoraModel;
import org.onnxlora.api.TrainOptions;
import org.onnxlora.api.TrainingRun;
import org.onnxlora.data.Batcher;
import org.onnxlora.data.DataConfig;
import org.onnxlora.data.DataReader;
import org.onnxlora.data.Dataset;
import org.onnxlora.data.ReadResult;
import org.onnxlora.data.ReaderOptions;
import org.onnxlora.data.TextTokenizer;
import org.onnxlora.eval.AdapterOverrides;
import org.onnxlora.eval.LossEvaluator;
import org.onnxlora.generate.GenerationConfig;
import org.onnxlora.generate.Generator;
import org.onnxlora.io.ModelIO;
import org.onnxlora.io.Overwrite;
import org.onnxlora.lora.AdapterInit;
import org.onnxlora.lora.LoraConfig;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.lora.Patcher;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Seq2SeqSignature;
import org.onnxlora.runtime.Verifier;
import org.onnxlora.run.RunSummary;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {
            "Fine-tune the bundled tiny BART on man-page summaries, verifying every step.",
            "",
            "  1. patch q/k/v/out of every attention block (B = 0) and check patched == base,",
            "  2. train the adapters (about a minute on 2 cores) and report validation loss before and after,",
            "  3. merge them and check the merged model's loss equals the patched model's, with the base's nodes,",
            "  4. generate a few summaries with the base and the fine-tuned model."},
        footer = {"", "Example:", "  java -jar target/onnx-lora.jar demo"})
final class DemoCommand extends BaseCommand {
    @Option(names = "--models", paramLabel = "DIR", description = "The repository's models/ folder (default: found next to the jar or the working directory).")
    Path models;

    @Option(names = "--work", paramLabel = "DIR", description = "Folder for the demo's outputs (default: a new temporary folder).")
    Path work;

    @Option(names = "--steps", defaultValue = "300", description = "Training steps (default: ${DEFAULT-VALUE}).")
    long steps;

    @Option(names = "--threads", defaultValue = "0", description = "Intra-op threads; 0 = one per core.")
    int threads;

    @Override
    int execute() throws IOException {
        Flags.atLeast("--steps", steps, 1);
        Flags.atLeast("--threads", threads, 0);
        Path root = models != null ? models : bundledModels();
        Path base = root.resolve("tiny-bart").resolve("model.onnx");
        Path tokenizer = root.resolve("tiny-bart").resolve("tokenizer.json");
        Path data = root.resolve("datasets").resolve("manpages");
        Path dir = work != null ? Files.createDirectories(work) : Files.createTempDirectory("onnx-lora-demo");
        RuntimeOptions rt = RuntimeOptions.defaults().withThreads(threads);
        Verifier verifier = new Verifier(RuntimeOptions.defaults().withOptimize(false));
        output.result("onnx-lora demo: %s, data %s, outputs in %s", base, data, dir);

        LoraConfig cfg = new LoraConfig(8, 16, List.of("q_proj", "k_proj", "v_proj", "out_proj"),
                LoraConfig.Init.KAIMING, 42);
        Path patched = dir.resolve("patched.onnx");
        Patcher.Report rep = new Patcher(ModelFamily.bart(), Progress.NONE).patch(base, patched, cfg,
                new AdapterInit(cfg.init(), cfg.seed()), Overwrite.REPLACE);
        Verifier.Report same = verifier.compare(base, patched, 3, 1);
        output.result("1. patched %d attention projections (r=8, alpha=16, B=0); patched vs base: max |diff| %.1e"
                + " (must be <= 1e-6)", rep.patchedCount(), same.maxAbs());
        check(same.maxAbs() <= 1e-6, "patched model differs from the base model");

        Path run = dir.resolve("run");
        TrainOptions options = TrainOptions.defaults(patched, tokenizer, data.resolve("train.jsonl"), steps)
                .withValid(data.resolve("valid.jsonl")).withBatch(16, 1).withSchedule(3e-3, 20, "linear")
                .withData(DataSettings.DEFAULT.withMaxLengths(128, 32)).withSeed(42)
                .withRuntime(RuntimeOptions.defaults().withThreads(threads));
        RunSummary summary = TrainingRun.replace(run, options).run().summary();
        output.result("2. trained %d steps in %.1f s (%.0f tokens/s): validation loss %.3f -> %.3f",
                summary.steps(), summary.seconds(), summary.tokensPerSecond(), summary.initialValidLoss(),
                summary.validLoss());

        Path merged = dir.resolve("merged.onnx");
        LoraModel.open(patched).merge(run, merged);
        double[] losses = lossesOf(patched, merged, run, tokenizer, data.resolve("valid.jsonl"), rt);
        ModelProto b = ModelIO.load(base);
        ModelProto w = ModelIO.load(merged);
        boolean sameShape = b.getGraph().getNodeCount() == w.getGraph().getNodeCount()
                && b.getGraph().getInputList().equals(w.getGraph().getInputList())
                && b.getGraph().getOutputList().equals(w.getGraph().getOutputList());
        output.result("3. merged -> %s: loss %.6f vs patched+adapters %.6f (|diff| %.1e, must be <= 1e-4);"
                + " %d nodes like the base: %s", merged, losses[1], losses[0], Math.abs(losses[1] - losses[0]),
                w.getGraph().getNodeCount(), sameShape);
        check(Math.abs(losses[1] - losses[0]) <= 1e-4, "merged model's loss differs from the patched model's");
        check(sameShape, "merged model's structure differs from the base model");

        output.result("4. summaries of unseen man pages (test split):");
        ReadResult test = DataReader.read(data.resolve("test.jsonl"), ReaderOptions.DEFAULT);
        var rows = test.rows().subList(0, 4);
        try (TextTokenizer tok = TextTokenizer.load(tokenizer);
                Generator g0 = Generator.open(base, GenerationConfig.DEFAULT.withMaxNewTokens(24), rt);
                Generator g1 = Generator.open(merged, GenerationConfig.DEFAULT.withMaxNewTokens(24), rt)) {
            List<long[]> ids = tok.encodeAll(rows.stream().map(r -> r.source()).toList(), 256);
            List<long[]> before = g0.generate(ids);
            List<long[]> after = g1.generate(ids);
            for (int i = 0; i < rows.size(); i++) {
                output.result("   source:     %s", abbreviate(rows.get(i).source(), 100));
                output.result("   reference:  %s", rows.get(i).target());
                output.result("   base:       %s", tok.decode(before.get(i), true).strip());
                output.result("   fine-tuned: %s", tok.decode(after.get(i), true).strip());
            }
        }
        output.result("demo OK");
        return 0;
    }

    private static double[] lossesOf(Path patched, Path merged, Path run, Path tokenizer, Path valid, RuntimeOptions rt) {
        try (TextTokenizer tok = TextTokenizer.load(tokenizer)) {
            DataConfig dc = DataConfig.forTokenizer(tok).withMaxLengths(128, 32);
            var batches = Batcher.inOrder(Dataset.load(valid, ReaderOptions.DEFAULT, tok, dc, Progress.NONE).examples(),
                    16, dc);
            double p;
            ModelProto patchedModel = ModelIO.load(patched);
            try (AdapterOverrides ov = new AdapterOverrides(patchedModel, TrainingRun.adapters(run));
                    LossEvaluator ev = new LossEvaluator(patched, signature(patchedModel, patched), ov, rt)) {
                p = ev.evaluate(batches, Progress.NONE).loss();
            }
            try (AdapterOverrides none = AdapterOverrides.none();
                    LossEvaluator ev = new LossEvaluator(merged, signature(ModelIO.load(merged), merged), none, rt)) {
                return new double[] {p, ev.evaluate(batches, Progress.NONE).loss()};
            }
        }
    }

    private static Seq2SeqSignature signature(ModelProto m, Path file) {
        return Seq2SeqSignature.of(m, file, ModelFamily.bart());
    }

    private static String abbreviate(String s, int n) {
        return s.length() <= n ? s : s.substring(0, n - 3) + "...";
    }

    private static void check(boolean ok, String what) {
        if (!ok) {
            throw new OnnxLoraException(ErrorCode.VERIFY_FAILED, "demo check failed: " + what);
        }
    }

    /** models/ next to the working directory or above the jar's folder. */
    static Path bundledModels() {
        Path rel = Path.of("models");
        if (Files.exists(rel.resolve("tiny-bart").resolve("model.onnx"))) {
            return rel;
        }
        try {
            Path jar = Path.of(DemoCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            for (Path p = jar.getParent(); p != null; p = p.getParent()) {
                if (Files.exists(p.resolve(rel).resolve("tiny-bart").resolve("model.onnx"))) {
                    return p.resolve(rel);
                }
            }
        } catch (URISyntaxException | SecurityException ignored) {
            // fall through
        }
        throw new OnnxLoraException(ErrorCode.IO, "bundled models/ folder not found; run from the repository root or"
                + " pass --models");
    }
}
