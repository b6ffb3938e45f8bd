package org.onnxlora.train;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.data.Batch;
import org.onnxlora.io.SafetensorsFile;
import org.onnxlora.io.SafetensorsWriter;
import org.onnxlora.runtime.RuntimeOptions;

/**
 * One forward-backward of compiled training artifacts from recorded adapters and a recorded batch,
 * through the same {@link TrainingSession} training runs: the loss and the gradient of the mean loss
 * of every adapter, for comparing a precision and device against a reference outside Java (issue 13:
 * bf16/fp16 on CUDA against PyTorch autocast + PEFT, tools/gpu/half_parity.py).
 *
 * <p>The inputs are a safetensors file laid out as tools/make_fixtures.py writes the goldens:
 * {@code init/<adapter>} (onnx-lora layout) and {@code batch/input_ids}, {@code batch/attention_mask},
 * {@code batch/decoder_input_ids}, {@code batch/labels}. With fp16 loss scaling the step is taken as
 * training takes it: from the scaler's initial scale, skipped and retried at half the scale while a
 * gradient overflows, so the gradient is the one the first kept step would apply.
 */
public final class GradientProbe {
    /** Back-offs before giving up: 65536 halved this often is below 1e-3, far below any useful scale. */
    static final int MAX_SKIPS = 24;

    private GradientProbe() {}

    /**
     * The probe's outcome.
     *
     * @param precision what the artifacts compute in
     * @param meanLoss loss of the batch (summed loss over its label tokens)
     * @param tokens label tokens of the batch
     * @param lossScale the fp16 loss scale of the kept step (1 without loss scaling)
     * @param skipped steps skipped for overflow before it
     * @param gradients gradient of the mean loss per adapter, in the session's adapter order
     * @param shapes each adapter's shape
     */
    public record Result(Precision precision, String device, double meanLoss, double tokens, double lossScale,
            int skipped, Map<String, float[]> gradients, Map<String, long[]> shapes) {
        /**
         * Writes {@code <precision>/loss} ([1]) and {@code <precision>/grad/<adapter>} in float32, the keys of
         * the half-precision goldens (tools/make_halfprec_goldens.py), with the step's facts as metadata.
         */
        public long write(Path file) {
            SafetensorsWriter w = new SafetensorsWriter().metadata(Map.of("by", "org.onnxlora.train.GradientProbe",
                    "precision", precision.label(), "device", device, "tokens", fmt(tokens),
                    "loss_scale", fmt(lossScale), "skipped_steps", Integer.toString(skipped)));
            w.putFloats(precision.label() + "/loss", new long[] {1}, new float[] {(float) meanLoss});
            gradients.forEach((name, g) -> w.putFloats(precision.label() + "/grad/" + name, shapes.get(name), g));
            return w.write(file);
        }

        private static String fmt(double v) {
            return String.format(Locale.ROOT, "%.17g", v);
        }
    }

    /** Runs the probe on artifacts written by {@link ArtifactStore}, with adapters and batch from {@code inputs}. */
    public static Result run(Path artifactDir, RuntimeOptions options, Path inputs) {
        TrainingCompiler.Artifacts artifacts = ArtifactStore.read(artifactDir);
        Precision precision = Precision.of(artifacts.training());
        try (SafetensorsFile in = SafetensorsFile.open(inputs);
                TrainingSession s = new TrainingSession(artifacts, options)) {
            for (AdapterSpec a : s.adapters()) {
                s.setAdapter(a.name(), require(in, "init/" + a.name()).floats("init/" + a.name()));
            }
            Batch batch = batchOf(in);
            for (int skipped = 0; skipped <= MAX_SKIPS; skipped++) {
                double scale = s.lossScaler().map(LossScaler::scale).orElse(1.0);
                TrainingSession.Pass pass = s.forwardBackward(batch);
                Map<String, float[]> grads = meanGradients(s);
                if (grads != null) {
                    Map<String, long[]> shapes = new LinkedHashMap<>();
                    s.adapters().forEach(a -> shapes.put(a.name(), a.dims()));
                    return new Result(precision, options.device().toString(), pass.meanLoss(), pass.tokens(), scale,
                            skipped, grads, shapes);
                }
                // an overflow: the optimizer skips the step and lowers the scale, exactly as in training
                s.applyUpdate(0);
            }
            throw new OnnxLoraException(ErrorCode.RUNTIME, "gradients stay non-finite after " + MAX_SKIPS
                    + " loss-scale back-offs: the step itself produces Inf/NaN");
        }
    }

    /** The accumulated gradients as the mean loss's, or null when any value is not finite. */
    private static Map<String, float[]> meanGradients(TrainingSession s) {
        float scale = (float) s.gradientScale();
        Map<String, float[]> out = new LinkedHashMap<>();
        for (AdapterSpec a : s.adapters()) {
            float[] g = s.accumulatedGradient(a.name());
            for (int i = 0; i < g.length; i++) {
                if (!Float.isFinite(g[i])) {
                    return null;
                }
                g[i] *= scale;
            }
            out.put(a.name(), g);
        }
        return out;
    }

    static Batch batchOf(SafetensorsFile in) {
        long[] src = require(in, "batch/input_ids").shape("batch/input_ids");
        long[] tgt = require(in, "batch/labels").shape("batch/labels");
        if (src.length != 2 || tgt.length != 2 || src[0] != tgt[0]) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, in.path() + ": batch/input_ids and batch/labels must be"
                    + " [batch, length] of the same batch size");
        }
        return new Batch((int) src[0], (int) src[1], (int) tgt[1], in.longs("batch/input_ids"),
                require(in, "batch/attention_mask").longs("batch/attention_mask"),
                require(in, "batch/decoder_input_ids").longs("batch/decoder_input_ids"), in.longs("batch/labels"));
    }

    private static SafetensorsFile require(SafetensorsFile in, String name) {
        if (!in.contains(name)) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, in.path() + " has no tensor '" + name
                    + "' (expected the goldens' layout: init/<adapter> and batch/<input>)");
        }
        return in;
    }
}
