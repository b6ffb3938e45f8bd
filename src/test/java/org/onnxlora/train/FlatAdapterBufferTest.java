package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtSession;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Sessions;
import org.onnxlora.testing.TinyGraphs;

/**
 * ONNX Runtime reads inputs from and writes pinned outputs into the views of a flat buffer in
 * place: what the training graph sees and writes per adapter is the flat buffer the optimizer
 * updates, with no copy in between.
 */
class FlatAdapterBufferTest {
    static final List<AdapterSpec> SPECS = List.of(new AdapterSpec("a", new long[] {3, 5}, 1),
            new AdapterSpec("b", new long[] {7, 1}, 1));

    @Test
    void viewsShareTheFlatBufferBothWays() throws Exception {
        int f = DataType.FLOAT_VALUE;
        TinyGraphs g = new TinyGraphs(0).input("a", f, 3L, 5L).input("b", f, 7L, 1L).output("grad.a", f, 3L, 5L)
                .output("grad.b", f, 7L, 1L);
        g.node("Neg", "na", List.of("a"), List.of("grad.a"));
        g.node("Neg", "nb", List.of("b"), List.of("grad.b"));
        AdapterLayout layout = new AdapterLayout(SPECS);
        try (OrtSession s = Sessions.create(g.model(), RuntimeOptions.defaults(), "views");
                FlatAdapterBuffer in = new FlatAdapterBuffer(Sessions.env(), layout);
                FlatAdapterBuffer out = new FlatAdapterBuffer(Sessions.env(), layout)) {
            Map<String, OnnxValue> pinned = new HashMap<>();
            out.views().forEach((n, t) -> pinned.put(AdapterSpec.grad(n), t));
            for (int round = 1; round <= 2; round++) {
                // written after the tensors were created: a copy at creation would not see them
                float[] a = fill(15, round);
                float[] b = fill(7, 10 * round);
                in.write("a", a);
                in.write("b", b);
                try (OrtSession.Result r = s.run(new HashMap<>(in.views()), pinned)) {
                    assertArrayEquals(negate(a), out.read("a"));
                    assertArrayEquals(negate(b), out.read("b"));
                }
            }
            // the flat tensor reads the same memory: the optimizer sees what the views wrote
            float[] flat = new float[layout.elements()];
            out.flat().getFloatBuffer().get(flat);
            assertEquals(-20f, flat[layout.offset("b")]);
            assertEquals(0f, flat[15], "the gap after 'a' stays zero");
        }
    }

    @Test
    void addAccumulatesEveryElement() throws Exception {
        AdapterLayout layout = new AdapterLayout(SPECS);
        try (FlatAdapterBuffer x = new FlatAdapterBuffer(Sessions.env(), layout);
                FlatAdapterBuffer y = new FlatAdapterBuffer(Sessions.env(), layout)) {
            x.write("a", fill(15, 1));
            x.write("b", fill(7, 2));
            y.write("a", fill(15, 3));
            y.write("b", fill(7, 4));
            x.add(y);
            assertArrayEquals(sum(fill(15, 1), fill(15, 3)), x.read("a"));
            assertArrayEquals(sum(fill(7, 2), fill(7, 4)), x.read("b"));
        }
    }

    private static float[] fill(int n, float start) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = start + i;
        }
        return v;
    }

    private static float[] sum(float[] x, float[] y) {
        float[] o = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            o[i] = x[i] + y[i];
        }
        return o;
    }

    private static float[] negate(float[] v) {
        float[] o = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            o[i] = -v[i];
        }
        return o;
    }
}
