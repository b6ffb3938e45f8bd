package org.onnxlora.train;

import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Setting;

/**
 * Token-level cross entropy over the decoder logits.
 *
 * @param ignoreIndex label value that contributes nothing (PyTorch's -100)
 * @param labelSmoothing PyTorch's {@code label_smoothing}: the target is (1-ε)·onehot + ε/V
 */
public record LossConfig(long ignoreIndex, double labelSmoothing) {
    public static final LossConfig DEFAULT = new LossConfig(org.onnxlora.runtime.Seq2SeqSignature.IGNORE_INDEX, 0);

    public LossConfig {
        if (!(labelSmoothing >= 0 && labelSmoothing < 1)) { // written so that NaN fails too
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.LABEL_SMOOTHING, "the label smoothing must be in [0, 1), got " + labelSmoothing);
        }
    }
}
