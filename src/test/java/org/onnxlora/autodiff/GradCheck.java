package org.onnxlora.autodiff;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.Function;
import org.onnxlora.autodiff.Models.Value;
import org.onnxlora.autodiff.rules.StandardRules;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.NameGen;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;

/**
 * Finite-difference gradient checker, after ORT's gradient_checker: the loss is a
 * random projection {@code L = Σ Y ⊙ R} of the graph output (seed gradient R, so
 * every output element matters); analytic gradients from the Backprop graph run in
 * ORT are compared with central differences computed in float64. The error is the
 * max-norm relative error {@code max|a−n| / max|n|} per trainable tensor, bound 1e-6.
 *
 * <p>Each check runs twice: with fully static input shapes (rules may take static
 * shortcuts) and with symbolic dims (rules must compute shapes at run time).
 *
 * <p>Where ORT has no float64 kernel for the op under test, the check takes a
 * float64 Java reference of the forward: finite differences use it, and either the
 * backward graph still runs in float64 with the forward node's outputs fed from
 * the reference ({@link #forwardFromReference}), or, when the backward itself
 * needs a float-only kernel, the gradient graph runs in float32 on
 * float32-representable inputs and is still held to the same 1e-6 bound against
 * the float64 differences.
 */
final class GradCheck {
    static final double TOLERANCE = 1e-6;
    private static final double H = 1e-5;

    private final int dtype;
    private final Random rnd;
    private final Map<String, Value> inputs = new LinkedHashMap<>();
    private final Set<String> wrt = new LinkedHashSet<>();
    private final List<TensorProto> constants = new ArrayList<>();
    private final List<NodeProto> nodes = new ArrayList<>();
    private final List<String> captured = new ArrayList<>();
    private String output = "Y";
    private Function<Map<String, Value>, Value> reference;
    private boolean feedForward;
    private boolean symbolicOnly;
    private double tolerance = TOLERANCE;

    private GradCheck(int dtype, long seed) {
        this.dtype = dtype;
        this.rnd = new Random(seed);
    }

    static GradCheck float64() {
        return new GradCheck(DataType.DOUBLE_VALUE, 42);
    }

    static GradCheck float32() {
        return new GradCheck(DataType.FLOAT_VALUE, 42);
    }

    /** A trainable input with values uniform in [-1, 1] (float32-representable). */
    GradCheck input(String name, long... shape) {
        return input(name, shape, random(shape, -1, 1));
    }

    GradCheck input(String name, long[] shape, double[] values) {
        inputs.put(name, new Value(values, shape));
        wrt.add(name);
        return this;
    }

    /** A float input that is fed but not differentiated. */
    GradCheck frozen(String name, long[] shape, double[] values) {
        inputs.put(name, new Value(values, shape));
        return this;
    }

    GradCheck constant(TensorProto t) {
        constants.add(t);
        return this;
    }

    GradCheck ints(String name, long... values) {
        return constant(Tensors.ofLongs(name, new long[] {values.length}, values));
    }

    GradCheck bools(String name, long[] dims, boolean[] values) {
        TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(DataType.BOOL_VALUE);
        for (long d : dims) {
            t.addDims(d);
        }
        byte[] raw = new byte[values.length];
        for (int i = 0; i < raw.length; i++) {
            raw[i] = (byte) (values[i] ? 1 : 0);
        }
        return constant(t.setRawData(com.google.protobuf.ByteString.copyFrom(raw)).build());
    }

    GradCheck node(NodeProto n) {
        nodes.add(n);
        return this;
    }

    GradCheck output(String name) {
        this.output = name;
        return this;
    }

    /**
     * A looser bound, for graphs that round through a half type on purpose: the rounding of
     * the forward and of the gradient itself (2^-11 for float16, 2^-8 for bfloat16) is the floor.
     */
    GradCheck tolerance(double bound) {
        this.tolerance = bound;
        return this;
    }

    /** Float64 Java forward used for finite differences (inputs and captured values in, output out). */
    GradCheck reference(Function<Map<String, Value>, Value> fn) {
        this.reference = fn;
        return this;
    }

    /** In the gradient run, replace the forward nodes by the reference's output (ORT lacks the forward kernel). */
    GradCheck forwardFromReference() {
        this.feedForward = true;
        return this;
    }

    /** Forward values fetched from the gradient run and handed to the reference (e.g. a dropout mask). */
    GradCheck capture(String... names) {
        captured.addAll(List.of(names));
        return this;
    }

    /** Run only the symbolic-shape variant (the static one would change nothing). */
    GradCheck symbolicOnly() {
        this.symbolicOnly = true;
        return this;
    }

    double[] random(long[] shape, double lo, double hi) {
        int n = (int) Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (lo + (hi - lo) * rnd.nextDouble());
        }
        return v;
    }

    /** Runs the check in both shape modes; returns the worst relative error seen. */
    double run() {
        try {
            double worst = symbolicOnly ? 0 : check(false);
            return Math.max(worst, check(true));
        } catch (OrtException e) {
            throw new AssertionError("ONNX Runtime failed: " + e.getMessage(), e);
        }
    }

    private GraphProto forwardGraph(boolean symbolic) {
        GraphProto.Builder g = GraphProto.newBuilder().setName("fwd").addAllNode(nodes).addAllInitializer(constants);
        inputs.forEach((name, v) -> {
            long[] dims = symbolic ? Arrays.stream(v.shape()).map(d -> -1).toArray() : v.shape();
            g.addInput(Models.info(name, dtype, dims));
        });
        g.addOutput(Models.info(output, dtype, null));
        return g.build();
    }

    private double check(boolean symbolic) throws OrtException {
        assertTrue(reference != null || dtype == DataType.DOUBLE_VALUE, "float32 checks need a float64 reference");
        GraphProto fwd = forwardGraph(symbolic);
        Value y0;
        if (reference == null || !captured.isEmpty()) {
            try (OrtSession s = Models.session(Models.model(fwd))) {
                y0 = Models.run(s, dtype, inputs, List.of(output)).get(output);
            }
        } else {
            y0 = reference.apply(inputs);
        }
        Value r = new Value(random(y0.shape(), -1, 1), y0.shape());

        Set<String> used = new HashSet<>(new GraphIndex(fwd).allNames());
        used.add("R");
        GraphBuilder b = new GraphBuilder(new NameGen(used));
        Map<String, String> grads = new Backprop(StandardRules.registry()).build(fwd, Map.of(output, "R"), wrt, b);

        GraphProto.Builder full = fwd.toBuilder().clearOutput();
        if (feedForward) {
            full.clearNode();
            full.addInput(Models.info(output, dtype, null));
        }
        full.addAllNode(b.nodes()).addAllInitializer(b.initializers());
        full.addInput(Models.info("R", dtype, null));
        List<String> fetch = new ArrayList<>(new LinkedHashSet<>(grads.values()));
        for (String name : fetch) {
            full.addOutput(Models.info(name, dtype, null));
        }
        for (String name : captured) {
            full.addOutput(Models.info(name, DataType.BOOL_VALUE, null));
        }
        fetch.addAll(captured);

        Map<String, Value> feed = new LinkedHashMap<>(inputs);
        feed.put("R", r);
        if (feedForward) {
            feed.put(output, y0);
        }
        Map<String, Value> analytic;
        try (OrtSession s = Models.session(Models.model(full.build()))) {
            analytic = Models.run(s, dtype, feed, fetch);
        }
        Map<String, Value> extra = new LinkedHashMap<>();
        captured.forEach(c -> extra.put(c, analytic.get(c)));
        double worst = 0;
        try (OrtSession fs = reference == null ? Models.session(Models.model(fwd)) : null) {
            for (String w : wrt) {
                double[] a = analytic.get(grads.get(w)).data();
                assertEquals(inputs.get(w).data().length, a.length, "gradient of " + w + " has the wrong size");
                double[] num = numeric(w, r, fs, extra);
                double err = relativeError(a, num);
                assertTrue(err <= tolerance, "gradient of " + w + " (" + (symbolic ? "symbolic" : "static")
                        + " shapes): relative error " + err + "\n analytic " + Arrays.toString(a)
                        + "\n numeric  " + Arrays.toString(num));
                worst = Math.max(worst, err);
            }
        }
        return worst;
    }

    private double[] numeric(String w, Value r, OrtSession fs, Map<String, Value> extra) throws OrtException {
        Value x = inputs.get(w);
        double[] grad = new double[x.data().length];
        for (int j = 0; j < grad.length; j++) {
            double keep = x.data()[j];
            x.data()[j] = keep + H;
            double plus = loss(r, fs, extra);
            x.data()[j] = keep - H;
            double minus = loss(r, fs, extra);
            x.data()[j] = keep;
            grad[j] = (plus - minus) / (2 * H);
        }
        return grad;
    }

    private double loss(Value r, OrtSession fs, Map<String, Value> extra) throws OrtException {
        Value y;
        if (fs != null) {
            y = Models.run(fs, dtype, inputs, List.of(output)).get(output);
        } else {
            Map<String, Value> in = new LinkedHashMap<>(inputs);
            in.putAll(extra);
            y = reference.apply(in);
        }
        double l = 0;
        for (int i = 0; i < y.data().length; i++) {
            l += y.data()[i] * r.data()[i];
        }
        return l;
    }

    static double relativeError(double[] analytic, double[] numeric) {
        double scale = 0;
        double diff = 0;
        for (int i = 0; i < numeric.length; i++) {
            scale = Math.max(scale, Math.abs(numeric[i]));
            diff = Math.max(diff, Math.abs(analytic[i] - numeric[i]));
        }
        assertTrue(scale > 1e-9, "numeric gradient is identically zero: the check would prove nothing");
        return diff / scale;
    }
}
