#!/usr/bin/env bash
# A CPU rehearsal of run-on-device.sh's issue 11 phases for the next GPU call (cpu16, cpu2, layout, datascale
# with DS_MODEL="base tiny"), from the repository root, so that the GPU run works the first time: lays out the
# bundle's extra/ folder (what build-bundle.sh carries) with links into this checkout and runs the phases on the
# CPU with few steps, then prints summary.md.
#
#   tools/gpu/issue11-local.sh [--python PY] [--scratch DIR] [--phases "cpu16 cpu2 layout datascale staticdims"]
#                              [--real-base]
#
# PY needs torch, transformers, peft and onnxruntime (e.g. /tmp/fixtures-venv/bin/python). The base-sized rows
# run on a stand-in for synth's bart-base (its widths and heads, one layer each side, the tiny vocabulary) placed
# where phase_synth would write the model, since the real one takes minutes a step here; --real-base synthesizes
# bart-base itself (713 MB). PEFT's base rows always build the real bart-base shape (bench_peft.py --size base).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
py=python3; scratch=/tmp/onnx-lora-issue11; phases="cpu16 cpu2 layout datascale staticdims"; real_base=""
while [ $# -gt 0 ]; do
  case "$1" in
    --python) py=$2; shift 2;; --scratch) scratch=$2; shift 2;; --phases) phases=$2; shift 2;;
    --real-base) real_base=1; shift;; *) echo "unknown argument: $1" >&2; exit 2;;
  esac
done
case "$(realpath -m "$scratch")" in "$root"*) echo "--scratch must be outside the repository" >&2; exit 2;; esac
[ -f "$root/target/onnx-lora.jar" ] || (cd "$root" && ./mvnw -q -B -o package -DskipTests)
b=$scratch/gb
rm -rf "$b" "$scratch/out" "$scratch/work/results"; mkdir -p "$scratch/work"
. "$root/tools/gpu/local-bundle.sh"
local_bundle "$root" "$b" "$root/target/onnx-lora.jar:$root/target/lib/*"
base=$scratch/work/base.onnx
if [ -z "$real_base" ] && [ ! -f "$base.standin" ]; then
  rm -f "$base"
  "$b/run.sh" org.onnxlora.cli.Main synth --preset base --layers 1 --vocab 2048 --seed 0 \
    --out "$base" -q && touch "$base.standin"
elif [ -n "$real_base" ] && [ -f "$base.standin" ]; then
  rm -f "$base" "$base.standin"
  "$b/run.sh" org.onnxlora.cli.Main synth --preset base --seed 0 --out "$base" -q
fi
# few steps, small corpora; every row pinned to cores this machine lacks runs unpinned (run-on-device.sh's pinned)
BUNDLE=$b WORK=$scratch/work OUT=$scratch/out PY=$py GPU_CORES= TMO=600 \
  DS_DEVICE=cpu DS_MODEL="base tiny" DS_SIZES=3000 DS_ROUNDS=2 DS_STEPS=6 DS_WARMUP=2 DS_WARMUP_STEPS=2 DS_THREADS=2 \
  LAYOUT_THREADS="1 2" LAYOUT_REPS=10 \
  SD_DEVICE=cpu SD_ROUNDS=2 SD_TINY_WARMUP=1 SD_TINY_STEPS=3 SD_BASE_WARMUP=0 SD_BASE_STEPS=1 \
  bash "$root/tools/gpu/run-on-device.sh" $phases
