#!/usr/bin/env bash
# A CPU rehearsal of run-on-device.sh's realdata phase, from the repository root, so that the GPU run works
# the first time: lays out the bundle's extra/ folder (what build-bundle.sh carries) with links into this
# checkout, runs the phase on the CPU with few steps and prints its table.
#
#   tools/gpu/realdata-local.sh [--python PY] [--scratch DIR] [--sizes "tiny"] [--steps N] [--warmup N]
#
# PY needs torch, transformers and peft. The base size needs the synthesized model (synth --preset base,
# ~700 MB) and minutes per step on a small machine; the default is the tiny size only.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
py=python3; scratch=/tmp/onnx-lora-realdata; sizes=tiny; steps=12; warmup=2
while [ $# -gt 0 ]; do
  case "$1" in
    --python) py=$2; shift 2;; --scratch) scratch=$2; shift 2;; --sizes) sizes=$2; shift 2;;
    --steps) steps=$2; shift 2;; --warmup) warmup=$2; shift 2;; *) echo "unknown argument: $1" >&2; exit 2;;
  esac
done
[ -f "$root/target/onnx-lora.jar" ] || (cd "$root" && ./mvnw -q -B -o package -DskipTests)
b=$scratch/gb
rm -rf "$b" "$scratch/work"; mkdir -p "$scratch/work"
. "$root/tools/gpu/local-bundle.sh"
local_bundle "$root" "$b" "$root/target/onnx-lora.jar:$root/target/lib/*"
BUNDLE=$b WORK=$scratch/work OUT=$scratch/out PY=$py RD_DEVICE=cpu RD_THREADS=2 RD_SIZES=$sizes RD_STEPS=$steps \
  RD_WARMUP=$warmup RD_SHAPES=2 RD_FIXED_WARMUP=1 RD_FIXED_STEPS=3 GPU_CORES= \
  bash "$root/tools/gpu/run-on-device.sh" $([ "$sizes" = tiny ] || echo synth) realdata
