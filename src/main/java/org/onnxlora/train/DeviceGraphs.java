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
import org.onnxlora.runtime.FusedKernels;

/**
 * What a session runs in place of a stored training, step or eval graph: the same graph with rewrites meant for
 * its device. On the CPU, LayerNormalization becomes its two-pass formula ({@link LayerNormDecompositionPass},
 * faster and more exact than the CPU kernel) and, unless {@code head_copies=transpose}
 * ({@link org.onnxlora.runtime.RuntimeOptions#HEAD_COPIES}), attention's head splits and merges become row copies
 * ({@link #HEAD_COPY_PASSES}), which copy the same bytes to the same places. On either device, where onnx-lora's
 * kernel library is loaded, the GELU backward becomes one fused node ({@link GeluGradKernelPass}), and on the CPU the
 * LayerNorm input gradient too ({@link LayerNormGradKernelPass}); last, CPU sessions add their gradient sums up
 * with the multi-threaded Add ({@link SumAsAddsPass}). The artifacts
 * stay device-neutral, so a run folder trains on either device; the rewritten copy lives in memory only, its frozen
 * weights still read from the artifacts' data file.
 */
final class DeviceGraphs {
    private DeviceGraphs() {}

    /** Every CPU session's rewrites. */
    static final List<GraphPass> PASSES = List.of(new LayerNormDecompositionPass());
    /** In this order: the key transposes become head splits, which become Gathers. */
    static final List<GraphPass> HEAD_COPY_PASSES = List.of(new TransposeIntoProductsPass(), new HeadCopyPass());

    /** What to rewrite: the CPU's own passes, its head copies, the fused kernels. */
    record Rewrites(boolean cpu, boolean headCopies, boolean kernels) {
        List<GraphPass> passes() {
            List<GraphPass> passes = new ArrayList<>();
            if (cpu) {
                passes.addAll(PASSES);
            }
            if (headCopies) {
                passes.addAll(HEAD_COPY_PASSES);
            }
            if (kernels) { // they match the backward as the compiler emitted it
                passes.add(new GeluGradKernelPass());
                passes.add(new LayerNormGradKernelPass());
            }
            if (cpu) { // after the kernels' patterns, which read Adds
                passes.add(new SumAsAddsPass());
            }
            return passes;
        }
    }

    /** The rewritten model of {@code file}, or null when no rewrite applies to it. */
    static ModelProto rewritten(Path file, Rewrites rewrites) {
        List<GraphPass> passes = rewrites.passes();
        if (passes.isEmpty()) {
            return null;
        }
        ModelProto stored = ModelIO.loadKeepingExternalData(file);
        List<PassResult<GraphProto>> r = GraphPass.chain(stored.getGraph(), passes);
        if (r.stream().noneMatch(PassResult::isChanged)) {
            return null;
        }
        ModelProto.Builder m = stored.toBuilder().setGraph(r.get(r.size() - 1).output());
        // the products the head-copy passes make are fused ones; the kernels have their own domain
        addOpset(m, GraphBuilder.MS_DOMAIN);
        if (rewrites.kernels()) {
            addOpset(m, FusedKernels.DOMAIN);
        }
        return m.build();
    }

    private static void addOpset(ModelProto.Builder m, String domain) {
        if (m.getOpsetImportList().stream().noneMatch(o -> o.getDomain().equals(domain))) {
            m.addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(domain).setVersion(1));
        }
    }
}
