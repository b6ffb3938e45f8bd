package org.onnxlora.train;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.DoubleBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.data.Batch;
import org.onnxlora.graph.GraphPass;
import org.onnxlora.graph.PassResult;
import org.onnxlora.io.SafetensorsFile;
import org.onnxlora.io.SafetensorsWriter;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Sessions;

/**
 * The exact value of one compiled step: the training graph's loss and adapter gradients computed in float64 on
 * ONNX Runtime's CPU, from the same artifacts, adapters and batch a float32 step takes ({@link Float64Pass}), so a
 * float32 result on any device can be measured against the value it approximates rather than against another
 * float32 result. The eval graph converts the same way, for finite differences of the loss in float64.
 *
 * <p>Graph optimizations are off: the reference computes the graph as written, not ONNX Runtime's rewrite of it.
 * Only float32 artifacts have a float64 form; the erf series makes it a tool for the small fixtures.
 */
public final class Float64Probe implements AutoCloseable {
    private static final List<GraphPass> PASSES = List.of(new LayerNormDecompositionPass(), new Float64Pass());

    private final TrainingCompiler.Artifacts artifacts;
    private final RuntimeOptions options;
    private final TrainingFeeds feeds;
    private final OrtSession training;
    private OrtSession eval;

    private Float64Probe(TrainingCompiler.Artifacts artifacts, int threads) {
        this.artifacts = artifacts;
        this.options = RuntimeOptions.defaults().withThreads(threads).withOptimize(false);
        this.feeds = new TrainingFeeds(Sessions.env(), TrainingSession.signatureOf(artifacts));
        this.training = Sessions.create(toFloat64(artifacts.training()), options, "float64 training graph");
    }

    /** Opens the float64 form of the artifacts in {@code artifactDir} ({@link ArtifactStore}). */
    public static Float64Probe open(Path artifactDir, int threads) {
        return new Float64Probe(ArtifactStore.read(artifactDir), threads);
    }

    /** {@code model} with every float32 value in float64 and the ops that need it rewritten. */
    static ModelProto toFloat64(ModelProto model) {
        List<PassResult<GraphProto>> r = GraphPass.chain(model.getGraph(), PASSES);
        return model.toBuilder().setGraph(r.get(r.size() - 1).output()).build();
    }

    public List<AdapterSpec> adapters() {
        return artifacts.adapters();
    }

    /**
     * The float64 step.
     *
     * @param meanLoss the batch's loss over its label tokens
     * @param tokens label tokens of the batch
     * @param gradients gradient of the mean loss per adapter, in the artifacts' adapter order
     * @param shapes each adapter's shape
     */
    public record Result(double meanLoss, double tokens, Map<String, double[]> gradients, Map<String, long[]> shapes) {
        public double gradNorm() {
            double s = 0;
            for (double[] g : gradients.values()) {
                for (double v : g) {
                    s += v * v;
                }
            }
            return Math.sqrt(s);
        }

        /** How far a float32 step's loss and mean-loss gradients are from this one. */
        public Deviation deviation(double otherLoss, Map<String, float[]> other) {
            double diff = 0;
            double otherNorm = 0;
            String worst = null;
            double worstRel = -1;
            for (Map.Entry<String, double[]> e : gradients.entrySet()) {
                float[] o = other.get(e.getKey());
                if (o == null || o.length != e.getValue().length) {
                    throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "the compared step has no gradient of "
                            + e.getKey() + " of " + e.getValue().length + " values");
                }
                double d = 0;
                double r = 0;
                for (int i = 0; i < o.length; i++) {
                    double x = e.getValue()[i];
                    d += (o[i] - x) * (o[i] - x);
                    r += x * x;
                    otherNorm += (double) o[i] * o[i];
                }
                diff += d;
                double rel = r == 0 ? Math.sqrt(d) : Math.sqrt(d / r);
                if (rel > worstRel) {
                    worstRel = rel;
                    worst = e.getKey();
                }
            }
            double norm = gradNorm();
            return new Deviation(relative(otherLoss, meanLoss), relative(Math.sqrt(otherNorm), norm),
                    norm == 0 ? Math.sqrt(diff) : Math.sqrt(diff) / norm, worst, worstRel);
        }

        /** Writes {@code float64/loss} ([1]) and {@code float64/grad/<adapter>}, in F64. */
        public long write(Path file) {
            SafetensorsWriter w = new SafetensorsWriter().metadata(Map.of("by", "org.onnxlora.train.Float64Probe",
                    "tokens", Double.toString(tokens)));
            w.putDoubles("float64/loss", new long[] {1}, new double[] {meanLoss});
            gradients.forEach((name, g) -> w.putDoubles("float64/grad/" + name, shapes.get(name), g));
            return w.write(file);
        }

        private static double relative(double x, double reference) {
            return reference == 0 ? Math.abs(x) : Math.abs(x - reference) / Math.abs(reference);
        }
    }

    /**
     * A float32 step against the float64 one: relative errors of the loss and of the gradient norm, the
     * gradient's relative error as one vector, and the adapter whose own relative error is largest.
     */
    public record Deviation(double loss, double gradNorm, double gradient, String worstAdapter, double worst) {}

    /** The step from the adapters and batch of a file in GradientProbe's layout (init/, batch/). */
    public Result gradients(Path inputs) {
        try (SafetensorsFile in = SafetensorsFile.open(inputs)) {
            Map<String, double[]> values = new LinkedHashMap<>();
            for (AdapterSpec a : adapters()) {
                String key = "init/" + a.name();
                if (!in.contains(key)) {
                    throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, inputs + " has no tensor '" + key + "'");
                }
                values.put(a.name(), in.doubles(key));
            }
            return gradients(values, GradientProbe.batchOf(in));
        }
    }

    /** The float64 loss and mean-loss gradients at {@code adapters} on {@code batch}. */
    public Result gradients(Map<String, double[]> adapters, Batch batch) {
        Map<String, double[]> sums = new LinkedHashMap<>();
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (AdapterSpec a : adapters()) {
            sums.put(a.name(), new double[Math.toIntExact(a.elements())]);
            shapes.put(a.name(), a.dims());
        }
        Set<String> wanted = new HashSet<>(List.of(TrainingCompiler.LOSS_SUM, TrainingCompiler.TOKEN_COUNT));
        adapters().forEach(a -> wanted.add(AdapterSpec.grad(a.name())));
        double loss = 0;
        double tokens = 0;
        for (Batch piece : feeds.fitted(batch)) {
            Map<String, double[]> out = run(training, adapters, piece, wanted);
            loss += out.get(TrainingCompiler.LOSS_SUM)[0];
            tokens += out.get(TrainingCompiler.TOKEN_COUNT)[0];
            for (Map.Entry<String, double[]> e : sums.entrySet()) {
                double[] g = out.get(AdapterSpec.grad(e.getKey()));
                for (int i = 0; i < g.length; i++) {
                    e.getValue()[i] += g[i];
                }
            }
        }
        double scale = 1.0 / Math.max(1.0, tokens);
        sums.values().forEach(g -> {
            for (int i = 0; i < g.length; i++) {
                g[i] *= scale;
            }
        });
        return new Result(loss * scale, tokens, sums, shapes);
    }

    /** The float64 mean loss of the eval graph at {@code adapters} on {@code batch}. */
    public double meanLoss(Map<String, double[]> adapters, Batch batch) {
        if (eval == null) {
            eval = Sessions.create(toFloat64(artifacts.eval()), options, "float64 eval graph");
        }
        Set<String> wanted = Set.of(TrainingCompiler.LOSS_SUM, TrainingCompiler.TOKEN_COUNT);
        double loss = 0;
        double tokens = 0;
        for (Batch piece : feeds.fitted(batch)) {
            Map<String, double[]> out = run(eval, adapters, piece, wanted);
            loss += out.get(TrainingCompiler.LOSS_SUM)[0];
            tokens += out.get(TrainingCompiler.TOKEN_COUNT)[0];
        }
        return loss / Math.max(1.0, tokens);
    }

    private Map<String, double[]> run(OrtSession session, Map<String, double[]> adapters, Batch piece,
            Set<String> wanted) {
        Map<String, OnnxTensor> in = new HashMap<>();
        List<OnnxTensor> owned = new ArrayList<>();
        try {
            owned.addAll(feeds.add(piece, in));
            for (AdapterSpec a : adapters()) {
                double[] v = adapters.get(a.name());
                if (v == null || v.length != a.elements()) {
                    throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "no " + a.elements() + " values for adapter "
                            + a.name());
                }
                OnnxTensor t = OnnxTensor.createTensor(Sessions.env(), DoubleBuffer.wrap(v), a.dims());
                owned.add(t);
                in.put(a.name(), t);
            }
            Map<String, double[]> out = new HashMap<>();
            try (OrtSession.Result r = session.run(in, wanted)) {
                for (String name : wanted) {
                    OnnxTensor t = (OnnxTensor) r.get(name).orElseThrow();
                    DoubleBuffer b = t.getDoubleBuffer();
                    if (b == null) {
                        throw new OnnxLoraException(ErrorCode.INTERNAL, "float64 graph output " + name + " is "
                                + t.getInfo().type + ", not double");
                    }
                    double[] v = new double[b.remaining()];
                    b.get(v);
                    out.put(name, v);
                }
            }
            return out;
        } catch (OrtException e) {
            throw new OnnxLoraException(ErrorCode.RUNTIME, "float64 reference step failed: " + e.getMessage(), e);
        } finally {
            owned.forEach(OnnxTensor::close);
        }
    }

    @Override
    public void close() {
        try {
            training.close();
            if (eval != null) {
                eval.close();
            }
        } catch (OrtException e) {
            throw new OnnxLoraException(ErrorCode.RUNTIME, "cannot close the float64 sessions: " + e.getMessage(), e);
        }
    }
}
