package org.onnxlora.eval;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.OrtSession.SessionOptions;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Progress;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Seq2SeqSignature;
import org.onnxlora.runtime.Sessions;
import org.onnxlora.data.Batch;
import org.onnxlora.data.BatchFeeds;
import org.onnxlora.data.StaticBatches;

/**
 * Token-level cross entropy of any seq2seq model (base, patched, merged) from its
 * logits, accumulated in double: the same numbers whichever form the model is in,
 * so a merged model can be checked against the patched one it came from. Inputs are fed as
 * the model's {@link Seq2SeqSignature} says; a static-shape export gets fitted batches.
 */
public final class LossEvaluator implements AutoCloseable {
    /** Summed loss and counted tokens. */
    public record Result(double lossSum, long tokens) {
        public double loss() {
            return tokens > 0 ? lossSum / tokens : Double.NaN;
        }

        public double perplexity() {
            return Math.exp(loss());
        }
    }

    private final OrtSession session;
    private final String logits;
    private final Seq2SeqSignature signature;

    public LossEvaluator(Path model, Seq2SeqSignature signature, AdapterOverrides adapters, RuntimeOptions options) {
        if (signature.kind() != Seq2SeqSignature.Kind.FULL) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, "the loss needs one encoder-decoder model; "
                    + signature.what() + " is an Optimum " + signature.kind().name().toLowerCase(java.util.Locale.ROOT)
                    + " file");
        }
        this.signature = signature;
        this.logits = signature.logitsOutput();
        try (SessionOptions so = Sessions.options(options)) {
            adapters.addTo(so);
            this.session = Sessions.env().createSession(model.toString(), so);
        } catch (OrtException e) {
            throw new OnnxLoraException(ErrorCode.RUNTIME, "ONNX Runtime cannot load " + model + ": " + e.getMessage(), e);
        }
        if (!session.getOutputNames().contains(logits)) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, model + " has no '" + logits + "' output (outputs: "
                    + session.getOutputNames() + ")");
        }
    }

    public Result evaluate(List<Batch> batches, Progress progress) {
        double sum = 0;
        long tokens = 0;
        progress.start("eval loss", batches.size());
        int done = 0;
        for (Batch b : batches) {
            Result r = evaluate(b);
            sum += r.lossSum();
            tokens += r.tokens();
            progress.advance(++done, "");
        }
        progress.finish();
        return new Result(sum, tokens);
    }

    public Result evaluate(Batch batch) {
        double sum = 0;
        long tokens = 0;
        for (Batch piece : StaticBatches.fit(batch, signature.staticShape(), signature.padTokenId(),
                signature.decoderStartTokenId())) {
            Result r = evaluateFitted(piece);
            sum += r.lossSum();
            tokens += r.tokens();
        }
        return new Result(sum, tokens);
    }

    private Result evaluateFitted(Batch b) {
        Map<String, OnnxTensor> feeds = new HashMap<>();
        try {
            BatchFeeds.add(Sessions.env(), signature, b, feeds);
            try (OrtSession.Result r = session.run(feeds, java.util.Set.of(logits))) {
                OnnxTensor t = (OnnxTensor) r.get(logits).orElseThrow();
                long[] shape = t.getInfo().getShape();
                int vocab = (int) shape[2];
                FloatBuffer fb = t.getFloatBuffer();
                double sum = 0;
                long count = 0;
                long[] labels = b.labels();
                for (int i = 0; i < labels.length; i++) {
                    if (labels[i] == Seq2SeqSignature.IGNORE_INDEX) {
                        continue;
                    }
                    int base = i * vocab;
                    double max = Double.NEGATIVE_INFINITY;
                    for (int v = 0; v < vocab; v++) {
                        max = Math.max(max, fb.get(base + v));
                    }
                    double z = 0;
                    for (int v = 0; v < vocab; v++) {
                        z += Math.exp(fb.get(base + v) - max);
                    }
                    sum += max + Math.log(z) - fb.get(base + (int) labels[i]);
                    count++;
                }
                return new Result(sum, count);
            }
        } catch (OrtException e) {
            throw new OnnxLoraException(ErrorCode.RUNTIME, "evaluation failed: " + e.getMessage(), e);
        } finally {
            feeds.values().forEach(OnnxTensor::close);
        }
    }

    @Override
    public void close() {
        try {
            session.close();
        } catch (OrtException ignored) {
            // closing
        }
    }
}
