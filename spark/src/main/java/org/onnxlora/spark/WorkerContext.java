package org.onnxlora.spark;

/**
 * Where a worker runs: its rank among {@code size} tasks and the stage attempt (0 first, higher
 * after a failure; the worker resumes from the last checkpoint either way).
 */
public record WorkerContext(int rank, int size, int attempt) {}
