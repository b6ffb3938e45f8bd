package org.onnxlora.io;

import java.util.Arrays;

/**
 * One header entry of a safetensors file: where a tensor's bytes lie in the data
 * buffer (the bytes after the header) and how to read them.
 *
 * @param begin first byte, relative to the start of the data buffer
 * @param end one past the last byte, relative to the start of the data buffer
 */
public record SafetensorsTensorInfo(String name, SafetensorsDtype dtype, long[] shape, long begin, long end) {

    public SafetensorsTensorInfo {
        shape = shape.clone(); // records are shallowly immutable; keep the array ours
    }

    /** A copy, so that callers cannot change the shape we validated. */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    /** Product of the dimensions; 1 for a scalar. Validated not to overflow when the file was opened. */
    public long elementCount() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    public long byteSize() {
        return end - begin;
    }

    // Arrays are compared by content: the generated equals would compare shape by identity.
    @Override
    public boolean equals(Object o) {
        return o instanceof SafetensorsTensorInfo t && name.equals(t.name) && dtype == t.dtype
                && Arrays.equals(shape, t.shape) && begin == t.begin && end == t.end;
    }

    @Override
    public int hashCode() {
        return 31 * (31 * name.hashCode() + dtype.hashCode()) + Arrays.hashCode(shape) + Long.hashCode(begin);
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape) + " @[" + begin + ", " + end + ")";
    }
}
