package org.onnxlora.api;

import java.nio.file.Path;
import org.onnxlora.graph.ModelValidator;
import org.onnxlora.io.ModelIO;
import org.onnxlora.io.OutputGuard;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.train.ArtifactStore;
import org.onnxlora.train.TrainingCompiler;

/**
 * Compiling a patched model into the training artifacts stock ONNX Runtime runs (training, eval
 * and optimizer graphs, frozen weights, initial adapters), for a program that trains them itself;
 * {@link TrainingRun} compiles on its own.
 *
 * @param adapters trainable tensors
 * @param trainableParameters their elements
 * @param trainingNodes nodes of the training graph
 * @param evalNodes nodes of the eval graph
 * @param optimizerNodes nodes of the optimizer graph
 */
public record Compilation(int adapters, long trainableParameters, int trainingNodes, int evalNodes,
        int optimizerNodes) {

    /**
     * Compiles the patched model at {@code model} into the folder {@code out}; refuses to overwrite
     * an existing folder unless {@code replace}, and never one that holds the model.
     */
    public static Compilation compile(Path model, Path out, CompileOptions options, boolean replace) {
        OutputGuard.check(out, OutputGuard.Kind.FOLDER, replace, TrainingRun.inputsOf(model));
        TrainingCompiler.Options opts = options.compiler();
        ModelProto patched = ModelIO.load(model);
        ModelValidator.check(patched, model.toString());
        TrainingCompiler.Artifacts art = new TrainingCompiler().compile(patched, opts);
        ArtifactStore.write(art, opts, out);
        return new Compilation(art.adapters().size(), art.adapters().stream().mapToLong(a -> a.elements()).sum(),
                art.training().getGraph().getNodeCount(), art.eval().getGraph().getNodeCount(),
                art.optimizer().getGraph().getNodeCount());
    }
}
