package org.onnxlora.spark;

import java.io.Serializable;
import java.util.List;
import org.onnxlora.data.TextPair;
import org.onnxlora.parallel.DataParallelWorker;

/**
 * Builds the trainer of one task on its executor. Serialised with the job, so it carries only
 * settings and paths every executor can read (model, tokenizer, checkpoint folder), never open
 * sessions.
 */
@FunctionalInterface
public interface WorkerFactory extends Serializable {

    /**
     * @param shard this task's rows in their global order ({@link TextPair#line()} is the row's
     *              0-based index in the input); the same on every attempt
     */
    DataParallelWorker create(WorkerContext context, List<TextPair> shard);
}
