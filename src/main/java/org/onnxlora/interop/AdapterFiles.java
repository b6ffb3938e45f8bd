package org.onnxlora.interop;

import org.onnxlora.lora.AdapterValues;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Setting;
import org.onnxlora.lora.Adapter;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.lora.PatchedAdapters;
import org.onnxlora.run.Checkpoint;
import org.onnxlora.run.RunDirectory;

/**
 * Reads an adapter from whatever the user points at:
 * <ul>
 * <li>a PEFT folder ({@code adapter_config.json} + {@code adapter_model.safetensors});
 * <li>a train run folder ({@code RUN/model.onnx} + its latest checkpoint);
 * <li>a checkpoint folder ({@code RUN/checkpoints/step-N}) or its {@code adapters.safetensors};
 * <li>a patched model ({@code .onnx}, the adapter values stored in it).
 * </ul>
 * onnx-lora's checkpoints hold only A and B; rank, alpha and scaling come from the
 * patched model the run trained ({@code RUN/model.onnx}), or from {@code patchedModel}
 * when given.
 */
public final class AdapterFiles {
    private AdapterFiles() {}

    public static Adapter load(Path path, Path patchedModel, ModelFamily family) {
        if (!Files.exists(path)) {
            throw new OnnxLoraException(ErrorCode.IO, "adapter " + path + " does not exist");
        }
        if (Peft.isPeftDir(path)) {
            return Peft.read(path, family).adapter();
        }
        if (Files.isRegularFile(path) && path.getFileName().toString().endsWith(".onnx")) {
            return PatchedAdapters.read(path, AdapterValues.none(), "patched model " + path);
        }
        Path model = patchedModel != null ? patchedModel : runModelOf(path);
        if (model == null) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.MODEL, "cannot tell the rank and alpha of " + path
                    + ": give a train run folder, a checkpoint inside one, or a PEFT folder, or name the patched"
                    + " model it belongs to");
        }
        AdapterValues values = Checkpoint.adapters(path);
        return PatchedAdapters.read(model, values, "adapter " + path);
    }

    /**
     * The patched model of the run that {@code path} (run, checkpoint folder or adapters file) belongs to:
     * RUN/model.onnx, or RUN/model/ for a run trained on an Optimum folder.
     */
    public static Path runModelOf(Path path) {
        return RunDirectory.containing(path).flatMap(RunDirectory::trainedModel).orElse(null);
    }
}
