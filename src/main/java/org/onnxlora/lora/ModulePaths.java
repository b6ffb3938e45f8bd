package org.onnxlora.lora;

import java.util.Optional;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.StringStringEntryProto;

/**
 * Recovers the PyTorch module path (e.g. {@code model.encoder.layers.0.self_attn.q_proj})
 * that produced an ONNX node, from whatever the exporter left behind.
 */
public final class ModulePaths {
    private ModulePaths() {}

    public static Optional<String> of(NodeProto node) {
        String scopes = meta(node, "pkg.torch.onnx.name_scopes");
        if (scopes != null) {
            Optional<String> p = fromNameScopes(scopes);
            if (p.isPresent()) {
                return p;
            }
        }
        String name = node.getName();
        if (name.startsWith("/") && name.lastIndexOf('/') > 0) {
            // TorchScript: "/model/encoder/layers.0/self_attn/q_proj/MatMul" -> drop the op segment
            return Optional.of(name.substring(1, name.lastIndexOf('/')).replace('/', '.'));
        }
        String namespace = meta(node, "namespace");
        if (namespace != null) {
            return fromNamespace(namespace);
        }
        return Optional.empty();
    }

    /**
     * Dynamo: {@code ['', 'model', ..., 'model.encoder.layers.0.self_attn.q_proj', 'linear']};
     * the last entry is the aten op's own name, the one before it the innermost module.
     */
    static Optional<String> fromNameScopes(String scopes) {
        String body = scopes.trim();
        if (body.startsWith("[") && body.endsWith("]")) {
            body = body.substring(1, body.length() - 1);
        }
        String[] parts = body.split(",");
        if (parts.length < 2) {
            return Optional.empty();
        }
        String module = unquote(parts[parts.length - 2]);
        return module.isEmpty() ? Optional.empty() : Optional.of(module);
    }

    /** Dynamo's {@code namespace}: {@code ": Root/model: BartModel/model.encoder: BartEncoder/.../linear: aten.linear"}. */
    static Optional<String> fromNamespace(String namespace) {
        String[] parts = namespace.split("/");
        for (int i = parts.length - 2; i >= 0; i--) {
            int colon = parts[i].indexOf(':');
            String path = colon >= 0 ? parts[i].substring(0, colon).trim() : parts[i].trim();
            if (!path.isEmpty()) {
                return Optional.of(path);
            }
        }
        return Optional.empty();
    }

    private static String unquote(String s) {
        s = s.trim();
        if (s.length() >= 2 && (s.charAt(0) == '\'' || s.charAt(0) == '"')) {
            s = s.substring(1, s.length() - 1);
        }
        return s;
    }

    static String meta(NodeProto node, String key) {
        for (StringStringEntryProto e : node.getMetadataPropsList()) {
            if (e.getKey().equals(key)) {
                return e.getValue();
            }
        }
        return null;
    }
}
