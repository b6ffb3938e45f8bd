package org.onnxlora.train;

import java.util.ArrayList;
import java.util.List;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.Domains;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.NameGen;
import org.onnxlora.graph.NodeEdits;
import org.onnxlora.graph.PassResult;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;

/**
 * Takes the label column out of the LM head's backward product: {@code dH = dlogits · W} becomes
 * {@code dlogits₀ · W + value ⊙ W[label]}, where {@code dlogits₀} is the gradient with each row's label entry zero.
 *
 * <p>Why: that product sums over the whole vocabulary, and its largest term by far is the label's,
 * {@code (p_y − 1)·W[y]}, against tens of thousands of terms {@code p_v·W[v]} that are each about 1/V of it. A float32
 * running sum (MLAS keeps one per output) adds every later small term to the large one and rounds each time; the error
 * grows with the vocabulary and, on the Marian fixture, put the CPU's gradient norm 1.16e-6 from the float64 step
 * (session 15). With the label term outside, the running sum stays small and the large term is added once, rounded
 * once. In a numpy model of that sum (V = 2,048) the relative error falls from 8e-7 to 5e-8 whatever the label's
 * probability; writing it as {@code softmax · W − W[y]} instead would not: it cancels catastrophically as p_y → 1.
 * The cost is a gather of one weight row per token and an add of [tokens, d], next to a [tokens, V, d] product.
 *
 * <p>Applies where the gradient has one reader, a float32 product {@code (Fused)MatMul(dlogits, W)} with W a 2-D
 * initializer (either orientation, any alpha), which is what the backward of every supported export's tied LM head
 * is. Anything else (a half-precision product behind a Cast, a loss-scale Mul) is left as it was and reported as a
 * refusal; the gradient is the same either way, only its rounding differs.
 */
final class LabelColumnSplit {
    static final String NAME = "label-column";

    private LabelColumnSplit() {}

    static PassResult<GraphProto> apply(GraphProto graph, String dlogits, LossBuilder.LabelColumn column) {
        GraphIndex g = new GraphIndex(graph);
        int scatterAt = g.producerOf(column.scatter());
        List<Integer> readers = g.consumersOf(dlogits); // -1: a read from inside a subgraph
        String whyNot;
        if (scatterAt < 0 || !Domains.isOp(g.node(scatterAt), "ScatterElements")) {
            whyNot = "the gradient is not a scattered label column";
        } else if (readers.size() != 1 || readers.get(0) < 0 || g.isGraphOutput(dlogits)) {
            whyNot = "the gradient has other readers than one product (or is a graph output)";
        } else {
            whyNot = whyNotProduct(g, g.node(readers.get(0)), dlogits);
        }
        if (whyNot != null) {
            return new PassResult<>(NAME, graph, List.of(), List.of(new PassResult.Refusal(dlogits, whyNot)));
        }
        int productAt = readers.get(0);
        NodeProto product = g.node(productAt);
        NodeProto scatter = g.node(scatterAt);
        GraphBuilder b = new GraphBuilder(new NameGen(g.allNames()));
        b.scope(scopeOf(scatter));

        String zeros = b.op("ConstantOfShape", List.of(b.op("Shape", column.value())),
                Attrs.t("value", Tensors.ofDoubles("zero", new long[] {1}, new double[] {0}, DataType.FLOAT_VALUE)));
        List<NodeProto> atScatter = new ArrayList<>(b.nodes());
        atScatter.add(scatter.toBuilder().setInput(2, zeros).build());

        int before = b.nodes().size();
        String weight = product.getInput(1);
        boolean transB = Attrs.getInt(product, "transB", 0) != 0;
        // W is [V, d] (rows are read), or [d, V] with transB (columns are read, then turned into rows)
        String rows = b.op("Gather", List.of(weight, column.labels()), Attrs.i("axis", transB ? 1 : 0));
        if (transB) {
            rows = b.op("Transpose", List.of(rows), Attrs.ints("perm", 1, 0));
        }
        String term = b.op("Mul", rows, column.value());
        float alpha = Attrs.getFloat(product, "alpha", 1f);
        if (alpha != 1f) {
            term = b.op("Mul", term, b.scalar(alpha, DataType.FLOAT_VALUE));
        }
        String out = product.getOutput(0);
        String vocabPart = b.names().fresh(out + "/without_label_column");
        String shaped = b.op("Reshape", term, b.op("Shape", vocabPart));
        // the large term last, so it is rounded once
        b.add("", "Add", b.names().fresh(product.getName() + "/label_column"), List.of(vocabPart, shaped),
                List.of(out));
        List<NodeProto> atProduct = new ArrayList<>();
        atProduct.add(product.toBuilder().setOutput(0, vocabPart).build());
        atProduct.addAll(b.nodes().subList(before, b.nodes().size()));

        NodeEdits edits = new NodeEdits();
        edits.replace(scatterAt, atScatter);
        edits.replace(productAt, atProduct);
        GraphProto.Builder rewritten = edits.applyTo(g, graph).addAllInitializer(b.initializers());
        return new PassResult<>(NAME, rewritten.build(), List.of(out), List.of());
    }

    /** Null where {@code p} is {@code (Fused)MatMul(dlogits, W)} with W a float32 2-D initializer, else why not. */
    private static String whyNotProduct(GraphIndex g, NodeProto p, String dlogits) {
        boolean fused = p.getOpType().equals("FusedMatMul") && p.getDomain().equals(GraphBuilder.MS_DOMAIN);
        if (!fused && !Domains.isOp(p, "MatMul")) {
            return "its reader is not a product: " + GraphIndex.describe(p);
        }
        if (!p.getInput(0).equals(dlogits) || p.getInput(1).equals(dlogits)
                || Attrs.getInt(p, "transA", 0) != 0 || Attrs.getInt(p, "transBatchA", 0) != 0
                || Attrs.getInt(p, "transBatchB", 0) != 0) {
            return "it is not the left operand of " + GraphIndex.describe(p);
        }
        TensorProto w = g.isInitializer(p.getInput(1)) ? g.initializer(p.getInput(1)) : null;
        if (w == null || w.getDataType() != DataType.FLOAT_VALUE || w.getDimsCount() != 2) {
            return "the right operand of " + GraphIndex.describe(p) + " is not a float32 2-D initializer";
        }
        return null;
    }

    private static String scopeOf(NodeProto n) {
        int slash = n.getName().lastIndexOf('/');
        return slash > 0 ? n.getName().substring(0, slash) + "/label_column" : "/loss/grad/label_column";
    }
}
