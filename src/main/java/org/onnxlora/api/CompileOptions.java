package org.onnxlora.api;

import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.autodiff.Recompute;
import org.onnxlora.runtime.Seq2SeqSignature;
import org.onnxlora.train.LossConfig;
import org.onnxlora.train.OptimizerConfig;
import org.onnxlora.train.Precision;
import org.onnxlora.train.TrainingCompiler;

/**
 * What shapes the compiled training graphs: the loss (label smoothing; the ignore index is the
 * model contract's), AdamW and clipping, the logits output, the precision and what the backward recomputes. Shared by
 * {@link Compilation}, {@link TrainOptions} and the training benchmark.
 */
public record CompileOptions(double labelSmoothing, double beta1, double beta2, double eps, double weightDecay,
        double maxGradNorm, String logitsOutput, Precision precision, Recompute recompute) {

    public CompileOptions {
        precision = precision == null ? Precision.FP32 : precision;
        recompute = recompute == null ? Recompute.NONE : recompute;
    }

    /** Nothing recomputed. */
    public CompileOptions(double labelSmoothing, double beta1, double beta2, double eps, double weightDecay,
            double maxGradNorm, String logitsOutput, Precision precision) {
        this(labelSmoothing, beta1, beta2, eps, weightDecay, maxGradNorm, logitsOutput, precision, Recompute.NONE);
    }

    /** Betas as a pair, as the command line gives them; fails unless there are exactly two. */
    public static CompileOptions of(double labelSmoothing, double[] betas, double eps, double weightDecay,
            double maxGradNorm, String logitsOutput, Precision precision) {
        if (betas.length != 2) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "the Adam betas are two values, got " + betas.length);
        }
        return new CompileOptions(labelSmoothing, betas[0], betas[1], eps, weightDecay, maxGradNorm, logitsOutput,
                precision);
    }

    public CompileOptions withPrecision(Precision p) {
        return new CompileOptions(labelSmoothing, beta1, beta2, eps, weightDecay, maxGradNorm, logitsOutput, p,
                recompute);
    }

    /** What the backward recomputes instead of keeping (less memory for a little more compute). */
    public CompileOptions withRecompute(Recompute r) {
        return new CompileOptions(labelSmoothing, beta1, beta2, eps, weightDecay, maxGradNorm, logitsOutput, precision,
                r);
    }

    /** The compiler's own form. */
    public TrainingCompiler.Options compiler() {
        return new TrainingCompiler.Options(new LossConfig(Seq2SeqSignature.IGNORE_INDEX, labelSmoothing),
                new OptimizerConfig(beta1, beta2, eps, weightDecay, maxGradNorm), logitsOutput, precision, recompute);
    }
}
