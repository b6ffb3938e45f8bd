package org.onnxlora.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.IoErrors;
import org.onnxlora.io.ModelIO;
import org.onnxlora.lora.AdapterSource;
import org.onnxlora.lora.LoraConfig;
import org.onnxlora.lora.LoraMetadata;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.lora.ModelFiles;
import org.onnxlora.lora.PatchPass;
import org.onnxlora.lora.PatchPlan;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.runtime.Seq2SeqSignature;

/**
 * An Optimum export folder as training sees it: its encoder, decoder and (optional)
 * decoder-with-past files, patched together with one set of adapters (every file gets the
 * same tensors, named after module paths) and joined into one graph to train
 * ({@link OptimumStitchPass}). The patched files are what {@code merge} later folds the
 * trained adapters into, file by file.
 */
public final class OptimumFolder {
    private final Path dir;
    private final ModelFamily family;
    private final Map<String, ModelProto> files; // file name -> model, encoder and decoder first

    private OptimumFolder(Path dir, ModelFamily family, Map<String, ModelProto> files) {
        this.dir = dir;
        this.family = family;
        this.files = files;
    }

    /** Loads the folder's files; a missing encoder or decoder is named. */
    public static OptimumFolder load(Path dir, ModelFamily family) {
        ModelFiles.requireOptimum(dir);
        Map<String, ModelProto> files = new LinkedHashMap<>();
        for (String f : List.of(ModelFiles.ENCODER, ModelFiles.DECODER, ModelFiles.DECODER_WITH_PAST)) {
            if (Files.isRegularFile(dir.resolve(f))) {
                files.put(f, ModelIO.load(dir.resolve(f)));
            }
        }
        return new OptimumFolder(dir, family, files);
    }

    public Path dir() {
        return dir;
    }

    /** Whether the files already carry LoRA branches. */
    public boolean isPatched() {
        return LoraMetadata.read(files.get(ModelFiles.ENCODER)).isPresent()
                || LoraMetadata.read(files.get(ModelFiles.DECODER)).isPresent();
    }

    /** Every file patched with the same adapters; the targets must match somewhere in the folder. */
    public OptimumFolder patch(LoraConfig cfg, AdapterSource source) {
        PatchPass pass = new PatchPass(family);
        Map<String, PatchPlan> plans = new LinkedHashMap<>();
        files.forEach((name, m) -> plans.put(name, pass.plan(m, dir.resolve(name), cfg)));
        PatchPass.checkTargets(cfg, new ArrayList<>(plans.values()));
        Map<String, ModelProto> patched = new LinkedHashMap<>();
        files.forEach((name, m) -> patched.put(name, pass.apply(m, cfg, plans.get(name), source).output()));
        return new OptimumFolder(dir, family, patched);
    }

    /** The contract of the file {@code name}. */
    public Seq2SeqSignature signature(String name) {
        return Seq2SeqSignature.of(files.get(name), dir.resolve(name), family);
    }

    /** Encoder and decoder joined into one training graph. */
    public ModelProto joined() {
        return OptimumStitchPass.apply(files.get(ModelFiles.ENCODER), signature(ModelFiles.ENCODER),
                files.get(ModelFiles.DECODER), signature(ModelFiles.DECODER)).output();
    }

    /** Whether {@code out} holds every file {@link #save} writes (each is written whole or not at all). */
    public boolean isSavedIn(Path out) {
        if (!files.keySet().stream().allMatch(name -> Files.isRegularFile(out.resolve(name)))) {
            return false;
        }
        return ModelFiles.of(dir).companions().stream().allMatch(c -> Files.isRegularFile(out.resolve(c.getFileName())));
    }

    /** Writes every file (and the folder's other files: config, tokenizer) into {@code out}. */
    public void save(Path out) {
        try {
            Files.createDirectories(out);
            files.forEach((name, m) -> ModelIO.save(m, out.resolve(name)));
            for (Path c : ModelFiles.of(dir).companions()) {
                Files.copy(c, out.resolve(c.getFileName()), StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot write " + out + ": " + IoErrors.reason(e), e);
        }
    }
}
