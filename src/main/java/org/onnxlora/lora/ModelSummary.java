package org.onnxlora.lora;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import org.onnxlora.graph.Domains;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.OperatorSetIdProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.TensorShapeProto;
import org.onnxlora.proto.Onnx.ValueInfoProto;

/** Everything {@code inspect} reports about one model file; serialisable as JSON as is. */
public record ModelSummary(
        String file,
        String exporter,
        long irVersion,
        TreeMap<String, Long> opsets,
        String producer,
        List<Value> inputs,
        List<Value> outputs,
        long parameters,
        long parameterBytes,
        int initializers,
        int nodes,
        TreeMap<String, Integer> opHistogram,
        List<ProjectionRow> projections,
        List<Discovery.Refusal> unsupported,
        List<String> otherLinears,
        LoraMetadata.Info lora) {

    /** A graph input or output: name, element type and shape (symbolic dims by name). */
    public record Value(String name, String type, List<String> shape) {}

    public record ProjectionRow(String module, String role, long in, long out, String node, String weight,
            String bias, String dtype, boolean sharedWeight) {}

    public static ModelSummary of(ModelProto model, Path file, ModelFamily family, boolean inOptimumFolder) {
        Discovery d = new ProjectionFinder(family).find(model, inOptimumFolder ? file : null);
        TreeMap<String, Long> opsets = new TreeMap<>();
        for (OperatorSetIdProto o : model.getOpsetImportList()) {
            opsets.put(Domains.display(o.getDomain()), o.getVersion());
        }
        long params = 0;
        long bytes = 0;
        for (TensorProto t : model.getGraph().getInitializerList()) {
            if (Tensors.isFloatType(t.getDataType())) {
                params += Tensors.elementCount(t);
            }
            bytes += Tensors.byteSize(t);
        }
        TreeMap<String, Integer> hist = new TreeMap<>();
        for (NodeProto n : model.getGraph().getNodeList()) {
            hist.merge(Domains.isDefault(n) ? n.getOpType() : n.getDomain() + ":" + n.getOpType(), 1, Integer::sum);
        }
        List<ProjectionRow> rows = new ArrayList<>();
        for (Projection p : d.projections()) {
            rows.add(new ProjectionRow(p.modulePath(), p.role(), p.in(), p.out(), p.node(), p.weight(), p.bias(),
                    Tensors.typeName(p.dataType()), p.sharedWeight()));
        }
        return new ModelSummary(file == null ? null : file.toString(), d.flavor().description(), model.getIrVersion(),
                opsets, (model.getProducerName() + " " + model.getProducerVersion()).trim(),
                values(model.getGraph().getInputList(), model), values(model.getGraph().getOutputList(), model),
                params, bytes, model.getGraph().getInitializerCount(), model.getGraph().getNodeCount(), hist, rows,
                d.unsupported(), d.otherLinears(), LoraMetadata.read(model).orElse(null));
    }

    private static List<Value> values(List<ValueInfoProto> vs, ModelProto model) {
        java.util.Set<String> inits = new java.util.HashSet<>();
        model.getGraph().getInitializerList().forEach(t -> inits.add(t.getName()));
        List<Value> out = new ArrayList<>();
        for (ValueInfoProto v : vs) {
            if (inits.contains(v.getName())) {
                continue;
            }
            List<String> shape = new ArrayList<>();
            for (TensorShapeProto.Dimension d : v.getType().getTensorType().getShape().getDimList()) {
                shape.add(d.hasDimValue() ? Long.toString(d.getDimValue()) : d.hasDimParam() ? d.getDimParam() : "?");
            }
            out.add(new Value(v.getName(), Tensors.typeName(v.getType().getTensorType().getElemType()), shape));
        }
        return out;
    }
}
