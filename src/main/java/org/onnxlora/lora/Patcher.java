package org.onnxlora.lora;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Progress;
import org.onnxlora.graph.ModelValidator;
import org.onnxlora.io.IoErrors;
import org.onnxlora.io.ModelIO;
import org.onnxlora.io.OutputGuard;
import org.onnxlora.io.Overwrite;
import org.onnxlora.proto.Onnx.ModelProto;

/** {@code patch} on files: load, plan every file, check the targets over all of them, apply, save. */
public final class Patcher {
    private final ModelFamily family;
    private final Progress progress;

    public Patcher(ModelFamily family, Progress progress) {
        this.family = family;
        this.progress = progress;
    }

    /** One file's plan and where it was (or would be) written. */
    public record FileResult(Path source, Path target, PatchPlan plan) {}

    public record Report(List<FileResult> files, LoraConfig config, boolean dryRun) {
        public int patchedCount() {
            return files.stream().mapToInt(f -> f.plan().selected().size()).sum();
        }
    }

    /** What {@link #patch} would do, file by file; nothing is written ({@code patch --dry-run}). */
    public Report plan(Path model, Path out, LoraConfig cfg) {
        return run(model, out, cfg, null, null);
    }

    /** Patches every file of {@code model} into {@code out}, taking initial adapter values from {@code source}. */
    public Report patch(Path model, Path out, LoraConfig cfg, AdapterSource source, Overwrite overwrite) {
        return run(model, out, cfg, source, overwrite);
    }

    /** A dry run when {@code overwrite} is null. */
    private Report run(Path model, Path out, LoraConfig cfg, AdapterSource source, Overwrite overwrite) {
        boolean dryRun = overwrite == null;
        ModelFiles files = ModelFiles.of(model);
        if (!dryRun) {
            OutputGuard.check(out, files.directory() ? OutputGuard.Kind.FOLDER : OutputGuard.Kind.MODEL,
                    overwrite.allowed(), List.of(model));
        }
        PatchPass pass = new PatchPass(family);
        List<ModelProto> loaded = new ArrayList<>();
        List<PatchPlan> plans = new ArrayList<>();
        for (Path f : files.onnxFiles()) {
            ModelProto m = ModelIO.load(f);
            ModelValidator.check(m, f.toString()); // never write a "patched" model the runtime would refuse
            loaded.add(m);
            plans.add(pass.plan(m, files.directory() ? f : null, cfg));
        }
        PatchPass.checkTargets(cfg, plans);
        List<FileResult> results = new ArrayList<>();
        for (int i = 0; i < loaded.size(); i++) {
            Path f = files.onnxFiles().get(i);
            Path target = files.target(f, out);
            results.add(new FileResult(f, target, plans.get(i)));
            if (dryRun) {
                continue;
            }
            progress.start("patch " + f.getFileName(), 2);
            ModelProto patched = pass.apply(loaded.get(i), cfg, plans.get(i), source).output();
            progress.advance(1, "writing");
            ModelIO.save(patched, target);
            progress.advance(2, "");
            progress.finish();
        }
        if (!dryRun) {
            copyCompanions(files, out);
        }
        return new Report(results, cfg, dryRun);
    }

    static void copyCompanions(ModelFiles files, Path out) {
        for (Path c : files.companions()) {
            try {
                Path target = files.directory() ? out.resolve(c.getFileName()) : ModelFiles.configTarget(out);
                Files.copy(c, target, StandardCopyOption.REPLACE_EXISTING);
            } catch (IOException e) {
                throw new OnnxLoraException(ErrorCode.IO, "cannot copy " + c + " to " + out + ": " + IoErrors.reason(e), e);
            }
        }
    }
}
