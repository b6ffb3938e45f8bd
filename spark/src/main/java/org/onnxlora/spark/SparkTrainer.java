package org.onnxlora.spark;

import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.parallel.DataParallelWorker;
import scala.Tuple2;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;

/**
 * Trains from a DataFrame of text pairs on a Spark cluster: row {@code i} of the input goes to
 * worker {@code i % workers} (sorted by {@code i} there), one worker per task of a barrier stage
 * (gang-scheduled; if any task fails, Spark restarts all of them and they resume from rank 0's last
 * checkpoint). Bad input met on an executor (models that differ, a device missing there, a foreign
 * checkpoint) stops the job at once with that error's own code, without retries. Gradients travel through the socket ring, not through Spark: Spark's own
 * {@code allGather} is used once, for the addresses.
 */
public final class SparkTrainer {
    private SparkTrainer() {}

    /**
     * Runs the job and returns rank 0's outcome. The input's order must be reproducible (a file
     * read the same way each time) for a resumed stage to see the same shards.
     *
     * @param pairs rows with {@code config.sourceColumn()} and {@code config.targetColumn()} strings
     * @param factory builds each task's {@link DataParallelWorker} on its executor
     */
    public static TrainOutcome train(Dataset<Row> pairs, SparkTrainConfig config, WorkerFactory factory) {
        List<String> columns = List.of(pairs.columns());
        for (String c : List.of(config.sourceColumn(), config.targetColumn())) {
            if (!columns.contains(c)) {
                throw new OnnxLoraException(ErrorCode.BAD_DATA, "the training data has no column \"" + c
                        + "\" (it has " + columns + ")");
            }
        }
        String src = config.sourceColumn();
        String tgt = config.targetColumn();
        JavaPairRDD<Long, String[]> indexed = pairs.select(src, tgt).toJavaRDD().zipWithIndex()
                .mapToPair(t -> new Tuple2<>(t._2(), new String[] {t._1().getString(0), t._1().getString(1)}));
        JavaPairRDD<Long, String[]> sharded = indexed.partitionBy(new ModuloPartitioner(config.workers()));
        ClassTag<TaskResult> tag = ClassTag$.MODULE$.apply(TaskResult.class);
        Object results;
        try {
            // the shuffle after the barrier stage makes it a map stage: Spark retries a failed barrier
            // map stage as a whole, but gives up on a failed barrier result stage
            results = sharded.rdd().barrier()
                    .mapPartitions(new BarrierTrainTask(config, factory), false, tag)
                    .toJavaRDD().repartition(1).rdd()
                    .collect();
        } catch (Exception e) { // a SparkException, thrown undeclared from Scala
            throw FailedJob.explain(e);
        }
        List<TaskResult> all = Arrays.stream((TaskResult[]) results).sorted(Comparator.comparingInt(TaskResult::rank))
                .toList();
        for (TaskResult r : all) {
            if (r.failed()) {
                // bad input, returned by the ranks that met it (the lowest rank's, as every rank agreed)
                throw new OnnxLoraException(r.code(), r.message());
            }
        }
        if (all.size() != 1) {
            throw new OnnxLoraException(ErrorCode.INTERNAL, "expected one outcome from rank 0, got " + all.size());
        }
        return all.get(0).outcome();
    }
}
