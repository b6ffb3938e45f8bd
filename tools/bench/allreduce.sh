#!/usr/bin/env bash
# All-reduce time per call of the socket ring (org.onnxlora.parallel.RingAllReduce) between JVM
# processes on this machine, for the adapter payloads of issue 14 (73,728 floats = 0.3 MB:
# r=8 q,v on the tiny BART; 442,368 floats = 1.8 MB: bart-base) and 2 and 4 workers. Each
# configuration starts N JVMs meeting through a temporary folder, warms up, then times --iters
# calls; rank 0 prints one markdown row (median, p10, p90 in ms). Loopback only.
#
# Usage: tools/bench/allreduce.sh [--iters N] [--workers "2 4"] [--floats "73728 442368"] [--no-build]
set -euo pipefail
cd "$(dirname "$0")/../.."

ITERS=1000
WORKERS="2 4"
FLOATS="73728 442368"
BUILD=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --iters) ITERS=$2; shift 2 ;;
        --workers) WORKERS=$2; shift 2 ;;
        --floats) FLOATS=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

if [[ $BUILD == 1 ]]; then
    ./mvnw -q -B -o compile
fi
OUT=$(mktemp -d /tmp/onnx-lora-arbench.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
javac -cp target/classes -d "$OUT/classes" tools/bench/AllReduceBench.java

echo "| workers | floats | MB | median ms | p10 ms | p90 ms | calls |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
for n in $WORKERS; do
    for f in $FLOATS; do
        dir="$OUT/rv-$n-$f"
        mkdir -p "$dir"
        pids=()
        for ((r = 1; r < n; r++)); do
            java -Xmx256m -cp "target/classes:$OUT/classes" AllReduceBench "$dir" "$r" "$n" "$f" "$ITERS" &
            pids+=($!)
        done
        java -Xmx256m -cp "target/classes:$OUT/classes" AllReduceBench "$dir" 0 "$n" "$f" "$ITERS"
        for p in "${pids[@]}"; do wait "$p"; done
    done
done
