package org.onnxlora.parallel;

/**
 * Element-wise sums across the members of a data-parallel group. Every member calls
 * {@link #sum} with arrays of the same lengths, in the same sequence of calls; each returns
 * once the sums are in place. The summation order is fixed by the implementation and the
 * group size (never by timing), so all members hold bit-identical results afterwards, and the
 * results equal a single-process sum up to float rounding.
 */
public interface AllReduce extends AutoCloseable {

    /** This member's position in the group, 0-based; rank 0 writes checkpoints. */
    int rank();

    /** Number of members. */
    int size();

    /**
     * Replaces {@code values} and {@code counts} by their sums over all members. Counts are
     * summed in double (token counts and loss sums need more than a float's 24 bits).
     *
     * @throws org.onnxlora.OnnxLoraException with {@link org.onnxlora.ErrorCode#COLLECTIVE} when a
     *         member vanished or stopped answering (within the group's timeout, naming it), and
     *         {@link org.onnxlora.ErrorCode#INTERNAL} when members disagree on the lengths
     */
    void sum(float[] values, double[] counts);

    /** {@link #sum(float[], double[])} with one count; returns its sum. */
    default double sum(float[] values, double count) {
        double[] c = {count};
        sum(values, c);
        return c[0];
    }

    /** Leaves the group; a member still waiting in {@link #sum} fails instead of hanging. */
    @Override
    void close();
}
