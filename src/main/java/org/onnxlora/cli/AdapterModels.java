package org.onnxlora.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.onnxlora.Progress;
import org.onnxlora.io.FileTrees;
import org.onnxlora.io.Overwrite;
import org.onnxlora.lora.BranchMerger;
import org.onnxlora.lora.NonFinitePolicy;

/**
 * A model to run with trained adapters applied: the patched model with the run's
 * adapters folded in, in a temporary folder that disappears on close. Merged
 * weights give the patched model's outputs (to 1e-4) at the base model's speed.
 */
final class AdapterModels implements AutoCloseable {
    private final Path model;
    private final Path tmp;

    private AdapterModels(Path model, Path tmp) {
        this.model = model;
        this.tmp = tmp;
    }

    /** {@code model} itself when {@code adapter} is null. */
    static AdapterModels of(Path model, Path adapter) throws IOException {
        if (adapter == null) {
            return new AdapterModels(model, null);
        }
        org.onnxlora.lora.AdapterValues values = org.onnxlora.api.TrainingRun.adapters(adapter);
        Path tmp = Files.createTempDirectory("onnx-lora-adapted");
        Path out = tmp.resolve(Files.isDirectory(model) ? "model" : "model.onnx");
        // eval and generate report what a NaN adapter does (NaN loss, written as "NaN"): never refuse it here
        new BranchMerger(Progress.NONE).merge(model, out, values, Overwrite.REPLACE, NonFinitePolicy.ALLOW);
        return new AdapterModels(out, tmp);
    }

    Path path() {
        return model;
    }

    @Override
    public void close() throws IOException {
        if (tmp != null) {
            FileTrees.delete(tmp);
        }
    }
}
