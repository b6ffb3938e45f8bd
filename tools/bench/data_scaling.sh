#!/usr/bin/env bash
# Data side of training against data-set size (issue 11): start-up time through the token cache
# (a miss, then a hit) and the time of one training batch (BatcherSource.next) for synthetic
# man-page corpora of 3k (the bundled train split as is), 50k and 1M rows, plus the epoch-plan
# build. The synthetic rows repeat the bundled pairs with their source words rotated, so lengths
# keep the real distribution. --replicate N adds a batching-only row for N examples copied from
# the largest tokenized set (tokenizing 1M rows takes ~25 min on a loaded 2-core machine; give
# --sizes "50000 1000000" to measure its start-up too). Everything is written under --scratch.
# Usage: tools/bench/data_scaling.sh [--scratch DIR] [--sizes "50000"] [--replicate 1000000] [--batch N] [--no-build]
set -euo pipefail
cd "$(dirname "$0")/../.."
scratch=/tmp/onnx-lora-data-bench; sizes="50000"; replicate=1000000; batch=32; build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --scratch) scratch=$2; shift 2;; --sizes) sizes=$2; shift 2;; --replicate) replicate=$2; shift 2;; --batch) batch=$2; shift 2;;
    --no-build) build=0; shift;; *) echo "unknown: $1" >&2; exit 2;;
  esac
done
case "$(realpath -m "$scratch")" in "$(pwd)"*) echo "--scratch must be outside the repository" >&2; exit 2;; esac
[ $build = 0 ] && [ -f target/onnx-lora.jar ] || ./mvnw -q -B -o package -DskipTests
mkdir -p "$scratch"; rm -rf "$scratch/cache"
files=(models/datasets/manpages/train.jsonl)
for n in $sizes; do
  f=$scratch/manpages-$n.jsonl
  [ -f "$f" ] || python3 - "$n" "$f" <<'PY'
import json, sys
n, out = int(sys.argv[1]), sys.argv[2]
rows = [json.loads(l) for l in open("models/datasets/manpages/train.jsonl")]
with open(out, "w") as f:
    for i in range(n):
        r = rows[i % len(rows)]
        w = r["source"].split()
        k = (i // len(rows)) % max(1, len(w))
        f.write(json.dumps({"source": " ".join(w[k:] + w[:k]), "target": r["target"]}) + "\n")
PY
  files+=("$f")
done
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GB; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
java -Xmx6g -Dreplicate="$replicate" -cp "target/onnx-lora.jar:target/lib/*" tools/bench/DataScaling.java models/tiny-bart/tokenizer.json \
    "$scratch/cache" "$batch" "${files[@]}"
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
