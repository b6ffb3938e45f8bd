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
import org.onnxlora.lora.AdapterValues;
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

    public AdapterOverrides(ModelProto model, AdapterValues adapters) {
        GraphIndex g = new GraphIndex(model.getGraph());
        try {
            for (String name : adapters.names()) {
                float[] values = adapters.get(name);
                TensorProto t = g.initializer(name);
                if (t == null) {
                    throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH, "the model has no adapter tensor '"
                            + name + "' (is it the patched model the adapters were trained on?)");
                }
                if (Tensors.elementCount(t) != values.length) {
                    throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH, "adapter '" + name + "' has "
                            + values.length + " values, the model's has " + Tensors.elementCount(t));
                }
                tensors.put(name, tensor(t, values));
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
        return new AdapterOverrides(ModelProto.getDefaultInstance(), AdapterValues.none());
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
