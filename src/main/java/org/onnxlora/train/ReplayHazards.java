package org.onnxlora.train;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.onnxlora.autodiff.ValueTypes;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.Domains;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.shape.Dim;
import org.onnxlora.graph.shape.SymbolicShapes;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;

/**
 * The device kernels of a graph that would make CUDA graphs of several batch shapes in one session unsound: those
 * whose ONNX Runtime CUDA kernel stages a per-run array (input pointers, sizes, strides) in a pinned host buffer
 * and copies it to the device ({@code CudaAsyncBuffer}). Under stream capture that copy becomes a graph node that
 * reads the host buffer at every replay, while ORT hands the buffer back to its pinned allocator when the capturing
 * run ends; the next run of another shape takes the same block and writes its own array there, and every later
 * replay of the first graph reads it (microsoft/onnxruntime pull request 32121, merged in August 2026, keeps such
 * buffers for the provider's lifetime; the 1.29 jar this project runs still reuses them). Session 9 met exactly
 * that: the fused step's gradient {@code Concat} of 72 pieces read another shape's gradient pointers, and
 * bart-base's steps went wrong.
 *
 * <p>The kernels that stage, per ORT's CUDA sources: {@code Concat} and {@code Split} unless they have at most 32
 * pieces, all of one size along the axis (those pass the pointers by value); {@code ScatterND}; a batched
 * {@code MatMul} or {@code FusedMatMul} that cannot run as one strided batched GEMM (operand batch counts that
 * differ, or a 2-D left operand against a batched right one); {@code NonMaxSuppression} and the cuDNN RNNs. A size
 * this class cannot prove equal counts as a hazard.
 *
 * <p>Worse are kernels that copy per-run data to the device from host memory they free before returning: the copy
 * node of a captured graph then reads freed memory at every replay, so no CUDA graph of such a graph is sound, even
 * of one shape ({@link Hazard#everyReplay}). {@code GatherND} is one (its slice strides, from a {@code std::vector});
 * the compiler lowers it ({@link GatherNdLoweringPass}), so only a GatherND it could not lower, or artifacts an
 * older version compiled, still have it. Session 11 met it on every dynamo export: an illegal memory access.
 */
final class ReplayHazards {
    /** ORT passes at most this many pointers by value (its {@code TArray} of 32). */
    static final int BY_VALUE = 32;
    private static final Set<String> ALWAYS = Set.of("ScatterND", "NonMaxSuppression", "RNN", "GRU", "LSTM");
    /** Kernels that copy per-run data from host memory freed when they return. */
    private static final Set<String> FREED_HOST_COPY = Set.of("GatherND");

    /**
     * A device kernel that stages per-run data in host memory: node {@code node}, and why. {@code everyReplay}: the
     * memory is freed after the run, so even replays of the capturing shape read stale data.
     */
    record Hazard(int node, String description, boolean everyReplay) {}

    private ReplayHazards() {}

    /** The hazards of {@code g}, in node order; empty where graphs of every batch shape can share one session. */
    static List<Hazard> of(GraphProto g) {
        SymbolicShapes shapes = SymbolicShapes.infer(g);
        CudaPlacement placement = CudaPlacement.of(g, shapes, new ValueTypes(g));
        List<Hazard> hazards = new ArrayList<>();
        for (int i = 0; i < g.getNodeCount(); i++) {
            NodeProto n = g.getNode(i);
            if (!placement.onDevice(i)) {
                continue;
            }
            if (Domains.isDefault(n.getDomain()) && FREED_HOST_COPY.contains(n.getOpType())) {
                hazards.add(new Hazard(i, GraphIndex.describe(n) + ": its CUDA kernel copies per-run data from host"
                        + " memory it frees before the run ends, which every replay of a CUDA graph reads", true));
                continue;
            }
            String why = why(n, shapes);
            if (why != null) {
                hazards.add(new Hazard(i, GraphIndex.describe(n) + ": " + why, false));
            }
        }
        return hazards;
    }

    private static String why(NodeProto n, SymbolicShapes shapes) {
        if (Domains.isDefault(n.getDomain()) && ALWAYS.contains(n.getOpType())) {
            return "its CUDA kernel copies per-run sizes from pinned host memory";
        }
        if (Domains.isOp(n, "Concat")) {
            List<String> pieces = n.getInputList().stream().filter(v -> !v.isEmpty()).toList();
            return piecesByValue(pieces, Attrs.getInt(n, "axis", 0), shapes) ? null
                    : "concatenates " + pieces.size() + " pieces that are not at most " + BY_VALUE
                            + " of one proven size, so its kernel reads their pointers from pinned host memory";
        }
        if (Domains.isOp(n, "Split")) {
            List<String> pieces = n.getOutputList().stream().filter(v -> !v.isEmpty()).toList();
            return piecesByValue(pieces, Attrs.getInt(n, "axis", 0), shapes) ? null
                    : "splits into " + pieces.size() + " pieces that are not at most " + BY_VALUE
                            + " of one proven size, so its kernel reads their pointers from pinned host memory";
        }
        boolean fused = n.getOpType().equals("FusedMatMul") && n.getDomain().equals(GraphBuilder.MS_DOMAIN);
        if (Domains.isOp(n, "MatMul") || fused) {
            boolean batchFirstA = fused && Attrs.getInt(n, "transBatchA", 0) != 0;
            boolean batchFirstB = fused && Attrs.getInt(n, "transBatchB", 0) != 0;
            return stridedOrSingle(shapes.shape(n.getInput(0)), batchFirstA, shapes.shape(n.getInput(1)), batchFirstB)
                    ? null
                    : "a batched product that is not one strided GEMM (shapes " + shapes.shape(n.getInput(0)) + " and "
                            + shapes.shape(n.getInput(1)) + "), so its kernel reads pointer arrays from pinned host memory";
        }
        return null;
    }

    private static boolean piecesByValue(List<String> pieces, long axis, SymbolicShapes shapes) {
        if (pieces.size() > BY_VALUE) {
            return false;
        }
        Dim first = null;
        for (String p : pieces) {
            List<Dim> s = shapes.shape(p);
            if (s == null) {
                return false;
            }
            int a = (int) (axis < 0 ? axis + s.size() : axis);
            if (a < 0 || a >= s.size() || (first != null && !first.equals(s.get(a)))) {
                return false;
            }
            first = s.get(a);
        }
        return true;
    }

    /**
     * Whether ORT's MatMul runs {@code a · b} as one GEMM or one strided batched GEMM: no batch at all, a 2-D right
     * operand (folded into the rows), or batched operands of one batch count.
     */
    private static boolean stridedOrSingle(List<Dim> a, boolean transBatchA, List<Dim> b, boolean transBatchB) {
        if (a == null || b == null) {
            return false;
        }
        Dim batchA = batch(a, transBatchA);
        Dim batchB = batch(b, transBatchB);
        if (batchA.isConstant(1) && batchB.isConstant(1)) {
            return true;
        }
        if (a.size() >= 3 && b.size() == 2) {
            return true;
        }
        return a.size() >= 3 && b.size() >= 3 && batchA.equals(batchB);
    }

    /** The batch count of an operand: all dims but the matrix's two (FusedMatMul's transBatch moves them to 0 and n-1). */
    private static Dim batch(List<Dim> s, boolean transBatch) {
        Dim p = Dim.of(1);
        int from = transBatch ? 1 : 0;
        for (int i = from; i < from + s.size() - 2; i++) {
            p = p.times(s.get(i));
        }
        return p;
    }
}
