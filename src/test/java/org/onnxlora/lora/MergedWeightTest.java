package org.onnxlora.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;

/** The row-wise merge gives bit for bit what widening everything to double[] gave. */
class MergedWeightTest {
    static final int IN = 7;
    static final int OUT = 5;
    static final int RANK = 3;

    /** The previous whole-matrix BranchMergePass arithmetic, kept as the reference. */
    static TensorProto reference(TensorProto w0, boolean w0T, AdapterTensors ad, float alpha, boolean outT) {
        double[] values = Tensors.toDoubles(w0);
        double[] delta = ad.delta();
        for (int i = 0; i < IN; i++) {
            for (int j = 0; j < OUT; j++) {
                values[w0T ? j * IN + i : i * OUT + j] += delta[i * OUT + j] / alpha;
            }
        }
        double[] own = new double[IN * OUT];
        for (int i = 0; i < IN; i++) {
            for (int j = 0; j < OUT; j++) {
                own[outT ? j * IN + i : i * OUT + j] = values[w0T ? j * IN + i : i * OUT + j];
            }
        }
        return Tensors.ofDoubles("w", outT ? new long[] {OUT, IN} : new long[] {IN, OUT}, own, w0.getDataType());
    }

    static AdapterTensors adapter(long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        double[] a = new double[IN * RANK];
        double[] b = new double[RANK * OUT];
        for (int i = 0; i < a.length; i++) {
            a[i] = i % 4 == 1 ? 0.0 : rng.nextGaussian(); // zeros take the skip branch
        }
        for (int i = 0; i < b.length; i++) {
            b[i] = rng.nextGaussian() * 0.37;
        }
        return new AdapterTensors(IN, OUT, RANK, 1.7, a, b);
    }

    @Test
    void everyDtypeAndLayoutMatchesTheWholeMatrixMerge() {
        int[] dtypes = {DataType.FLOAT_VALUE, DataType.FLOAT16_VALUE, DataType.BFLOAT16_VALUE, DataType.DOUBLE_VALUE};
        long seed = 0;
        for (int dt : dtypes) {
            for (boolean w0T : new boolean[] {false, true}) {
                for (boolean outT : new boolean[] {false, true}) {
                    for (float alpha : new float[] {1f, 0.3f}) {
                        SplittableRandom rng = new SplittableRandom(++seed);
                        double[] w = new double[IN * OUT];
                        for (int i = 0; i < w.length; i++) {
                            w[i] = rng.nextGaussian();
                        }
                        TensorProto w0 = Tensors.ofDoubles("w", w0T ? new long[] {OUT, IN} : new long[] {IN, OUT}, w, dt);
                        AdapterTensors ad = adapter(seed);
                        TensorProto expected = reference(w0, w0T, ad, alpha, outT);
                        TensorProto got = MergedWeight.of("w", w0, w0T, ad, alpha, outT);
                        String what = Tensors.typeName(dt) + " w0T=" + w0T + " outT=" + outT + " alpha=" + alpha;
                        assertEquals(expected.getDimsList(), got.getDimsList(), what);
                        assertArrayEquals(expected.getRawData().toByteArray(), got.getRawData().toByteArray(), what);
                    }
                }
            }
        }
    }

    @Test
    void typedFieldWeightsAreReadToo() {
        float[] w = new float[IN * OUT];
        TensorProto.Builder t = TensorProto.newBuilder().setName("w").setDataType(DataType.FLOAT_VALUE)
                .addDims(IN).addDims(OUT);
        for (int i = 0; i < w.length; i++) {
            t.addFloatData(i * 0.25f - 3);
        }
        TensorProto w0 = t.build();
        AdapterTensors ad = adapter(99);
        assertArrayEquals(reference(w0, false, ad, 1f, false).getRawData().toByteArray(),
                MergedWeight.of("w", w0, false, ad, 1f, false).getRawData().toByteArray());
    }
}
