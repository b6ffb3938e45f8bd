#!/usr/bin/env bash
# A CPU rehearsal of run-on-device.sh's multi and datascale phases, from the repository root, so that the GPU
# run works the first time: lays out the bundle's extra/ folder (what build-bundle.sh carries) with links into
# this checkout and runs the phases on the CPU with the tiny model and few steps: `train --devices cpu,...`,
# tools/bench_peft_ddp.py under torchrun with gloo, the equivalence runs, and report.py's tables.
#
#   tools/gpu/multi-local.sh [--python PY] [--scratch DIR] [--phases "multi datascale"] [--ns "1 2"]
#                            [--steps N] [--dry]
#
# PY needs torch, transformers and peft (e.g. /tmp/fixtures-venv/bin/python). --dry prints the multi phase's
# commands for 4 GPUs (MULTI_DRY=1, MULTI_DEVICES=cuda:0,...,cuda:3) without running anything.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
py=python3; scratch=/tmp/onnx-lora-multi; phases="multi datascale"; ns="1 2"; steps=6; dry=""
while [ $# -gt 0 ]; do
  case "$1" in
    --python) py=$2; shift 2;; --scratch) scratch=$2; shift 2;; --phases) phases=$2; shift 2;;
    --ns) ns=$2; shift 2;; --steps) steps=$2; shift 2;; --dry) dry=1; shift;;
    *) echo "unknown argument: $1" >&2; exit 2;;
  esac
done
[ -f "$root/target/core-runtime-classpath.txt" ] || (cd "$root" && ./mvnw -q -B -o test-compile)
b=$scratch/gb
rm -rf "$b" "$scratch/work" "$scratch/out"; mkdir -p "$scratch/work"
. "$root/tools/gpu/local-bundle.sh"
local_bundle "$root" "$b" "$root/target/classes:$(cat "$root/target/core-runtime-classpath.txt")"
common=(BUNDLE="$b" WORK="$scratch/work" OUT="$scratch/out" PY="$py" GPU_CORES=)
if [ -n "$dry" ]; then
  env "${common[@]}" MULTI_DRY=1 MULTI_DEVICES=cuda:0,cuda:1,cuda:2,cuda:3 bash "$root/tools/gpu/run-on-device.sh" multi
  exit
fi
devices=$(printf 'cpu%.0s,' $(seq 1 "$(tr ' ' '\n' <<< "$ns" | sort -n | tail -1)")); devices=${devices%,}
env "${common[@]}" MULTI_DEVICES="$devices" MULTI_MODEL=tiny MULTI_NS="$ns" MULTI_THREADS=1 MULTI_STEPS="$steps" \
  MULTI_WARMUP=2 MULTI_EQ_STEPS="$steps" DS_DEVICE=cpu DS_SIZES=3000 DS_ROUNDS=2 DS_STEPS="$steps" DS_WARMUP=2 \
  DS_WARMUP_STEPS=2 DS_THREADS=1 bash "$root/tools/gpu/run-on-device.sh" $phases
