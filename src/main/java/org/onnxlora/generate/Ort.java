package org.onnxlora.generate;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.Set;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.runtime.Sessions;

/** Small tensor plumbing shared by the step models: creation, reading back, row copies. */
final class Ort {
    private Ort() {}

    static OnnxTensor longs(long[] values, long... shape) {
        try {
            return OnnxTensor.createTensor(Sessions.env(), LongBuffer.wrap(values), shape);
        } catch (OrtException e) {
            throw runtime("cannot create an int64 tensor", e);
        }
    }

    /** Wraps a direct buffer without copying it; the buffer must outlive the tensor. */
    static OnnxTensor floats(FloatBuffer direct, long... shape) {
        try {
            return OnnxTensor.createTensor(Sessions.env(), direct, shape);
        } catch (OrtException e) {
            throw runtime("cannot create a float tensor", e);
        }
    }

    static FloatBuffer directFloats(int n) {
        return ByteBuffer.allocateDirect(Math.multiplyExact(n, 4)).order(ByteOrder.nativeOrder()).asFloatBuffer();
    }

    static OnnxTensor output(OrtSession.Result r, String name) {
        OnnxValue v = r.get(name).orElseThrow(() -> new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL,
                "the model produced no output '" + name + "'"));
        if (!(v instanceof OnnxTensor t)) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, "output '" + name + "' is not a tensor");
        }
        return t;
    }

    static long[] shape(OnnxTensor t) {
        return t.getInfo().getShape();
    }

    /** A copy of a float tensor's contents (ORT Java exposes outputs only as copies). */
    static FloatBuffer read(OnnxTensor t) {
        FloatBuffer fb = t.getFloatBuffer();
        if (fb == null) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL,
                    "expected a float32 tensor, got " + t.getInfo().type + " (fp16 exports are not supported here)");
        }
        return fb;
    }

    /** Each row of {@code rowSize} values repeated {@code times} times consecutively. */
    static long[] repeatRows(long[] src, int rowSize, int times) {
        int rows = src.length / rowSize;
        long[] out = new long[src.length * times];
        for (int r = 0; r < rows; r++) {
            for (int t = 0; t < times; t++) {
                System.arraycopy(src, r * rowSize, out, (r * times + t) * rowSize, rowSize);
            }
        }
        return out;
    }

    /** {@code dst[r] = src[index[r]]} over rows of {@code rowSize} floats; {@code dst} is written from 0. */
    static void gatherRows(FloatBuffer src, int rowSize, int[] index, FloatBuffer dst) {
        for (int r = 0; r < index.length; r++) {
            FloatBuffer row = src.duplicate();
            row.position(index[r] * rowSize).limit((index[r] + 1) * rowSize);
            dst.put(row);
        }
        dst.rewind();
    }

    /** Closes a session; ORT declares a checked exception there that nobody can act on. */
    static void close(OrtSession s) {
        if (s == null) {
            return;
        }
        try {
            s.close();
        } catch (OrtException e) {
            throw runtime("cannot close an ONNX Runtime session", e);
        }
    }

    /** The declared size of an output's last axis (the vocabulary of a logits output). */
    static int fixedLastDim(OrtSession s, String output, String what) {
        try {
            ai.onnxruntime.NodeInfo info = s.getOutputInfo().get(output);
            long[] shape = ((ai.onnxruntime.TensorInfo) info.getInfo()).getShape();
            long last = shape[shape.length - 1];
            if (last <= 0) {
                throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, what + ": output '" + output
                        + "' has no fixed vocabulary size (shape " + java.util.Arrays.toString(shape) + ")");
            }
            return Math.toIntExact(last);
        } catch (OrtException e) {
            throw runtime("cannot read the outputs of " + what, e);
        }
    }

    static OnnxLoraException runtime(String what, OrtException e) {
        return new OnnxLoraException(ErrorCode.RUNTIME, what + ": " + e.getMessage(), e);
    }
}
