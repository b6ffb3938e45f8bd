package org.onnxlora.lora;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Progress;
import org.onnxlora.graph.ModelValidator;
import org.onnxlora.graph.PassResult;
import org.onnxlora.io.ModelIO;
import org.onnxlora.io.OutputGuard;
import org.onnxlora.io.Overwrite;
import org.onnxlora.proto.Onnx.ModelProto;

/** {@code merge} on files: fold the adapters of every patched file, copy the rest. */
public final class BranchMerger {
    private final Progress progress;

    public BranchMerger(Progress progress) {
        this.progress = progress;
    }

    /**
     * One file: where it was written, the module paths merged into it, and the adapter tensors the
     * merge left alone ({@link BranchMergePass}); an unpatched file of a folder is copied, merging nothing.
     */
    public record FileResult(Path source, Path target, List<String> merged, List<PassResult.Refusal> refused) {}

    /** Merges, refusing NaN or infinite adapter values. */
    public List<FileResult> merge(Path model, Path out, AdapterValues overrides, Overwrite overwrite) {
        return merge(model, out, overrides, overwrite, NonFinitePolicy.REFUSE);
    }

    /**
     * Folds the adapters of every patched file of {@code model} (their stored values, or {@code overrides}
     * by tensor name) into {@code out}; the other files are copied.
     */
    public List<FileResult> merge(Path model, Path out, AdapterValues overrides, Overwrite overwrite,
            NonFinitePolicy nonFinite) {
        ModelFiles files = ModelFiles.of(model);
        OutputGuard.check(out, files.directory() ? OutputGuard.Kind.FOLDER : OutputGuard.Kind.MODEL, overwrite.allowed(),
                List.of(model));
        List<ModelProto> loaded = new ArrayList<>();
        java.util.Set<String> modules = new java.util.HashSet<>();
        for (Path f : files.onnxFiles()) {
            ModelProto m = ModelIO.load(f);
            ModelValidator.check(m, f.toString());
            loaded.add(m);
            BranchFinder.find(m.getGraph()).forEach(b -> {
                modules.add(b.loraA());
                modules.add(b.loraB());
            });
        }
        boolean any = !modules.isEmpty();
        for (String name : overrides.names()) {
            if (any && !modules.contains(name)) {
                throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH,
                        "adapter tensor '" + name + "' has no LoRA branch in " + model);
            }
        }
        if (!any) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL,
                    model + " has no LoRA branches to merge (is it the output of 'patch'?)");
        }
        List<FileResult> results = new ArrayList<>();
        for (int i = 0; i < loaded.size(); i++) {
            Path f = files.onnxFiles().get(i);
            ModelProto m = loaded.get(i);
            Path target = files.target(f, out);
            progress.start("merge " + f.getFileName(), 2);
            if (BranchFinder.find(m.getGraph()).isEmpty()) {
                ModelIO.save(m, target);
                results.add(new FileResult(f, target, List.of(), List.of()));
            } else {
                PassResult<ModelProto> r = new BranchMergePass(nonFinite).apply(m, overrides);
                progress.advance(1, "writing");
                ModelIO.save(r.output(), target);
                results.add(new FileResult(f, target, r.changed(), r.refused()));
            }
            progress.advance(2, "");
            progress.finish();
        }
        Patcher.copyCompanions(files, out);
        return results;
    }
}
