#!/usr/bin/env bash
# Data-parallel training in one process (train --devices cpu,...) on the tiny BART: step time of N
# sessions against one. Weak scaling: per-session batch B, global batch N*B, N = 1 2 4. Overhead:
# the same global batch on one session and on N sessions (the split, the threads and the host sum
# are all that differ). Each row is one `train` run of --steps steps; the median step_seconds and
# tokens_per_second of metrics.jsonl after --warmup steps. CPU sessions share the machine's cores,
# so on a small machine N sessions cannot be faster than one: the numbers are the overhead's upper
# bound, not a speed-up (that needs one device per session, see the GPU phase 'multi').
#
# Usage: tools/bench/dataparallel.sh [--steps 30] [--warmup 5] [--batch 8] [--sessions "1 2 4"] [--threads 1] [--no-build]
set -euo pipefail
cd "$(dirname "$0")/../.."

STEPS=30 WARMUP=5 BATCH=8 SESSIONS="1 2 4" THREADS=1 BUILD=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --steps) STEPS=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --batch) BATCH=$2; shift 2 ;;
        --sessions) SESSIONS=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
if [[ $BUILD == 1 ]]; then
    ./mvnw -q -B -o test-compile   # also writes target/core-runtime-classpath.txt
fi
CP="target/classes:$(cat target/core-runtime-classpath.txt)"
OUT=$(mktemp -d /tmp/onnx-lora-dpbench.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

# row NAME SESSIONS GLOBAL_BATCH: one markdown row
row() {
    local name=$1 n=$2 global=$3
    local devs; devs=$(printf 'cpu%.0s,' $(seq 1 "$n")); devs=${devs%,}
    java -cp "$CP" org.onnxlora.cli.Main train --model models/tiny-bart/model.onnx \
        --tokenizer models/tiny-bart/tokenizer.json --train models/datasets/manpages/train.jsonl \
        --out "$OUT/$name" --steps "$STEPS" --batch-size "$global" --lr 1e-4 --schedule constant \
        --threads "$THREADS" --seed 42 --devices "$devs" -q > /dev/null
    python3 - "$OUT/$name/metrics.jsonl" "$WARMUP" "$n" "$global" <<'PY'
import json, statistics, sys
path, warmup, n, g = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
rows = [r for r in map(json.loads, open(path)) if r.get("event") == "train"][warmup:]
print(f"| {n} | {g} | {statistics.median(r['step_seconds'] for r in rows) * 1000:.1f} |"
      f" {statistics.median(r['tokens_per_second'] for r in rows):.0f} | {len(rows)} |")
PY
}

echo "Weak scaling (per-session batch $BATCH, $THREADS intra-op thread(s) per session):"
echo "| sessions | global batch | median step ms | median tokens/s | steps |"
echo "|---:|---:|---:|---:|---:|"
for n in $SESSIONS; do row "weak-$n" "$n" $((n * BATCH)); done
echo
G=$((BATCH * 2))
echo "Overhead (global batch $G on 1 and 2 sessions):"
echo "| sessions | global batch | median step ms | median tokens/s | steps |"
echo "|---:|---:|---:|---:|---:|"
row "same-1" 1 "$G"
row "same-2" 2 "$G"
