package org.onnxlora.lora;

import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.TensorProto;

/**
 * The adapter values of one LoRA branch of a patched model: the factors and scaling stored in
 * the graph, or, where given, a checkpoint's factors by tensor name ({@code …q_proj.lora_A},
 * onnx-lora layout). Merging a model and reading its adapters take them the same way.
 */
final class BranchTensors {
    private BranchTensors() {}

    /** The values stored in the patched model itself. */
    static AdapterTensors stored(GraphIndex g, LoraBranch br) {
        TensorProto a = g.initializer(br.loraA());
        TensorProto b = g.initializer(br.loraB());
        TensorProto s = g.initializer(br.scaling());
        if (a.getDimsCount() != 2 || b.getDimsCount() != 2 || a.getDims(1) != b.getDims(0)
                || a.getDims(1) < 1 || a.getDims(1) > Integer.MAX_VALUE) {
            throw new OnnxLoraException(ErrorCode.INVALID_MODEL, "LoRA factors of " + br.modulePath()
                    + " have incompatible shapes " + a.getDimsList() + " and " + b.getDimsList());
        }
        if (Tensors.elementCount(s) != 1) {
            throw new OnnxLoraException(ErrorCode.INVALID_MODEL, "LoRA scaling '" + s.getName() + "' of "
                    + br.modulePath() + " has shape " + s.getDimsList() + ", expected a single value");
        }
        return new AdapterTensors(a.getDims(0), b.getDims(1), (int) a.getDims(1), Tensors.toDoubles(s)[0],
                Tensors.toDoubles(a), Tensors.toDoubles(b));
    }

    /** The stored values with each factor that {@code overrides} holds replaced by it. */
    static AdapterTensors of(GraphIndex g, LoraBranch br, AdapterValues overrides) {
        AdapterTensors ad = stored(g, br);
        double[] a = override(ad.a(), br.loraA(), overrides);
        double[] b = override(ad.b(), br.loraB(), overrides);
        return a == ad.a() && b == ad.b() ? ad : new AdapterTensors(ad.in(), ad.out(), ad.rank(), ad.scaling(), a, b);
    }

    private static double[] override(double[] stored, String name, AdapterValues overrides) {
        float[] v = overrides.get(name);
        if (v == null) {
            return stored;
        }
        if (v.length != stored.length) {
            throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH, "adapter tensor '" + name + "' has " + v.length
                    + " values but the model's has " + stored.length + " (different rank or model?)");
        }
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            d[i] = v[i];
        }
        return d;
    }
}
