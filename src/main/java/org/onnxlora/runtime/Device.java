package org.onnxlora.runtime;

import java.util.Locale;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Setting;

/** Where a session runs: {@code cpu}, or {@code cuda} / {@code cuda:N}. */
public record Device(Kind kind, int index) {
    public enum Kind { CPU, CUDA }

    public static final Device CPU = new Device(Kind.CPU, 0);

    public static Device parse(String s) {
        String v = s.trim().toLowerCase(Locale.ROOT);
        if (v.equals("cpu")) {
            return CPU;
        }
        if (v.equals("cuda") || v.equals("gpu")) {
            return new Device(Kind.CUDA, 0);
        }
        if (v.startsWith("cuda:")) {
            try {
                int i = Integer.parseInt(v.substring(5));
                if (i >= 0) {
                    return new Device(Kind.CUDA, i);
                }
            } catch (NumberFormatException ignored) {
                // fall through to the error
            }
        }
        throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.DEVICE, "the device must be cpu, cuda or cuda:N, got '" + s + "'");
    }

    @Override
    public String toString() {
        return kind == Kind.CPU ? "cpu" : "cuda:" + index;
    }
}
