package org.onnxlora.train;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession.SessionOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.LinkedHashMap;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.runtime.Sessions;

/**
 * Hands a graph's large frozen weights to ONNX Runtime without copies: the session
 * receives each as a tensor over the memory-mapped weights file
 * ({@code SessionOptions.addInitializer} does not copy a direct buffer, and the
 * initializer it overrides is never loaded). The training and eval sessions share
 * one mapping, so the weights exist once, in the page cache, however many sessions
 * read them.
 */
public final class FrozenWeights implements AutoCloseable {
    /** Weights smaller than this stay inline: not worth a placeholder. */
    static final int MIN_BYTES = 16 * 1024;

    private final Map<String, OnnxTensor> tensors = new LinkedHashMap<>();

    /** Creates session tensors for the large float initializers of {@code model} (aliasing their bytes). */
    public FrozenWeights(ModelProto model) {
        try {
            for (TensorProto t : model.getGraph().getInitializerList()) {
                if (eligible(t)) {
                    ByteBuffer b = t.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
                    ByteBuffer direct = b.isDirect() ? b : copyToDirect(b);
                    tensors.put(t.getName(), OnnxTensor.createTensor(Sessions.env(), direct, Tensors.shape(t),
                            javaType(t.getDataType())));
                }
            }
        } catch (OrtException e) {
            close();
            throw new OnnxLoraException(ErrorCode.RUNTIME, "cannot share frozen weights with ONNX Runtime: "
                    + e.getMessage(), e);
        }
    }

    private static boolean eligible(TensorProto t) {
        return t.hasRawData() && t.getRawData().size() >= MIN_BYTES
                && (t.getDataType() == DataType.FLOAT_VALUE || t.getDataType() == DataType.FLOAT16_VALUE
                        || t.getDataType() == DataType.BFLOAT16_VALUE);
    }

    private static OnnxJavaType javaType(int dataType) {
        return switch (dataType) {
            case DataType.FLOAT16_VALUE -> OnnxJavaType.FLOAT16;
            case DataType.BFLOAT16_VALUE -> OnnxJavaType.BFLOAT16;
            default -> OnnxJavaType.FLOAT;
        };
    }

    private static ByteBuffer copyToDirect(ByteBuffer b) {
        ByteBuffer d = ByteBuffer.allocateDirect(b.remaining()).order(ByteOrder.LITTLE_ENDIAN);
        d.put(b.duplicate());
        d.flip();
        return d;
    }

    /** Registers every shared weight with {@code so}; the tensors must outlive the session. */
    public void addTo(SessionOptions so) {
        try {
            for (Map.Entry<String, OnnxTensor> e : tensors.entrySet()) {
                so.addInitializer(e.getKey(), e.getValue());
            }
        } catch (OrtException e) {
            throw new OnnxLoraException(ErrorCode.RUNTIME, "cannot share frozen weights: " + e.getMessage(), e);
        }
    }

    public long bytes() {
        return tensors.values().stream().mapToLong(t -> t.getByteBuffer().capacity()).sum();
    }

    @Override
    public void close() {
        tensors.values().forEach(OnnxTensor::close);
        tensors.clear();
    }
}
