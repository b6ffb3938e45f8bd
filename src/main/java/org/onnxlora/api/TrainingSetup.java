package org.onnxlora.api;

import java.nio.file.Path;
import org.onnxlora.io.SharedExternalData;
import org.onnxlora.lora.AdapterInit;
import org.onnxlora.lora.LoraConfig;
import org.onnxlora.lora.LoraMetadata;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.lora.PatchPass;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.train.ArtifactStore;
import org.onnxlora.train.OptimumFolder;
import org.onnxlora.train.TrainingCompiler;

/**
 * The set-up every training path shares (a run, the training benchmark): patch a base model in
 * memory, compile the training, eval and optimizer graphs once and write them as artifacts that
 * {@code TrainingSession} opens.
 */
public final class TrainingSetup {
    /** What was compiled: how many trainable tensors, and the frozen weights' shared data file. */
    public record Compiled(int adapters, long trainableParameters, SharedExternalData frozenWeights) {}

    private TrainingSetup() {}

    /** {@code model} itself when it is patched already, else patched with {@code config} (seeded by its seed). */
    public static ModelProto patchedOrPatch(ModelProto model, ModelFamily family, LoraConfig config) {
        if (LoraMetadata.read(model).isPresent()) {
            return model;
        }
        return new PatchPass(family).patch(model, null, config, new AdapterInit(config.init(), config.seed()));
    }

    /** {@code folder} itself when its files are patched already, else every file patched with {@code config}'s adapters. */
    public static OptimumFolder patchedOrPatch(OptimumFolder folder, LoraConfig config) {
        if (folder.isPatched()) {
            return folder;
        }
        return folder.patch(config, new AdapterInit(config.init(), config.seed()));
    }

    /** Compiles {@code patched} and writes the artifacts into {@code dir}. */
    public static Compiled compile(ModelProto patched, CompileOptions options, Path dir) {
        return compile(patched, options.compiler(), dir);
    }

    /** Compiles {@code patched} and writes the artifacts into {@code dir}. */
    public static Compiled compile(ModelProto patched, TrainingCompiler.Options options, Path dir) {
        TrainingCompiler.Artifacts art = new TrainingCompiler().compile(patched, options);
        SharedExternalData data = ArtifactStore.write(art, options, dir);
        return new Compiled(art.adapters().size(), art.adapters().stream().mapToLong(a -> a.elements()).sum(), data);
    }
}
