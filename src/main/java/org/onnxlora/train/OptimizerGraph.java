package org.onnxlora.train;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.NameGen;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.OperatorSetIdProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;

/**
 * Compiles one AdamW step over all adapters into a graph of stock ops:
 *
 * <pre>
 *   g   = grad · grad_scale                          (grad_scale = 1 / tokens: sums become means)
 *   s   = min(1, max_norm / (‖g‖₂ + 1e-6))           (global norm over every adapter)
 *   p  ← p · (1 − lr·λ)                              (decoupled weight decay)
 *   m  ← m + (1−β1)(s·g − m)
 *   v  ← β2·v + (1−β2)(s·g)²
 *   p  ← p − lr/(1−β1ᵗ) · m / (√v / √(1−β2ᵗ) + ε)
 * </pre>
 *
 * in the same order of operations as {@code torch.optim.AdamW}, so results agree to
 * float rounding. Scalars that depend on the step are computed in float64.
 * Inputs: each adapter, {@code grad.*}, {@code exp_avg.*}, {@code exp_avg_sq.*}, and
 * {@code lr} (double), {@code step} (int64, from 1), {@code grad_scale} (float).
 * Outputs: {@code new.*} of each of those three and {@code grad_norm} (before clipping).
 */
public final class OptimizerGraph {
    public static final String LR = "lr";
    public static final String STEP = "step";
    public static final String GRAD_SCALE = "grad_scale";
    public static final String GRAD_NORM = "grad_norm";

    private OptimizerGraph() {}

    public static ModelProto build(List<AdapterSpec> adapters, OptimizerConfig cfg) {
        int f = DataType.FLOAT_VALUE;
        int d = DataType.DOUBLE_VALUE;
        NameGen names = new NameGen(new HashSet<>());
        GraphProto.Builder g = GraphProto.newBuilder().setName("onnx_lora_adamw");
        for (AdapterSpec a : adapters) {
            for (String n : List.of(a.name(), AdapterSpec.grad(a.name()), AdapterSpec.expAvg(a.name()),
                    AdapterSpec.expAvgSq(a.name()))) {
                names.reserve(n);
                g.addInput(Graphs.tensorValue(n, f, a.dims()));
            }
        }
        for (String n : List.of(LR, STEP, GRAD_SCALE, GRAD_NORM)) {
            names.reserve(n);
        }
        g.addInput(Graphs.tensorValue(LR, d, new long[0]));
        g.addInput(Graphs.tensorValue(STEP, DataType.INT64_VALUE, new long[0]));
        g.addInput(Graphs.tensorValue(GRAD_SCALE, f, new long[0]));
        for (AdapterSpec a : adapters) {
            names.reserve(AdapterSpec.updated(a.name()));
            names.reserve(AdapterSpec.updated(AdapterSpec.expAvg(a.name())));
            names.reserve(AdapterSpec.updated(AdapterSpec.expAvgSq(a.name())));
        }

        GraphBuilder b = new GraphBuilder(names).scope("/adamw/scalars");
        String t = b.op("Cast", STEP, Attrs.i("to", d));
        String one = b.scalar(1, d);
        String bc1 = b.op("Sub", one, b.op("Pow", b.scalar(cfg.beta1(), d), t));
        String bc2 = b.op("Sub", one, b.op("Pow", b.scalar(cfg.beta2(), d), t));
        String stepSize = b.op("Cast", b.op("Div", LR, bc1), Attrs.i("to", f));
        String bc2Sqrt = b.op("Cast", b.op("Sqrt", bc2), Attrs.i("to", f));
        String decay = b.op("Cast", b.op("Sub", one, b.op("Mul", LR, b.scalar(cfg.weightDecay(), d))),
                Attrs.i("to", f));

        b.scope("/adamw/clip");
        List<String> scaled = new ArrayList<>();
        List<String> sumsq = new ArrayList<>();
        for (AdapterSpec a : adapters) {
            String gs = b.op("Mul", AdapterSpec.grad(a.name()), GRAD_SCALE);
            scaled.add(gs);
            sumsq.add(b.op("ReduceSum", List.of(b.op("Mul", gs, gs)), Attrs.i("keepdims", 0)));
        }
        String norm = b.op("Sqrt", sumsq.size() == 1 ? sumsq.get(0) : b.op("Sum", sumsq));
        b.add("", "Identity", names.fresh("/adamw/grad_norm"), List.of(norm), List.of(GRAD_NORM));
        String clip = null;
        if (cfg.maxGradNorm() > 0) {
            String coef = b.op("Div", b.scalar(cfg.maxGradNorm(), f), b.op("Add", norm, b.scalar(1e-6, f)));
            clip = b.op("Min", coef, b.scalar(1, f));
        }

        String oneMinusB1 = b.scalar(1 - cfg.beta1(), f);
        String b2 = b.scalar(cfg.beta2(), f);
        String oneMinusB2 = b.scalar(1 - cfg.beta2(), f);
        String eps = b.scalar(cfg.eps(), f);
        for (int i = 0; i < adapters.size(); i++) {
            AdapterSpec a = adapters.get(i);
            String p = a.name();
            b.scope("/adamw/" + p);
            String grad = clip == null ? scaled.get(i) : b.op("Mul", scaled.get(i), clip);
            String decayed = b.op("Mul", p, decay);
            String m = AdapterSpec.expAvg(p);
            String mNew = b.op("Add", m, b.op("Mul", b.op("Sub", grad, m), oneMinusB1));
            String v = AdapterSpec.expAvgSq(p);
            String vNew = b.op("Add", b.op("Mul", v, b2), b.op("Mul", b.op("Mul", grad, grad), oneMinusB2));
            String denom = b.op("Add", b.op("Div", b.op("Sqrt", vNew), bc2Sqrt), eps);
            String upd = b.op("Mul", b.op("Div", mNew, denom), stepSize);
            String pNew = b.op("Sub", decayed, upd);
            for (String[] io : new String[][] {{pNew, AdapterSpec.updated(p)}, {mNew, AdapterSpec.updated(m)},
                    {vNew, AdapterSpec.updated(v)}}) {
                b.add("", "Identity", names.fresh(b.scope() + "/out"), List.of(io[0]), List.of(io[1]));
                g.addOutput(Graphs.tensorValue(io[1], f, a.dims()));
            }
        }
        g.addOutput(Graphs.tensorValue(GRAD_NORM, f, new long[0]));
        g.addAllNode(b.nodes()).addAllInitializer(b.initializers());
        return ModelProto.newBuilder().setIrVersion(8).setProducerName("onnx-lora").setDocString(
                "AdamW step (beta1=" + cfg.beta1() + ", beta2=" + cfg.beta2() + ", eps=" + cfg.eps() + ", weight_decay="
                        + cfg.weightDecay() + ", max_grad_norm=" + cfg.maxGradNorm() + ")")
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(17))
                .setGraph(g).build();
    }
}
