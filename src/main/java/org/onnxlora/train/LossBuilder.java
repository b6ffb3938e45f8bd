package org.onnxlora.train;

import java.util.List;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.proto.Onnx.TensorProto.DataType;

/**
 * Emits the loss and its gradient with respect to the logits, in stock ops.
 *
 * <p>The graph reports the <em>sum</em> of token losses and the number of counted
 * tokens rather than their mean, so gradients of micro-batches add up exactly; the
 * optimizer divides by the total token count. The loss is
 * {@code −Σ valid · log_softmax(logits)[label]} in ops that stock ORT runs on both CPU and CUDA
 * (SoftmaxCrossEntropyLoss has no CUDA kernel outside training builds), and the backward is
 * written out: {@code dlogits = (softmax − target) · valid}, with softmax = exp(log_prob).
 *
 * <p>The target is never materialised: off the label it is the constant ε/V (0 without
 * smoothing), so the backward is one vocabulary-wide pass {@code (softmax − ε/V) · valid} with the
 * label column overwritten by {@code ScatterElements} from a {@code [tokens, 1]} column computed
 * from the gathered label probabilities. No {@code OneHot}, no vocabulary-wide target or
 * difference: besides the logits, the backward holds the log-probabilities, the probabilities and
 * the gradient, each freed after its last use. Every element is the same float expression as
 * {@code (softmax − ((1−ε)·onehot + ε/V)) · valid}, so the gradient is bit-identical to writing the
 * one-hot out.
 *
 * <p>The label column is also reported on its own ({@link LabelColumn}): {@link LabelColumnSplit} moves it out of the
 * LM head's backward product, whose float32 sum over the vocabulary it would otherwise dominate.
 */
public final class LossBuilder {
    /**
     * Names of what the loss subgraph produces.
     *
     * @param labelColumn how {@code dlogits} was assembled; null without a gradient
     */
    public record Loss(String lossSum, String tokenCount, String dlogits, LabelColumn labelColumn) {
        /** A loss whose gradient is not built from a label column (or that has none). */
        public Loss(String lossSum, String tokenCount, String dlogits) {
            this(lossSum, tokenCount, dlogits, null);
        }
    }

    /**
     * The label column of the gradient: {@code dlogits} is {@code scatter}'s output (reshaped), the off-label gradient
     * with each row's {@code labels} entry overwritten by {@code value}.
     *
     * @param scatter the ScatterElements output, [tokens, vocab]
     * @param labels [tokens] int64, the column each row's label is in (0 on ignored rows, whose value is 0)
     * @param value [tokens, 1] float, the gradient at that column
     */
    public record LabelColumn(String scatter, String labels, String value) {}

    private LossBuilder() {}

    /**
     * @param logits [batch, tgt, vocab] float logits
     * @param labels [batch, tgt] int64 labels, {@code ignoreIndex} where nothing is predicted
     * @param withGradient also emit {@code dlogits} (of the summed loss), shaped like {@code logits}
     */
    public static Loss build(GraphBuilder b, String logits, String labels, LossConfig cfg, boolean withGradient) {
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
        String labelsCol = b.op("Unsqueeze", safeLabels, b.ints(1));
        String picked = b.op("GatherElements", List.of(logProb, labelsCol), Attrs.i("axis", 1));
        String nllSum = b.op("Neg", b.op("ReduceSum", List.of(b.op("Mul", b.op("Reshape", picked, b.ints(-1)), validF)),
                Attrs.i("keepdims", 0)));

        String lossSum = nllSum;
        String eps = null;
        if (cfg.labelSmoothing() > 0) {
            // PyTorch: (1-ε)·nll + ε·mean_c(−log p_c), summed over counted tokens; each row's sum over
            // the vocabulary first, so that no second [tokens, vocab] tensor is made for the mask
            double e = cfg.labelSmoothing();
            String rowSums = b.op("ReduceSum", List.of(logProb, b.ints(1)), Attrs.i("keepdims", 0));
            String negSum = b.op("Neg", b.op("ReduceSum", List.of(b.op("Mul", rowSums, validF)), Attrs.i("keepdims", 0)));
            String vocabF = b.op("Cast", vocab, Attrs.i("to", f));
            String smooth = b.op("Div", negSum, vocabF);
            lossSum = b.op("Add", b.op("Mul", nllSum, b.scalar(1 - e, f)), b.op("Mul", smooth, b.scalar(e, f)));
            eps = b.op("Div", b.scalar(e, f), vocabF);
        }
        String dlogits = null;
        if (withGradient) {
            b.scope("/loss/grad");
            String probs = b.op("Exp", logProb);
            // target off the label: ε/V (nothing without smoothing); at the label: (1−ε) + ε/V
            String offLabel = probs;
            String atTarget = b.scalar(1, f);
            if (eps != null) {
                offLabel = b.op("Sub", probs, eps);
                atTarget = b.op("Add", b.scalar(1 - cfg.labelSmoothing(), f), eps);
            }
            // gathered first, so that the probabilities are dead once the masked copy is made and
            // ONNX Runtime may write it in their place
            String pickedProb = b.op("GatherElements", List.of(probs, labelsCol), Attrs.i("axis", 1));
            String validCol = b.op("Unsqueeze", validF, b.ints(1));
            String grad = b.op("Mul", offLabel, validCol);
            String atLabel = b.op("Mul", b.op("Sub", pickedProb, atTarget), validCol);
            String scattered = b.op("ScatterElements", List.of(grad, labelsCol, atLabel), Attrs.i("axis", 1));
            dlogits = b.op("Reshape", scattered, logitsShape);
            return new Loss(lossSum, count, dlogits, new LabelColumn(scattered, safeLabels, atLabel));
        }
        return new Loss(lossSum, count, null);
    }
}
