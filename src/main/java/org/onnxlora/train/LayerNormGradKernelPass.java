package org.onnxlora.train;

import java.util.List;
import java.util.Set;
import org.onnxlora.autodiff.rules.LayerNormalization;
import org.onnxlora.graph.Domains;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.GraphPass;
import org.onnxlora.graph.NodePatterns;
import org.onnxlora.graph.PassResult;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.runtime.FusedKernels;

/**
 * Replaces each float32 LayerNorm input gradient that {@link LayerNormalization} emits over the last axis
 * ({@code σ⁻¹·(ĝ − (Σĝ + x̂·Σ(ĝ·x̂))/N)}, eleven tensor-wide nodes) by one
 * {@code ai.onnxlora:LayerNormInputGrad(dY, X, γ, μ, σ⁻¹)} of onnx-lora's kernel library ({@link FusedKernels}),
 * which sweeps each row twice. A session-time rewrite like {@link GeluGradKernelPass}. Only where γ does not train
 * (the chain's x̂ then has no other reader), which is every LoRA run: the frozen norms' weights have no gradient.
 */
public final class LayerNormGradKernelPass implements GraphPass {

    @Override
    public String name() {
        return "layernorm-grad-kernel";
    }

    @Override
    public PassResult<GraphProto> apply(GraphProto graph) {
        return KernelMatches.run(name(), graph, LayerNormGradKernelPass::matchAt);
    }

    /** The rule's chain around its (Σĝ + x̂·Σ(ĝ·x̂))·(1/N), a Mul of such an Add and a float32 scalar; else null. */
    private static Object matchAt(GraphIndex g, NodeProto mixed) {
        if (!Domains.isOp(mixed, "Mul") || mixed.getInputCount() != 2) {
            return null;
        }
        for (int k = 0; k < 2; k++) {
            Double invN = KernelMatches.floatScalar(g, mixed.getInput(k));
            NodeProto add = NodePatterns.producer(g, mixed.getInput(1 - k), "Add");
            if (invN != null && add != null && isRowSumPair(g, add)) {
                return match(g, mixed, add, invN);
            }
        }
        return null;
    }

    /** An Add of a last-axis ReduceSum and a Mul: the shape of the rule's Σĝ + x̂·Σ(ĝ·x̂). */
    private static boolean isRowSumPair(GraphIndex g, NodeProto add) {
        if (add.getInputCount() != 2) {
            return false;
        }
        for (int k = 0; k < 2; k++) {
            NodeProto r = NodePatterns.producer(g, add.getInput(k), "ReduceSum");
            NodeProto m = NodePatterns.producer(g, add.getInput(1 - k), "Mul");
            if (r != null && m != null && isLastAxisSum(g, r)) {
                return true;
            }
        }
        return false;
    }

    private static boolean isLastAxisSum(GraphIndex g, NodeProto r) {
        if (r.getInputCount() != 2 || !g.isInitializer(r.getInput(1))) {
            return false;
        }
        TensorProto axes = g.initializer(r.getInput(1));
        long keep = 1;
        for (var a : r.getAttributeList()) {
            if (a.getName().equals("keepdims")) {
                keep = a.getI();
            }
            if (a.getName().equals("noop_with_empty_axes") && a.getI() != 0) {
                return false;
            }
        }
        long[] v = axes.getDataType() == DataType.INT64_VALUE ? Tensors.toLongs(axes) : new long[0];
        return keep == 1 && v.length == 1 && v[0] == -1;
    }

    private static Object match(GraphIndex g, NodeProto mixed, NodeProto add, double invN) {
        NodeProto s1 = null;
        NodeProto m1 = null;
        for (int k = 0; k < 2; k++) {
            NodeProto r = NodePatterns.producer(g, add.getInput(k), "ReduceSum");
            NodeProto m = NodePatterns.producer(g, add.getInput(1 - k), "Mul");
            if (r != null && m != null && isLastAxisSum(g, r)) {
                s1 = r;
                m1 = m;
            }
        }
        NodeProto sub = NodePatterns.soleConsumer(g, mixed.getOutput(0), "Sub");
        if (sub == null) {
            return "the mixed term is not read by one Sub(ĝ, ·) alone";
        }
        if (!sub.getInput(1).equals(mixed.getOutput(0)) || NodePatterns.soleConsumer(g, add.getOutput(0), "Mul") != mixed
                || NodePatterns.soleConsumer(g, s1.getOutput(0), "Add") != add
                || NodePatterns.soleConsumer(g, m1.getOutput(0), "Add") != add) {
            return "the row sums are read outside the input gradient";
        }
        String ghValue = sub.getInput(0);
        if (!s1.getInput(0).equals(ghValue)) {
            return "Σĝ does not sum the Sub's ĝ";
        }
        NodeProto out = NodePatterns.soleConsumer(g, sub.getOutput(0), "Mul");
        if (out == null || out.getInputCount() != 2) {
            return "ĝ − mixed is not read by one Mul(σ⁻¹, ·) alone";
        }
        String invStd = NodePatterns.other(out, sub.getOutput(0));
        // m1 = x̂·Σ(ĝ·x̂)
        String s2Value = null;
        String xhat = null;
        for (int k = 0; k < 2; k++) {
            NodeProto r = NodePatterns.producer(g, m1.getInput(k), "ReduceSum");
            if (r != null && isLastAxisSum(g, r)) {
                s2Value = m1.getInput(k);
                xhat = m1.getInput(1 - k);
            }
        }
        if (s2Value == null || NodePatterns.soleConsumer(g, s2Value, "Mul") != m1) {
            return "x̂·Σ(ĝ·x̂) is not the rule's";
        }
        NodeProto s2 = g.node(g.producerOf(s2Value));
        NodeProto p = NodePatterns.producer(g, s2.getInput(0), "Mul");
        if (p == null || p.getInputCount() != 2 || NodePatterns.soleConsumer(g, p.getOutput(0), "ReduceSum") != s2
                || !Set.of(p.getInput(0), p.getInput(1)).equals(Set.of(ghValue, xhat))) {
            return "Σ(ĝ·x̂) does not sum ĝ·x̂";
        }
        NodeProto gh = NodePatterns.producer(g, ghValue, "Mul");
        List<NodeProto> ghReaders = KernelMatches.readers(g, ghValue);
        if (gh == null || gh.getInputCount() != 2 || ghReaders.size() != 3 || g.isGraphOutput(ghValue)
                || !ghReaders.containsAll(List.of(s1, p, sub))) {
            return "ĝ = g·γ is read outside the input gradient";
        }
        String gamma = null;
        String dy = null;
        for (int k = 0; k < 2; k++) {
            TensorProto t = g.initializer(gh.getInput(k));
            if (t != null && t.getDataType() == DataType.FLOAT_VALUE && t.getDimsCount() == 1) {
                gamma = gh.getInput(k);
                dy = gh.getInput(1 - k);
            }
        }
        if (gamma == null) {
            return "γ is not a float32 vector initializer";
        }
        NodeProto xh = NodePatterns.producer(g, xhat, "Mul");
        List<NodeProto> xhatReaders = KernelMatches.readers(g, xhat);
        if (xh == null || xh.getInputCount() != 2 || xhatReaders.size() != 2 || g.isGraphOutput(xhat)
                || !xhatReaders.containsAll(List.of(p, m1))) {
            return "x̂ is read outside the input gradient (γ trains?)";
        }
        boolean readsInvStd = xh.getInput(0).equals(invStd) || xh.getInput(1).equals(invStd);
        NodeProto centred = readsInvStd ? NodePatterns.producer(g, NodePatterns.other(xh, invStd), "Sub") : null;
        if (centred == null || centred.getInputCount() != 2
                || NodePatterns.soleConsumer(g, centred.getOutput(0), "Mul") != xh) {
            return "x̂ is not (x − μ)·σ⁻¹ with the output's σ⁻¹";
        }
        List<NodeProto> nodes = List.of(centred, xh, gh, s1, p, s2, m1, add, mixed, sub, out);
        return new KernelMatches.Match(nodes, out, KernelMatches.kernelNode("LayerNormInputGrad", out,
                List.of(dy, centred.getInput(0), gamma, centred.getInput(1), invStd), out.getOutput(0), "inv_n", invN));
    }
}
