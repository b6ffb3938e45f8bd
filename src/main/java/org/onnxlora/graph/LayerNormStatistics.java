package org.onnxlora.graph;

import java.util.List;

/**
 * A LayerNormalization's row statistics in elementwise ops and row sums, the two-pass way:
 * {@code μ = Σx·(1/N)}, {@code c = x − μ}, {@code σ⁻¹ = 1/√(Σc²·(1/N) + ε)}. The centred rows are computed before
 * the variance, so nothing cancels when a row's mean is large against its spread (the one-pass
 * {@code E[x²] − E[x]²} does). Used where the statistics must be written out: the CPU sessions' decomposition of
 * the node, and the gradient rule when the forward did not keep them.
 *
 * @param mean     μ, one value per row (kept dims)
 * @param centred  {@code x − μ}
 * @param invStd   σ⁻¹, one value per row (kept dims)
 */
public record LayerNormStatistics(String mean, String centred, String invStd) {

    /**
     * Emits the statistics of {@code x} over {@code axes} into {@code b}. {@code inverseSize} and {@code epsilon}
     * are scalars of x's type. {@code meanName} and {@code invStdName}, when not null, are the names the two
     * statistics must have (a node's own Mean/InvStdDev outputs); otherwise they get fresh names.
     */
    public static LayerNormStatistics twoPass(GraphBuilder b, String x, String axes, String inverseSize,
            String epsilon, String meanName, String invStdName) {
        String mean = named(b, "Mul", List.of(b.sumKeepDims(x, axes), inverseSize), meanName, "/mean");
        String centred = b.op("Sub", x, mean);
        String variance = b.op("Mul", b.sumKeepDims(b.op("Mul", centred, centred), axes), inverseSize);
        String invStd = named(b, "Reciprocal", List.of(b.op("Sqrt", b.op("Add", variance, epsilon))), invStdName,
                "/inv_std");
        return new LayerNormStatistics(mean, centred, invStd);
    }

    private static String named(GraphBuilder b, String op, List<String> inputs, String output, String node) {
        if (output == null) {
            return b.op(op, inputs);
        }
        b.add("", op, b.names().fresh(b.scope() + node), inputs, List.of(output));
        return output;
    }
}
