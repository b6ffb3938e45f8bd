package org.onnxlora.graph;

import java.util.HashSet;
import java.util.Set;

/** Mints value and node names that collide with nothing already in the graph. */
public final class NameGen {
    private final Set<String> used;

    public NameGen(Set<String> used) {
        this.used = new HashSet<>(used);
    }

    /** {@code base} itself if free, else {@code base_1}, {@code base_2}, ... */
    public String fresh(String base) {
        if (used.add(base)) {
            return base;
        }
        for (int i = 1; ; i++) {
            String candidate = base + "_" + i;
            if (used.add(candidate)) {
                return candidate;
            }
        }
    }

    public boolean isUsed(String name) {
        return used.contains(name);
    }

    public void reserve(String name) {
        used.add(name);
    }
}
