package org.onnxlora.interop;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Setting;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.io.IoErrors;
import org.onnxlora.io.ModelIO;
import org.onnxlora.io.Tensors;
import org.onnxlora.lora.Adapter;
import org.onnxlora.lora.AdapterTensors;
import org.onnxlora.lora.BranchFinder;
import org.onnxlora.lora.LoraBranch;
import org.onnxlora.lora.LoraMetadata;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.lora.PatchPass;
import org.onnxlora.lora.PatchPlan;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.TensorShapeProto;
import org.onnxlora.proto.Onnx.TypeProto;
import org.onnxlora.proto.Onnx.ValueInfoProto;

/**
 * Adapters that ONNX Runtime switches per request ({@code OrtLoraAdapter} +
 * {@code RunOptions.addActiveLoraAdapter}, stock builds ≥ 1.20), without reloading the model.
 *
 * <p>The <b>switchable model</b> is a patched model whose LoRA tensors (A, B and the scaling of
 * every branch) are also graph inputs, which makes them <i>overridable initializers</i>: a run
 * that activates an adapter feeds them, a run that does not uses the defaults. The defaults have
 * B = 0, so without an active adapter the model computes the base model. A's and B's rank is a
 * symbolic dimension, so adapters of any rank fit; modules an adapter leaves out keep B = 0.
 *
 * <p>The <b>adapter file</b> holds, for each adapted module, {@code <path>.lora_A} {@code [in,r]},
 * {@code <path>.lora_B} {@code [r,out]} and {@code <path>.lora_scaling} {@code [1]} (the format has no scalars),
 * in the model's dtype.
 */
public final class OrtAdapters {
    public static final String SWITCHABLE_KEY = "onnx_lora.switchable";

    private OrtAdapters() {}

    /** What {@link #export} wrote. */
    public record Exported(Path model, Path adapter, List<String> modules, long parameterBytes) {}

    /**
     * Writes {@code outDir/model.onnx} (the switchable model) and {@code outDir/<name>.onnx_adapter}.
     * {@code model} is a patched model, or a base model that is then patched with exactly the
     * adapter's modules.
     */
    public static Exported export(Adapter adapter, Path model, ModelFamily family, Path outDir, String name) {
        if (Files.isDirectory(model)) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, Setting.ADAPTER_FORMAT,
                    "an ONNX Runtime adapter needs one model file;"
                    + " " + model + " is a folder (Optimum export): ONNX Runtime feeds every adapter parameter to"
                    + " the session, and each Optimum file holds only some projections. Use the full-model export");
        }
        ModelProto m = ModelIO.load(model);
        if (BranchFinder.find(m.getGraph()).isEmpty()) {
            PatchPass pass = new PatchPass(family);
            PatchPlan plan = pass.plan(m, null, adapter.patchConfig());
            PatchPass.checkTargets(adapter.patchConfig(), List.of(plan));
            m = pass.apply(m, adapter.patchConfig(), plan, adapter).output();
        }
        ModelProto switchable = switchable(m);
        List<OrtAdapterFile.Parameter> params = parameters(adapter, switchable);
        try {
            Files.createDirectories(outDir);
        } catch (java.io.IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot create " + outDir + ": " + IoErrors.reason(e), e);
        }
        Path modelOut = outDir.resolve("model.onnx");
        Path adapterOut = outDir.resolve(name + OrtAdapterFile.EXTENSION);
        ModelIO.save(switchable, modelOut);
        OrtAdapterFile.write(adapterOut, params, 1, 1);
        return new Exported(modelOut, adapterOut, new ArrayList<>(adapter.modules().keySet()),
                params.stream().mapToLong(p -> p.rawData().length).sum());
    }

    /** {@code patched} with every LoRA tensor overridable, rank symbolic and B = 0 by default. */
    public static ModelProto switchable(ModelProto patched) {
        GraphProto graph = patched.getGraph();
        List<LoraBranch> branches = BranchFinder.find(graph);
        if (branches.isEmpty()) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, "the model has no LoRA branches");
        }
        if (patched.getIrVersion() < 4) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, "overridable initializers need ONNX IR version"
                    + " 4 or later; the model has " + patched.getIrVersion());
        }
        GraphIndex g = new GraphIndex(graph);
        Set<String> existingInputs = new HashSet<>(g.inputs().keySet());
        Map<String, TensorProto> replaced = new HashMap<>();
        GraphProto.Builder out = graph.toBuilder();
        for (LoraBranch br : branches) {
            TensorProto a = g.initializer(br.loraA());
            TensorProto b = g.initializer(br.loraB());
            TensorProto s = g.initializer(br.scaling());
            String r = br.modulePath() + ".r";
            for (TensorProto t : List.of(a, b, s)) {
                if (existingInputs.contains(t.getName())) {
                    continue;
                }
                TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
                if (t == s) {
                    shape.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(1));
                }
                for (int d = 0; d < t.getDimsCount(); d++) {
                    boolean rank = (t == a && d == 1) || (t == b && d == 0);
                    shape.addDim(rank ? TensorShapeProto.Dimension.newBuilder().setDimParam(r)
                            : TensorShapeProto.Dimension.newBuilder().setDimValue(t.getDims(d)));
                }
                out.addInput(ValueInfoProto.newBuilder().setName(t.getName()).setType(TypeProto.newBuilder()
                        .setTensorType(TypeProto.Tensor.newBuilder().setElemType(t.getDataType()).setShape(shape))));
            }
            double[] zeros = new double[Math.toIntExact(Tensors.elementCount(b))];
            replaced.put(b.getName(), Tensors.ofDoubles(b.getName(), Tensors.shape(b), zeros, b.getDataType()));
            // ORT's adapter format has no scalars: the scaling becomes a [1] tensor (Mul broadcasts it alike)
            replaced.put(s.getName(), s.toBuilder().clearDims().addDims(1).build());
        }
        for (int i = 0; i < out.getInitializerCount(); i++) {
            TensorProto z = replaced.get(out.getInitializer(i).getName());
            if (z != null) {
                out.setInitializer(i, z);
            }
        }
        ModelProto m = patched.toBuilder().setGraph(out).build();
        String note = "{\"modules\": " + branches.size() + ", \"defaults\": \"B = 0 (the base model)\","
                + " \"overridable\": \"<module>.lora_A, <module>.lora_B, <module>.lora_scaling\"}";
        return LoraMetadata.withEntry(m, SWITCHABLE_KEY, note);
    }

    /** The adapter's tensors, named and typed as {@code model}'s overridable LoRA initializers. */
    public static List<OrtAdapterFile.Parameter> parameters(Adapter adapter, ModelProto model) {
        GraphIndex g = new GraphIndex(model.getGraph());
        Map<String, LoraBranch> byPath = new HashMap<>();
        BranchFinder.find(model.getGraph()).forEach(b -> byPath.put(b.modulePath(), b));
        TreeSet<String> unknown = new TreeSet<>(adapter.modules().keySet());
        unknown.removeAll(byPath.keySet());
        if (!unknown.isEmpty()) {
            throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH, adapter.origin() + " adapts module(s) the model"
                    + " has no LoRA branch for: " + String.join(", ", unknown));
        }
        List<OrtAdapterFile.Parameter> params = new ArrayList<>();
        for (Adapter.Module mod : adapter.modules().values()) {
            LoraBranch br = byPath.get(mod.path());
            TensorProto a = g.initializer(br.loraA());
            TensorProto b = g.initializer(br.loraB());
            AdapterTensors t = mod.tensors();
            long in = a.getDims(0);
            long outF = b.getDims(1);
            adapter.checkFits(mod, in, outF);
            params.add(param(br.loraA(), new long[] {in, t.rank()}, t.a(), a.getDataType()));
            params.add(param(br.loraB(), new long[] {t.rank(), outF}, t.b(), b.getDataType()));
            params.add(param(br.scaling(), new long[] {1}, new double[] {t.scaling()},
                    g.initializer(br.scaling()).getDataType()));
        }
        return params;
    }

    private static OrtAdapterFile.Parameter param(String name, long[] dims, double[] values, int dataType) {
        TensorProto t = Tensors.ofDoubles(name, dims, values, dataType);
        return new OrtAdapterFile.Parameter(name, dims, dataType, t.getRawData().toByteArray());
    }
}
