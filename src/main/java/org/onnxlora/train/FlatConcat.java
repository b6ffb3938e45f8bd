package org.onnxlora.train;

import java.util.ArrayList;
import java.util.List;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.AttributeProto;

/**
 * Concatenates pieces (values of any shape, in row-major order) into one flat tensor with kernels that ONNX
 * Runtime's CUDA provider runs without staging anything in pinned host memory, so that CUDA graphs of every batch
 * shape can share a session ({@link ReplayHazards}). One {@code Concat} of many pieces would copy its input pointers
 * from a host buffer that another shape's run rewrites.
 *
 * <p>Pieces of one size go through {@code Concat}s of at most {@link ReplayHazards#BY_VALUE} pieces, level by level
 * (the pointers travel by value): with every LoRA target of a BART layer being {@code d × d}, that is the common
 * case, and it moves each element once per level. Each piece is a row {@code [1, n]} and the Concats stack rows
 * along axis 0, because ORT's CUDA Concat fills a host table with one entry per index of the concatenated axis at
 * every run: concatenating bart-base's 442,368 gradient elements along their only axis cost about 7 ms of host time
 * a step (session 11's profile), stacking 72 rows costs nothing. The rows become the flat output by a Reshape,
 * which aliases. Pieces of several sizes are merged pairwise as {@code Pad(left) + Pad(right)}, in a balanced tree:
 * about three passes over the result per level.
 */
final class FlatConcat {
    /** A value of {@code elements} elements, of any shape. */
    record Piece(String value, long elements) {}

    private FlatConcat() {}

    /** Emits into {@code b} the nodes that write the pieces, in order, to {@code output}. */
    static void emit(GraphBuilder b, List<Piece> pieces, String output) {
        if (pieces.isEmpty()) {
            throw new IllegalArgumentException("nothing to concatenate");
        }
        long size = pieces.get(0).elements();
        if (pieces.stream().allMatch(p -> p.elements() == size)) {
            bySize(b, pieces.stream().map(Piece::value).toList(), size, output);
        } else {
            pairwise(b, pieces, output);
        }
    }

    private static void bySize(GraphBuilder b, List<String> pieces, long size, String output) {
        if (pieces.size() == 1) {
            node(b, "Reshape", List.of(pieces.get(0), b.ints(size)), output);
            return;
        }
        String row = b.ints(1, size);
        List<String> values = new ArrayList<>();
        for (String p : pieces) {
            values.add(b.op("Reshape", p, row));
        }
        long rowsPerValue = 1;
        while (values.size() > ReplayHazards.BY_VALUE) {
            int group = largestGroup(values.size());
            if (group == 1) {
                // a count with no divisor up to 32: zero rows round it up, and a Slice drops them at the end
                String zeros = b.initializer(Tensors.ofFloats(b.names().fresh(b.scope() + "/zeros"),
                        new long[] {rowsPerValue, size}, new float[Math.toIntExact(rowsPerValue * size)]));
                while (values.size() % ReplayHazards.BY_VALUE != 0) {
                    values.add(zeros);
                }
                group = ReplayHazards.BY_VALUE;
            }
            List<String> next = new ArrayList<>();
            for (int i = 0; i < values.size(); i += group) {
                next.add(b.op("Concat", values.subList(i, i + group), Attrs.i("axis", 0)));
            }
            values = next;
            rowsPerValue *= group;
        }
        String rows = values.size() == 1 ? values.get(0) : b.op("Concat", values, Attrs.i("axis", 0));
        if (rowsPerValue * values.size() != pieces.size()) {
            rows = b.op("Slice", List.of(rows, b.ints(0), b.ints(pieces.size()), b.ints(0)));
        }
        node(b, "Reshape", List.of(rows, b.ints(size * pieces.size())), output);
    }

    /** The largest divisor of {@code count} that is at most {@link ReplayHazards#BY_VALUE}. */
    private static int largestGroup(int count) {
        for (int g = ReplayHazards.BY_VALUE; g > 1; g--) {
            if (count % g == 0) {
                return g;
            }
        }
        return 1;
    }

    /** The pieces written to {@code output} (a fresh name where null); returns its name. */
    private static String pairwise(GraphBuilder b, List<Piece> pieces, String output) {
        if (pieces.size() == 1) {
            List<String> flat = List.of(pieces.get(0).value(), b.ints(-1));
            return output == null ? b.op("Reshape", flat) : node(b, "Reshape", flat, output);
        }
        int mid = pieces.size() / 2;
        List<Piece> left = pieces.subList(0, mid);
        List<Piece> right = pieces.subList(mid, pieces.size());
        String l = b.op("Pad", pairwise(b, left, null), b.ints(0, elements(right)));
        String r = b.op("Pad", pairwise(b, right, null), b.ints(elements(left), 0));
        return output == null ? b.op("Add", l, r) : node(b, "Add", List.of(l, r), output);
    }

    private static long elements(List<Piece> pieces) {
        return pieces.stream().mapToLong(Piece::elements).sum();
    }

    private static String node(GraphBuilder b, String opType, List<String> inputs, String output,
            AttributeProto... attrs) {
        b.add("", opType, b.names().fresh(b.scope() + "/" + opType), inputs, List.of(output), attrs);
        return output;
    }
}
