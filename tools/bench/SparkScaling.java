package org.onnxlora.spark;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.SparkSession;
import org.onnxlora.api.DataParallelWorkers;

/**
 * Weak scaling of the Spark job on this machine (tools/bench/spark_scaling.sh): the real worker on the
 * tiny BART, per-worker batch fixed, N workers in {@code local-cluster[N,1,1024]}; rows from every
 * rank's step timings ({@link SparkScalingTimings}): step = start of one step's forward to the next's,
 * compute = the slowest rank's forward + backward, the rest of the step (less the optimizer) is the ring
 * all-reduce, waiting for the slowest rank included.
 *
 * <p>Args: OUT STEPS WARMUP BATCH prepare|"1 2 4"
 */
public final class SparkScaling {
    private SparkScaling() {}

    public static void main(String[] args) throws Exception {
        Path out = Path.of(args[0]).toAbsolutePath();
        int steps = Integer.parseInt(args[1]);
        int warmup = Integer.parseInt(args[2]);
        String batch = args[3];
        Map<String, String> options = SparkScalingTimings.options(out, batch, steps);
        if (args[4].equals("prepare")) {
            List<String> lines = Files.readAllLines(Path.of("models/datasets/manpages/train.jsonl")).subList(0, 512);
            Files.write(out.resolve("pairs.jsonl"), lines);
            options.put("out", out.resolve("run-compile").toString());
            DataParallelWorkers.compile(new LoraWorkerFactory(options).trainOptions(), out.resolve("artifacts"));
            return;
        }
        SparkClusterTest.sparkHome(Path.of(System.getenv("SPARK_HOME")));
        Path data = out.resolve("pairs.jsonl");
        for (String n : args[4].trim().split("\\s+")) {
            int workers = Integer.parseInt(n);
            SparkSession spark = SparkSession.builder().master("local-cluster[" + workers + ",1,1024]")
                    .appName("onnx-lora-bench").config("spark.ui.enabled", "false")
                    .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
                    .config("spark.executor.memory", "1024m")
                    .config("spark.scheduler.barrier.maxConcurrentTasksCheck.interval", "1s")
                    .config("spark.scheduler.barrier.maxConcurrentTasksCheck.maxFailures", "120").getOrCreate();
            spark.sparkContext().setLogLevel("ERROR");
            try {
                options.put("out", out.resolve("run-spark-" + workers).toString());
                String t = out.resolve("timings-spark-" + workers).toString();
                SparkTrainer.train(spark.read().json(data.toString()), SparkTrainConfig.of(workers, steps, steps)
                        .withBindHost("127.0.0.1").withStepTimeout(Duration.ofMinutes(2)),
                        new SparkScalingTimings.TimedFactory(options, t));
                List<Path> files = new ArrayList<>();
                for (int r = 0; r < workers; r++) {
                    files.add(Path.of(t + "-rank-" + r + ".tsv"));
                }
                SparkScalingTimings.row("Spark local-cluster", workers, workers * Integer.parseInt(batch), files, warmup);
            } finally {
                spark.stop();
            }
        }
    }
}
