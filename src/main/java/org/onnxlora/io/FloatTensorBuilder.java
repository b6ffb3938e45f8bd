package org.onnxlora.io;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;

/**
 * Fills a float, double, float16 or bfloat16 tensor one element at a time, rounding
 * each double value once into the tensor's dtype, straight into the bytes the tensor
 * will hold: a caller that computes values row by row needs no whole-matrix
 * {@code double[]}. {@link Tensors#ofDoubles} rounds through this, so both agree bit for bit.
 */
public final class FloatTensorBuilder {
    private final String name;
    private final long[] dims;
    private final int dataType;
    private final ByteBuffer bytes;

    public FloatTensorBuilder(String name, long[] dims, int dataType) {
        if (!Tensors.isFloatType(dataType)) {
            throw new IllegalArgumentException("not a float type: " + Tensors.typeName(dataType));
        }
        long size = Tensors.product(dims) * Tensors.elementSize(dataType);
        if (size > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("tensor '" + name + "' of " + size + " bytes is larger than 2 GB");
        }
        this.name = name;
        this.dims = dims.clone();
        this.dataType = dataType;
        this.bytes = ByteBuffer.allocate((int) size).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Element {@code index} (row-major) = {@code value}, rounded to nearest even in the dtype. */
    public void set(int index, double value) {
        switch (dataType) {
            case DataType.FLOAT_VALUE -> bytes.putFloat(index << 2, (float) value);
            case DataType.DOUBLE_VALUE -> bytes.putDouble(index << 3, value);
            // through float, as numpy's astype(float16) of a float32 array does
            case DataType.FLOAT16_VALUE -> bytes.putShort(index << 1, Half.fromFloat((float) value));
            default -> bytes.putShort(index << 1, Half.floatToBf16((float) value)); // BFLOAT16, checked above
        }
    }

    public TensorProto build() {
        return Tensors.ofRaw(name, dims, dataType, bytes);
    }
}
