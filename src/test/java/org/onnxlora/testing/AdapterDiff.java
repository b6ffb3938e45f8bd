package org.onnxlora.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.onnxlora.lora.AdapterValues;

/** How far two trainings' adapters are apart, for the equivalence tests of data-parallel training. */
public final class AdapterDiff {
    private AdapterDiff() {}

    /** Max |a - b| over max |a|, across every adapter tensor; the adapters must have moved. */
    public static double relative(AdapterValues want, AdapterValues got) {
        assertEquals(want.names(), got.names());
        double scale = 0;
        double diff = 0;
        for (String n : want.names()) {
            float[] a = want.get(n);
            float[] b = got.get(n);
            assertEquals(a.length, b.length, n);
            for (int i = 0; i < a.length; i++) {
                scale = Math.max(scale, Math.abs(a[i]));
                diff = Math.max(diff, Math.abs(a[i] - b[i]));
            }
        }
        assertTrue(scale > 0.001, "the adapters moved");
        return diff / scale;
    }
}
