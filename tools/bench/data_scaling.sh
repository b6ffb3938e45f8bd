#!/usr/bin/env bash
# Data side of training against data-set size (issue 11): start-up time through the token cache
# (a miss, then a hit) and the time of one training batch (BatcherSource.next) for synthetic
# man-page corpora of 3k (the bundled train split as is), 50k and 1M rows, plus the epoch-plan
# build. The synthetic rows repeat the bundled pairs with their source words rotated, so lengths
# keep the real distribution. --replicate N adds a batching-only row for N examples copied from
# the largest tokenized set (tokenizing 1M rows takes ~25 min on a loaded 2-core machine; give
# --sizes "50000 1000000" to measure its start-up too). Everything is written under --scratch.
# --train-steps N then runs `onnx-lora train` (tiny fixture, CPU, --threads 2) for N steps on every file,
# --rounds R times, the sizes alternating within each round and one data cache shared by all runs: the first
# round pays the tokenization (a miss), the later ones read the cache (hits). Per run: the start-up (process
# wall time minus the training loop), and from metrics.jsonl the median step and the median step time per
# padded token after --train-warmup steps (the steps' shapes differ between files, so the per-token time is
# the fairer number); one markdown row per file with the medians over the hit rounds. --skip-batching leaves
# out the DataScaling.java part.
# Usage: tools/bench/data_scaling.sh [--scratch DIR] [--sizes "50000"] [--replicate 1000000] [--batch N] [--no-build]
#                                    [--train-steps N] [--train-warmup N] [--rounds R] [--skip-batching]
set -euo pipefail
cd "$(dirname "$0")/../.."
scratch=/tmp/onnx-lora-data-bench; sizes="50000"; replicate=1000000; batch=32; build=1
train_steps=0; train_warmup=10; rounds=3; batching=1
while [ $# -gt 0 ]; do
  case "$1" in
    --scratch) scratch=$2; shift 2;; --sizes) sizes=$2; shift 2;; --replicate) replicate=$2; shift 2;; --batch) batch=$2; shift 2;;
    --no-build) build=0; shift;; --train-steps) train_steps=$2; shift 2;; --train-warmup) train_warmup=$2; shift 2;;
    --rounds) rounds=$2; shift 2;; --skip-batching) batching=0; shift;; *) echo "unknown: $1" >&2; exit 2;;
  esac
done
case "$(realpath -m "$scratch")" in "$(pwd)"*) echo "--scratch must be outside the repository" >&2; exit 2;; esac
[ $build = 0 ] && [ -f target/onnx-lora.jar ] || ./mvnw -q -B -o package -DskipTests
mkdir -p "$scratch"; rm -rf "$scratch/cache"
files=(models/datasets/manpages/train.jsonl)
for n in $sizes; do
  f=$scratch/manpages-$n.jsonl
  [ -f "$f" ] || python3 tools/gpu/scale_corpus.py models/datasets/manpages/train.jsonl "$n" "$f"
  files+=("$f")
done
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GB; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
if [ $batching = 1 ]; then
  java -Xmx6g -Dreplicate="$replicate" -cp "target/onnx-lora.jar:target/lib/*" tools/bench/DataScaling.java models/tiny-bart/tokenizer.json \
      "$scratch/cache" "$batch" "${files[@]}"
  echo
fi
if [ "$train_steps" -gt 0 ]; then
  rm -rf "$scratch/train-cache" "$scratch/train-runs"; mkdir -p "$scratch/train-runs"
  for r in $(seq 1 "$rounds"); do
    order=("${files[@]}"); [ $((r % 2)) = 0 ] && order=($(printf '%s\n' "${files[@]}" | tac))
    for f in "${order[@]}"; do
      name=$(basename "$f" .jsonl); out=$scratch/train-runs/$name-r$r
      t0=$(date +%s%N)
      java -Xmx8g -cp "target/onnx-lora.jar:target/lib/*" org.onnxlora.cli.Main train --model models/tiny-bart/model.onnx \
        --tokenizer models/tiny-bart/tokenizer.json --train "$f" --out "$out" --force --steps "$train_steps" \
        --batch-size "$batch" --max-source-length 256 --max-target-length 48 --lr 1e-4 --schedule constant --threads 2 \
        --seed 42 --data-cache "$scratch/train-cache" -q > "$out.json"
      echo "$(( ($(date +%s%N) - t0) / 1000000 ))" > "$out.wall_ms"
      echo "round $r: $name done in $(cat "$out.wall_ms") ms (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    done
  done
  python3 tools/gpu/report.py datascale "$scratch/train-runs" --rounds "$rounds" --warmup "$train_warmup" "${files[@]}"
  echo
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
