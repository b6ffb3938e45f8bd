package org.onnxlora.lora;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.io.ModelIO;
import org.onnxlora.proto.Onnx.ModelProto;

/**
 * The adapters of a patched model (the output of {@code patch} or {@code train}):
 * each branch's rank and scaling from the graph, its alpha from the {@code onnx_lora}
 * metadata (alpha = scaling·r when the metadata was stripped), and its factors from
 * the model or, where given, from a checkpoint's tensors ({@code …q_proj.lora_A}).
 */
public final class PatchedAdapters {
    private PatchedAdapters() {}

    public static Adapter read(Path model, AdapterValues overrides, String origin) {
        ModelFiles files = ModelFiles.of(model);
        Map<String, Adapter.Module> modules = new LinkedHashMap<>();
        java.util.Set<String> unused = new java.util.LinkedHashSet<>(overrides.names());
        boolean rslora = false;
        for (Path f : files.onnxFiles()) {
            ModelProto m = ModelIO.load(f);
            Optional<LoraMetadata.Info> info = LoraMetadata.read(m);
            rslora |= info.map(LoraMetadata.Info::useRslora).orElse(false);
            Map<String, Double> alphas = new HashMap<>();
            info.ifPresent(i -> i.modules().forEach(mod -> alphas.put(mod.module(), mod.alpha())));
            GraphIndex g = new GraphIndex(m.getGraph());
            for (LoraBranch br : BranchFinder.find(m.getGraph())) {
                if (modules.containsKey(br.modulePath())) {
                    continue; // another file of an Optimum export: the same adapter
                }
                AdapterTensors t = BranchTensors.of(g, br, overrides);
                unused.remove(br.loraA());
                unused.remove(br.loraB());
                boolean rs = info.map(LoraMetadata.Info::useRslora).orElse(false);
                double alpha = alphas.getOrDefault(br.modulePath(),
                        rs ? t.scaling() * Math.sqrt(t.rank()) : t.scaling() * t.rank());
                modules.put(br.modulePath(), new Adapter.Module(br.modulePath(), alpha, t, br.loraA(), br.loraB()));
            }
        }
        if (modules.isEmpty()) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, model
                    + " has no LoRA branches (is it the output of 'patch' or 'train'?)");
        }
        if (!unused.isEmpty()) {
            throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH, "adapter tensor '" + unused.iterator().next()
                    + "' of " + origin + " has no LoRA branch in " + model);
        }
        return new Adapter(origin, rslora, modules);
    }
}
