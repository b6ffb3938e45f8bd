package org.onnxlora;

/**
 * A setting a library caller chose, named in library terms. An {@link OnnxLoraException} about a
 * bad or conflicting choice carries the setting, so a front end can say where the user set it
 * (the CLI names its flag) while the library's message stays free of any front end's vocabulary.
 */
public enum Setting {
    RANK, ALPHA, TARGETS,
    THREADS, DEVICE, MAX_SOURCE_LENGTH, MAX_TARGET_LENGTH, MAX_NEW_TOKENS, LOGITS_OUTPUT,
    LEARNING_RATE, WARMUP, SCHEDULE, ADAM_BETAS, ADAM_EPS, WEIGHT_DECAY, MAX_GRAD_NORM, LABEL_SMOOTHING,
    GRAD_ACCUM, STEPS, EVAL_EVERY, SAVE_EVERY, KEEP_CHECKPOINTS,
    /** Whether NaN or infinite adapter values may be written into a model. */
    ALLOW_NONFINITE,
    /** Whether an existing output may be replaced. */
    OVERWRITE,
    /** How a run folder that already holds a run is taken: its run continued, or replaced. */
    RUN_MODE,
    /** The model an adapter is read against. */
    MODEL,
    /** The file format an adapter is exported in. */
    ADAPTER_FORMAT,
    /** Shape of a synthetic model. */
    D_MODEL,
    /** The named trade between step time and GPU memory. */
    GPU_MEMORY,
    /** ONNX Runtime settings given by key (CUDA provider options, session entries). */
    CUDA_OPTIONS,
    /** Which forward values the backward recomputes instead of keeping. */
    RECOMPUTE
}
