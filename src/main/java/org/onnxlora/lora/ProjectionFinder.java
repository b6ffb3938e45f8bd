package org.onnxlora.lora;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.Domains;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;

/**
 * Finds a model family's attention projections: MatMul or Gemm nodes whose weight is
 * a 2-D initializer and whose module path the family recognises.
 */
public final class ProjectionFinder {
    private final ModelFamily family;

    public ProjectionFinder(ModelFamily family) {
        this.family = family;
    }

    /** {@code file} is the model's path, used to tell Optimum's encoder file from its decoder file (may be null). */
    public Discovery find(ModelProto model, Path file) {
        GraphIndex g = new GraphIndex(model.getGraph());
        String fileStack = family.stackOfFile(file);
        List<Projection> found = new ArrayList<>();
        List<Discovery.Refusal> refused = new ArrayList<>();
        List<String> others = new ArrayList<>();
        for (int i = 0; i < g.nodeCount(); i++) {
            NodeProto n = g.node(i);
            boolean matmul = Domains.isOp(n, "MatMul");
            boolean gemm = Domains.isOp(n, "Gemm");
            if (!matmul && !gemm) {
                continue;
            }
            Optional<String> path = ModulePaths.of(n);
            if (path.isEmpty()) {
                continue;
            }
            Optional<ModelFamily.Match> match = family.matchProjection(path.get(), fileStack);
            if (match.isEmpty()) {
                if (family.isOtherLinear(path.get()) && weightOf(g, n) != null) {
                    others.add(path.get());
                }
                continue;
            }
            String canonical = match.get().canonicalPath();
            String why = refusal(g, n, gemm);
            if (why != null) {
                refused.add(new Discovery.Refusal(canonical, n.getName(), why));
                continue;
            }
            found.add(describe(g, n, gemm, canonical, match.get().role()));
        }
        return new Discovery(found, refused, others, flavor(model));
    }

    /** The weight initializer of a linear node, directly or through a Transpose; null if there is none. */
    private static TensorProto weightOf(GraphIndex g, NodeProto n) {
        if (n.getInputCount() < 2) {
            return null;
        }
        String w = n.getInput(1);
        if (g.isInitializer(w)) {
            return g.initializer(w);
        }
        int p = g.producerOf(w);
        if (p >= 0 && g.node(p).getOpType().equals("Transpose") && g.isInitializer(g.node(p).getInput(0))) {
            return g.initializer(g.node(p).getInput(0));
        }
        return null;
    }

    private static String refusal(GraphIndex g, NodeProto n, boolean gemm) {
        TensorProto w = weightOf(g, n);
        if (w == null) {
            return "its weight '" + (n.getInputCount() > 1 ? n.getInput(1) : "?")
                    + "' is computed in the graph, not an initializer";
        }
        if (w.getDimsCount() != 2) {
            return "its weight '" + w.getName() + "' has rank " + w.getDimsCount() + ", not 2";
        }
        if (!Tensors.isFloatType(w.getDataType())) {
            return "its weight '" + w.getName() + "' is " + Tensors.typeName(w.getDataType())
                    + " (quantized models are not supported)";
        }
        if (gemm && Attrs.getInt(n, "transA", 0) != 0) {
            return "it is a Gemm with transA=1";
        }
        return null;
    }

    private static Projection describe(GraphIndex g, NodeProto n, boolean gemm, String path, String role) {
        TensorProto w = weightOf(g, n);
        boolean viaTranspose = !g.isInitializer(n.getInput(1));
        boolean transposed = viaTranspose ^ (gemm && Attrs.getInt(n, "transB", 0) != 0);
        long rows = w.getDims(0);
        long cols = w.getDims(1);
        long in = transposed ? cols : rows;
        long out = transposed ? rows : cols;
        String bias = null;
        if (gemm && n.getInputCount() > 2 && !n.getInput(2).isEmpty()) {
            bias = n.getInput(2);
        } else {
            List<Integer> consumers = g.consumersOf(n.getOutput(0));
            if (consumers.size() == 1 && consumers.get(0) >= 0) {
                NodeProto add = g.node(consumers.get(0));
                if (add.getOpType().equals("Add")) {
                    for (String in2 : add.getInputList()) {
                        TensorProto b = g.initializer(in2);
                        if (b != null && b.getDimsCount() == 1 && b.getDims(0) == out) {
                            bias = in2;
                        }
                    }
                }
            }
        }
        boolean shared = g.consumersOf(w.getName()).size() > 1;
        float alpha = gemm ? Attrs.getFloat(n, "alpha", 1f) : 1f;
        return new Projection(path, role, n.getName(), n.getOpType(), n.getInput(0), w.getName(), transposed, alpha,
                n.getOutput(0), in, out, bias, w.getDataType(), shared);
    }

    static Discovery.Flavor flavor(ModelProto model) {
        if (model.getProducerName().equals("onnx-lora")) {
            return Discovery.Flavor.ONNX_LORA;
        }
        for (NodeProto n : model.getGraph().getNodeList()) {
            if (ModulePaths.meta(n, "pkg.torch.onnx.name_scopes") != null || ModulePaths.meta(n, "namespace") != null) {
                return Discovery.Flavor.DYNAMO;
            }
        }
        for (NodeProto n : model.getGraph().getNodeList()) {
            if (n.getName().startsWith("/")) {
                return Discovery.Flavor.TORCHSCRIPT;
            }
        }
        return Discovery.Flavor.UNKNOWN;
    }
}
