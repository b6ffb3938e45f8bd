#!/usr/bin/env bash
# CPU training benchmarks (issues 3 and 4): training-step throughput, time outside OrtSession.run and
# peak RSS for the bundled tiny BART and a BART-base-shaped model, at batch 8 and 32 with 2 threads;
# then end-to-end `train` on the bundled data (tokens/s and peak RSS at batch 32).
# Prints a markdown table per part. Usage: tools/bench/train_cpu.sh [--scratch DIR] [--threads N]
set -euo pipefail
cd "$(dirname "$0")/../.."
scratch=/tmp/onnx-lora-bench; threads=2
while [ $# -gt 0 ]; do
  case "$1" in --scratch) scratch=$2; shift 2;; --threads) threads=$2; shift 2;; *) echo "unknown: $1" >&2; exit 2;; esac
done
case "$(realpath -m "$scratch")" in "$(pwd)"*) echo "--scratch must be outside the repository" >&2; exit 2;; esac
[ -f target/onnx-lora.jar ] || ./mvnw -q -B package -DskipTests
J="java -jar target/onnx-lora.jar"
mkdir -p "$scratch"
[ -f "$scratch/base.onnx" ] || $J synth --preset base --out "$scratch/base.onnx" -q >/dev/null
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GB; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| model | weights MB | batch | src+tgt tokens/step | step ms (median) | tokens/s | outside OrtSession.run | peak RSS MB | RSS / weights |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
row() { # model label batch steps extra-args...
  local m=$1 label=$2 b=$3 steps=$4; shift 4
  $J bench-train --model "$m" --batch "$b" --source-length 64 --target-length 16 --threads "$threads" \
      --steps "$steps" --warmup 2 -q "$@" | python3 -c '
import json,sys; o=json.load(sys.stdin); label=sys.argv[1]
print("| %s | %.0f | %d | %d | %.0f | %.0f | %.1f%% | %.0f | %.1f |" % (label, o["model_weight_bytes"]/2**20, o["batch"],
  o["tokens_per_step"], o["step_ms_median"], o["tokens_per_second"], 100*o["outside_ort_run_share"],
  o["peak_rss_bytes"]/2**20, o["peak_rss_over_model"]))' "$label"
}
for b in 8 32; do row models/tiny-bart/model.onnx "tiny (fixture)" $b 20; done
for b in 8 32; do row "$scratch/base.onnx" "bart-base shape" $b 5; done
row "$scratch/base.onnx" "bart-base shape, prepacking off" 8 5 --disable-prepacking
echo
echo "end-to-end train on the bundled man-page data, batch 32, $threads threads:"
echo
echo "| model | steps | tokens/s (real tokens, padding excluded) | seconds | peak RSS MB |"
echo "|---|---:|---:|---:|---:|"
for spec in "models/tiny-bart/model.onnx:tiny (fixture):100" "$scratch/base.onnx:bart-base shape:8"; do
  IFS=: read -r m label steps <<<"$spec"
  rm -rf "$scratch/run"
  /usr/bin/time -f "%M" -o "$scratch/rss" $J train --model "$m" --tokenizer models/tiny-bart/tokenizer.json \
      --train models/datasets/manpages/train.jsonl --out "$scratch/run" --batch-size 32 --steps "$steps" \
      --max-source-length 128 --max-target-length 32 --threads "$threads" -q > "$scratch/summary.json"
  python3 -c '
import json,sys; o=json.load(open(sys.argv[1])); rss=int(open(sys.argv[2]).read().split()[-1])/1024
print("| %s | %d | %.0f | %.1f | %.0f |" % (sys.argv[3], o["steps"], o["tokens_per_second"], o["seconds"], rss))' \
      "$scratch/summary.json" "$scratch/rss" "$label"
done
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
