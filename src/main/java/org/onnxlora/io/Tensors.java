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

    /** Product of {@code dims}, unchecked: for shapes this program made, not ones a file claims. */
    public static long product(long[] dims) {
        long n = 1;
        for (long d : dims) {
            n *= d;
        }
        return n;
    }

    /** Product of the dims; a negative dim or a product past 2^63 is refused (a file can claim anything). */
    public static long elementCount(TensorProto t) {
        long n = 1;
        for (long d : t.getDimsList()) {
            if (d < 0) {
                throw new OnnxLoraException(ErrorCode.INVALID_MODEL, "tensor '" + t.getName() + "' has a negative dimension: "
                        + t.getDimsList());
            }
            try {
                n = Math.multiplyExact(n, d);
            } catch (ArithmeticException e) {
                throw new OnnxLoraException(ErrorCode.INVALID_MODEL, "tensor '" + t.getName() + "' has dims "
                        + t.getDimsList() + ", whose product overflows a 64-bit count");
            }
        }
        return n;
    }

    /** Bytes per element; 0 for types without a fixed byte size (string, 4-bit) and for numbers ONNX does not define. */
    public static int elementSize(int dataType) {
        DataType dt = DataType.forNumber(dataType);
        if (dt == null) {
            return 0;
        }
        return switch (dt) {
            case FLOAT, INT32, UINT32 -> 4;
            case DOUBLE, INT64, UINT64, COMPLEX64 -> 8;
            case FLOAT16, BFLOAT16, INT16, UINT16 -> 2;
            case UINT8, INT8, BOOL, FLOAT8E4M3FN, FLOAT8E4M3FNUZ, FLOAT8E5M2, FLOAT8E5M2FNUZ, FLOAT8E8M0 -> 1;
            case COMPLEX128 -> 16;
            default -> 0;
        };
    }

    /**
     * Checks what a file claims about an initializer before anything is allocated from it: a data
     * type ONNX defines, dims that are non-negative and multiply without overflow, and a payload
     * (raw bytes or the typed field) that holds exactly dims × dtype. Tensors still marked external
     * are not checked here ({@link ModelIO#load} resolves and checks them).
     */
    public static void checkData(TensorProto t) {
        long n = elementCount(t);
        DataType dt = DataType.forNumber(t.getDataType());
        if (dt == null || dt == DataType.UNDEFINED) {
            throw unsupported(t);
        }
        if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
            return;
        }
        if (t.hasRawData()) {
            checkRawLength(t, t.getRawData().size());
            return;
        }
        long have;
        long need = n;
        switch (dt) {
            case FLOAT -> have = t.getFloatDataCount();
            case COMPLEX64 -> { have = t.getFloatDataCount(); need = 2 * n; }
            case DOUBLE -> have = t.getDoubleDataCount();
            case COMPLEX128 -> { have = t.getDoubleDataCount(); need = 2 * n; }
            case INT64 -> have = t.getInt64DataCount();
            case UINT32, UINT64 -> have = t.getUint64DataCount();
            case STRING -> have = t.getStringDataCount();
            default -> { have = t.getInt32DataCount(); need = packedElements(dt, n); }
        }
        if (have != need) {
            throw sizeMismatch(t, have + " values", need + (have == 0 ? " (it has no data at all)" : ""));
        }
    }

    /** Checks that {@code length} raw bytes (inline or external) are exactly what the tensor's dims and dtype take. */
    public static void checkRawLength(TensorProto t, long length) {
        long n = elementCount(t);
        DataType dt = DataType.forNumber(t.getDataType());
        if (dt == null || dt == DataType.UNDEFINED) {
            throw unsupported(t);
        }
        if (dt == DataType.STRING) {
            throw new OnnxLoraException(ErrorCode.INVALID_MODEL,
                    "tensor '" + t.getName() + "' is a string tensor with raw bytes, which ONNX does not allow");
        }
        long need = packedBytes(dt, n);
        if (length != need) {
            throw sizeMismatch(t, length + " bytes", need + " bytes");
        }
    }

    /** Bytes of n elements in raw_data; the 4- and 2-bit types pack two or four to a byte. */
    private static long packedBytes(DataType dt, long n) {
        return switch (dt) {
            case UINT4, INT4, FLOAT4E2M1 -> (n + 1) / 2;
            case UINT2, INT2 -> (n + 3) / 4;
            default -> {
                try {
                    yield Math.multiplyExact(n, elementSize(dt.getNumber()));
                } catch (ArithmeticException e) {
                    yield Long.MAX_VALUE; // never equals a real payload size: reported as a mismatch
                }
            }
        };
    }

    /** Entries of int32_data that n elements take (packed for the 4- and 2-bit types). */
    private static long packedElements(DataType dt, long n) {
        return switch (dt) {
            case UINT4, INT4, FLOAT4E2M1 -> (n + 1) / 2;
            case UINT2, INT2 -> (n + 3) / 4;
            default -> n;
        };
    }

    private static OnnxLoraException sizeMismatch(TensorProto t, String have, String need) {
        return new OnnxLoraException(ErrorCode.INVALID_MODEL, "tensor '" + t.getName() + "' of type "
                + typeName(t.getDataType()) + " and shape " + t.getDimsList() + " holds " + have + ", expected " + need);
    }

    /** Payload size in bytes, whether the data is raw, typed or still external. */
    public static long byteSize(TensorProto t) {
        if (t.hasRawData()) {
            return t.getRawData().size();
        }
        try {
            return Math.multiplyExact(elementCount(t), Math.max(1, elementSize(t.getDataType())));
        } catch (ArithmeticException e) {
            throw new OnnxLoraException(ErrorCode.INVALID_MODEL, "tensor '" + t.getName() + "' of shape "
                    + t.getDimsList() + " would take more than 2^63 bytes");
        }
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
        checkData(t); // before allocating: the dims are the file's claim, the payload is what it holds
        double[] out = new double[n];
        if (t.hasRawData()) {
            ByteBuffer b = raw(t);
            checkRawSize(t, b, n);
            switch (knownType(t)) {
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
        switch (knownType(t)) {
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
        checkData(t);
        long[] out = new long[n];
        if (t.hasRawData()) {
            ByteBuffer b = raw(t);
            checkRawSize(t, b, n);
            switch (knownType(t)) {
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

    /** The tensor's data type; a number ONNX does not define is refused here, naming the tensor, not as an NPE in a switch. */
    private static DataType knownType(TensorProto t) {
        DataType dt = DataType.forNumber(t.getDataType());
        if (dt == null) {
            throw unsupported(t);
        }
        return dt;
    }

    private static OnnxLoraException unsupported(TensorProto t) {
        if (DataType.forNumber(t.getDataType()) == null) {
            return new OnnxLoraException(ErrorCode.INVALID_MODEL,
                    "tensor '" + t.getName() + "' has data_type " + t.getDataType() + ", which ONNX does not define");
        }
        return new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL,
                "tensor '" + t.getName() + "' has unsupported data type " + typeName(t.getDataType()));
    }

    /** A tensor of {@code dataType} (float, double, float16 or bfloat16) holding {@code values}, rounded once. */
    public static TensorProto ofDoubles(String name, long[] dims, double[] values, int dataType) {
        if (product(dims) != values.length) {
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
        checkData(t);
        if (t.hasRawData()) {
            ByteBuffer b = raw(t);
            checkRawSize(t, b, n);
            return switch (knownType(t)) {
                case FLOAT -> i -> b.getFloat(i << 2);
                case DOUBLE -> i -> b.getDouble(i << 3);
                case FLOAT16 -> i -> Half.toFloat(b.getShort(i << 1));
                case BFLOAT16 -> i -> Half.bf16ToFloat(b.getShort(i << 1));
                default -> throw unsupported(t);
            };
        }
        return switch (knownType(t)) {
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
        if (product(dims) * elementSize(dataType) != b.capacity()) {
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
