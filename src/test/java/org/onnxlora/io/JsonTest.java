package org.onnxlora.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.Gson;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Non-finite numbers are written as strings and read back as numbers, instead of Gson throwing. */
class JsonTest {
    record Summary(double loss, Double best, float lr) {}

    @Test
    void nonFiniteNumbersBecomeStringsAndRoundTrip() {
        Gson gson = Json.builder().create();
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("loss", Double.NaN);
        o.put("perplexity", Double.POSITIVE_INFINITY);
        o.put("min", Float.NEGATIVE_INFINITY);
        o.put("tokens", 12);
        assertEquals("{\"loss\":\"NaN\",\"perplexity\":\"Infinity\",\"min\":\"-Infinity\",\"tokens\":12}", gson.toJson(o));
        String s = gson.toJson(new Summary(Double.NaN, Double.NEGATIVE_INFINITY, 1e-3f));
        assertEquals("{\"loss\":\"NaN\",\"best\":\"-Infinity\",\"lr\":0.001}", s);
        Summary back = gson.fromJson(s, Summary.class);
        assertTrue(Double.isNaN(back.loss()));
        assertEquals(Double.NEGATIVE_INFINITY, back.best());
        assertEquals(1e-3f, back.lr());
    }

    @Test
    void finiteNumbersAreWrittenAsGsonAlwaysDid() {
        Gson plain = new Gson();
        Gson ours = Json.builder().create();
        Object[] values = {0.1, 1e-7, 123456789.125, -0.0, 0.1f, 3.4028235e38f, 42L};
        for (Object v : values) {
            assertEquals(plain.toJson(v), ours.toJson(v), String.valueOf(v));
        }
    }
}
