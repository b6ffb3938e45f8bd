package org.onnxlora.autodiff;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.OrtSession.SessionOptions.OptLevel;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.onnxlora.autodiff.rules.StandardRules;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.NameGen;
import org.onnxlora.io.ModelIO;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.OperatorSetIdProto;
import org.onnxlora.proto.Onnx.StringStringEntryProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;

/**
 * Backprop over the real tiny-BART exports (TorchScript and dynamo flavours), from
 * the logits to a decoder and an encoder attention projection: proves op coverage
 * on both exporters. The model is float32, so the check is on directional
 * derivatives (random directions, central differences with the loss summed in
 * double) with a float32-sized tolerance, at optimisation levels DISABLE_ALL and ALL.
 */
class TinyBartGradientTest {
    private static final Path DIR = Path.of("models/tiny-bart");
    private static final String[] MODULES = {"model.decoder.layers.1.self_attn.q_proj",
        "model.encoder.layers.0.self_attn.v_proj"};
    /**
     * Directional derivatives of a float32 network: observed agreement is ~6e-4 (float32 rounding in the forward),
     * so 0.5% leaves margin while a wrong rule is off by O(1).
     */
    private static final double DIRECTIONAL_TOLERANCE = 5e-3;

    @TempDir
    Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"model.onnx", "model.dynamo.onnx"})
    void projectionGradientsMatchFiniteDifferences(String file) throws OrtException, java.io.IOException {
        ModelProto model = ModelIO.load(DIR.resolve(file));
        GraphProto g = model.getGraph();
        List<String> wrt = new ArrayList<>();
        for (String module : MODULES) {
            wrt.add(projectionWeight(g, module));
        }
        GraphIndex index = new GraphIndex(g);
        Set<String> used = new java.util.HashSet<>(index.allNames());
        used.add("dlogits");
        GraphBuilder b = new GraphBuilder(new NameGen(used));
        Map<String, String> grads = new Backprop(StandardRules.registry()).build(g, Map.of("logits", "dlogits"), new LinkedHashSet<>(wrt), b);

        // For the differences the trainable weights become plain graph inputs, fed perturbed without a new session.
        GraphProto.Builder fwd = g.toBuilder().clearInitializer();
        g.getInitializerList().stream().filter(t -> !wrt.contains(t.getName())).forEach(fwd::addInitializer);
        Map<String, F32> weights = new HashMap<>();
        for (String w : wrt) {
            fwd.addInput(Models.info(w, DataType.FLOAT_VALUE, Tensors.shape(index.initializer(w))));
            weights.put(w, new F32(Tensors.toFloats(index.initializer(w)), Tensors.shape(index.initializer(w))));
        }
        GraphProto.Builder full = g.toBuilder().addAllNode(b.nodes()).addAllInitializer(b.initializers())
                .addInput(Models.info("dlogits", DataType.FLOAT_VALUE, null));
        for (String w : wrt) {
            full.addOutput(Models.info(grads.get(w), DataType.FLOAT_VALUE, null));
        }
        ModelProto fwdModel = withMsOpset(model.toBuilder().setGraph(fwd).build());
        ModelProto gradModel = withMsOpset(model.toBuilder().setGraph(full).build());

        Random rnd = new Random(7);
        Map<String, long[][]> ids = Map.of(
                "input_ids", tokens(rnd, 2, 6), "decoder_input_ids", tokens(rnd, 2, 5),
                "attention_mask", new long[][] {{1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 0, 0}});
        try (OrtSession fs = Models.session(fwdModel, OptLevel.NO_OPT)) {
            F32 logits0 = forward(fs, ids, weights);
            float[] r = new float[logits0.data.length];
            for (int i = 0; i < r.length; i++) {
                r[i] = (float) (rnd.nextDouble() * 2 - 1);
            }
            long[] logitsShape = logits0.shape;
            Map<String, float[]> none = gradients(gradModel, OptLevel.NO_OPT, ids, r, logitsShape, grads, null);
            Path optimized = tmp.resolve("optimized.onnx");
            Map<String, float[]> all = gradients(gradModel, OptLevel.ALL_OPT, ids, r, logitsShape, grads, optimized);

            for (String w : wrt) {
                float[] a = none.get(w);
                float[] c = all.get(w);
                assertTrue(maxRelDiff(a, c) < 1e-4, w + ": gradients at DISABLE_ALL and ALL differ by "
                        + maxRelDiff(a, c));
                float[] weight = weights.get(w).data;
                double rms = Math.sqrt(dot(weight, weight) / weight.length);
                for (int k = 0; k < 3; k++) {
                    float[] dir = new float[weight.length];
                    for (int i = 0; i < dir.length; i++) {
                        dir[i] = (float) rnd.nextGaussian();
                    }
                    // Richardson extrapolation of two central differences cancels the h² term, which otherwise
                    // dominates at step sizes large enough to rise above float32 rounding.
                    double h = 3e-2 * rms;
                    double coarse = centralDifference(fs, ids, weights, w, dir, h, r);
                    double fine = centralDifference(fs, ids, weights, w, dir, h / 2, r);
                    double numeric = (4 * fine - coarse) / 3;
                    for (float[] grad : List.of(a, c)) {
                        double analytic = dot(grad, dir);
                        double err = Math.abs(analytic - numeric) / Math.abs(numeric);
                        assertTrue(err < DIRECTIONAL_TOLERANCE, file + " " + w + ": directional derivative "
                                + analytic + " vs finite difference " + numeric + " (relative error " + err + ")");
                    }
                }
            }
            // The backward must not make ORT fold transposed copies of weights (DESIGN pitfall). The dynamo export's
            // forward already transposes lm_head.weight itself, so compare with what the forward alone grows by.
            long gradGrowth = ModelIO.weightBytes(ModelIO.load(optimized)) - ModelIO.weightBytes(gradModel);
            long fwdGrowth = optimizedGrowth(withMsOpset(model));
            assertTrue(gradGrowth <= fwdGrowth + 64 * 1024, "optimising the gradient graph added " + gradGrowth
                    + " weight bytes, the forward alone " + fwdGrowth + ": a weight was copied");
            Files.deleteIfExists(optimized);
        }
    }

    /** The [in, out] weight of a projection, found the way each exporter records module paths. */
    private static String projectionWeight(GraphProto g, String module) {
        String tsName = "/" + module.replace(".layers.", "/layers#").replace('.', '/').replace('#', '.') + "/MatMul";
        for (NodeProto n : g.getNodeList()) {
            if (!n.getOpType().equals("MatMul")) {
                continue;
            }
            boolean torchScript = n.getName().equals(tsName);
            boolean dynamo = n.getMetadataPropsList().stream()
                    .filter(p -> p.getKey().equals("pkg.torch.onnx.name_scopes"))
                    .map(StringStringEntryProto::getValue).anyMatch(v -> v.contains("'" + module + "'"));
            if (torchScript || dynamo) {
                return n.getInput(1);
            }
        }
        throw new AssertionError("no MatMul for " + module + " (looked for node " + tsName + ")");
    }

    private static ModelProto withMsOpset(ModelProto m) {
        boolean has = m.getOpsetImportList().stream().anyMatch(o -> o.getDomain().equals(GraphBuilder.MS_DOMAIN));
        return has ? m : m.toBuilder().addOpsetImport(OperatorSetIdProto.newBuilder()
                .setDomain(GraphBuilder.MS_DOMAIN).setVersion(1)).build();
    }

    private static long[][] tokens(Random rnd, int batch, int len) {
        long[][] t = new long[batch][len];
        for (long[] row : t) {
            for (int i = 0; i < len; i++) {
                row[i] = 3 + rnd.nextInt(2045);
            }
        }
        return t;
    }

    private record F32(float[] data, long[] shape) {}

    private static F32 forward(OrtSession s, Map<String, long[][]> ids, Map<String, F32> weights) throws OrtException {
        Map<String, OnnxTensor> feed = feed(ids, weights);
        try (OrtSession.Result res = s.run(feed, Set.of("logits"))) {
            OnnxTensor t = (OnnxTensor) res.get("logits").orElseThrow();
            FloatBuffer fb = t.getFloatBuffer();
            float[] d = new float[fb.remaining()];
            fb.get(d);
            return new F32(d, t.getInfo().getShape());
        } finally {
            feed.values().forEach(OnnxTensor::close);
        }
    }

    private static Map<String, OnnxTensor> feed(Map<String, long[][]> ids, Map<String, F32> floats)
            throws OrtException {
        Map<String, OnnxTensor> feed = new LinkedHashMap<>();
        for (var e : ids.entrySet()) {
            long[][] v = e.getValue();
            long[] flat = java.util.Arrays.stream(v).flatMapToLong(java.util.Arrays::stream).toArray();
            feed.put(e.getKey(), OnnxTensor.createTensor(Models.ENV, LongBuffer.wrap(flat), new long[] {v.length, v[0].length}));
        }
        for (var e : floats.entrySet()) {
            feed.put(e.getKey(), OnnxTensor.createTensor(Models.ENV, FloatBuffer.wrap(e.getValue().data),
                    e.getValue().shape));
        }
        return feed;
    }

    private Map<String, float[]> gradients(ModelProto m, OptLevel level, Map<String, long[][]> ids, float[] r,
            long[] rShape, Map<String, String> grads, Path optimized) throws OrtException {
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setOptimizationLevel(level);
            if (optimized != null) {
                o.setOptimizedModelFilePath(optimized.toString());
            }
            try (OrtSession s = Models.ENV.createSession(m.toByteArray(), o)) {
                Map<String, OnnxTensor> feed = feed(ids, Map.of("dlogits", new F32(r, rShape)));
                try (OrtSession.Result res = s.run(feed, new LinkedHashSet<>(grads.values()))) {
                    Map<String, float[]> out = new HashMap<>();
                    for (var e : grads.entrySet()) {
                        FloatBuffer fb = ((OnnxTensor) res.get(e.getValue()).orElseThrow()).getFloatBuffer();
                        float[] d = new float[fb.remaining()];
                        fb.get(d);
                        out.put(e.getKey(), d);
                    }
                    return out;
                } finally {
                    feed.values().forEach(OnnxTensor::close);
                }
            }
        }
    }

    private static double centralDifference(OrtSession fs, Map<String, long[][]> ids, Map<String, F32> weights,
            String w, float[] dir, double h, float[] r) throws OrtException {
        return (loss(fs, ids, weights, w, dir, h, r) - loss(fs, ids, weights, w, dir, -h, r)) / (2 * h);
    }

    private static double loss(OrtSession fs, Map<String, long[][]> ids, Map<String, F32> weights, String w,
            float[] dir, double h, float[] r) throws OrtException {
        F32 base = weights.get(w);
        float[] moved = new float[base.data.length];
        for (int i = 0; i < moved.length; i++) {
            moved[i] = (float) (base.data[i] + h * dir[i]);
        }
        Map<String, F32> feed = new HashMap<>(weights);
        feed.put(w, new F32(moved, base.shape));
        float[] logits = forward(fs, ids, feed).data;
        double l = 0;
        for (int i = 0; i < logits.length; i++) {
            l += (double) logits[i] * r[i];
        }
        return l;
    }

    private long optimizedGrowth(ModelProto m) throws OrtException, java.io.IOException {
        Path out = tmp.resolve("forward-optimized.onnx");
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setOptimizationLevel(OptLevel.ALL_OPT);
            o.setOptimizedModelFilePath(out.toString());
            Models.ENV.createSession(m.toByteArray(), o).close();
        }
        long growth = ModelIO.weightBytes(ModelIO.load(out)) - ModelIO.weightBytes(m);
        Files.deleteIfExists(out);
        return growth;
    }

    private static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += (double) a[i] * b[i];
        }
        return s;
    }

    private static double maxRelDiff(float[] a, float[] b) {
        double scale = 0;
        double diff = 0;
        for (int i = 0; i < a.length; i++) {
            scale = Math.max(scale, Math.abs(a[i]));
            diff = Math.max(diff, Math.abs(a[i] - b[i]));
        }
        return diff / scale;
    }
}
