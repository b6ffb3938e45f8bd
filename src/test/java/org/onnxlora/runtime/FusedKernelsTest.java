package org.onnxlora.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.onnxlora.proto.Onnx.AttributeProto;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.OperatorSetIdProto;
import org.onnxlora.proto.Onnx.TensorShapeProto;
import org.onnxlora.proto.Onnx.TypeProto;
import org.onnxlora.proto.Onnx.ValueInfoProto;

/**
 * The kernel library's ops on ONNX Runtime's CPU provider. {@code GeluGrad} against the float64 derivative of the erf
 * GELU (itself checked by central differences of the float64 GELU): every input range, the threaded path and its
 * ragged last chunk, the output's shape, and alpha. {@code LayerNormInputGrad} against the float64 input gradient
 * of LayerNorm (checked by central differences of the float64 forward), rows of several widths and means.
 */
class FusedKernelsTest {
    /** The library is part of this build (g++ is on every machine the project builds on): a miss is a failure. */
    @Test
    void theCpuLibraryIsInTheBuild() {
        assertTrue(FusedKernels.library(Device.Kind.CPU).isPresent(), "no libonnxlora_kernels.so in the build");
    }

    @Test
    void theReferenceDerivativeIsTheGelusSlope() {
        for (double x = -9; x <= 9; x += 0.37) {
            double h = 1e-5;
            double fd = (gelu(x + h) - gelu(x - h)) / (2 * h);
            assertEquals(fd, geluDerivative(x), 1e-9, "x = " + x);
        }
    }

    @Test
    void geluGradIsTheFloat64DerivativeToFloat32Rounding() throws Exception {
        SplittableRandom r = new SplittableRandom(3);
        int n = 3 * 16384 + 77; // several chunks on the intra-op threads and a ragged last one
        float[] x = new float[n];
        float[] dy = new float[n];
        for (int i = 0; i < n; i++) {
            // a grid over [-14, 14] (both tails and the slope's zero near −0.75), then normal draws
            x[i] = i < 28001 ? (float) (-14 + i * 0.001) : (float) (r.nextGaussian() * 3);
            dy[i] = (float) r.nextDouble(-2, 2);
        }
        for (float alpha : new float[] {1f, 2f}) {
            float[] got = run(x, dy, new long[] {1, n}, alpha, 2);
            double worst = 0;
            for (int i = 0; i < n; i++) {
                double xv = x[i];
                double want = alpha * dy[i] * geluDerivative(xv);
                // relative to the float32 scale of the two terms summed, Φ(x) and x·φ(x); in the far negative tail
                // (x < −11, where both are below 1e-12 and their exponent's float32 rounding alone is 1e-5 of
                // them) against 1e-12·|dY|, below which no sum of O(1) gradients can see a difference
                double terms = phi(xv) + Math.abs(xv) * density(xv);
                double scale = alpha * Math.abs(dy[i]) * Math.max(terms, 1e-12) + 1e-300;
                // float32 carries the exponent −x²/2 to x²/2·2⁻²⁴, which e^(·) turns into that relative error
                double allowed = 6e-7 + 1.5e-7 * xv * xv;
                worst = Math.max(worst, Math.abs(got[i] - want) / scale / allowed);
            }
            assertTrue(worst <= 1, "alpha " + alpha + ": worst error " + worst + " of what float32 allows");
        }
    }

    @Test
    void theOutputHasTheInputsShapeAndOneThreadAgreesWithTwo() throws Exception {
        SplittableRandom r = new SplittableRandom(4);
        int n = 2 * 3 * 20000;
        float[] x = new float[n];
        float[] dy = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian();
            dy[i] = (float) r.nextGaussian();
        }
        float[] one = run(x, dy, new long[] {2, 3, 20000}, 1f, 1);
        float[] two = run(x, dy, new long[] {2, 3, 20000}, 1f, 2);
        assertArrayEquals(one, two, "the chunking changes no value");
        float[] single = run(new float[] {0.5f}, new float[] {1f}, new long[] {1}, 1f, 1);
        assertEquals(geluDerivative(0.5), single[0], 2e-7);
    }

    private static float[] run(float[] x, float[] dy, long[] shape, float alpha, int threads) throws Exception {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions so = new OrtSession.SessionOptions()) {
            so.setIntraOpNumThreads(threads);
            assertTrue(FusedKernels.register(so, Device.CPU));
            try (OrtSession s = env.createSession(model(shape.length, alpha).toByteArray(), so);
                    OnnxTensor tx = OnnxTensor.createTensor(env, FloatBuffer.wrap(x), shape);
                    OnnxTensor td = OnnxTensor.createTensor(env, FloatBuffer.wrap(dy), shape);
                    OrtSession.Result res = s.run(Map.of("x", tx, "dy", td))) {
                OnnxTensor out = (OnnxTensor) res.get(0);
                assertArrayEquals(shape, out.getInfo().getShape());
                FloatBuffer f = out.getFloatBuffer();
                float[] v = new float[f.remaining()];
                f.get(v);
                return v;
            }
        }
    }

    private static ModelProto model(int rank, float alpha) {
        NodeProto node = NodeProto.newBuilder().setOpType("GeluGrad").setDomain(FusedKernels.DOMAIN).setName("g")
                .addInput("dy").addInput("x").addOutput("dx")
                .addAttribute(AttributeProto.newBuilder().setName("alpha").setType(AttributeProto.AttributeType.FLOAT)
                        .setF(alpha))
                .build();
        return ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(17))
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(FusedKernels.DOMAIN).setVersion(1))
                .setGraph(GraphProto.newBuilder().setName("gelu_grad").addNode(node).addInput(value("dy", rank))
                        .addInput(value("x", rank)).addOutput(value("dx", rank)))
                .build();
    }

    private static ValueInfoProto value(String name, int rank) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (int i = 0; i < rank; i++) {
            shape.addDim(TensorShapeProto.Dimension.newBuilder().setDimParam("d" + i));
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(1).setShape(shape))).build();
    }


    // ---- LayerNormInputGrad ----------------------------------------------------------------------------------

    @Test
    void theReferenceLayerNormGradientIsTheForwardsSlope() {
        SplittableRandom r = new SplittableRandom(8);
        int d = 7;
        double[] x = new double[d];
        double[] gamma = new double[d];
        double[] g = new double[d];
        for (int j = 0; j < d; j++) {
            x[j] = r.nextGaussian() + 3;
            gamma[j] = r.nextDouble(0.5, 1.5);
            g[j] = r.nextGaussian();
        }
        double[] dx = layerNormInputGrad(g, x, gamma, 1e-5);
        for (int j = 0; j < d; j++) {
            double h = 1e-6;
            double[] up = x.clone();
            double[] down = x.clone();
            up[j] += h;
            down[j] -= h;
            double fd = (dot(g, layerNorm(up, gamma, 1e-5)) - dot(g, layerNorm(down, gamma, 1e-5))) / (2 * h);
            assertEquals(fd, dx[j], 1e-7, "element " + j);
        }
    }

    @Test
    void layerNormInputGradIsTheFloat64GradientToFloat32Rounding() throws Exception {
        SplittableRandom r = new SplittableRandom(9);
        for (int d : new int[] {768, 100, 17}) {
            int rows = 70; // three chunks of rows on the intra-op threads, the last ragged
            float[] x = new float[rows * d];
            float[] g = new float[rows * d];
            float[] gamma = new float[d];
            float[] mean = new float[rows];
            float[] invStd = new float[rows];
            for (int j = 0; j < d; j++) {
                gamma[j] = (float) r.nextDouble(0.5, 1.5);
            }
            double eps = 1e-5;
            double worst = 0;
            double[][] want = new double[rows][];
            for (int i = 0; i < rows; i++) {
                double offset = i % 3 == 0 ? 40 : 0; // rows whose mean is large against their spread
                double[] xr = new double[d];
                double[] gr = new double[d];
                for (int j = 0; j < d; j++) {
                    x[i * d + j] = (float) (offset + r.nextGaussian());
                    g[i * d + j] = (float) r.nextGaussian();
                    xr[j] = x[i * d + j];
                    gr[j] = g[i * d + j];
                }
                double m = mean(xr);
                double var = 0;
                for (double v : xr) {
                    var += (v - m) * (v - m);
                }
                mean[i] = (float) m;
                invStd[i] = (float) (1 / Math.sqrt(var / d + eps));
                double[] gd = new double[d];
                for (int j = 0; j < d; j++) {
                    gd[j] = gamma[j];
                }
                want[i] = layerNormInputGrad(gr, xr, gd, eps);
            }
            float[] got = runLayerNorm(g, x, gamma, mean, invStd, rows, d, 2);
            for (int i = 0; i < rows; i++) {
                double norm = 0;
                double err = 0;
                for (int j = 0; j < d; j++) {
                    norm += want[i][j] * want[i][j];
                    err += (got[i * d + j] - want[i][j]) * (got[i * d + j] - want[i][j]);
                }
                worst = Math.max(worst, Math.sqrt(err / norm));
            }
            // the statistics are fed in float32, as the forward gives them: that rounding alone is ~1e-7 of a row
            assertTrue(worst < 2e-6, "width " + d + ": worst row error " + worst);
            assertArrayEquals(got, runLayerNorm(g, x, gamma, mean, invStd, rows, d, 1), "one thread, same values");
        }
    }

    private static float[] runLayerNorm(float[] g, float[] x, float[] gamma, float[] mean, float[] invStd, int rows,
            int d, int threads) throws Exception {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        NodeProto node = NodeProto.newBuilder().setOpType("LayerNormInputGrad").setDomain(FusedKernels.DOMAIN)
                .setName("ln").addInput("dy").addInput("x").addInput("gamma").addInput("mean").addInput("inv_std")
                .addOutput("dx").addAttribute(AttributeProto.newBuilder().setName("inv_n")
                        .setType(AttributeProto.AttributeType.FLOAT).setF(1f / d))
                .build();
        ModelProto m = ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(17))
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(FusedKernels.DOMAIN).setVersion(1))
                .setGraph(GraphProto.newBuilder().setName("ln_grad").addNode(node).addInput(value("dy", 2))
                        .addInput(value("x", 2)).addInput(value("gamma", 1)).addInput(value("mean", 2))
                        .addInput(value("inv_std", 2)).addOutput(value("dx", 2)))
                .build();
        try (OrtSession.SessionOptions so = new OrtSession.SessionOptions()) {
            so.setIntraOpNumThreads(threads);
            assertTrue(FusedKernels.register(so, Device.CPU));
            long[] rowShape = {rows, 1};
            try (OrtSession s = env.createSession(m.toByteArray(), so);
                    OnnxTensor tg = OnnxTensor.createTensor(env, FloatBuffer.wrap(g), new long[] {rows, d});
                    OnnxTensor tx = OnnxTensor.createTensor(env, FloatBuffer.wrap(x), new long[] {rows, d});
                    OnnxTensor tw = OnnxTensor.createTensor(env, FloatBuffer.wrap(gamma), new long[] {d});
                    OnnxTensor tm = OnnxTensor.createTensor(env, FloatBuffer.wrap(mean), rowShape);
                    OnnxTensor ts = OnnxTensor.createTensor(env, FloatBuffer.wrap(invStd), rowShape);
                    OrtSession.Result res = s.run(Map.of("dy", tg, "x", tx, "gamma", tw, "mean", tm, "inv_std", ts))) {
                FloatBuffer f = ((OnnxTensor) res.get(0)).getFloatBuffer();
                float[] v = new float[f.remaining()];
                f.get(v);
                return v;
            }
        }
    }

    static double[] layerNorm(double[] x, double[] gamma, double eps) {
        double m = mean(x);
        double var = 0;
        for (double v : x) {
            var += (v - m) * (v - m);
        }
        double inv = 1 / Math.sqrt(var / x.length + eps);
        double[] y = new double[x.length];
        for (int j = 0; j < x.length; j++) {
            y[j] = (x[j] - m) * inv * gamma[j];
        }
        return y;
    }

    /** dX of Σ g·LayerNorm(x) in float64, the textbook formula. */
    static double[] layerNormInputGrad(double[] g, double[] x, double[] gamma, double eps) {
        int d = x.length;
        double m = mean(x);
        double var = 0;
        for (double v : x) {
            var += (v - m) * (v - m);
        }
        double inv = 1 / Math.sqrt(var / d + eps);
        double s1 = 0;
        double s2 = 0;
        for (int j = 0; j < d; j++) {
            double gh = g[j] * gamma[j];
            s1 += gh;
            s2 += gh * (x[j] - m) * inv;
        }
        double[] dx = new double[d];
        for (int j = 0; j < d; j++) {
            double xh = (x[j] - m) * inv;
            dx[j] = inv * (g[j] * gamma[j] - (s1 + xh * s2) / d);
        }
        return dx;
    }

    private static double mean(double[] v) {
        double s = 0;
        for (double x : v) {
            s += x;
        }
        return s / v.length;
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    // ---- float64 references --------------------------------------------------------------------------------

    static double gelu(double x) {
        return x * phi(x);
    }

    static double geluDerivative(double x) {
        return phi(x) + x * density(x);
    }

    static double density(double x) {
        return Math.exp(-x * x / 2) / Math.sqrt(2 * Math.PI);
    }

    static double phi(double x) {
        return 0.5 * erfc(-x / Math.sqrt(2));
    }

    /** erfc to ~1e-15 relative: the Maclaurin series of erf below 3, a continued fraction of the tail above. */
    static double erfc(double z) {
        if (z < -3) {
            return 2 - erfc(-z);
        }
        if (z <= 3) {
            double sum = 0;
            double term = z;
            for (int k = 0; k < 200; k++) {
                double t = term / (2 * k + 1);
                sum += t;
                if (Math.abs(t) < 1e-18) {
                    break;
                }
                term *= -z * z / (k + 1);
            }
            return 1 - 2 / Math.sqrt(Math.PI) * sum;
        }
        double f = 0;
        for (int k = 80; k >= 1; k--) {
            f = k / 2.0 / (z + f);
        }
        return Math.exp(-z * z) / Math.sqrt(Math.PI) / (z + f);
    }
}
