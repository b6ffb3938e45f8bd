package org.onnxlora.eval;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession.SessionOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.LinkedHashMap;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.runtime.Sessions;

/**
 * Trained adapter values for a patched model's session, without rewriting the model:
 * each adapter initializer is overridden through {@code SessionOptions.addInitializer}.
 */
public final class AdapterOverrides implements AutoCloseable {
    private final Map<String, OnnxTensor> tensors = new LinkedHashMap<>();

    public AdapterOverrides(ModelProto model, Map<String, float[]> adapters) {
        GraphIndex g = new GraphIndex(model.getGraph());
        try {
            for (Map.Entry<String, float[]> e : adapters.entrySet()) {
                TensorProto t = g.initializer(e.getKey());
                if (t == null) {
                    throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH, "the model has no adapter tensor '"
                            + e.getKey() + "' (is it the patched model the adapters were trained on?)");
                }
                if (Tensors.elementCount(t) != e.getValue().length) {
                    throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH, "adapter '" + e.getKey() + "' has "
                            + e.getValue().length + " values, the model's has " + Tensors.elementCount(t));
                }
                FloatBuffer b = ByteBuffer.allocateDirect(e.getValue().length * 4).order(ByteOrder.nativeOrder())
                        .asFloatBuffer().put(e.getValue());
                b.rewind();
                tensors.put(e.getKey(), OnnxTensor.createTensor(Sessions.env(), b, Tensors.shape(t)));
            }
        } catch (OrtException e) {
            close();
            throw new OnnxLoraException(ErrorCode.RUNTIME, "cannot create adapter tensors: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    public static AdapterOverrides none() {
        return new AdapterOverrides(ModelProto.getDefaultInstance(), Map.of());
    }

    public void addTo(SessionOptions so) {
        try {
            for (Map.Entry<String, OnnxTensor> e : tensors.entrySet()) {
                so.addInitializer(e.getKey(), e.getValue());
            }
        } catch (OrtException e) {
            throw new OnnxLoraException(ErrorCode.RUNTIME, "cannot override adapters: " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        tensors.values().forEach(OnnxTensor::close);
        tensors.clear();
    }
}
