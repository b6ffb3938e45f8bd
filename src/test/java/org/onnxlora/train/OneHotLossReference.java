package org.onnxlora.train;

import java.util.List;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.proto.Onnx.TensorProto.DataType;

/**
 * The loss as it was built before {@link LossBuilder} dropped OneHot (commit 2d01bfc), kept
 * verbatim as the reference the new loss must reproduce: a vocabulary-wide one-hot target,
 * {@code (softmax − target) · valid} written out tensor by tensor.
 */
final class OneHotLossReference {
    private OneHotLossReference() {}

    static LossBuilder.Loss build(GraphBuilder b, String logits, String labels, LossConfig cfg, boolean withGradient) {
        int f = DataType.FLOAT_VALUE;
        b.scope("/loss");
        String logitsShape = b.op("Shape", logits);
        String vocab = b.op("Gather", List.of(logitsShape, b.int0(-1)), Attrs.i("axis", 0));
        String flatShape = b.op("Concat", List.of(b.ints(-1), b.op("Unsqueeze", vocab, b.ints(0))), Attrs.i("axis", 0));
        String logits2d = b.op("Reshape", logits, flatShape);
        String labels1d = b.op("Reshape", labels, b.ints(-1));
        // The loss is LogSoftmax + GatherElements rather than SoftmaxCrossEntropyLoss: the latter has
        // no CUDA kernel in stock builds (it lives in ORT's training ops), so on CUDA it would run on
        // the CPU and copy [tokens, vocab] logits to the host and log-probabilities back every step.
        String logProb = b.op("LogSoftmax", List.of(logits2d), Attrs.i("axis", -1));
        String valid = b.op("Not", b.op("Equal", labels1d, b.initializer(
                org.onnxlora.io.Tensors.ofLongs("ignore_index", new long[0], cfg.ignoreIndex()))));
        String validF = b.op("Cast", valid, Attrs.i("to", f));
        String count = b.op("ReduceSum", List.of(validF), Attrs.i("keepdims", 0));
        String safeLabels = b.op("Where", List.of(valid, labels1d, b.initializer(
                org.onnxlora.io.Tensors.ofLongs("zero", new long[0], 0))));
        String picked = b.op("GatherElements", List.of(logProb, b.op("Unsqueeze", safeLabels, b.ints(1))),
                Attrs.i("axis", 1));
        String nllSum = b.op("Neg", b.op("ReduceSum", List.of(b.op("Mul", b.op("Reshape", picked, b.ints(-1)), validF)),
                Attrs.i("keepdims", 0)));

        String lossSum = nllSum;
        String eps = null;
        if (cfg.labelSmoothing() > 0) {
            // PyTorch: (1-ε)·nll + ε·mean_c(−log p_c), summed over counted tokens
            double e = cfg.labelSmoothing();
            String validCol = b.op("Unsqueeze", validF, b.ints(1));
            String negLp = b.op("Neg", b.op("Mul", logProb, validCol));
            String vocabF = b.op("Cast", vocab, Attrs.i("to", f));
            String smooth = b.op("Div", b.op("ReduceSum", List.of(negLp), Attrs.i("keepdims", 0)), vocabF);
            lossSum = b.op("Add", b.op("Mul", nllSum, b.scalar(1 - e, f)), b.op("Mul", smooth, b.scalar(e, f)));
            eps = b.op("Div", b.scalar(e, f), vocabF);
        }
        String dlogits = null;
        if (withGradient) {
            b.scope("/loss/grad");
            String probs = b.op("Exp", logProb);
            String onehot = b.op("OneHot", List.of(safeLabels, b.op("Reshape", vocab, b.ints(1)),
                    b.initializer(org.onnxlora.io.Tensors.ofFloats("off_on", new long[] {2}, new float[] {0f, 1f}))),
                    Attrs.i("axis", -1));
            String target = onehot;
            if (eps != null) {
                target = b.op("Add", b.op("Mul", onehot, b.scalar(1 - cfg.labelSmoothing(), f)), eps);
            }
            String diff = b.op("Sub", probs, target);
            String masked = b.op("Mul", diff, b.op("Unsqueeze", validF, b.ints(1)));
            dlogits = b.op("Reshape", masked, logitsShape);
        }
        return new LossBuilder.Loss(lossSum, count, dlogits);
    }
}
