#!/usr/bin/env bash
# Weak scaling of the Spark job (issue 14) on this machine: the real worker (LoraWorkerFactory) on
# the tiny BART, CPU, 1 intra-op thread per worker, per-worker batch fixed, N workers in a real
# multi-JVM local-cluster[N,1,1024] (one executor JVM per worker), against one worker in the driver
# JVM without Spark (the same per-worker batch). Every rank times its steps; the table gives the
# median step, the slowest rank's forward+backward, what is left for the ring all-reduce (waiting for
# the slowest rank included) and its share of the step. N executors share this machine's cores:
# with N > cores the step time measures the cores, not the data parallelism.
#
# Usage: tools/bench/spark_scaling.sh [--steps 30] [--warmup 5] [--batch 8] [--workers "1 2 4"] [--no-build]
set -euo pipefail
cd "$(dirname "$0")/../.."

STEPS=30 WARMUP=5 BATCH=8 WORKERS="1 2 4" BUILD=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --steps) STEPS=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --batch) BATCH=$2; shift 2 ;;
        --workers) WORKERS=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
if [[ $BUILD == 1 ]]; then
    ./mvnw -q -B -o test-compile
fi
OUT=$(mktemp -d /tmp/onnx-lora-sparkbench.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
# the test classpath holds Spark (a test-scope dependency) and the spark/ classes
./mvnw -q -B -o dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile="$OUT/cp.txt" > /dev/null
CP="target/test-classes:target/classes:$(cat "$OUT/cp.txt")"
CORE_CP="target/test-classes:target/classes:$(cat target/core-runtime-classpath.txt)"
javac -cp "$CP" -d "$OUT/classes" tools/bench/SparkScaling.java tools/bench/SparkScalingTimings.java
# the JVM options Spark needs on Java 17 (the pom's spark.test.jvm.args)
JVM_ARGS=$(sed -n 's:.*<spark.test.jvm.args>\(.*\)</spark.test.jvm.args>.*:\1:p' pom.xml)
export SPARK_HOME="$OUT/spark-home" SPARK_SCALA_VERSION=2.13 SPARK_LOCAL_IP=127.0.0.1
fail() { tail -30 "$OUT/$1.log" >&2; exit 1; }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# shellcheck disable=SC2086
java -Xmx2g $JVM_ARGS -cp "$OUT/classes:$CP" org.onnxlora.spark.SparkScaling "$OUT" "$STEPS" "$WARMUP" "$BATCH" prepare \
    2> "$OUT/prepare.log" || fail prepare
echo "| setup | workers | global batch | median step ms | median compute ms | median all-reduce + wait ms | all-reduce share | median tokens/s |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
# the baseline without Spark's jars: with them on the classpath ONNX Runtime crashes in the same JVM (docs/spark.md)
java -Xmx2g -cp "$OUT/classes:$CORE_CP" org.onnxlora.spark.SparkScalingTimings "$OUT" "$STEPS" "$WARMUP" "$BATCH" \
    2> "$OUT/local.log" || fail local
# shellcheck disable=SC2086
java -Xmx2g $JVM_ARGS -cp "$OUT/classes:$CP" org.onnxlora.spark.SparkScaling "$OUT" "$STEPS" "$WARMUP" "$BATCH" "$WORKERS" \
    2> "$OUT/driver.log" || fail driver
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
