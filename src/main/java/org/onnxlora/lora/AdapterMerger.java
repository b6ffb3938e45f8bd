package org.onnxlora.lora;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Progress;
import org.onnxlora.graph.ModelValidator;
import org.onnxlora.graph.PassResult;
import org.onnxlora.io.ModelIO;
import org.onnxlora.io.OutputGuard;
import org.onnxlora.io.Overwrite;
import org.onnxlora.proto.Onnx.ModelProto;

/**
 * {@code merge --peft / --add / --subtract} on files: adapter arithmetic on a plain
 * model (one file or an Optimum folder, every file getting the same update). Every
 * module of every adapter must exist in some file; the ones that do not are named.
 */
public final class AdapterMerger {
    private final ModelFamily family;
    private final Progress progress;

    public AdapterMerger(ModelFamily family, Progress progress) {
        this.family = family;
        this.progress = progress;
    }

    /** One file: where it was written, the module paths updated in it, and what it left alone (and why). */
    public record FileResult(Path source, Path target, List<String> updated, List<PassResult.Refusal> refused) {}

    public List<FileResult> merge(Path model, Path out, List<AdapterMergePass.Term> terms, Overwrite overwrite) {
        if (terms.isEmpty()) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "no adapter to add or subtract");
        }
        ModelFiles files = ModelFiles.of(model);
        OutputGuard.check(out, files.directory() ? OutputGuard.Kind.FOLDER : OutputGuard.Kind.MODEL, overwrite.allowed(),
                List.of(model));
        AdapterMergePass pass = new AdapterMergePass(family);
        List<ModelProto> loaded = new ArrayList<>();
        for (Path f : files.onnxFiles()) {
            ModelProto m = ModelIO.load(f);
            ModelValidator.check(m, f.toString());
            loaded.add(m);
        }
        Map<String, String> known = knownModules(files, loaded, family);
        for (AdapterMergePass.Term t : terms) {
            checkModules(t.adapter(), known, model);
        }
        List<FileResult> results = new ArrayList<>();
        for (int i = 0; i < loaded.size(); i++) {
            Path f = files.onnxFiles().get(i);
            Path target = files.target(f, out);
            progress.start("merge " + f.getFileName(), 2);
            PassResult<ModelProto> r = pass.apply(loaded.get(i), files.directory() ? f : null, terms);
            progress.advance(1, "writing");
            ModelIO.save(r.output(), target);
            progress.advance(2, "");
            progress.finish();
            results.add(new FileResult(f, target, r.changed(), r.refused()));
        }
        Patcher.copyCompanions(files, out);
        return results;
    }

    /** Every projection of a model's files: module path → "" or why it cannot be edited. */
    public static Map<String, String> knownModules(ModelFiles files, List<ModelProto> loaded, ModelFamily family) {
        Map<String, String> known = new LinkedHashMap<>();
        for (int i = 0; i < loaded.size(); i++) {
            Path f = files.onnxFiles().get(i);
            Discovery d = new ProjectionFinder(family).find(loaded.get(i), files.directory() ? f : null);
            d.projections().forEach(p -> known.put(p.modulePath(), ""));
            d.unsupported().forEach(r -> known.putIfAbsent(r.modulePath(), r.reason()));
        }
        return known;
    }

    /** The same, loading the files. */
    public static Map<String, String> knownModules(Path model, ModelFamily family) {
        ModelFiles files = ModelFiles.of(model);
        List<ModelProto> loaded = new ArrayList<>();
        for (Path f : files.onnxFiles()) {
            loaded.add(ModelIO.load(f));
        }
        return knownModules(files, loaded, family);
    }

    /** Fails naming every module of {@code adapter} that {@code model} lacks or cannot edit. */
    public static void checkModules(Adapter adapter, Map<String, String> known, Path model) {
        TreeSet<String> unknown = new TreeSet<>();
        for (String path : adapter.modules().keySet()) {
            String why = known.get(path);
            if (why == null) {
                unknown.add(path);
            } else if (!why.isEmpty()) {
                throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, adapter.origin() + " adapts " + path
                        + ", which cannot be edited in " + model + ": " + why);
            }
        }
        if (!unknown.isEmpty()) {
            String example = known.keySet().stream().findFirst().orElse("none");
            throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH, adapter.origin() + " adapts " + unknown.size()
                    + " module(s) that " + model + " does not have: " + String.join(", ", unknown)
                    + " (its projections look like " + example + ")");
        }
    }
}
