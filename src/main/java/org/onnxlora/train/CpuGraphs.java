package org.onnxlora.train;

import java.nio.file.Path;
import org.onnxlora.graph.PassResult;
import org.onnxlora.io.ModelIO;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;

/**
 * What a CPU session runs in place of a stored training, step or eval graph: the same graph with the
 * rewrites that pay only on ONNX Runtime's CPU provider ({@link HeadCopyPass}). The artifacts stay
 * device-neutral, so a run folder trains on either device; the CPU copy lives in memory only, its
 * frozen weights still read from the artifacts' data file.
 */
final class CpuGraphs {
    private CpuGraphs() {}

    /** The rewritten model of {@code file}, or null when no rewrite applies to it. */
    static ModelProto rewritten(Path file) {
        ModelProto stored = ModelIO.loadKeepingExternalData(file);
        PassResult<GraphProto> r = new HeadCopyPass().apply(stored.getGraph());
        return r.isChanged() ? stored.toBuilder().setGraph(r.output()).build() : null;
    }
}
