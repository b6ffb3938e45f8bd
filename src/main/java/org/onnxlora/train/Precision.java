package org.onnxlora.train;

import java.util.Locale;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.runtime.Device;

/**
 * The number format the compiled forward and backward compute in. Adapters, their gradients and
 * the AdamW moments stay float32 in every mode (master weights); {@link #BF16} and {@link #FP16}
 * store the frozen weights in half precision and run the matrix products in it, the way PyTorch's
 * autocast does ({@link PrecisionPass}). {@link #TF32} is float32 storage with TF32 matrix
 * products on CUDA: a runtime switch, not a different graph.
 */
public enum Precision {
    FP32(DataType.FLOAT_VALUE),
    TF32(DataType.FLOAT_VALUE),
    BF16(DataType.BFLOAT16_VALUE),
    FP16(DataType.FLOAT16_VALUE);

    private final int computeType;

    Precision(int computeType) {
        this.computeType = computeType;
    }

    /** {@code fp32}, {@code tf32}, {@code bf16} or {@code fp16} (any case). */
    public static Precision parse(String s) {
        for (Precision p : values()) {
            if (p.label().equalsIgnoreCase(s.trim())) {
                return p;
            }
        }
        throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "unknown precision '" + s
                + "'; choose fp32, tf32, bf16 or fp16");
    }

    /** The lower-case name used in flags, metrics and artifacts.json. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The ONNX element type of the frozen weights and matrix products. */
    public int computeType() {
        return computeType;
    }

    public boolean isHalf() {
        return computeType != DataType.FLOAT_VALUE;
    }

    /** float16's 5-bit exponent underflows small gradients; bfloat16 has float32's range and needs no scaling. */
    public boolean needsLossScaling() {
        return this == FP16;
    }

    /**
     * Refuses, before any work, a precision the device cannot run. ONNX Runtime's CPU provider
     * has float16 kernels or upcasts float16 nodes to float32 itself (its cast-insertion
     * transformer), so fp16 runs on CPU; it has no bfloat16 arithmetic kernels at all (MatMul,
     * Add, Softmax ... are missing), and a bf16 graph would fail to load. The CUDA provider has
     * bfloat16 kernels from compute capability 8.0 (Ampere) on; the Java API cannot ask the GPU
     * its capability, so an older GPU fails when ONNX Runtime loads the graph, naming the node.
     * TF32 on CPU is plain float32 (CPU matrix products have no TF32 mode).
     */
    public void requireRunnableOn(Device device) {
        if (this == BF16 && device.kind() != Device.Kind.CUDA) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "bf16 training needs a CUDA GPU (compute capability"
                    + " 8.0 or later): ONNX Runtime's CPU provider has no bfloat16 kernels; use fp16 or fp32 on CPU");
        }
    }

    /** A one-line note about running this precision on {@code device}, when there is something to know. */
    public java.util.Optional<String> noteOn(Device device) {
        if (this == FP16 && device.kind() != Device.Kind.CUDA) {
            return java.util.Optional.of("fp16 on CPU: ONNX Runtime runs float16 nodes it has no CPU kernel for in"
                    + " float32 behind casts, so this is slower than fp32 (measured 2-5x); it is meant for checking");
        }
        return java.util.Optional.empty();
    }

    /**
     * An adapter as the float32 master copy training updates: a half-precision export's adapters
     * (patched in the export's own dtype) are widened exactly; the graph casts them where they are used.
     */
    static TensorProto masterAdapter(TensorProto t) {
        if (t.getDataType() == DataType.FLOAT_VALUE) {
            return t;
        }
        if (t.getDataType() != DataType.FLOAT16_VALUE && t.getDataType() != DataType.BFLOAT16_VALUE) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, "adapter '" + t.getName() + "' is "
                    + Tensors.typeName(t.getDataType()) + "; training needs float adapters (float32, float16 or"
                    + " bfloat16)");
        }
        return PrecisionPass.converted(t, t.getName(), DataType.FLOAT_VALUE);
    }

    /** Whether any frozen weight (more than one element) of {@code g} is float16 or bfloat16: a half export. */
    static boolean hasHalfWeights(GraphProto g) {
        return halfWeightType(g) != 0;
    }

    private static int halfWeightType(GraphProto g) {
        for (TensorProto t : g.getInitializerList()) {
            int dt = t.getDataType();
            if ((dt == DataType.FLOAT16_VALUE || dt == DataType.BFLOAT16_VALUE) && Tensors.elementCount(t) > 1) {
                return dt;
            }
        }
        return 0;
    }

    /**
     * The precision compiled artifacts compute in, read from their training graph (the type of its
     * frozen weights); TF32 is a runtime mode and reads as FP32.
     */
    public static Precision of(org.onnxlora.proto.Onnx.ModelProto training) {
        int dt = halfWeightType(training.getGraph());
        return dt == DataType.BFLOAT16_VALUE ? BF16 : dt == DataType.FLOAT16_VALUE ? FP16 : FP32;
    }
}
