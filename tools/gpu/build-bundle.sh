#!/usr/bin/env bash
# Builds the chunked bundle that runs onnx-lora on the lent GPU machine (issue 6), from the repository root:
#
#   tools/gpu/build-bundle.sh [--out DIR] [--chunk-mb N] [--skip-build]
#
# Wraps ../shared/gpu/make-bundle.sh (jlink'd Java, ORT's CUDA 12 natives, CUDA 12 cudart/cuBLAS from
# Maven Central) with: this project's classes and dependency jars minus onnxruntime-*.jar (the bundle
# brings ORT's classes and GPU natives), and as extras the benchmark scripts (tools/gpu/, tools/bench_peft*.py),
# the tiny fixture (model, tokenizer, HF config) and the man-page training data. The base-sized model is
# generated on the GPU machine (onnx-lora synth), never carried.
#
# The device tool sends the *main checkout* plus the paths named in `carry`, 64 MiB per call in all, so
# the chunk size is 64 MiB minus what that checkout's tracked (and untracked, not ignored) files weigh,
# minus a margin: --chunk-mb defaults to that. DIR (default: .gpu in the main checkout) must be ignored
# there (.git/info/exclude). tools/gpu/README.md lists the device calls; this script prints them too.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
main=${MAIN_CHECKOUT:-$(git -C "$root" worktree list --porcelain | awk '/^worktree /{print $2; exit}')}
out=$main/.gpu; chunk=""; build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2;; --chunk-mb) chunk=$2; shift 2;; --skip-build) build=0; shift;;
    *) echo "unknown argument: $1" >&2; exit 2;;
  esac
done
make_bundle=${MAKE_BUNDLE:-$root/../shared/gpu/make-bundle.sh}
[ -x "$make_bundle" ] || make_bundle=/work/shared/gpu/make-bundle.sh
if [ -z "$chunk" ]; then
  # what travels with every call besides the carried chunk
  tree=$(cd "$main" && { git ls-files -z; git ls-files -z -o --exclude-standard; } | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
  files=$(cd "$main" && { git ls-files; git ls-files -o --exclude-standard; } | wc -l)
  # margin: 1 KiB of archive header per file and 1 MiB besides. The program part (Java, jars, extras:
  # ~29 MiB) must fit one chunk, so a flat margin of several MiB left it no room once the tree passed 30 MiB.
  chunk=$(( (64 * 1024 * 1024 - tree - files * 1024 - 1024 * 1024) / 1024 / 1024 ))
  echo "main checkout's travelling files: $((tree / 1024 / 1024)) MiB -> chunks of $chunk MiB" >&2
fi
cd "$root"
if [ $build = 1 ]; then ./mvnw -q -B package -DskipTests; fi
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/lib" "$stage/tiny-bart/hf"
for j in target/lib/*.jar; do case $(basename "$j") in onnxruntime-*) ;; *) cp "$j" "$stage/lib/";; esac; done
# the GPU machine is linux-x86_64: DJL's tokenizers jar carries its native library for four platforms (18 MiB),
# and the bundle's chunks must fit the device tool's 64 MiB next to the checkout, so only that one travels
for j in "$stage"/lib/tokenizers-*.jar; do
  python3 - "$j" <<'EOF2'
import shutil, sys, zipfile
src = sys.argv[1]
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(src + ".tmp", "w", zipfile.ZIP_DEFLATED) as zout:
    for item in zin.infolist():
        platform = item.filename.split("/")[2] if item.filename.count("/") >= 3 else ""
        if item.filename.startswith("native/lib/") and platform and platform != "linux-x86_64":
            continue
        zout.writestr(item, zin.read(item.filename))
shutil.move(src + ".tmp", src)
EOF2
done
cp -r tools/gpu "$stage/gpu"
cp tools/bench_peft.py tools/bench_peft_realdata.py tools/bench_peft_ddp.py tools/bench/layout_bench.py \
  tools/bench/op_table.py "$stage/"
cp models/tiny-bart/model.onnx models/tiny-bart/tokenizer.json "$stage/tiny-bart/"
cp models/tiny-bart/hf/config.json "$stage/tiny-bart/hf/"
# phase half: the PyTorch side of the parity step loads the fixture's weights and the goldens' batch and adapters
cp models/tiny-bart/hf/model.safetensors models/tiny-bart/hf/generation_config.json "$stage/tiny-bart/hf/"
mkdir -p "$stage/tiny-bart/goldens" && cp models/tiny-bart/goldens/train_step.safetensors "$stage/tiny-bart/goldens/"
cp models/datasets/manpages/train.jsonl "$stage/"
cp models/datasets/manpages/valid.jsonl "$stage/"
# phases halfparity, floor and lockstep run tools/bench/StepGradientDump.java, MemoryFloor.java, LockstepParity.java and
# Float64Parity.java on the bundle's Java, which is jlink'd without a compiler
mkdir -p "$stage/tool-classes"
javac --release 17 -cp "target/classes:target/lib/*" -d "$stage/tool-classes" tools/bench/StepGradientDump.java \
  tools/bench/MemoryFloor.java tools/bench/LockstepParity.java tools/bench/Float64Parity.java
# onnx-lora's kernel library for both providers (src/main/native, nvcc here): run-on-device.sh points
# ONNXLORA_KERNELS_DIR at it, so CUDA sessions fuse the GELU backward too (runtime.FusedKernels)
bash src/main/native/build.sh "$stage/kernels" --cuda
apps=(--app target/classes --app "$stage/tool-classes"); for j in "$stage"/lib/*.jar; do apps+=(--app "$j"); done
# The bundle's Java is jlink'd from a JDK 22+ where one is installed (BUNDLE_JDK, default Temurin 25): the IO-binding
# rows call ONNX Runtime's C API through the foreign-function interface (org.onnxlora.runtime.ffm). Its runtime part
# gets its own cache; the natives and CUDA libraries in it do not depend on the JDK, so they are seeded from the
# default cache rather than fetched again.
jdk=${BUNDLE_JDK:-/usr/lib/jvm/temurin-25-jdk-amd64}
bundle_env=()
if [ -x "$jdk/bin/jlink" ]; then
  base_cache=${GPU_BUNDLE_CACHE:-$HOME/.cache/gpu-bundle}
  jdk_cache=$base_cache-$(basename "$jdk")
  for d in "$base_cache"/ort-*; do
    [ -d "$d" ] || continue
    t=$jdk_cache/$(basename "$d"); mkdir -p "$t"
    for part in native cuda12 ort-classes.jar; do
      [ -e "$d/$part" ] && [ ! -e "$t/$part" ] && cp -r "$d/$part" "$t/"
    done
  done
  bundle_env=(env PATH="$jdk/bin:$PATH" GPU_BUNDLE_CACHE="$jdk_cache")
  echo "bundle Java: jlink of $jdk" >&2
fi
"${bundle_env[@]}" "$make_bundle" --out "$out" --chunk-mb "$chunk" "${apps[@]}" \
  --extra "$stage/gpu" --extra "$stage/bench_peft.py" --extra "$stage/bench_peft_realdata.py" --extra "$stage/bench_peft_ddp.py" --extra "$stage/layout_bench.py" --extra "$stage/op_table.py" --extra "$stage/tiny-bart" --extra "$stage/train.jsonl" --extra "$stage/valid.jsonl" --extra "$stage/kernels"
du -sh "$out"/c* >&2
