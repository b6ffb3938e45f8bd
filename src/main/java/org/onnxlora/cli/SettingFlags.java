package org.onnxlora.cli;

import org.onnxlora.Setting;

/** Where on the command line each library {@link Setting} is given: appended to the library's error message. */
final class SettingFlags {
    private SettingFlags() {}

    /** The flag, or a phrase naming it, for {@code s}. */
    static String hint(Setting s) {
        return switch (s) {
            case RANK -> "--rank";
            case ALPHA -> "--alpha";
            case TARGETS -> "--target";
            case THREADS -> "--threads";
            case DEVICE -> "--device";
            case MAX_SOURCE_LENGTH -> "--max-source-length";
            case MAX_TARGET_LENGTH -> "--max-target-length";
            case MAX_NEW_TOKENS -> "--max-new-tokens";
            case LOGITS_OUTPUT -> "--logits names it";
            case LEARNING_RATE -> "--lr";
            case WARMUP -> "--warmup";
            case SCHEDULE -> "--schedule";
            case ADAM_BETAS -> "--adam-betas";
            case ADAM_EPS -> "--adam-eps";
            case WEIGHT_DECAY -> "--weight-decay";
            case MAX_GRAD_NORM -> "--max-grad-norm";
            case LABEL_SMOOTHING -> "--label-smoothing";
            case GRAD_ACCUM -> "--grad-accum";
            case STEPS -> "--steps or --epochs";
            case EVAL_EVERY -> "--eval-every";
            case SAVE_EVERY -> "--save-every";
            case KEEP_CHECKPOINTS -> "--keep-checkpoints";
            case ALLOW_NONFINITE -> "--allow-nonfinite writes it anyway";
            case OVERWRITE -> "--force overwrites it";
            case RUN_MODE -> "--resume continues a run, --force replaces it";
            case MODEL -> "--model";
            case ADAPTER_FORMAT -> "--format";
            case D_MODEL -> "--d-model, --heads";
            case GPU_MEMORY -> "--gpu-memory";
            case CUDA_OPTIONS -> "--cuda-option";
            case RECOMPUTE -> "--recompute";
        };
    }

    /** The message of a library error, with the flag of its setting where it has one. */
    static String describe(org.onnxlora.OnnxLoraException e) {
        return e.getMessage() + e.setting().map(s -> " (" + hint(s) + ")").orElse("");
    }
}
