package org.onnxlora.runtime;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.ModelIO;
import org.onnxlora.proto.Onnx.ModelProto;

/**
 * Runs two models on the same random valid inputs and measures how far every
 * output apart they are. This is the numeric proof behind patch and merge.
 */
public final class Verifier {

    /** Worst disagreement of one output over all samples. */
    public record OutputDiff(String output, double maxAbs, double maxRel, double maxRefAbs, long elements) {}

    public record Report(List<OutputDiff> outputs, int samples) {
        public double maxAbs() {
            return outputs.stream().mapToDouble(OutputDiff::maxAbs).max().orElse(0);
        }
    }

    private final RuntimeOptions options;

    public Verifier(RuntimeOptions options) {
        this.options = options;
    }

    public Report compare(Path a, Path b, int samples, long seed) {
        ModelProto ma = ModelIO.load(a);
        try (OrtSession sa = Sessions.create(a, options); OrtSession sb = Sessions.create(b, options)) {
            return compare(ma, sa, sb, samples, seed, a + " and " + b);
        } catch (OrtException e) {
            throw new OnnxLoraException(ErrorCode.RUNTIME, e.getMessage(), e);
        }
    }

    public Report compare(ModelProto a, ModelProto b, int samples, long seed) {
        try (OrtSession sa = Sessions.create(a, options, "model A"); OrtSession sb = Sessions.create(b, options, "model B")) {
            return compare(a, sa, sb, samples, seed, "the two models");
        } catch (OrtException e) {
            throw new OnnxLoraException(ErrorCode.RUNTIME, e.getMessage(), e);
        }
    }

    private static Report compare(ModelProto signature, OrtSession sa, OrtSession sb, int samples, long seed,
            String what) {
        Set<String> outA = sa.getOutputNames();
        Set<String> outB = sb.getOutputNames();
        if (!outA.equals(outB) || !sa.getInputNames().equals(sb.getInputNames())) {
            throw new OnnxLoraException(ErrorCode.VERIFY_FAILED, what + " have different signatures: inputs "
                    + sa.getInputNames() + " vs " + sb.getInputNames() + ", outputs " + outA + " vs " + outB);
        }
        List<InputSpec> specs = InputSpec.of(signature.getGraph());
        java.util.Set<String> masks = masksOf(signature, specs);
        Map<String, double[]> worst = new LinkedHashMap<>(); // output -> {maxAbs, maxRel, maxRef, n}
        for (int s = 0; s < samples; s++) {
            Map<String, OnnxTensor> feeds = RandomInputs.make(Sessions.env(), specs, masks, seed + s);
            try (OrtSession.Result ra = sa.run(feeds); OrtSession.Result rb = sb.run(feeds)) {
                for (String name : outA) {
                    float[] x = floats(ra.get(name));
                    float[] y = floats(rb.get(name));
                    if (x.length != y.length) {
                        throw new OnnxLoraException(ErrorCode.VERIFY_FAILED, "output '" + name + "' has "
                                + x.length + " elements in one model and " + y.length + " in the other");
                    }
                    double[] w = worst.computeIfAbsent(name, k -> new double[4]);
                    for (int i = 0; i < x.length; i++) {
                        double d = Math.abs((double) x[i] - y[i]);
                        double ref = Math.max(Math.abs(x[i]), Math.abs(y[i]));
                        if (Double.isNaN(d)) {
                            d = Double.POSITIVE_INFINITY;
                        }
                        w[0] = Math.max(w[0], d);
                        w[1] = Math.max(w[1], ref > 0 ? d / ref : 0);
                        w[2] = Math.max(w[2], ref);
                    }
                    w[3] += x.length;
                }
            } catch (OrtException e) {
                throw new OnnxLoraException(ErrorCode.RUNTIME, "running " + what + " failed: " + e.getMessage(), e);
            } finally {
                feeds.values().forEach(OnnxTensor::close);
            }
        }
        List<OutputDiff> diffs = new ArrayList<>();
        worst.forEach((k, w) -> diffs.add(new OutputDiff(k, w[0], w[1], w[2], (long) w[3])));
        return new Report(diffs, samples);
    }

    /**
     * The attention masks among the inputs: as a seq2seq model's contract says, or (for any other graph, which
     * verify compares too) the inputs named like masks.
     */
    private static java.util.Set<String> masksOf(ModelProto model, List<InputSpec> specs) {
        java.util.Set<String> masks = new java.util.HashSet<>();
        try {
            Seq2SeqSignature sig = Seq2SeqSignature.of(model, null, org.onnxlora.lora.ModelFamily.bart());
            sig.inputs().stream().filter(i -> i.feed() == Seq2SeqSignature.Feed.ATTENTION_MASK
                    || i.feed() == Seq2SeqSignature.Feed.DECODER_ATTENTION_MASK).forEach(i -> masks.add(i.name()));
        } catch (OnnxLoraException notSeq2Seq) {
            specs.stream().filter(InputSpec::isMask).forEach(s -> masks.add(s.name()));
        }
        return masks;
    }

    static float[] floats(Optional<OnnxValue> v) {
        OnnxTensor t = (OnnxTensor) v.orElseThrow();
        FloatBuffer fb = t.getFloatBuffer();
        if (fb == null) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, "output is not a float tensor");
        }
        float[] out = new float[fb.remaining()];
        fb.get(out);
        return out;
    }
}
