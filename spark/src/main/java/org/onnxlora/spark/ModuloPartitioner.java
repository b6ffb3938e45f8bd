package org.onnxlora.spark;

import org.apache.spark.Partitioner;

/** Row {@code i} (a Long key: its index in the input) goes to task {@code i % n}: shards that do not change between attempts. */
final class ModuloPartitioner extends Partitioner {
    private static final long serialVersionUID = 1L;
    private final int n;

    ModuloPartitioner(int n) {
        this.n = n;
    }

    @Override
    public int numPartitions() {
        return n;
    }

    @Override
    public int getPartition(Object key) {
        return (int) Math.floorMod((Long) key, (long) n);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ModuloPartitioner p && p.n == n;
    }

    @Override
    public int hashCode() {
        return n;
    }
}
