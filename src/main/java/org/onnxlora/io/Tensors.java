package org.onnxlora.io;

import com.google.protobuf.UnsafeByteOperations;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.function.IntToDoubleFunction;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;

/** Reads and builds {@link TensorProto}s: numeric payloads in either raw or typed fields, any float dtype. */
public final class Tensors {
    private Tensors() {}

    public static long[] shape(TensorProto t) {
        return t.getDimsList().stream().mapToLong(Long::longValue).toArray();
    }

    public static long elementCount(TensorProto t) {
        long n = 1;
        for (long d : t.getDimsList()) {
            n *= d;
        }
        return n;
    }

    public static int elementSize(int dataType) {
        return switch (DataType.forNumber(dataType)) {
            case FLOAT, INT32, UINT32 -> 4;
            case DOUBLE, INT64, UINT64, COMPLEX64 -> 8;
            case FLOAT16, BFLOAT16, INT16, UINT16 -> 2;
            case UINT8, INT8, BOOL, FLOAT8E4M3FN, FLOAT8E4M3FNUZ, FLOAT8E5M2, FLOAT8E5M2FNUZ, FLOAT8E8M0 -> 1;
            case COMPLEX128 -> 16;
            default -> 0;
        };
    }

    /** Payload size in bytes, whether the data is raw, typed or still external. */
    public static long byteSize(TensorProto t) {
        if (t.hasRawData()) {
            return t.getRawData().size();
        }
        return elementCount(t) * Math.max(1, elementSize(t.getDataType()));
    }

    public static boolean isFloatType(int dataType) {
        return dataType == DataType.FLOAT_VALUE || dataType == DataType.FLOAT16_VALUE
                || dataType == DataType.BFLOAT16_VALUE || dataType == DataType.DOUBLE_VALUE;
    }

    public static String typeName(int dataType) {
        DataType dt = DataType.forNumber(dataType);
        return dt == null ? "type " + dataType : dt.name().toLowerCase(java.util.Locale.ROOT);
    }

    private static ByteBuffer raw(TensorProto t) {
        return t.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    private static int count(TensorProto t) {
        long n = elementCount(t);
        if (n > Integer.MAX_VALUE) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, "tensor '" + t.getName() + "' has too many elements");
        }
        return (int) n;
    }

    /** Values of a floating-point tensor widened to double (for exact accumulation). */
    public static double[] toDoubles(TensorProto t) {
        int n = count(t);
        double[] out = new double[n];
        int dt = t.getDataType();
        if (t.hasRawData()) {
            ByteBuffer b = raw(t);
            checkRawSize(t, b, n);
            switch (DataType.forNumber(dt)) {
                case FLOAT -> { for (int i = 0; i < n; i++) out[i] = b.getFloat(); }
                case DOUBLE -> { for (int i = 0; i < n; i++) out[i] = b.getDouble(); }
                case FLOAT16 -> { for (int i = 0; i < n; i++) out[i] = Half.toFloat(b.getShort()); }
                case BFLOAT16 -> { for (int i = 0; i < n; i++) out[i] = Half.bf16ToFloat(b.getShort()); }
                case INT64 -> { for (int i = 0; i < n; i++) out[i] = b.getLong(); }
                case INT32 -> { for (int i = 0; i < n; i++) out[i] = b.getInt(); }
                default -> throw unsupported(t);
            }
            return out;
        }
        switch (DataType.forNumber(dt)) {
            case FLOAT -> { for (int i = 0; i < n; i++) out[i] = t.getFloatData(i); }
            case DOUBLE -> { for (int i = 0; i < n; i++) out[i] = t.getDoubleData(i); }
            case FLOAT16 -> { for (int i = 0; i < n; i++) out[i] = Half.toFloat((short) t.getInt32Data(i)); }
            case BFLOAT16 -> { for (int i = 0; i < n; i++) out[i] = Half.bf16ToFloat((short) t.getInt32Data(i)); }
            case INT64 -> { for (int i = 0; i < n; i++) out[i] = t.getInt64Data(i); }
            case INT32 -> { for (int i = 0; i < n; i++) out[i] = t.getInt32Data(i); }
            default -> throw unsupported(t);
        }
        return out;
    }

    public static float[] toFloats(TensorProto t) {
        if (t.getDataType() == DataType.FLOAT_VALUE && t.hasRawData()) {
            int n = count(t);
            ByteBuffer b = raw(t);
            checkRawSize(t, b, n);
            float[] out = new float[n];
            b.asFloatBuffer().get(out);
            return out;
        }
        double[] d = toDoubles(t);
        float[] out = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            out[i] = (float) d[i];
        }
        return out;
    }

    public static long[] toLongs(TensorProto t) {
        int n = count(t);
        long[] out = new long[n];
        if (t.hasRawData()) {
            ByteBuffer b = raw(t);
            checkRawSize(t, b, n);
            switch (DataType.forNumber(t.getDataType())) {
                case INT64 -> { for (int i = 0; i < n; i++) out[i] = b.getLong(); }
                case INT32 -> { for (int i = 0; i < n; i++) out[i] = b.getInt(); }
                default -> throw unsupported(t);
            }
        } else if (t.getDataType() == DataType.INT64_VALUE) {
            for (int i = 0; i < n; i++) out[i] = t.getInt64Data(i);
        } else if (t.getDataType() == DataType.INT32_VALUE) {
            for (int i = 0; i < n; i++) out[i] = t.getInt32Data(i);
        } else {
            throw unsupported(t);
        }
        return out;
    }

    private static void checkRawSize(TensorProto t, ByteBuffer b, int n) {
        long need = (long) n * elementSize(t.getDataType());
        if (b.remaining() != need) {
            throw new OnnxLoraException(ErrorCode.INVALID_MODEL, "tensor '" + t.getName() + "' of shape "
                    + Arrays.toString(shape(t)) + " holds " + b.remaining() + " bytes, expected " + need);
        }
    }

    private static OnnxLoraException unsupported(TensorProto t) {
        return new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL,
                "tensor '" + t.getName() + "' has unsupported data type " + typeName(t.getDataType()));
    }

    /** A tensor of {@code dataType} (float, double, float16 or bfloat16) holding {@code values}, rounded once. */
    public static TensorProto ofDoubles(String name, long[] dims, double[] values, int dataType) {
        long n = 1;
        for (long d : dims) {
            n *= d;
        }
        if (n != values.length) {
            throw new IllegalArgumentException("tensor '" + name + "': " + values.length + " values for shape "
                    + Arrays.toString(dims));
        }
        FloatTensorBuilder b = new FloatTensorBuilder(name, dims, dataType);
        for (int i = 0; i < values.length; i++) {
            b.set(i, values[i]);
        }
        return b.build();
    }

    /**
     * Element access to a floating-point tensor (raw or typed fields), widened to double
     * exactly as {@link #toDoubles} does, without copying the tensor: a view of a mapped
     * weight is read in place.
     */
    public static IntToDoubleFunction reader(TensorProto t) {
        int n = count(t);
        if (t.hasRawData()) {
            ByteBuffer b = raw(t);
            checkRawSize(t, b, n);
            return switch (DataType.forNumber(t.getDataType())) {
                case FLOAT -> i -> b.getFloat(i << 2);
                case DOUBLE -> i -> b.getDouble(i << 3);
                case FLOAT16 -> i -> Half.toFloat(b.getShort(i << 1));
                case BFLOAT16 -> i -> Half.bf16ToFloat(b.getShort(i << 1));
                default -> throw unsupported(t);
            };
        }
        return switch (DataType.forNumber(t.getDataType())) {
            case FLOAT -> t::getFloatData;
            case DOUBLE -> t::getDoubleData;
            case FLOAT16 -> i -> Half.toFloat((short) t.getInt32Data(i));
            case BFLOAT16 -> i -> Half.bf16ToFloat((short) t.getInt32Data(i));
            default -> throw unsupported(t);
        };
    }

    /** A tensor over {@code bytes} (little-endian, exactly the shape's size), not copied. */
    static TensorProto ofRaw(String name, long[] dims, int dataType, ByteBuffer bytes) {
        return build(name, dims, dataType, bytes);
    }

    public static TensorProto ofFloats(String name, long[] dims, float[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(values);
        return build(name, dims, DataType.FLOAT_VALUE, b);
    }

    public static TensorProto ofLongs(String name, long[] dims, long... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        b.asLongBuffer().put(values);
        return build(name, dims, DataType.INT64_VALUE, b);
    }

    /** A scalar (rank 0) of a float type. */
    public static TensorProto scalar(String name, double value, int dataType) {
        return ofDoubles(name, new long[0], new double[] {value}, dataType);
    }

    private static TensorProto build(String name, long[] dims, int dataType, ByteBuffer b) {
        long n = 1;
        for (long d : dims) {
            n *= d;
        }
        if (n * elementSize(dataType) != b.capacity()) {
            throw new IllegalArgumentException("tensor '" + name + "': " + b.capacity() + " bytes for shape "
                    + Arrays.toString(dims));
        }
        TensorProto.Builder tb = TensorProto.newBuilder().setName(name).setDataType(dataType);
        for (long d : dims) {
            tb.addDims(d);
        }
        b.rewind();
        return tb.setRawData(UnsafeByteOperations.unsafeWrap(b)).build();
    }
}
