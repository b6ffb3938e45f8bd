package org.onnxlora.train;

import com.google.protobuf.ByteString;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.GraphPass;
import org.onnxlora.graph.PassResult;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;

/**
 * Drops a frozen weight that is exactly the transpose of another one: {@code MatMul(X, Wt)} with
 * {@code Wt == Wᵀ} element for element becomes {@code com.microsoft:FusedMatMul(X, W, transB=1)}.
 *
 * <p>BART ties its lm_head to the token embedding. PyTorch keeps one tensor; the TorchScript exporter
 * constant-folds the lm_head's transpose into a second initializer ({@code onnx::MatMul_NNN}, d_model ×
 * vocab), so the export carries the largest weight twice (bart-base: 147 MiB in float32, 74 MiB in bf16),
 * and every session would hold both on the device. Bytes are compared exactly, so nothing changes
 * numerically but the order in which the product reads its operand.
 */
public final class TiedWeightPass implements GraphPass {
    /** Smaller weights stay inline in the graph anyway ({@link FrozenWeights#MIN_BYTES}). */
    static final long MIN_BYTES = FrozenWeights.MIN_BYTES;

    @Override
    public String name() {
        return "tied-weight";
    }

    @Override
    public PassResult<GraphProto> apply(GraphProto graph) {
        GraphIndex g = new GraphIndex(graph);
        Map<String, List<TensorProto>> byShape = new HashMap<>();
        for (TensorProto t : graph.getInitializerList()) {
            if (comparable(t)) {
                byShape.computeIfAbsent(key(t, false), k -> new ArrayList<>()).add(t);
            }
        }
        Map<String, String> replaced = new HashMap<>();
        List<String> changed = new ArrayList<>();
        List<PassResult.Refusal> refused = new ArrayList<>();
        for (TensorProto t : graph.getInitializerList()) {
            if (!comparable(t) || TransposedOperands.whyItsReadersKeepIt(g, t.getName()) != null) {
                continue;
            }
            for (TensorProto w : byShape.getOrDefault(key(t, true), List.of())) {
                if (!w.getName().equals(t.getName()) && !replaced.containsKey(w.getName()) && isTranspose(t, w)) {
                    if (g.isGraphOutput(t.getName()) || g.isGraphInput(t.getName())) {
                        refused.add(new PassResult.Refusal(t.getName(), "is also a graph input or output"));
                    } else {
                        replaced.put(t.getName(), w.getName());
                        changed.add(t.getName() + " = " + w.getName() + "ᵀ");
                    }
                    break;
                }
            }
        }
        if (replaced.isEmpty()) {
            return new PassResult<>(name(), graph, changed, refused);
        }
        GraphProto.Builder out = graph.toBuilder().clearNode().clearInitializer();
        for (TensorProto t : graph.getInitializerList()) {
            if (!replaced.containsKey(t.getName())) {
                out.addInitializer(t);
            }
        }
        for (NodeProto n : graph.getNodeList()) {
            String w = n.getInputCount() == 2 ? replaced.get(n.getInput(1)) : null;
            out.addNode(w == null ? n : TransposedOperands.readTransposed(n, w));
        }
        return new PassResult<>(name(), out.build(), changed, refused);
    }

    /** A 2-D float weight stored as raw bytes, large enough to matter. */
    private static boolean comparable(TensorProto t) {
        return t.getDimsCount() == 2 && t.hasRawData() && Tensors.isFloatType(t.getDataType())
                && t.getRawData().size() >= MIN_BYTES
                && t.getRawData().size() == Tensors.elementCount(t) * Tensors.elementSize(t.getDataType());
    }

    /** Dtype and shape, or the transposed shape: where a weight's transpose would be found. */
    private static String key(TensorProto t, boolean transposed) {
        long r = t.getDims(0);
        long c = t.getDims(1);
        return t.getDataType() + ":" + (transposed ? c + "x" + r : r + "x" + c);
    }

    /** {@code t[i][j] == w[j][i]} for every element, compared as bits. */
    static boolean isTranspose(TensorProto t, TensorProto w) {
        int rows = (int) t.getDims(0);
        int cols = (int) t.getDims(1);
        int size = Tensors.elementSize(t.getDataType());
        ByteBuffer a = bytes(t.getRawData());
        ByteBuffer b = bytes(w.getRawData());
        // in tiles, so that the strided side stays in cache; unrelated weights differ in the first tile
        for (int i0 = 0; i0 < rows; i0 += TILE) {
            for (int j0 = 0; j0 < cols; j0 += TILE) {
                for (int i = i0; i < Math.min(rows, i0 + TILE); i++) {
                    for (int j = j0; j < Math.min(cols, j0 + TILE); j++) {
                        if (!sameBits(a, (i * cols + j) * size, b, (j * rows + i) * size, size)) {
                            return false;
                        }
                    }
                }
            }
        }
        return true;
    }

    private static final int TILE = 64;

    private static boolean sameBits(ByteBuffer a, int at, ByteBuffer b, int bt, int size) {
        return switch (size) {
            case 2 -> a.getShort(at) == b.getShort(bt);
            case 4 -> a.getInt(at) == b.getInt(bt);
            case 8 -> a.getLong(at) == b.getLong(bt);
            default -> false;
        };
    }

    private static ByteBuffer bytes(ByteString s) {
        return s.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }
}
