package org.onnxlora.train;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.GraphPass;
import org.onnxlora.graph.PassResult;
import org.onnxlora.io.ModelIO;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.OperatorSetIdProto;

/**
 * What a CPU session runs in place of a stored training, step or eval graph: the same graph with rewrites meant
 * for ONNX Runtime's CPU provider. LayerNormalization becomes its two-pass formula
 * ({@link LayerNormDecompositionPass}, faster and more exact than the CPU kernel); unless {@code head_copies=transpose}
 * ({@link org.onnxlora.runtime.RuntimeOptions#HEAD_COPIES}), attention's head splits and merges become row copies
 * ({@link #HEAD_COPY_PASSES}), which copy the same bytes to the same places. The artifacts stay device-neutral, so
 * a run folder trains on either device; the CPU copy lives in memory only, its frozen weights still read from the
 * artifacts' data file.
 */
final class CpuGraphs {
    private CpuGraphs() {}

    /** Every CPU session's rewrites. */
    static final List<GraphPass> PASSES = List.of(new LayerNormDecompositionPass());
    /** In this order: the key transposes become head splits, which become Gathers. */
    static final List<GraphPass> HEAD_COPY_PASSES = List.of(new TransposeIntoProductsPass(), new HeadCopyPass());

    /** The rewritten model of {@code file}, or null when no rewrite applies to it. */
    static ModelProto rewritten(Path file, boolean headCopies) {
        ModelProto stored = ModelIO.loadKeepingExternalData(file);
        List<GraphPass> passes = new ArrayList<>(PASSES);
        if (headCopies) {
            passes.addAll(HEAD_COPY_PASSES);
        }
        List<PassResult<GraphProto>> r = GraphPass.chain(stored.getGraph(), passes);
        if (r.stream().noneMatch(PassResult::isChanged)) {
            return null;
        }
        ModelProto.Builder m = stored.toBuilder().setGraph(r.get(r.size() - 1).output());
        boolean imported = m.getOpsetImportList().stream().anyMatch(o -> o.getDomain().equals(GraphBuilder.MS_DOMAIN));
        if (!imported) { // the products the head-copy passes make fused
            m.addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(GraphBuilder.MS_DOMAIN).setVersion(1));
        }
        return m.build();
    }
}
