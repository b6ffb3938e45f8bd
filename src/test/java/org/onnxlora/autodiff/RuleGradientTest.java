package org.onnxlora.autodiff;

import static org.onnxlora.autodiff.Models.list;
import static org.onnxlora.autodiff.Models.node;

import org.junit.jupiter.api.Test;
import org.onnxlora.autodiff.Models.Value;
import org.onnxlora.graph.Attrs;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.AttributeProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;

/** Every gradient rule against float64 central differences (see {@link GradCheck}), over the ranks it supports. */
class RuleGradientTest {
    private static final String MS = "com.microsoft";
    private static final int F64 = DataType.DOUBLE_VALUE;

    private static NodeProto op(String type, String... inputs) {
        return node(type, list(inputs), list("Y"));
    }

    private static NodeProto op(String type, String[] inputs, AttributeProto... attrs) {
        return node(type, list(inputs), list("Y"), attrs);
    }

    private static String[] in(String... s) {
        return s;
    }

    private static void binary(String type, long[] a, long[] b) {
        GradCheck.float64().input("A", a).input("B", b).node(op(type, "A", "B")).run();
    }

    // ---- products

    @Test
    void matMul() {
        binary("MatMul", new long[] {3, 4}, new long[] {4, 5});
        binary("MatMul", new long[] {2, 3, 4}, new long[] {4, 5});
        binary("MatMul", new long[] {2, 3, 4, 5}, new long[] {2, 3, 5, 2});
        binary("MatMul", new long[] {2, 1, 3, 4}, new long[] {3, 4, 2});
        binary("MatMul", new long[] {3, 4}, new long[] {2, 4, 5});
    }

    @Test
    void matMulOneDimensional() {
        binary("MatMul", new long[] {4}, new long[] {4, 5});
        binary("MatMul", new long[] {2, 3, 4}, new long[] {4});
        binary("MatMul", new long[] {4}, new long[] {2, 4, 3});
        binary("MatMul", new long[] {4}, new long[] {4});
    }

    @Test
    void gemm() {
        for (int ta = 0; ta < 2; ta++) {
            for (int tb = 0; tb < 2; tb++) {
                long[] a = ta == 1 ? new long[] {4, 3} : new long[] {3, 4};
                long[] b = tb == 1 ? new long[] {5, 4} : new long[] {4, 5};
                GradCheck.float64().input("A", a).input("B", b).input("C", new long[] {5})
                        .node(op("Gemm", in("A", "B", "C"), Attrs.i("transA", ta), Attrs.i("transB", tb),
                                Attrs.f("alpha", 0.75f), Attrs.f("beta", 1.5f)))
                        .run();
            }
        }
        GradCheck.float64().input("A", 3, 4).input("B", 4, 5).input("C", 3, 5).node(op("Gemm", "A", "B", "C")).run();
        GradCheck.float64().input("A", 3, 4).input("B", 4, 5).node(op("Gemm", "A", "B")).run();
    }

    @Test
    void fusedMatMul() {
        long[][][] shapes = {
            {{2, 3, 4}, {4, 5}}, {{2, 3, 4, 5}, {5, 2}}, {{3, 4}, {4, 5}}, {{2, 3, 4, 5}, {2, 3, 5, 2}},
            {{2, 1, 3, 4}, {3, 4, 2}}, {{3, 4}, {2, 4, 5}}};
        for (long[][] s : shapes) {
            for (int ta = 0; ta < 2; ta++) {
                for (int tb = 0; tb < 2; tb++) {
                    long[] a = ta == 1 ? swapLast(s[0]) : s[0];
                    long[] b = tb == 1 ? swapLast(s[1]) : s[1];
                    GradCheck.float64().input("A", a).input("B", b)
                            .node(node(MS, "FusedMatMul", list("A", "B"), list("Y"), Attrs.i("transA", ta),
                                    Attrs.i("transB", tb), Attrs.f("alpha", 0.5f)))
                            .run();
                }
            }
        }
    }

    private static long[] swapLast(long[] s) {
        long[] t = s.clone();
        t[t.length - 1] = s[s.length - 2];
        t[t.length - 2] = s[s.length - 1];
        return t;
    }

    // ---- elementwise binary

    @Test
    void addSubMul() {
        for (String type : new String[] {"Add", "Sub", "Mul"}) {
            binary(type, new long[] {2, 3, 4}, new long[] {2, 3, 4});
            binary(type, new long[] {2, 3, 4}, new long[] {4});
            binary(type, new long[] {2, 3, 4}, new long[] {3, 1});
            binary(type, new long[] {2, 1, 4}, new long[] {3, 1});
            binary(type, new long[] {}, new long[] {2, 3});
        }
    }

    @Test
    void div() {
        for (long[][] s : new long[][][] {{{2, 3}, {2, 3}}, {{2, 3, 4}, {4}}, {{3, 1}, {2, 3, 4}}}) {
            GradCheck c = GradCheck.float64().input("A", s[0]);
            c.input("B", s[1], c.random(s[1], 0.5, 1.5)).node(op("Div", "A", "B")).run();
        }
    }

    @Test
    void mulWithItself() {
        GradCheck.float64().input("X", 2, 3).node(op("Mul", "X", "X")).run();
    }

    // ---- unary

    @Test
    void negIdentityTanhSigmoidExp() {
        for (String type : new String[] {"Neg", "Identity", "Tanh", "Sigmoid", "Exp"}) {
            GradCheck.float64().input("X", 2, 3, 4).node(op(type, "X")).run();
        }
    }

    @Test
    void logSqrt() {
        for (String type : new String[] {"Log", "Sqrt"}) {
            GradCheck c = GradCheck.float64();
            long[] s = {3, 4};
            c.input("X", s, c.random(s, 0.5, 2)).node(op(type, "X")).run();
        }
    }

    @Test
    void powConstantExponent() {
        for (double e : new double[] {2, 3, 0.5}) {
            GradCheck c = GradCheck.float64();
            long[] s = {3, 4};
            c.input("X", s, c.random(s, 0.5, 2)).constant(Tensors.scalar("E", e, F64)).node(op("Pow", "X", "E")).run();
        }
    }

    /** ORT's CPU Erf kernel is float-only: the backward runs in float64, the forward value comes from a Java erf. */
    @Test
    void erf() {
        GradCheck c = GradCheck.float64();
        long[] s = {2, 3, 4};
        c.input("X", s, c.random(s, -2, 2)).node(op("Erf", "X"))
                .reference(v -> Ref.map(v.get("X"), Ref::erf)).forwardFromReference().run();
    }

    /** Gelu's forward and its backward (which uses Erf) are float-only in ORT: float32 against a float64 reference. */
    @Test
    void gelu() {
        GradCheck c = GradCheck.float32();
        long[] s = {2, 3, 4};
        c.input("X", s, c.random(s, -2, 2)).node(node(MS, "Gelu", list("X"), list("Y")))
                .reference(v -> Ref.map(v.get("X"), Ref::gelu)).run();
    }

    @Test
    void fastGelu() {
        GradCheck c = GradCheck.float64();
        long[] s = {2, 3, 4};
        c.input("X", s, c.random(s, -2, 2)).node(node(MS, "FastGelu", list("X"), list("Y"))).run();
        GradCheck d = GradCheck.float64();
        d.input("X", s, d.random(s, -2, 2)).input("bias", 4).node(node(MS, "FastGelu", list("X", "bias"), list("Y")))
                .run();
    }

    // ---- shape ops

    @Test
    void reshapeFlattenSqueezeUnsqueeze() {
        GradCheck.float64().input("X", 2, 3, 4).ints("s", 4, 6).node(op("Reshape", "X", "s")).run();
        GradCheck.float64().input("X", 2, 3, 4).node(op("Flatten", in("X"), Attrs.i("axis", 2))).run();
        GradCheck.float64().input("X", 2, 1, 3).ints("ax", 1).node(op("Squeeze", "X", "ax")).run();
        GradCheck.float64().input("X", 2, 3).ints("ax", 0, 3).node(op("Unsqueeze", "X", "ax")).run();
    }

    @Test
    void transpose() {
        GradCheck.float64().input("X", 2, 3, 4).node(op("Transpose", in("X"), Attrs.ints("perm", 1, 2, 0))).run();
        GradCheck.float64().input("X", 2, 3, 4).node(op("Transpose", "X")).run();
    }

    @Test
    void expand() {
        GradCheck.float64().input("X", 3, 1).ints("s", 2, 3, 4).node(op("Expand", "X", "s")).run();
        GradCheck.float64().input("X", 4).ints("s", 2, 1, 4).node(op("Expand", "X", "s")).run();
    }

    @Test
    void concat() {
        GradCheck.float64().input("A", 2, 3).input("B", 2, 2).input("C", 2, 4)
                .node(op("Concat", in("A", "B", "C"), Attrs.i("axis", 1))).run();
        GradCheck c = GradCheck.float64().input("A", 2, 3, 2);
        c.frozen("B", new long[] {1, 3, 2}, c.random(new long[] {1, 3, 2}, -1, 1))
                .node(op("Concat", in("B", "A"), Attrs.i("axis", -3))).run();
    }

    @Test
    void split() {
        GradCheck.float64().input("X", 2, 7).ints("sp", 3, 4)
                .node(node("Split", list("X", "sp"), list("P", "Q"), Attrs.i("axis", 1)))
                .node(node("Tanh", list("Q"), list("T")))
                .node(node("Concat", list("T", "P"), list("Y"), Attrs.i("axis", 1))).run();
        // One output unused: its gradient is zeros.
        GradCheck.float64().input("X", 6, 2).node(node("Split", list("X"), list("P", "Q", "Y"))).run();
    }

    @Test
    void slice() {
        GradCheck.float64().input("X", 4, 6).ints("st", 1, -5).ints("en", 3, 100).ints("ax", 0, 1).ints("sp", 1, 2)
                .node(op("Slice", "X", "st", "en", "ax", "sp")).run();
        GradCheck.float64().input("X", 4, 6).ints("st", -1).ints("en", -100).ints("ax", 1).ints("sp", -2)
                .node(op("Slice", "X", "st", "en", "ax", "sp")).run();
        GradCheck.float64().input("X", 3, 5).ints("st", 1).ints("en", 3)
                .node(op("Slice", "X", "st", "en")).run();
    }

    @Test
    void gather() {
        gather(new long[] {5, 3}, new long[] {2, 2}, new long[] {0, 2, 2, 4}, 0);
        gather(new long[] {2, 4, 3}, new long[] {3}, new long[] {3, 0, 3}, 1);
        gather(new long[] {2, 4, 3}, new long[] {2}, new long[] {-1, 1}, -1);
        gather(new long[] {5, 3}, new long[] {}, new long[] {3}, 0);
    }

    private static void gather(long[] data, long[] idxShape, long[] idx, long axis) {
        GradCheck.float64().input("X", data).constant(Tensors.ofLongs("i", idxShape, idx))
                .node(op("Gather", in("X", "i"), Attrs.i("axis", axis))).run();
    }

    @Test
    void gatherElements() {
        GradCheck.float64().input("X", 3, 4).constant(Tensors.ofLongs("i", new long[] {3, 2}, 0, 3, 1, 1, 2, 0))
                .node(op("GatherElements", in("X", "i"), Attrs.i("axis", 1))).run();
    }

    /** float32 → float64 → float32 round trip around Tanh; the reference is tanh in float64. */
    @Test
    void castBetweenFloatTypes() {
        GradCheck.float32().input("X", 2, 3)
                .node(node("Cast", list("X"), list("D"), Attrs.i("to", F64)))
                .node(node("Tanh", list("D"), list("T")))
                .node(node("Cast", list("T"), list("Y"), Attrs.i("to", DataType.FLOAT_VALUE)))
                .reference(v -> Ref.map(v.get("X"), Math::tanh)).run();
    }

    /** The compiler's half-precision casts: gradients come back through float16 and bfloat16 to float32. */
    @Test
    void castThroughHalfTypes() {
        // float16 arithmetic on CPU: ORT has (or upcasts to) float16 Tanh; the gradient is rounded to float16 on the way
        GradCheck.float32().input("X", 2, 3)
                .node(node("Cast", list("X"), list("H"), Attrs.i("to", DataType.FLOAT16_VALUE)))
                .node(node("Tanh", list("H"), list("T")))
                .node(node("Cast", list("T"), list("Y"), Attrs.i("to", DataType.FLOAT_VALUE)))
                .reference(v -> Ref.map(v.get("X"), Math::tanh)).tolerance(3e-3).run();
        // bfloat16 storage only (ORT's CPU provider has Cast but no bfloat16 arithmetic)
        GradCheck.float32().input("X", 2, 3)
                .node(node("Cast", list("X"), list("B"), Attrs.i("to", DataType.BFLOAT16_VALUE)))
                .node(node("Cast", list("B"), list("F"), Attrs.i("to", DataType.FLOAT_VALUE)))
                .node(node("Tanh", list("F"), list("Y")))
                .reference(v -> Ref.map(v.get("X"), Math::tanh)).tolerance(2e-2).run();
    }

    @Test
    void where() {
        boolean[] c = {true, false, false, true, true, true, false, false, true, false, true, false};
        GradCheck.float64().input("A", 3, 4).input("B", 4).bools("c", new long[] {3, 4}, c)
                .node(op("Where", "c", "A", "B")).run();
    }

    // ---- normalisation, reductions

    @Test
    void softmax() {
        for (long axis : new long[] {-1, 1, 0}) {
            GradCheck.float64().input("X", 2, 3, 4).node(op("Softmax", in("X"), Attrs.i("axis", axis))).run();
        }
        GradCheck.float64().input("X", 2, 5).node(op("Softmax", "X")).run();
    }

    @Test
    void logSoftmax() {
        GradCheck.float64().input("X", 2, 3, 4).node(op("LogSoftmax", "X")).run();
        GradCheck.float64().input("X", 2, 3, 4).node(op("LogSoftmax", in("X"), Attrs.i("axis", 1))).run();
    }

    @Test
    void layerNormalization() {
        GradCheck.float64().input("X", 2, 3, 4).input("g", 4).input("b", 4)
                .node(op("LayerNormalization", "X", "g", "b")).run();
        GradCheck.float64().input("X", 2, 3, 4).input("g", 3, 4).input("b", 3, 4)
                .node(op("LayerNormalization", in("X", "g", "b"), Attrs.i("axis", 1), Attrs.f("epsilon", 1e-3f))).run();
        GradCheck.float64().input("X", 3, 5).input("g", 5).node(op("LayerNormalization", "X", "g")).run();
    }

    /** With the forward's Mean/InvStdDev outputs reused (float32 only, their stash type). */
    @Test
    void layerNormalizationReusingStatistics() {
        GradCheck.float32().input("X", 2, 3, 4).input("g", 4).input("b", 4)
                .node(node("LayerNormalization", list("X", "g", "b"), list("Y", "mu", "rs")))
                .reference(v -> layerNorm(v.get("X"), v.get("g").data(), v.get("b").data(), 4, 1e-5f)).run();
    }

    private static Value layerNorm(Value x, double[] g, double[] b, int n, double eps) {
        double[] out = new double[x.data().length];
        for (int r = 0; r < out.length / n; r++) {
            double mean = 0;
            for (int j = 0; j < n; j++) {
                mean += x.data()[r * n + j];
            }
            mean /= n;
            double var = 0;
            for (int j = 0; j < n; j++) {
                double d = x.data()[r * n + j] - mean;
                var += d * d;
            }
            var /= n;
            double inv = 1 / Math.sqrt(var + eps);
            for (int j = 0; j < n; j++) {
                out[r * n + j] = (x.data()[r * n + j] - mean) * inv * g[j] + b[j];
            }
        }
        return new Value(out, x.shape());
    }

    @Test
    void reduceMean() {
        GradCheck.float64().input("X", 2, 3, 4).node(op("ReduceMean", in("X"), Attrs.ints("axes", 1), Attrs.i("keepdims", 0))).run();
        GradCheck.float64().input("X", 2, 3, 4).node(op("ReduceMean", in("X"), Attrs.ints("axes", -1, 0))).run();
        GradCheck.float64().input("X", 2, 3, 4).node(op("ReduceMean", in("X"), Attrs.i("keepdims", 0))).run();
    }

    @Test
    void reduceSum() {
        GradCheck.float64().input("X", 2, 3, 4).ints("ax", 0, 2)
                .node(op("ReduceSum", in("X", "ax"), Attrs.i("keepdims", 0))).run();
        GradCheck.float64().input("X", 2, 3, 4).ints("ax", 1).node(op("ReduceSum", "X", "ax")).run();
        GradCheck.float64().input("X", 2, 3, 4).node(op("ReduceSum", in("X"), Attrs.i("keepdims", 0))).run();
    }

    @Test
    void dropoutInference() {
        GradCheck.float64().input("X", 2, 3).node(op("Dropout", "X")).run();
    }

    /** Training mode: the mask the gradient run drew is captured and the reference applies that same mask. */
    @Test
    void dropoutTraining() {
        GradCheck.float64().input("X", 4, 5).constant(Tensors.scalar("p", 0.25, F64))
                .bools("train", new long[0], new boolean[] {true})
                .node(node("Dropout", list("X", "p", "train"), list("Y", "mask")))
                .capture("mask")
                .reference(v -> {
                    Value x = v.get("X");
                    double[] out = new double[x.data().length];
                    for (int i = 0; i < out.length; i++) {
                        out[i] = x.data()[i] * v.get("mask").data()[i] / 0.75;
                    }
                    return new Value(out, x.shape());
                }).run();
    }

}
