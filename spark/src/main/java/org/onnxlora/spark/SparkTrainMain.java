package org.onnxlora.spark;

import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * {@code spark-submit} entry point (docs/spark.md):
 * <pre>
 * --input PATH --format json|parquet|csv|... --workers N --steps N [--checkpoint-every N]
 * [--source-column source] [--target-column target] [--bind-host HOST] [--step-timeout-s 120]
 * --worker-factory CLASS [--worker-option key=value ...]
 * </pre>
 * The factory class implements {@link WorkerFactory} and has a public constructor taking the
 * worker options as a {@code Map<String, String>}. Errors are one line on stderr and an exit code
 * per {@link ErrorCode}, as in the command line tool.
 */
public final class SparkTrainMain {
    private SparkTrainMain() {}

    public static void main(String[] args) {
        SparkSession spark = SparkSession.builder().appName("onnx-lora").getOrCreate();
        int code;
        try {
            code = run(spark, args, System.out, System.err);
        } finally {
            spark.stop();
        }
        System.exit(code);
    }

    /** Runs one job; returns the exit code. */
    public static int run(SparkSession spark, String[] args, PrintStream out, PrintStream err) {
        try {
            Map<String, String> flags = new LinkedHashMap<>();
            Map<String, String> workerOptions = new LinkedHashMap<>();
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                if (!a.startsWith("--") || i + 1 >= args.length) {
                    throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "expected --name value, got \"" + a + "\"");
                }
                String v = args[++i];
                if (a.equals("--worker-option")) {
                    int eq = v.indexOf('=');
                    if (eq <= 0) {
                        throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "--worker-option takes key=value, not \"" + v + "\"");
                    }
                    workerOptions.put(v.substring(0, eq), v.substring(eq + 1));
                } else {
                    flags.put(a.substring(2), v);
                }
            }
            SparkTrainConfig config = new SparkTrainConfig(intFlag(flags, "workers", null),
                    intFlag(flags, "steps", null), intFlag(flags, "checkpoint-every", 100),
                    flags.getOrDefault("source-column", "source"), flags.getOrDefault("target-column", "target"),
                    flags.get("bind-host"), Duration.ofSeconds(intFlag(flags, "step-timeout-s", 120)));
            // the job's length is the workers' too (their learning-rate schedule runs over it)
            workerOptions.putIfAbsent("steps", Long.toString(config.steps()));
            WorkerFactory factory = factory(required(flags, "worker-factory"), workerOptions);
            Dataset<Row> pairs = spark.read().format(flags.getOrDefault("format", "json")).load(required(flags, "input"));
            TrainOutcome o = SparkTrainer.train(pairs, config, factory);
            out.printf("trained steps %d..%d on %d workers (stage attempt %d), last loss %.6f%n", o.resumedFrom() + 1,
                    config.steps(), config.workers(), o.attempt(),
                    o.meanLosses().isEmpty() ? Double.NaN : o.meanLosses().get(o.meanLosses().size() - 1));
            return 0;
        } catch (OnnxLoraException e) {
            err.println("error: " + e.getMessage());
            return e.code().exitCode();
        }
    }

    private static WorkerFactory factory(String className, Map<String, String> options) {
        try {
            Class<?> c = Class.forName(className);
            if (!WorkerFactory.class.isAssignableFrom(c)) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, className + " is not a " + WorkerFactory.class.getName());
            }
            return (WorkerFactory) c.getConstructor(Map.class).newInstance(Map.copyOf(options));
        } catch (ClassNotFoundException e) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "no worker factory class " + className + " on the classpath");
        } catch (NoSuchMethodException | InstantiationException | IllegalAccessException e) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, className + " needs a public constructor taking a Map<String, String>");
        } catch (InvocationTargetException e) {
            if (e.getCause() instanceof OnnxLoraException ole) {
                throw ole;
            }
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, className + " refused its options: " + e.getCause(), e);
        }
    }

    private static String required(Map<String, String> flags, String name) {
        String v = flags.get(name);
        if (v == null) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "--" + name + " is required");
        }
        return v;
    }

    private static int intFlag(Map<String, String> flags, String name, Integer dflt) {
        String v = dflt == null ? required(flags, name) : flags.getOrDefault(name, String.valueOf(dflt));
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "--" + name + " takes a whole number, not \"" + v + "\"");
        }
    }
}
