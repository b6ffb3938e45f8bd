package org.onnxlora.eval;

import ai.onnxruntime.OnnxJavaType;
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
import org.onnxlora.io.FloatTensorBuilder;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
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
                tensors.put(e.getKey(), tensor(t, e.getValue()));
            }
        } catch (OrtException e) {
            close();
            throw new OnnxLoraException(ErrorCode.RUNTIME, "cannot create adapter tensors: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /**
     * Float32 values (what training keeps) as a tensor of the model's adapter type: a half-precision
     * export's adapters are float16 or bfloat16 initializers, rounded here once as merge rounds them.
     */
    private static OnnxTensor tensor(TensorProto like, float[] values) throws OrtException {
        int dt = like.getDataType();
        if (dt == DataType.FLOAT16_VALUE || dt == DataType.BFLOAT16_VALUE) {
            FloatTensorBuilder h = new FloatTensorBuilder(like.getName(), Tensors.shape(like), dt);
            for (int i = 0; i < values.length; i++) {
                h.set(i, values[i]);
            }
            ByteBuffer raw = h.build().getRawData().asReadOnlyByteBuffer();
            ByteBuffer direct = ByteBuffer.allocateDirect(raw.remaining()).order(ByteOrder.LITTLE_ENDIAN).put(raw);
            direct.rewind();
            return OnnxTensor.createTensor(Sessions.env(), direct, Tensors.shape(like),
                    dt == DataType.FLOAT16_VALUE ? OnnxJavaType.FLOAT16 : OnnxJavaType.BFLOAT16);
        }
        FloatBuffer b = ByteBuffer.allocateDirect(values.length * 4).order(ByteOrder.nativeOrder())
                .asFloatBuffer().put(values);
        b.rewind();
        return OnnxTensor.createTensor(Sessions.env(), b, Tensors.shape(like));
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
