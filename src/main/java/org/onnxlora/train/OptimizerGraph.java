package org.onnxlora.train;

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
 *
 * <p>The graph is <em>multi-tensor</em>: every adapter, gradient and moment is one flat float
 * vector laid out by {@link AdapterLayout}, so the step is the same ~40 elementwise nodes for any
 * number of adapters (a graph per tensor had ~11 nodes per adapter: 774 for 72 adapters) and ONNX
 * Runtime runs a few long loops instead of hundreds of tiny kernels. AdamW is elementwise and the
 * norm is global, so flattening changes nothing but the summation order of the norm.
 * Inputs: {@code adapters}, {@code grads}, {@code exp_avg}, {@code exp_avg_sq} (each
 * {@code [elements]}), {@code lr} (double), {@code step} (int64, from 1), {@code grad_scale}
 * (float). Outputs: {@code new.adapters}, {@code new.exp_avg}, {@code new.exp_avg_sq} and
 * {@code grad_norm} (before clipping).
 */
public final class OptimizerGraph {
    public static final String PARAMS = "adapters";
    public static final String GRADS = "grads";
    public static final String EXP_AVG = "exp_avg";
    public static final String EXP_AVG_SQ = "exp_avg_sq";
    public static final String LR = "lr";
    public static final String STEP = "step";
    public static final String GRAD_SCALE = "grad_scale";
    public static final String GRAD_NORM = "grad_norm";

    private OptimizerGraph() {}

    public static ModelProto build(List<AdapterSpec> adapters, OptimizerConfig cfg) {
        return build(new AdapterLayout(adapters), cfg);
    }

    public static ModelProto build(AdapterLayout layout, OptimizerConfig cfg) {
        int f = DataType.FLOAT_VALUE;
        int d = DataType.DOUBLE_VALUE;
        long[] flat = {layout.elements()};
        NameGen names = new NameGen(new HashSet<>());
        GraphProto.Builder g = GraphProto.newBuilder().setName("onnx_lora_adamw");
        for (String n : List.of(PARAMS, GRADS, EXP_AVG, EXP_AVG_SQ)) {
            names.reserve(n);
            names.reserve(AdapterSpec.updated(n));
            g.addInput(Graphs.tensorValue(n, f, flat));
        }
        for (String n : List.of(LR, STEP, GRAD_SCALE, GRAD_NORM)) {
            names.reserve(n);
        }
        g.addInput(Graphs.tensorValue(LR, d, new long[0]));
        g.addInput(Graphs.tensorValue(STEP, DataType.INT64_VALUE, new long[0]));
        g.addInput(Graphs.tensorValue(GRAD_SCALE, f, new long[0]));

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
        String scaled = b.op("Mul", GRADS, GRAD_SCALE);
        String norm = b.op("Sqrt", b.op("ReduceSum", List.of(b.op("Mul", scaled, scaled)), Attrs.i("keepdims", 0)));
        b.add("", "Identity", names.fresh("/adamw/grad_norm"), List.of(norm), List.of(GRAD_NORM));
        String grad = scaled;
        if (cfg.maxGradNorm() > 0) {
            String coef = b.op("Div", b.scalar(cfg.maxGradNorm(), f), b.op("Add", norm, b.scalar(1e-6, f)));
            grad = b.op("Mul", scaled, b.op("Min", coef, b.scalar(1, f)));
        }

        b.scope("/adamw/update");
        String decayed = b.op("Mul", PARAMS, decay);
        String mNew = b.op("Add", EXP_AVG, b.op("Mul", b.op("Sub", grad, EXP_AVG), b.scalar(1 - cfg.beta1(), f)));
        String vNew = b.op("Add", b.op("Mul", EXP_AVG_SQ, b.scalar(cfg.beta2(), f)),
                b.op("Mul", b.op("Mul", grad, grad), b.scalar(1 - cfg.beta2(), f)));
        String denom = b.op("Add", b.op("Div", b.op("Sqrt", vNew), bc2Sqrt), b.scalar(cfg.eps(), f));
        String pNew = b.op("Sub", decayed, b.op("Mul", b.op("Div", mNew, denom), stepSize));
        for (String[] io : new String[][] {{pNew, PARAMS}, {mNew, EXP_AVG}, {vNew, EXP_AVG_SQ}}) {
            String out = AdapterSpec.updated(io[1]);
            b.add("", "Identity", names.fresh("/adamw/out"), List.of(io[0]), List.of(out));
            g.addOutput(Graphs.tensorValue(out, f, flat));
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
