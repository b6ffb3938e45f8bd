package org.onnxlora.cli;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Progress;
import org.onnxlora.io.ModelIO;
import org.onnxlora.lora.AdapterInit;
import org.onnxlora.lora.AdapterSource;
import org.onnxlora.lora.AdapterTensors;
import org.onnxlora.lora.LoraConfig;
import org.onnxlora.lora.Merger;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.lora.Patcher;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Verifier;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {
            "Run the pipeline on the bundled tiny BART and show that each step is exact:",
            "  1. patch q/k/v/out of every attention block (B = 0) and check patched == base,",
            "  2. give the adapters non-zero values (as training would), merge, and check merged == patched,",
            "  3. check the merged model has the base model's nodes and signature."},
        footer = {"", "Example:", "  java -jar target/onnx-lora.jar demo"})
final class DemoCommand extends BaseCommand {
    @Option(names = "--model", paramLabel = "FILE", description = "Model to use (default: models/tiny-bart/model.onnx).")
    Path model;

    @Option(names = "--work", paramLabel = "DIR", description = "Folder for the demo's outputs (default: a new temporary folder).")
    Path work;

    @Override
    int execute() throws IOException {
        Path base = model != null ? model : bundledModel();
        Path dir = work != null ? Files.createDirectories(work) : Files.createTempDirectory("onnx-lora-demo");
        Verifier verifier = new Verifier(RuntimeOptions.defaults().withOptimize(false));
        List<String> all = List.of("q_proj", "k_proj", "v_proj", "out_proj");
        ModelFamily fam = ModelFamily.bart();

        output.result("onnx-lora demo on %s (outputs in %s)", base, dir);
        LoraConfig cfg = new LoraConfig(8, 16, all, LoraConfig.Init.KAIMING, 0);
        Path patched = dir.resolve("patched.onnx");
        Patcher.Report rep = new Patcher(fam, Progress.NONE).patch(base, patched, cfg,
                new AdapterInit(cfg.init(), cfg.seed()), false, true);
        output.result("1. patched %d attention projections (r=8, alpha=16, B=0) -> %s", rep.patchedCount(), patched);
        Verifier.Report same = verifier.compare(base, patched, 3, 1);
        output.result("   patched vs base: max |diff| = %.2e over %d random batches (must be <= 1e-6)",
                same.maxAbs(), same.samples());
        check(same.maxAbs() <= 1e-6, "patched model differs from the base model");

        Path trained = dir.resolve("patched-nonzero.onnx");
        new Patcher(fam, Progress.NONE).patch(base, trained, cfg, randomAdapters(), false, true);
        Path merged = dir.resolve("merged.onnx");
        List<Merger.FileResult> m = new Merger(Progress.NONE).merge(trained, merged, Map.of(), true);
        Verifier.Report fold = verifier.compare(trained, merged, 3, 2);
        Verifier.Report moved = verifier.compare(base, merged, 1, 3);
        output.result("2. merged %d non-zero adapters -> %s", m.get(0).merged().size(), merged);
        output.result("   merged vs patched: max |diff| = %.2e (must be <= 1e-4); the adapters moved logits by %.2e",
                fold.maxAbs(), moved.maxAbs());
        check(fold.maxAbs() <= 1e-4, "merged model differs from the patched model");

        ModelProto b = ModelIO.load(base);
        ModelProto w = ModelIO.load(merged);
        boolean sameShape = b.getGraph().getNodeCount() == w.getGraph().getNodeCount()
                && b.getGraph().getInputList().equals(w.getGraph().getInputList())
                && b.getGraph().getOutputList().equals(w.getGraph().getOutputList());
        output.result("3. merged model: %d nodes (base %d), same inputs/outputs: %s, no LoRA tensors left: %s",
                w.getGraph().getNodeCount(), b.getGraph().getNodeCount(), sameShape,
                w.getGraph().getInitializerList().stream().noneMatch(t -> t.getName().contains(".lora_")));
        check(sameShape, "merged model's structure differs from the base model");
        output.result("demo OK");
        return 0;
    }

    /** Stands in for trained adapters: B non-zero so that merging has something to fold. */
    private static AdapterSource randomAdapters() {
        AdapterSource init = new AdapterInit(LoraConfig.Init.KAIMING, 0);
        return (p, r, scaling) -> {
            AdapterTensors a = init.valuesFor(p, r, scaling);
            SplittableRandom rng = new SplittableRandom(p.modulePath().hashCode());
            double[] bv = new double[a.b().length];
            for (int i = 0; i < bv.length; i++) {
                bv[i] = rng.nextGaussian() * 0.05;
            }
            return new AdapterTensors(a.in(), a.out(), r, scaling, a.a(), bv);
        };
    }

    private static void check(boolean ok, String what) {
        if (!ok) {
            throw new OnnxLoraException(ErrorCode.VERIFY_FAILED, "demo check failed: " + what);
        }
    }

    /** models/tiny-bart/model.onnx next to the working directory or next to the jar's folder. */
    static Path bundledModel() {
        Path rel = Path.of("models", "tiny-bart", "model.onnx");
        if (Files.exists(rel)) {
            return rel;
        }
        try {
            Path jar = Path.of(DemoCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            for (Path p = jar.getParent(); p != null; p = p.getParent()) {
                if (Files.exists(p.resolve(rel))) {
                    return p.resolve(rel);
                }
            }
        } catch (URISyntaxException | SecurityException ignored) {
            // fall through
        }
        throw new OnnxLoraException(ErrorCode.IO, "bundled model " + rel
                + " not found; run from the repository root or pass --model");
    }
}
