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
 * The kernel library's {@code ai.onnxlora:GeluGrad} on ONNX Runtime's CPU provider, against the float64 derivative
 * of the erf GELU (itself checked by central differences of the float64 GELU): every input range, the threaded
 * path and its ragged last chunk, the output's shape, and alpha.
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
