package org.onnxlora.train;

import com.google.gson.Gson;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.AtomicFiles;
import org.onnxlora.io.Json;
import org.onnxlora.io.IoErrors;
import org.onnxlora.io.ModelIO;
import org.onnxlora.io.SafetensorsFile;
import org.onnxlora.io.SafetensorsWriter;
import org.onnxlora.io.SharedExternalData;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.TensorProto;

/**
 * Training artifacts on disk, readable by a person in Netron and by the runner:
 *
 * <pre>
 *   DIR/training_model.onnx     forward + loss + adapter gradients
 *   DIR/eval_model.onnx         forward + loss + logits
 *   DIR/optimizer_model.onnx    one AdamW step
 *   DIR/step_model.onnx         training + AdamW as one graph (the fused step, {@link FusedStepGraph})
 *   DIR/frozen_weights.data     the frozen base weights, stored once, referenced by the forward models above
 *   DIR/initial_adapters.safetensors
 *   DIR/artifacts.json          adapters, loss and optimizer settings
 * </pre>
 */
public final class ArtifactStore {
    public static final String TRAINING = "training_model.onnx";
    public static final String EVAL = "eval_model.onnx";
    public static final String OPTIMIZER = "optimizer_model.onnx";
    public static final String STEP = "step_model.onnx";
    public static final String WEIGHTS = "frozen_weights.data";
    public static final String ADAPTERS = "initial_adapters.safetensors";
    public static final String MANIFEST = org.onnxlora.run.RunDirectory.ARTIFACTS_MANIFEST;
    /**
     * Manifest format: 2 since the optimizer is one multi-tensor graph over flat buffers; the
     * per-tensor optimizer of format 1 is rebuilt from the manifest when read, so the artifacts of
     * older runs still resume. 3 since the fused step model ({@link #STEP}); artifacts without it
     * train with the separate training and optimizer graphs.
     */
    static final int FORMAT = 3;
    /** The first format with {@link #STEP}. */
    static final int FORMAT_WITH_STEP = 3;
    private static final Gson GSON = Json.builder().setPrettyPrinting().create();

    private ArtifactStore() {}

    /** The manifest: what a runner needs besides the graphs. */
    public record Manifest(int format, String logits, List<AdapterEntry> adapters, LossConfig loss,
            OptimizerConfig optimizer) {}

    public record AdapterEntry(String name, long[] dims) {}

    /**
     * Writes the artifacts; returns the shared weights file so that other models made of
     * the same frozen weights (the patched model of a run) can reference it too.
     */
    public static SharedExternalData write(TrainingCompiler.Artifacts a, TrainingCompiler.Options options, Path dir) {
        try {
            Files.createDirectories(dir);
            List<TensorProto> big = new ArrayList<>();
            for (TensorProto t : a.training().getGraph().getInitializerList()) {
                if (t.hasRawData() && t.getRawData().size() >= FrozenWeights.MIN_BYTES) {
                    big.add(t);
                }
            }
            SharedExternalData data = SharedExternalData.write(dir.resolve(WEIGHTS), big);
            ModelIO.save(data.reference(a.training(), dir), dir.resolve(TRAINING), ModelIO.ExternalData.NEVER);
            ModelIO.save(data.reference(a.eval(), dir), dir.resolve(EVAL), ModelIO.ExternalData.NEVER);
            ModelIO.save(a.optimizer(), dir.resolve(OPTIMIZER), ModelIO.ExternalData.NEVER);
            ModelProto step = FusedStepGraph.build(a.training(), a.optimizer(), new AdapterLayout(a.adapters()));
            ModelIO.save(data.reference(step, dir), dir.resolve(STEP), ModelIO.ExternalData.NEVER);
            SafetensorsWriter w = new SafetensorsWriter();
            List<AdapterEntry> entries = new ArrayList<>();
            for (AdapterSpec s : a.adapters()) {
                w.putFloats(s.name(), s.dims(), Tensors.toFloats(a.initialAdapters().get(s.name())));
                entries.add(new AdapterEntry(s.name(), s.dims()));
            }
            w.metadata("format", "onnx-lora adapters").write(dir.resolve(ADAPTERS));
            AtomicFiles.writeString(dir.resolve(MANIFEST), GSON.toJson(
                    new Manifest(FORMAT, a.logitsOutput(), entries, options.loss(), options.optimizer())));
            return data;
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot write artifacts to " + dir + ": " + IoErrors.reason(e), e);
        }
    }

    /** Reads artifacts back; the large weights stay in the mapped data file. */
    public static TrainingCompiler.Artifacts read(Path dir) {
        Manifest m = manifest(dir);
        List<AdapterSpec> specs = new ArrayList<>();
        Map<String, TensorProto> initial = new LinkedHashMap<>();
        try (SafetensorsFile st = SafetensorsFile.open(dir.resolve(ADAPTERS))) {
            for (AdapterEntry e : m.adapters()) {
                specs.add(new AdapterSpec(e.name(), e.dims(), 1));
                initial.put(e.name(), Tensors.ofFloats(e.name(), e.dims(), st.floats(e.name())));
            }
        }
        ModelProto optimizer = m.format() >= 2 ? ModelIO.load(dir.resolve(OPTIMIZER))
                : OptimizerGraph.build(specs, m.optimizer());
        return TrainingCompiler.Artifacts.stored(ModelIO.load(dir.resolve(TRAINING)), ModelIO.load(dir.resolve(EVAL)),
                optimizer, specs, initial, m.logits(), dir);
    }

    /** The fused step model of the artifacts in {@code dir}, absent in artifacts of an older format. */
    static java.util.Optional<Path> stepModel(Path dir) {
        return manifest(dir).format() >= FORMAT_WITH_STEP ? java.util.Optional.of(dir.resolve(STEP))
                : java.util.Optional.empty();
    }

    private static Manifest manifest(Path dir) {
        Path manifestFile = dir.resolve(MANIFEST);
        if (!Files.exists(manifestFile)) {
            throw new OnnxLoraException(ErrorCode.IO, dir + " holds no training artifacts (" + MANIFEST + " missing)");
        }
        try {
            return GSON.fromJson(Files.readString(manifestFile), Manifest.class);
        } catch (IOException | RuntimeException e) {
            throw new OnnxLoraException(ErrorCode.INVALID_MODEL, "cannot read " + manifestFile + ": " + IoErrors.reason(e), e);
        }
    }
}
