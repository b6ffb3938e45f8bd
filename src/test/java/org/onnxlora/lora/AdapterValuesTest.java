package org.onnxlora.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class AdapterValuesTest {
    @Test
    void holdersCannotChangeWhatOthersSee() {
        float[] a = {1, 2};
        Map<String, float[]> m = new LinkedHashMap<>();
        m.put("q.lora_A", a);
        m.put("q.lora_B", new float[] {3});
        AdapterValues v = AdapterValues.of(m);
        a[0] = 99;
        m.remove("q.lora_B");
        v.get("q.lora_A")[1] = 42;
        assertArrayEquals(new float[] {1, 2}, v.get("q.lora_A"));
        assertEquals(List.of("q.lora_A", "q.lora_B"), List.copyOf(v.names()), "file order kept");
        assertNull(v.get("k.lora_A"));
        assertEquals(-1, v.length("k.lora_A"));
    }

    @Test
    void equalityIsByValue() {
        AdapterValues x = AdapterValues.of(Map.of("t", new float[] {1, 2}));
        assertEquals(x, AdapterValues.of(Map.of("t", new float[] {1, 2})));
        assertNotEquals(x, x.with("t", new float[] {1, 3}));
        assertEquals(AdapterValues.none(), AdapterValues.of(Map.of()));
    }
}
