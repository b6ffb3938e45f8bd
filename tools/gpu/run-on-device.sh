#!/usr/bin/env bash
# Issue 6 on the lent GPU machine: CUDA vs CPU parity, ORT node placement, and onnx-lora vs PyTorch + PEFT
# benchmarks, in one run. Runs from the unpacked bundle (tools/gpu/build-bundle.sh, tools/gpu/README.md):
#
#   bash /root/gb/extra/gpu/run-on-device.sh [PHASE...]        (default: all)
#
# Phases, in order: env synth parity placement gpu cpu16 cpu16prof cpu16rot extra realdata memory datascale half halfparity multi floor kprof threads memfixed cores layout staticdims cpuknobs cpu2rot optable cudagraph traingraph replay exports lockstep cudaprof flatgrad kernels (and 'all' = env
# synth parity placement gpu cpu16; cpu2 alone runs every 2-thread CPU row and the ratios, after synth). 'half' (issue 13) needs 'synth' before it for the base-shape rows. The 2-thread CPU runs on the base-sized model start in the background after 'synth' and run
# while the GPU phases run, pinned to cores 0-3 (onnx-lora on 0,1, PEFT on 2,3; the GPU runs use cores
# 4-15); everything with 16 threads runs alone. Results go to $WORK/results (bench-*.json, logs, ORT
# profiles) and, packed, to $OUT/results.tar.gz after every phase, so a run cut short still returns what
# it measured; the last thing printed is summary.md.
#
# Configuration (both tools): LoRA r=8, alpha=16 on q_proj+v_proj, batch 32, source 128 / target 32
# tokens, AdamW lr 1e-4 (betas 0.9/0.999, eps 1e-8, no weight decay), global-norm clip 1.0, fp32,
# TF32 off, random ids, no dropout. tokens/s counts source + target tokens of the median timed step.
set -u
# NVLink multicast off for everything this starts (the multi-GPU machines' notes: it can take the host's GPUs out of
# service); tools/bench_peft_ddp.py sets the same itself
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
B=${BUNDLE:-/root/gb}
# onnx-lora's kernel library for CPU and CUDA sessions, built into the bundle by build-bundle.sh
[ -d "$B/extra/kernels" ] && export ONNXLORA_KERNELS_DIR=${ONNXLORA_KERNELS_DIR:-$B/extra/kernels}
X=$B/extra
W=${WORK:-/root/work}
R=$W/results
O=${OUT:-$W/out}
mkdir -p "$W" "$R" "$O"
# native access for the IO-binding rows (Java 22+'s foreign-function interface; older JDKs accept the flag too)
OL=${OL:-"$B/run.sh --enable-native-access=ALL-UNNAMED org.onnxlora.cli.Main"}
PY=${PY:-python3}
BATCH=32 S=128 T=32
TINY=$X/tiny-bart/model.onnx
BASE=$W/base.onnx
GPU_CORES=${GPU_CORES:-4-15}

# pinned CORES COMMAND...: COMMAND on those cores (all cores when CORES is empty or taskset is missing)
pinned() {
  local c=$1; shift
  if [ -n "$c" ] && taskset -c "$c" true 2> /dev/null; then taskset -c "$c" "$@"; else "$@"; fi
}
log() { echo "[$(date +%T) +${SECONDS}s] $*" | tee -a "$R/progress.log" >&2; }
pack() { tar -C "$W" -czf "$O/results.tar.gz" results 2>/dev/null; }

# fixed_size tiny|base: sets the caller's model, wu and st (its locals) for the fixed-shape CUDA rows of a phase
fixed_size() {
  if [ "$1" = tiny ]; then model=$TINY wu=20 st=200; else model=$BASE wu=5 st=20; fi
}

# olbench NAME MODEL DEVICE THREADS WARMUP STEPS [bench-train args...]: onnx-lora, result in bench-NAME.json
olbench() {
  local name=$1 model=$2 dev=$3 thr=$4 wu=$5 st=$6; shift 6
  local cmd=($OL bench-train --model "$model" --device "$dev" --threads "$thr" --batch $BATCH --source-length $S
    --target-length $T --warmup "$wu" --steps "$st" "$@")
  if [ "$dev" = cuda ]; then cmd=($PY "$X/gpu/gpumem.py" --out "$R/gpumem-$name.json" -- "${cmd[@]}"); fi
  log "onnx-lora $name"
  pinned "${PIN:-}" timeout "${TMO:-240}" "${cmd[@]}" > "$R/bench-$name.json" 2> "$R/$name.log" && return
  local rc=$?
  if [ $rc = 2 ] && [ -n "${OL_NEW_KEY:-}" ] && grep -q "'$OL_NEW_KEY'" "$R/$name.log"; then
    log "SKIPPED onnx-lora $name: this binary refuses '$OL_NEW_KEY': $(grep -m1 "'$OL_NEW_KEY'" "$R/$name.log")"
    rm -f "$R/bench-$name.json"; return
  fi
  log "FAILED onnx-lora $name (rc $rc)"; tail -5 "$R/$name.log" >&2; mv "$R/bench-$name.json" "$R/failed-$name.json"
}

# olbench_new KEY NAME MODEL ...: olbench for a row whose --cuda-option KEY is newer than some binaries: where the
# binary refuses KEY (exit 2, BAD_ARGUMENT, a message naming it) the row is skipped with a log line, not failed
olbench_new() { local key=$1; shift; OL_NEW_KEY=$key olbench "$@"; }

# ptbench NAME SIZE DEVICE THREADS WARMUP STEPS [bench_peft.py args...]: PyTorch, result in bench-NAME.json
ptbench() {
  local name=$1 size=$2 dev=$3 thr=$4 wu=$5 st=$6; shift 6
  local cmd=($PY "$X/bench_peft.py" --size "$size" --tiny-config "$X/tiny-bart/hf/config.json" --device "$dev"
    --batch $BATCH --source-length $S --target-length $T --warmup "$wu" --steps "$st" --json-out "$R/bench-$name.json" "$@")
  [ "$thr" -gt 0 ] && cmd+=(--threads "$thr")
  if [ "$dev" = cuda ]; then
    cmd=($PY "$X/gpu/gpumem.py" --out "$R/gpumem-$name.json" -- "${cmd[@]}")
  else
    cmd=(env CUDA_VISIBLE_DEVICES= "${cmd[@]}")
  fi
  log "pytorch $name"
  pinned "${PIN:-}" timeout "${TMO:-240}" "${cmd[@]}" > "$R/$name.out" 2> "$R/$name.log" \
    || { log "FAILED pytorch $name (rc $?)"; tail -5 "$R/$name.log" >&2; rm -f "$R/bench-$name.json"; }
}

phase_env() {
  log "env"
  { nvidia-smi; nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv; lscpu | head -20
    free -g; uname -r; $PY -c 'import torch, transformers, peft; print("torch", torch.__version__, "transformers",
transformers.__version__, "peft", peft.__version__, "cuda", torch.version.cuda)'
    $B/jre/bin/java -version 2>&1; $OL --version; } > "$R/env.txt" 2>&1
  tail -4 "$R/env.txt" >&2
}

phase_synth() {
  log "synth base"
  [ -f "$BASE" ] || $OL synth --preset base --seed 0 --out "$BASE" > "$R/synth.log" 2>&1 || log "FAILED synth"
  ls -la "$BASE" >&2
}

cpu2_background() {
  # the two tools side by side on disjoint cores (see the header); the GPU phases use cores 4-15
  ( PIN=0,1 TMO=420 olbench ol_base_cpu2 "$BASE" cpu 2 1 2 ) &
  ( PIN=2,3 TMO=420 ptbench peft_base_cpu2 base cpu 2 1 2 ) &
}

phase_parity() {
  log "parity: train tiny on cpu and cuda (TF32 off)"
  for d in cpu cuda; do
    pinned $GPU_CORES timeout 180 $OL train --model "$TINY" --tokenizer "$X/tiny-bart/tokenizer.json" \
      --train "$X/train.jsonl" --out "$W/parity-$d" --force --steps 40 --batch-size 32 --lr 5e-4 --schedule constant \
      --max-source-length $S --max-target-length $T --threads 4 --device $d --seed 42 \
      > "$R/parity-$d.json" 2> "$R/parity-$d.log" || log "FAILED parity $d"
    cp "$W/parity-$d/metrics.jsonl" "$R/parity-$d.metrics.jsonl" 2>/dev/null
  done
  $PY "$X/gpu/report.py" parity "$W/parity-cpu" "$W/parity-cuda" --tol 1e-3 > "$R/parity.json" 2>&1
  head -12 "$R/parity.json" >&2
}

phase_placement() {
  log "placement: verbose ORT log of the tiny fused step session on cuda"
  $OL patch --model "$TINY" --out "$W/tiny-p.onnx" --rank 8 --alpha 16 --target q_proj,v_proj --force > /dev/null 2>&1
  $OL compile --model "$W/tiny-p.onnx" --out "$W/tiny-art" --force > /dev/null 2>&1
  pinned $GPU_CORES timeout 120 $OL bench-train --model "$TINY" --device cuda --threads 4 --batch $BATCH --source-length $S \
    --target-length $T --warmup 0 --steps 1 --ort-verbose > "$R/placement-run.json" 2> "$W/verbose.log"
  grep -v -E "VERBOSE.*(Removing|Adding|Add |transformer|fused|Fused|Cannot|Skip|Rule)" "$W/verbose.log" \
    | grep -E "placed on|^  |Memcpy|WARNING|\[W:|\[E:" > "$R/placement.log"
  # bench-train runs the fused step (forward, backward and AdamW in one session)
  $PY "$X/gpu/report.py" placement "$W/verbose.log" --model "$W/tiny-art/step_model.onnx" --names step \
    > "$R/placement.json" 2>&1
  gzip -c "$W/verbose.log" > "$R/verbose.log.gz"
  $PY - "$R/placement.json" >&2 <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
for s in d["sessions"]:
    print(s["session"], s["providers"], "not on CUDA:", s["not_on_cuda_by_op"], "suspicious:",
          [(x["op"], x["node"]) for x in s["not_shape_arithmetic"]][:10], "memcpy:", s["memcpy_nodes"])
EOF
}

phase_gpu() {
  export PIN=$GPU_CORES
  olbench ol_tiny_cuda "$TINY" cuda 4 5 20
  ptbench peft_tiny_cuda tiny cuda 0 5 20
  olbench ol_base_cuda "$BASE" cuda 4 5 10
  olbench ol_base_cuda_fast "$BASE" cuda 4 5 10 --gpu-memory fast
  ptbench peft_base_cuda base cuda 0 5 10
  ptbench full_base_cuda base cuda 0 5 10 --mode full
  olbench ol_base_cuda_arena "$BASE" cuda 4 4 6 --gpu-memory fast --cuda-option arena_extend_strategy=kSameAsRequested
  pack
  log "profile: base on cuda with CUDA_LAUNCH_BLOCKING=1 (per-node times = GPU time + launch)"
  CUDA_LAUNCH_BLOCKING=1 pinned $GPU_CORES timeout 240 $OL bench-train --model "$BASE" --device cuda --threads 4 \
    --batch $BATCH --source-length $S --target-length $T --warmup 1 --steps 2 --profile "$W/prof-base-cuda" \
    > "$R/profrun-base-cuda.json" 2> "$R/profrun-base-cuda.log" || log "FAILED profile cuda"
  for f in "$W"/prof-base-cuda_step_*.json; do
    [ -f "$f" ] && $PY "$X/gpu/report.py" profile "$f" --top 25 > "$R/profile-base-cuda-training.json"
  done
  # tiny with 2 threads: small, next to the background runs on other cores
  PIN=4,5 olbench ol_tiny_cpu2 "$TINY" cpu 2 2 10
  PIN=6,7 ptbench peft_tiny_cpu2 tiny cpu 2 2 10
  unset PIN
}

# The _transpose rows (issue 11) turn off the CPU lowering that copies the attention heads with a Gather on the
# intra-op threads, the default since session 7 (head_copies=transpose: the graph as compiled, with ORT's
# one-threaded Transpose): the lowering's effect against PEFT in the same run. The _mempattern rows turn ORT's
# memory pattern back on (off on the CPU by default since session 7).
phase_cpu16() {
  olbench ol_tiny_cpu16 "$TINY" cpu 16 2 10
  olbench_new head_copies ol_tiny_cpu16_transpose "$TINY" cpu 16 2 10 --cuda-option head_copies=transpose
  olbench ol_tiny_cpu16_mempattern "$TINY" cpu 16 2 10 --cuda-option enable_mem_pattern=1
  ptbench peft_tiny_cpu16 tiny cpu 16 2 10
  olbench ol_base_cpu16 "$BASE" cpu 16 1 3
  olbench_new head_copies ol_base_cpu16_transpose "$BASE" cpu 16 1 3 --cuda-option head_copies=transpose
  olbench ol_base_cpu16_mempattern "$BASE" cpu 16 1 3 --cuda-option enable_mem_pattern=1
  ptbench peft_base_cpu16 base cpu 16 1 3
  # issue 11 (cpu11): ORT's intra-op threads spin between kernels by default; on idle cores that should pay
  olbench ol_tiny_cpu16_nospin "$TINY" cpu 16 2 10 --cuda-option session.intra_op.allow_spinning=0
  cpu_ratios
}

# cpu16prof (issue 11, session 18): where the 16-thread CPU step goes. ORT profiles of tiny at 16 threads and at 2
# (cores 0,1) and of bart-base at 16, PyTorch + PEFT's operators at 16 threads for both, then op_table.py's kind-by-kind
# tables (op-table-{tiny,base}-cpu16.md) and tiny's 2-to-16-thread scaling, op type by op type, with the nodes by
# duration and the time between kernels (scaling-tiny.md). The ORT profiles stay in results/. ~3 min.
phase_cpu16prof() {
  [ -f "$BASE" ] || { log "FAILED cpu16prof: no $BASE (run 'synth' first)"; return; }
  local size model
  olbench prof_tiny_cpu16 "$TINY" cpu 16 3 3 --profile "$R/prof-tiny-cpu16"
  PIN=0,1 olbench prof_tiny_cpu2 "$TINY" cpu 2 3 3 --profile "$R/prof-tiny-cpu2"
  TMO=420 olbench prof_base_cpu16 "$BASE" cpu 16 2 3 --profile "$R/prof-base-cpu16"
  for size in tiny base; do
    log "cpu16prof: PyTorch + PEFT's operators, $size, 16 threads"
    env CUDA_VISIBLE_DEVICES= timeout 420 $PY "$X/op_table.py" torch_ops --out "$R/op-peft-$size-cpu16.json" -- \
      --size $size --tiny-config "$X/tiny-bart/hf/config.json" --device cpu --threads 16 --batch $BATCH \
      --warmup 2 --steps 2 --profile-kernels 2 > "$R/op-peft-$size.out" 2>&1 || log "FAILED cpu16prof torch_ops $size"
    $PY "$X/op_table.py" table --ort "$R"/prof-$size-cpu16_step_*.json --torch "$R/op-peft-$size-cpu16.json" \
      --top 30 > "$R/op-table-$size-cpu16.md" 2>> "$R/op-peft-$size.out" || log "FAILED cpu16prof table $size"
  done
  $PY "$X/op_table.py" scaling --few "$R"/prof-tiny-cpu2_step_*.json --many "$R"/prof-tiny-cpu16_step_*.json \
    > "$R/scaling-tiny.md" 2>&1 || log "FAILED cpu16prof scaling"
  cat "$R/op-table-tiny-cpu16.md" "$R/scaling-tiny.md" >&2
}

# cpu16rot (issue 11, session 17): the 16-thread target with enough steps to fix a ratio. Session 17's cpu16 timed 3
# bart-base steps a row, and three settings of one binary spread over 1,262-1,545 ms. Each round from C16_FROM (1)
# to C16_ROUNDS (3) runs every setting of C16_SETTINGS (default, transpose, mempattern, nokernels, peft; rot_row
# names the rest) once, alone on the 16 cores, in an order rotated by one each round, so no setting always follows
# the same neighbour; bart-base takes 2 warm-up and C16_BASE_STEPS (10) timed steps, tiny 3 and 30. Rows
# c16_<model>_<setting>_r<round>; cpu16rot.md (report.py rounds). About 2 min a round with five settings.
phase_cpu16rot() {
  [ -f "$BASE" ] || { log "FAILED cpu16rot: no $BASE (run 'synth' first)"; return; }
  local r k n settings=(${C16_SETTINGS:-default transpose mempattern nokernels peft}) size
  n=${#settings[@]}
  for r in $(seq "${C16_FROM:-1}" "${C16_ROUNDS:-3}"); do
    for k in $(seq 0 $((n - 1))); do
      for size in tiny base; do
        rot_row c16_ 16 "" "${settings[$(( (k + r - 1) % n ))]}" "$size" "$r" 30 "${C16_BASE_STEPS:-10}"
      done
    done
    pack
  done
  $PY "$X/gpu/report.py" rounds "$R" --prefix c16_ > "$R/cpu16rot.md"
  cat "$R/cpu16rot.md" >&2
}

# Issue 11 CPU targets (>= 1.0x PEFT with 16 and 2 threads): the 2-thread rows of both sizes, each pair side by side
# on disjoint cores (base on 0-3 as in cpu2_background, tiny on 4-7 as in phase_gpu), the head_copies=transpose
# rows next to them (base on 8,9, tiny on 10,11; see phase_cpu16), then the ratio table. Used by the 'cpu2' phase
# alone; 'all' runs the default and PEFT rows inside cpu2_background and phase_gpu.
phase_cpu2() {
  cpu2_background
  ( PIN=4,5 olbench ol_tiny_cpu2 "$TINY" cpu 2 2 10 ) &
  ( PIN=6,7 ptbench peft_tiny_cpu2 tiny cpu 2 2 10 ) &
  ( PIN=8,9 TMO=420 olbench_new head_copies ol_base_cpu2_transpose "$BASE" cpu 2 1 2 --cuda-option head_copies=transpose ) &
  ( PIN=10,11 olbench_new head_copies ol_tiny_cpu2_transpose "$TINY" cpu 2 2 10 --cuda-option head_copies=transpose ) &
  wait
  cpu_ratios
}

# layout (issue 11, session 6): the attention head split and merge as ONNX Runtime CPU kernels, Transpose against
# the Gather row copies of the CPU lowering (tools/bench/layout_bench.py: one-node sessions, tiny and base shapes,
# encoder and decoder lengths), for LAYOUT_THREADS (1 2 4 8 16) intra-op threads, each count pinned to as many
# cores (0..t-1; all cores for 16, unpinned as in phase_cpu16). Does the single-threaded Transpose lose to the
# parallel Gather, and from how many threads? results/layout.jsonl, layout.md (report.py layout). ~1 min.
phase_layout() {
  local t c
  rm -f "$R/layout.jsonl"
  for t in ${LAYOUT_THREADS:-1 2 4 8 16}; do
    c=""; [ "$t" -lt "$(nproc)" ] && c=0-$((t - 1))
    log "layout: $t threads${c:+ on cores $c}"
    pinned "$c" timeout 300 $PY "$X/layout_bench.py" --threads "$t" --reps "${LAYOUT_REPS:-40}" --out "$R/layout.jsonl" \
      2> "$R/layout-t$t.log" || { log "FAILED layout $t threads"; tail -5 "$R/layout-t$t.log" >&2; }
  done
  $PY "$X/gpu/report.py" layout "$R/layout.jsonl" | tee "$R/layout.md" >&2
}

# The CPU rows of the results so far and their onnx-lora / PEFT ratios (report.py table), to stderr and cpu.md.
cpu_ratios() {
  $PY "$X/gpu/report.py" table "$R" 2>&1 | grep -E '^\| model|^\|---|CPU' > "$R/cpu.md"
  cat "$R/cpu.md" >&2
}

phase_extra() {
  export PIN=$GPU_CORES
  olbench ol_base_cuda_tf32 "$BASE" cuda 4 4 6 --tf32
  ptbench peft_base_cuda_tf32 base cuda 0 4 6 --tf32
  ptbench full_tiny_cuda tiny cuda 0 3 20 --mode full
  unset PIN
  log "profile: base on cpu, 16 threads"
  timeout 200 $OL bench-train --model "$BASE" --device cpu --threads 16 --batch $BATCH --source-length $S \
    --target-length $T --warmup 0 --steps 2 --profile "$W/prof-base-cpu" > "$R/profrun-base-cpu.json" \
    2> "$R/profrun-base-cpu.log" || log "FAILED profile cpu"
  for f in "$W"/prof-base-cpu_step_*.json; do
    [ -f "$f" ] && $PY "$X/gpu/report.py" profile "$f" --top 25 > "$R/profile-base-cpu-training.json"
  done
}

# memory (issue 11): the base model on CUDA under ORT's memory settings, one at a time and combined, for
# peak GPU memory (gpumem.py) against ol_base_cuda / peft_base_cuda of the gpu phase. session.* keys and
# enable_mem_pattern travel through --cuda-option (RuntimeOptions routes them to the session).
phase_memory() {
  export PIN=$GPU_CORES
  olbench ol_base_cuda_devinit "$BASE" cuda 4 4 6 --gpu-memory fast --cuda-option session.use_device_allocator_for_initializers=1
  olbench ol_base_cuda_nomempat "$BASE" cuda 4 4 6 --gpu-memory fast --cuda-option enable_mem_pattern=0
  olbench ol_base_cuda_arenadevinit "$BASE" cuda 4 4 6 --gpu-memory fast --cuda-option arena_extend_strategy=kSameAsRequested \
    --cuda-option session.use_device_allocator_for_initializers=1
  olbench ol_base_cuda_lean "$BASE" cuda 4 4 6 --gpu-memory fast --cuda-option arena_extend_strategy=kSameAsRequested \
    --cuda-option session.use_device_allocator_for_initializers=1 --cuda-option enable_mem_pattern=0
  [ -f "$R/bench-peft_base_cuda.json" ] || ptbench peft_base_cuda base cuda 0 4 6
  # issue 11, session 4: the lean preset (the three settings above) and attention recomputation, fp32 and bf16,
  # each against PEFT measured in this run (a default row too where the 'gpu'/'half' phases did not run)
  [ -f "$R/bench-ol_base_cuda.json" ] || olbench ol_base_cuda "$BASE" cuda 4 4 6
  olbench ol_base_cuda_rc "$BASE" cuda 4 4 6 --gpu-memory fast --recompute attention
  olbench ol_base_cuda_leanp "$BASE" cuda 4 4 6 --gpu-memory lean
  olbench ol_base_cuda_leanrc "$BASE" cuda 4 4 6 --gpu-memory lean --recompute attention
  pack
  olbench ol_base_cuda_bf16mem "$BASE" cuda 4 4 6 --precision bf16 --gpu-memory fast
  olbench ol_base_cuda_bf16lean "$BASE" cuda 4 4 6 --precision bf16 --gpu-memory lean
  olbench ol_base_cuda_bf16leanrc "$BASE" cuda 4 4 6 --precision bf16 --gpu-memory lean --recompute attention
  ptbench peft_base_cuda_bf16mem base cuda 0 4 6 --autocast bf16
  pack
  # train on the real pairs (as phase realdata, fewer steps): default, lean, lean + recompute
  RD_DEVICE=cuda
  local v
  for v in default lean leanrc; do
    local flags=(--gpu-memory fast)
    [ $v = lean ] && flags=(--gpu-memory lean)
    [ $v = leanrc ] && flags=(--gpu-memory lean --recompute attention)
    rdrun "mem_${v}_base" $OL train --model "$BASE" --tokenizer "$X/tiny-bart/tokenizer.json" --train "$X/train.jsonl" \
      --out "$W/rdmem-$v" --force --steps "${MEM_TRAIN_STEPS:-200}" --batch-size $BATCH --max-source-length 256 \
      --max-target-length 48 --lr 1e-4 --schedule constant --device cuda --threads 4 --seed 42 ${flags[@]+"${flags[@]}"}
    cp "$W/rdmem-$v/metrics.jsonl" "$R/rd-mem_${v}_base.metrics.jsonl" 2>/dev/null
  done
  unset PIN
  $PY "$X/gpu/report.py" memory "$R" --warmup "${MEM_TRAIN_WARMUP:-20}" | tee "$R/memory.md" >&2
}

# datascale (issue 11): step time against data-set size. `train` for the man-page pairs (2,834 rows) and corpora
# of DS_SIZES rows made from them (scale_corpus.py), DS_ROUNDS (3) rounds with the sizes alternating (reversed
# every other round), one data cache per model shared by its runs (round 1 tokenizes, later rounds read the
# cache). DS_MODEL picks the model, or several in turn: tiny (the default) or base, the bart-base shape from
# 'synth' (run it first) with the tiny tokenizer, as phase realdata trains it. Tiny's step is host-bound
# (~5.7 ms, and each process settles in a ~5 or a 7-9 ms mode), so its spread over sizes is mostly that noise;
# base's is GPU-bound (~35-45 ms), so host noise is small against it, while a per-step data cost that grew with
# the corpus would still add to it (OrtSession.run is synchronous: host work between steps is wall time).
# DS_STEPS steps a run (tiny 2020, base 320), the first DS_WARMUP (20) left out, so 2,000 (300) timed steps a
# run. Before the first timed run a throwaway run (DS_WARMUP_STEPS: tiny 1500, base 200 steps, no cache) brings
# the GPU to its steady clocks; nvidia-smi samples the SM clock every 250 ms throughout, and each run's window
# (.window: start and end, epoch ms) lets report.py give the clock during it. Start-up (process wall minus the
# training loop), the median step and the median step per padded token per size, the spread of both over the
# sizes, and a shape-matched ratio (each size's median step per padded shape against the smallest corpus's: 300
# timed steps sample the batch mix of a corpus so loosely that the plain median moves ~10 % between samples),
# in datascale.md (tiny) / datascale-base.md, runs in results/datascale/ / results/datascale-base/.
# ~3 min tiny, ~4 min base on the H200.
phase_datascale() {
  local m
  for m in ${DS_MODEL:-tiny}; do
    case $m in
      tiny) datascale_model tiny "$TINY" "" 2020 1500 ;;
      base) datascale_model base "$BASE" -base 320 200 ;;
      *) log "FAILED datascale: DS_MODEL '$m' is neither tiny nor base" ;;
    esac
    pack
  done
}

# datascale_model SIZE MODEL SUFFIX STEPS WARMUP_STEPS: phase_datascale for one model (STEPS, WARMUP_STEPS: the
# defaults of DS_STEPS and DS_WARMUP_STEPS); results in datascale$SUFFIX(.md)
datascale_model() {
  local size=$1 model=$2 sfx=$3
  local dev=${DS_DEVICE:-cuda} steps=${DS_STEPS:-$4} wsteps=${DS_WARMUP_STEPS:-$5} rounds=${DS_ROUNDS:-3}
  local thr=${DS_THREADS:-4} d=$W/datascale$sfx rd=$R/datascale$sfx corpora=$W/datascale-corpora
  [ -f "$model" ] || { log "FAILED datascale $size: no model $model (run 'synth' first for base)"; return; }
  rm -rf "$d" "$rd"; mkdir -p "$d/runs" "$rd" "$corpora"
  local files=("$X/train.jsonl") order f r name out t0 clk=""
  for n in ${DS_SIZES:-50000 1000000}; do
    # the corpora are the same for every model: made once a machine
    if [ ! -s "$corpora/manpages-$n.jsonl" ]; then
      log "datascale: corpus of $n rows"
      $PY "$X/gpu/scale_corpus.py" "$X/train.jsonl" "$n" "$corpora/manpages-$n.jsonl"
    fi
    files+=("$corpora/manpages-$n.jsonl")
  done
  if [ "$dev" != cpu ] && command -v nvidia-smi > /dev/null; then
    local gi=0; [[ $dev == cuda:* ]] && gi=${dev#cuda:}
    nvidia-smi -i "$gi" --query-gpu=timestamp,clocks.sm,clocks.mem,temperature.gpu,power.draw \
      --format=csv,noheader,nounits -lms 250 > "$rd/clocks.csv" 2> /dev/null &
    clk=$!
  fi
  local train=(--model "$model" --tokenizer "$X/tiny-bart/tokenizer.json" --force --batch-size $BATCH
    --max-source-length 256 --max-target-length 48 --lr 1e-4 --schedule constant --device "$dev" --threads "$thr"
    --seed 42 -q ${DS_TRAIN_ARGS:-})
  log "datascale $size: throwaway warm-up run, $wsteps steps"
  pinned "$GPU_CORES" timeout "${TMO:-900}" $OL train "${train[@]}" --train "$X/train.jsonl" --out "$d/warmup" \
    --steps "$wsteps" --no-data-cache > "$d/warmup.json" 2> "$d/warmup.log" \
    || log "FAILED datascale $size warm-up run"
  for r in $(seq 1 "$rounds"); do
    order=("${files[@]}"); [ $((r % 2)) = 0 ] && order=($(printf '%s\n' "${files[@]}" | tac))
    for f in "${order[@]}"; do
      name=$(basename "$f" .jsonl); out=$d/runs/$name-r$r
      log "datascale $size: round $r, $name"
      t0=$(date +%s%N)
      pinned "$GPU_CORES" timeout "${TMO:-900}" $OL train "${train[@]}" --train "$f" --out "$out" --steps "$steps" \
        --data-cache "$d/cache" > "$out.json" 2> "$out.log" || log "FAILED datascale $size $name round $r"
      local t1=$(date +%s%N)
      echo "$(( (t1 - t0) / 1000000 ))" > "$out.wall_ms"
      echo "$(( t0 / 1000000 )) $(( t1 / 1000000 ))" > "$out.window"
      cp "$out/metrics.jsonl" "$rd/$name-r$r.metrics.jsonl" 2>/dev/null
      cp "$out.json" "$out.wall_ms" "$out.window" "$rd/" 2>/dev/null
    done
    pack  # a call cut short at its limit still returns the rounds finished so far
  done
  [ -n "$clk" ] && { kill "$clk" 2> /dev/null; wait "$clk" 2> /dev/null; }
  local ck=(); [ -s "$rd/clocks.csv" ] && ck=(--clocks "$rd/clocks.csv")
  { echo "datascale, $size model on $dev: $steps steps a run, the first ${DS_WARMUP:-20} left out, $rounds rounds"
    echo
    $PY "$X/gpu/report.py" datascale "$d/runs" --rounds "$rounds" --warmup "${DS_WARMUP:-20}" ${ck[@]+"${ck[@]}"} \
      "${files[@]}"; } | tee "$R/datascale$sfx.md" >&2
}

# realdata (issue 11): `onnx-lora train` and a PEFT loop as users write it (bench_peft_realdata.py) on the
# man-page pairs, same batch size, maximum lengths and steps, for tiny and the bart-base shape; then, for
# the padded shapes train met most often, bench-train at exactly that shape, so that a real-data step can
# be set against a fixed-shape step of the same padded size (two medians). RD_DEVICE (cuda), RD_STEPS
# (1500 tiny / 600 base), RD_WARMUP (50), RD_SHAPES (3), RD_SIZES ("tiny base"), RD_SOURCE/RD_TARGET
# (256/48) change it; RD_TRAIN_ARGS and RD_BENCH_ARGS add flags to train and to the fixed-shape bench-train rows
# (session 10: --cuda-graph on both); a local CPU rehearsal: tools/gpu/realdata-local.sh.
rdrun() {  # rdrun NAME CMD...: CMD under gpumem.py on CUDA, timed; stdout to rd-NAME.json
  local name=$1; shift
  local cmd=("$@")
  if [ "$RD_DEVICE" != cpu ]; then cmd=($PY "$X/gpu/gpumem.py" --out "$R/gpumem-rd-$name.json" -- "${cmd[@]}"); fi
  log "realdata $name"
  local t0=$(date +%s%N)
  pinned "${PIN:-}" timeout "${TMO:-900}" "${cmd[@]}" > "$R/rd-$name.json" 2> "$R/rd-$name.log" \
    || { log "FAILED realdata $name (rc $?)"; tail -5 "$R/rd-$name.log" >&2; mv "$R/rd-$name.json" "$R/failed-rd-$name.json"; }
  echo "{\"wall_ms\": $(( ($(date +%s%N) - t0) / 1000000 ))}" > "$R/rd-$name.wall.json"
}

# peft_realdata DIR SIZE STEPS SOURCE TARGET: the PEFT loop on the man-page pairs on CUDA (rdrun peft_SIZE), in DIR
peft_realdata() {
  mkdir -p "$1"
  R=$1 rdrun "peft_$2" $PY "$X/bench_peft_realdata.py" \
    --size "$2" --tiny-config "$X/tiny-bart/hf/config.json" --train "$X/train.jsonl" \
    --tokenizer "$X/tiny-bart/tokenizer.json" --device cuda --batch $BATCH \
    --max-source-length "$4" --max-target-length "$5" --steps "$3" --warmup 50 --lr 1e-4 --seed 42
}

phase_realdata() {
  RD_DEVICE=${RD_DEVICE:-cuda}
  local rs=${RD_SOURCE:-256} rt=${RD_TARGET:-48} wu=${RD_WARMUP:-50} thr=${RD_THREADS:-4}
  [ "$RD_DEVICE" = cpu ] || export PIN=$GPU_CORES
  for size in ${RD_SIZES:-tiny base}; do
    local model=$TINY steps=${RD_STEPS:-1500}
    if [ "$size" = base ]; then model=$BASE; steps=${RD_STEPS:-600}; fi
    local tp=(); [ "$RD_DEVICE" = cpu ] && tp=(--threads "$thr")
    rdrun "ol_$size" $OL train --model "$model" --tokenizer "$X/tiny-bart/tokenizer.json" --train "$X/train.jsonl" \
      --out "$W/rd-ol-$size" --force --steps "$steps" --batch-size $BATCH --max-source-length "$rs" \
      --max-target-length "$rt" --lr 1e-4 --schedule constant --device "$RD_DEVICE" --threads "$thr" --seed 42 \
      ${RD_TRAIN_ARGS:-}
    cp "$W/rd-ol-$size/metrics.jsonl" "$R/rd-ol_$size.metrics.jsonl" 2>/dev/null
    rdrun "peft_$size" $PY "$X/bench_peft_realdata.py" \
      --size "$size" --tiny-config "$X/tiny-bart/hf/config.json" --train "$X/train.jsonl" \
      --tokenizer "$X/tiny-bart/tokenizer.json" --device "$RD_DEVICE" ${tp[@]+"${tp[@]}"} --batch $BATCH \
      --max-source-length "$rs" --max-target-length "$rt" --steps "$steps" --warmup "$wu" --lr 1e-4 --seed 42
    # the padded shapes of full batches that train met most often, largest first among equals
    for shape in $($PY "$X/gpu/report.py" shapes "$R/rd-ol_$size.metrics.jsonl" --warmup "$wu" --top "${RD_SHAPES:-3}" \
        --batch $BATCH); do
      local sb=${shape%%x*} rest=${shape#*x}; local ss=${rest%%+*} st=${rest#*+}
      local cmd=($OL bench-train --model "$model" --device "$RD_DEVICE" --threads "$thr" --batch "$sb" \
        --source-length "$ss" --target-length "$st" --warmup "${RD_FIXED_WARMUP:-5}" --steps "${RD_FIXED_STEPS:-20}" \
        ${RD_BENCH_ARGS:-})
      local f="$R/rdfixed-${size}_${sb}x${ss}x$st"
      log "fixed shape $size $shape"
      pinned "${PIN:-}" timeout "${TMO:-900}" "${cmd[@]}" > "$f.json" 2> "$f.log" \
        || { log "FAILED fixed shape $size $shape"; rm -f "$f.json"; }
    done
    pack
  done
  unset PIN
  $PY "$X/gpu/report.py" realdata "$R" --warmup "$wu" | tee "$R/realdata.md" >&2
}

# Issue 13 parity, the product path: one bf16 and one fp16 step of the tiny fixture (patched like the goldens: r=4,
# alpha=8, q/k/v/out_proj; the goldens' adapters and batch) through Java's TrainingSession on CUDA
# (StepGradientDump, compiled into the bundle), against the same step in PyTorch CUDA autocast + PEFT with the base
# in that dtype (half_parity.py --dump): loss within 1e-2 relative, every adapter gradient within 5e-2 of its
# largest value; half-parity-{bf16,fp16}.json, half-parity.md. Needs nothing before it (about a minute).
# HP_DEVICE=cpu rehearses it on a CPU machine (fp16 only: bf16 is refused there).
phase_halfparity() {
  local H=$W/half dev=${HP_DEVICE:-cuda}; mkdir -p "$H"
  $OL patch --model "$TINY" --out "$H/tiny-p4.onnx" --rank 4 --alpha 8 --target q_proj,k_proj,v_proj,out_proj --force \
    > /dev/null 2>&1 || log "FAILED halfparity patch"
  for p in bf16 fp16; do
    log "halfparity: $p step in Java on $dev vs PyTorch $dev autocast + PEFT"
    $OL compile --model "$H/tiny-p4.onnx" --out "$H/art4-$p" --precision $p --force > /dev/null 2>&1 \
      || log "FAILED halfparity compile $p"
    pinned $GPU_CORES timeout 180 $B/run.sh StepGradientDump "$H/art4-$p" "$X/tiny-bart/goldens/train_step.safetensors" \
      "$R/half-step-$p.safetensors" $dev 4 > "$R/half-step-$p.json" 2> "$R/half-step-$p.log" \
      || { log "FAILED halfparity Java step $p"; tail -5 "$R/half-step-$p.log" >&2; continue; }
    pinned $GPU_CORES timeout 300 $PY "$X/gpu/half_parity.py" --dump "$R/half-step-$p.safetensors" \
      --hf "$X/tiny-bart/hf" --goldens "$X/tiny-bart/goldens" --device $dev --json-out "$R/half-parity-$p.json" \
      > /dev/null 2> "$R/half-parity-$p.log" || log "FAILED half parity $p (see half-parity-$p.json)"
  done
  $PY "$X/gpu/half_report.py" --parity-table "$R" > "$R/half-parity.md" 2>&1
  cat "$R/half-parity.md" >&2
}

# Issue 13: half precision. Placement of every bf16/fp16 training-graph node on CUDA, one bf16 and one fp16 step
# against PyTorch autocast + PEFT (phase_halfparity), bench-train bf16 vs bench_peft.py --autocast bf16 (and
# fp32 in the same run), tiny and base shapes, and 300-step quality runs on the man-page task (fp32, bf16, fp16).
phase_half() {
  export PIN=$GPU_CORES
  local H=$W/half; mkdir -p "$H"
  $OL patch --model "$TINY" --out "$H/tiny-p.onnx" --rank 8 --alpha 16 --target q_proj,v_proj --force > /dev/null 2>&1
  for p in bf16 fp16; do
    log "half: placement $p (verbose ORT log, the fused step session)"
    $OL compile --model "$H/tiny-p.onnx" --out "$H/art-$p" --precision $p --force > /dev/null 2>&1 || log "FAILED compile $p"
    pinned $GPU_CORES timeout 120 $OL bench-train --model "$TINY" --device cuda --threads 4 --batch $BATCH \
      --source-length $S --target-length $T --warmup 0 --steps 1 --precision $p --ort-verbose \
      > "$R/half-placement-$p-run.json" 2> "$H/verbose-$p.log" || log "FAILED placement $p"
    $PY "$X/gpu/report.py" placement "$H/verbose-$p.log" --model "$H/art-$p/step_model.onnx" --names step \
      > "$R/half-placement-$p.json" 2>&1
    gzip -c "$H/verbose-$p.log" > "$R/half-verbose-$p.log.gz"
  done
  pack
  phase_halfparity
  olbench ol_tiny_cuda_fp32h "$TINY" cuda 4 5 20
  olbench ol_tiny_cuda_bf16 "$TINY" cuda 4 5 20 --precision bf16
  olbench ol_tiny_cuda_fp16 "$TINY" cuda 4 5 20 --precision fp16
  ptbench peft_tiny_cuda_bf16 tiny cuda 0 5 20 --autocast bf16
  olbench ol_base_cuda_fp32h "$BASE" cuda 4 5 10
  olbench ol_base_cuda_bf16 "$BASE" cuda 4 5 10 --precision bf16
  olbench ol_base_cuda_fp16 "$BASE" cuda 4 5 10 --precision fp16
  ptbench peft_base_cuda_bf16 base cuda 0 5 10 --autocast bf16
  ptbench peft_base_cuda_fp16 base cuda 0 5 10 --autocast fp16
  pack
  for p in fp32 bf16 fp16; do
    log "half: quality, 300 steps $p on the man-page task (tiny model)"
    pinned $GPU_CORES timeout 400 $OL train --model "$TINY" --tokenizer "$X/tiny-bart/tokenizer.json" \
      --train "$X/train.jsonl" --valid "$X/valid.jsonl" --out "$H/q-$p" --force --steps 300 --batch-size 32 --lr 1e-3 \
      --max-source-length $S --max-target-length $T --threads 4 --device cuda --seed 42 --eval-every 100 \
      --precision $p > "$R/half-quality-$p.json" 2> "$R/half-quality-$p.log" || log "FAILED quality $p"
    cp "$H/q-$p/metrics.jsonl" "$R/half-quality-$p.metrics.jsonl" 2>/dev/null
  done
  $PY "$X/gpu/half_report.py" "$R" > "$R/half.json" 2>&1
  cat "$R/half.json" >&2
  unset PIN
}

summary() {
  { echo "## results ($(date -u +%FT%TZ), ${SECONDS}s)"; echo
    $PY "$X/gpu/report.py" table "$R" 2>&1; echo
    [ -f "$R/realdata.md" ] && { cat "$R/realdata.md"; echo; }
    [ -f "$R/datascale.md" ] && { cat "$R/datascale.md"; echo; }
    [ -f "$R/datascale-base.md" ] && { cat "$R/datascale-base.md"; echo; }
    [ -f "$R/layout.md" ] && { echo "CPU head split/merge, Transpose vs Gather (issue 11):"; cat "$R/layout.md"; echo; }
    [ -f "$R/multi.md" ] && { cat "$R/multi.md"; echo; }
    [ -f "$R/cpu.md" ] && { echo "CPU rows (issue 11 target >= 1.0x with 16 and 2 threads):"; cat "$R/cpu.md"; echo; }
    [ -f "$R/parity.json" ] && echo "parity: $($PY -c "import json;d=json.load(open('$R/parity.json'));print({k:v for k,v in d.items() if k!='per_step'})" 2>&1)"
    [ -f "$R/placement.json" ] && $PY -c "
import json
d = json.load(open('$R/placement.json'))
for s in d['sessions']:
    print('placement', s['session'], s['providers'], 'not on CUDA:', s['not_on_cuda_by_op'], 'memcpy:', s['memcpy_nodes'],
          'not shape arithmetic:', sorted({x['op'] for x in s['not_shape_arithmetic']}))
" 2>&1
    for f in "$R"/profile-*.json; do
      [ -f "$f" ] && $PY -c "import json,sys;d=json.load(open(sys.argv[1]));print(sys.argv[1].split('/')[-1], d['model_run_ms_median'], 'ms/run;', ', '.join(f\"{t['op']} {t['ms_per_run']}\" for t in d['top'][:10]))" "$f"
    done
    [ -f "$R/half-parity.md" ] && { echo "half-precision parity (issue 13):"; cat "$R/half-parity.md"; echo; }
    [ -f "$R/half.json" ] && { echo "half precision (issue 13):"; cat "$R/half.json"; }
    grep FAILED "$R/progress.log"
  } > "$R/summary.md" 2>&1
  cp "$R/summary.md" "$O/summary.md"
  pack
  cat "$R/summary.md"
}

# multi (issues 14/15): train --devices on the GPUs present, against PyTorch + PEFT with DDP (torchrun, NCCL).
# For N in MULTI_NS ("1 2 4", those not above the device count): bart-base shape, per-device batch 32 of fixed
# 128+32 tokens (`train` on fixed_corpus.py's rows, each truncated to exactly those lengths; bench-train has no
# --devices), MULTI_STEPS (110) steps, the first MULTI_WARMUP (10) left out: tokens/s, step time, the share of
# the step in the gradient sum (metrics.jsonl's allreduce_seconds), peak memory per GPU (gpumem.py, every GPU);
# tools/bench_peft_ddp.py under torchrun on the same N GPUs (same steps); then, for N >= 2, equivalence:
# MULTI_EQ_STEPS (50) steps on a data set of exactly one global batch (32N rows, so that every step holds the
# same rows both ways), one GPU accumulating N micro-batches of 32 (--grad-accum N) against N GPUs with one batch
# of 32N: final adapters within 1e-5 relative (TF32 off). `report.py multi` writes multi.md (weak-scaling
# efficiency, ratio to PEFT DDP per N), which summary.md includes.
# Devices: cuda:0..count-1 from `nvidia-smi -L`; MULTI_DEVICES (comma-separated) overrides them, e.g.
# cuda:0,cuda:0 on one GPU (PEFT DDP is then skipped: NCCL takes one rank per GPU), or cpu,cpu,cpu,cpu with
# MULTI_MODEL=tiny for a CPU rehearsal with gloo (tools/gpu/multi-local.sh). MULTI_DRY=1 writes the commands to
# results/multi/commands.sh and runs nothing. Needs 'synth' before it for MULTI_MODEL=base (the default).
mrun() {  # mrun NAME TIMEOUT CMD...: CMD (under gpumem.py on CUDA); stdout NAME.out, stderr NAME.log in results/multi
  local name=$1 tmo=$2; shift 2
  local cmd=("$@")
  [ "$MKIND" = cuda ] && cmd=($PY "$X/gpu/gpumem.py" --out "$RM/gpumem-$name.json" -- "${cmd[@]}")
  if [ -n "${MULTI_DRY:-}" ]; then
    { printf '%q ' timeout "$tmo" "${cmd[@]}"; echo; } >> "$RM/commands.sh"
    return 0
  fi
  log "multi $name"
  local t0=$(date +%s%N)
  pinned "${PIN:-}" timeout "$tmo" "${cmd[@]}" > "$RM/$name.out" 2> "$RM/$name.log" \
    || { log "FAILED multi $name (rc $?)"; tail -5 "$RM/$name.log" >&2; }
  echo "$(( ($(date +%s%N) - t0) / 1000000 ))" > "$RM/$name.wall_ms"
  pack  # a call cut short at its limit still returns every run finished so far
}

phase_multi() {
  local M=$W/multi model n
  RM=$R/multi
  rm -rf "$M" "$RM"; mkdir -p "$M" "$RM"
  local devs=${MULTI_DEVICES:-}
  if [ -z "$devs" ]; then
    local count; count=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
    [ "$count" -ge 1 ] || { log "FAILED multi: no GPU in nvidia-smi -L and no MULTI_DEVICES"; return; }
    devs=$(seq -s, -f 'cuda:%g' 0 $((count - 1)))
  fi
  local all; IFS=, read -ra all <<< "$devs"
  MKIND=cuda; [ "${all[0]}" = cpu ] && MKIND=cpu
  case ${MULTI_MODEL:-base} in tiny) model=$TINY;; base) model=$BASE;; *) model=$MULTI_MODEL;; esac
  local size=base; [ "$model" = "$TINY" ] && size=tiny
  local b=${MULTI_BATCH:-$BATCH} steps=${MULTI_STEPS:-110} wu=${MULTI_WARMUP:-10} eqs=${MULTI_EQ_STEPS:-50}
  local thr=${MULTI_THREADS:-4}
  local ns=()
  for n in ${MULTI_NS:-1 2 4}; do [ "$n" -le ${#all[@]} ] && ns+=("$n"); done
  [ ${#ns[@]} -gt 0 ] || { log "FAILED multi: no N of '${MULTI_NS:-1 2 4}' fits ${#all[@]} device(s)"; return; }
  [ "$MKIND" = cuda ] && export PIN=$GPU_CORES
  log "multi: devices $devs; N in ${ns[*]}; $size; per-device batch $b of $S+$T tokens; $steps steps"
  printf '{"devices": "%s", "ns": "%s", "model": "%s", "batch_per_device": %s, "steps": %s, "warmup": %s, "eq_steps": %s, "source_length": %s, "target_length": %s}\n' \
    "$devs" "${ns[*]}" "$size" "$b" "$steps" "$wu" "$eqs" "$S" "$T" > "$RM/config.json"
  # every row longer than S+T tokens, so that train truncates each to exactly S+T: batches of b x S+T
  $PY "$X/gpu/fixed_corpus.py" "$X/train.jsonl" $((b * ${ns[-1]} * 8)) "$M/fixed.jsonl"
  local common=(--model "$model" --tokenizer "$X/tiny-bart/tokenizer.json" --force --lr 1e-4 --schedule constant
    --max-source-length $S --max-target-length $T --threads "$thr" --seed 42 --data-cache "$M/cache" -q)
  local pyd=(--size "$size" --tiny-config "$X/tiny-bart/hf/config.json" --device "$MKIND" --batch "$b"
    --source-length $S --target-length $T --warmup "$wu" --steps $((steps - wu)))
  [ "$MKIND" = cpu ] && pyd+=(--threads "$thr")
  for n in "${ns[@]}"; do
    local list; list=$(IFS=,; echo "${all[*]:0:$n}")
    mrun "ol-$n" 300 $OL train "${common[@]}" --train "$M/fixed.jsonl" --out "$M/ol-$n" --steps "$steps" \
      --batch-size $((b * n)) --devices "$list"
    [ -z "${MULTI_DRY:-}" ] && cp "$M/ol-$n/metrics.jsonl" "$RM/ol-$n.metrics.jsonl" 2>/dev/null
    # torchrun: one process a GPU; NCCL refuses two ranks on one GPU, so a list that repeats a GPU has no PEFT row
    local idx; idx=$(IFS=,; echo "${all[*]:0:$n}" | sed 's/cuda://g')
    if [ "$MKIND" = cuda ] && [ "$(tr , '\n' <<< "$idx" | sort -u | wc -l)" -ne "$n" ]; then
      log "multi: no PEFT DDP row for $list (a GPU repeats)"
    elif [ -z "${MULTI_NO_PEFT:-}" ]; then
      local vis=(); [ "$MKIND" = cuda ] && vis=(env "CUDA_VISIBLE_DEVICES=$idx" "NCCL_DEBUG=${NCCL_DEBUG:-WARN}")
      mrun "peftddp-$n" 300 ${vis[@]+"${vis[@]}"} $PY -m torch.distributed.run --standalone --nproc_per_node "$n" \
        "$X/bench_peft_ddp.py" "${pyd[@]}" --json-out "$RM/peftddp-$n.json"
    fi
  done
  for n in "${ns[@]}"; do
    [ "$n" -ge 2 ] || continue
    local list; list=$(IFS=,; echo "${all[*]:0:$n}")
    head -n $((b * n)) "$M/fixed.jsonl" > "$M/eq-$n.jsonl"
    mrun "eq-$n-accum" 300 $OL train "${common[@]}" --train "$M/eq-$n.jsonl" --out "$M/eq-$n-accum" --steps "$eqs" \
      --batch-size "$b" --grad-accum "$n" --devices "${all[0]}"
    mrun "eq-$n-devices" 300 $OL train "${common[@]}" --train "$M/eq-$n.jsonl" --out "$M/eq-$n-devices" --steps "$eqs" \
      --batch-size $((b * n)) --devices "$list"
    [ -n "${MULTI_DRY:-}" ] && continue
    for v in accum devices; do cp "$M/eq-$n-$v/metrics.jsonl" "$RM/eq-$n-$v.metrics.jsonl" 2>/dev/null; done
    (cd "$X/gpu" && $PY -c "import json, sys, report; print(json.dumps(report.adapter_diff(sys.argv[1], sys.argv[2])))" \
      "$M/eq-$n-accum" "$M/eq-$n-devices") > "$RM/eq-$n.json" 2>&1
  done
  unset PIN
  if [ -n "${MULTI_DRY:-}" ]; then cat "$RM/commands.sh" >&2; return; fi
  $PY "$X/gpu/report.py" multi "$RM" --warmup "$wu" | tee "$R/multi.md" >&2
}

# floor (issues 11 and 13): what a CUDA process costs before any model, stage by stage, for ONNX Runtime with the
# product's settings (tools/bench/MemoryFloor.java: the context and provider, cuBLAS fp32/bf16, reductions, softmax,
# LayerNormalization, one more session) and for PyTorch (torch_floor.py), the same operations on the same tensors;
# floor.md sets them side by side (report.py floor). ~30 s.
phase_floor() {
  local m
  for m in lean fast; do
    log "floor: ONNX Runtime, --gpu-memory $m"
    pinned $GPU_CORES timeout 120 $B/run.sh MemoryFloor cuda "$m" > "$R/floor-ort-$m.json" 2> "$R/floor-ort-$m.log" \
      || { log "FAILED floor ort $m"; tail -5 "$R/floor-ort-$m.log" >&2; }
  done
  log "floor: PyTorch"
  pinned $GPU_CORES timeout 120 $PY "$X/gpu/torch_floor.py" > "$R/floor-torch.json" 2> "$R/floor-torch.log" \
    || { log "FAILED floor torch"; tail -5 "$R/floor-torch.log" >&2; }
  $PY "$X/gpu/report.py" floor "$R" | tee "$R/floor.md" >&2
}

# kprof (issue 11): where each tool's step goes, by kind of work. PyTorch + PEFT under torch.profiler
# (bench_peft.py --profile-kernels: GPU kernel time on CUDA, operator self time on the CPU) and onnx-lora under
# ORT's profiler (CPU; on CUDA ORT's per-node times are host times, so onnx-lora's GPU side is read from NVML's
# utilization over its timed steps instead, gpumem.py), for the rows that miss their targets: base fp32 on CUDA,
# tiny on the CPU with 16 and 2 threads; plus the tiny 16-thread row with denormals flushed to zero. kprof.md
# (report.py kprof): step, matrix products, attention, the rest, GPU utilization. ~3 min.
phase_kprof() {
  export PIN=$GPU_CORES
  ptbench kp_peft_base_cuda base cuda 0 5 30 --profile-kernels 3
  olbench kp_ol_base_cuda "$BASE" cuda 4 5 60
  # ORT's TunableOp times its GEMM implementations (cuBLAS, cuBLASLt) per shape and keeps the fastest
  olbench kp_ol_base_cuda_tunable "$BASE" cuda 4 8 60 --cuda-option tunable_op_enable=1 \
    --cuda-option tunable_op_tuning_enable=1
  ptbench kp_peft_base_cuda_bf16 base cuda 0 5 30 --profile-kernels 3 --autocast bf16
  olbench kp_ol_base_cuda_bf16 "$BASE" cuda 4 5 120 --precision bf16
  ptbench kp_peft_tiny_cuda tiny cuda 0 5 60 --profile-kernels 3
  olbench kp_ol_tiny_cuda "$TINY" cuda 4 5 300
  pack
  unset PIN
  ptbench kp_peft_tiny_cpu16 tiny cpu 16 2 10 --profile-kernels 3
  olbench kp_ol_tiny_cpu16 "$TINY" cpu 16 2 6 --profile "$W/prof-kp-tiny-cpu16"
  olbench kp_ol_tiny_cpu16_daz "$TINY" cpu 16 2 10 --cuda-option session.set_denormal_as_zero=1
  PIN=4,5 ptbench kp_peft_tiny_cpu2 tiny cpu 2 2 10 --profile-kernels 3
  PIN=4,5 olbench kp_ol_tiny_cpu2 "$TINY" cpu 2 2 6 --profile "$W/prof-kp-tiny-cpu2"
  local f t
  for t in cpu16 cpu2; do
    for f in "$W"/prof-kp-tiny-${t}_step_*.json; do
      [ -f "$f" ] && $PY "$X/gpu/report.py" profile "$f" --top 40 > "$R/profile-kp-tiny-$t-training.json"
    done
  done
  $PY "$X/gpu/report.py" kprof "$R" | tee "$R/kprof.md" >&2
}

# cores (issue 11): the host-bound tiny CUDA step came in two modes per process (~5 vs 7-9 ms) whatever the thread
# count (phase threads); the VM shows one socket, so look for the mode in where the process runs: bench-train tiny on
# CUDA pinned to each group of four cores, CORE_ROUNDS (2) rounds; cores.md (report.py rows). ~1 min.
phase_cores() {
  local r c
  for r in $(seq 1 "${CORE_ROUNDS:-2}"); do
    for c in 0-3 4-7 8-11 12-15; do
      PIN=$c olbench "cores_${c/-/to}_r$r" "$TINY" cuda 1 20 200
    done
  done
  $PY "$X/gpu/report.py" rows "$R" --prefix cores_ | tee "$R/cores.md" >&2
}

# memfixed (issues 11 and 13): the fixed-shape memory rows with the defaults of now, each against PEFT in the same
# run: base fp32 and bf16 (the default lean, and lean + --recompute attention), tiny fp32 and bf16, and the fused
# step against --separate-step (the two sessions of before); peak GPU
# memory per process (gpumem.py) and tokens/s (report.py rows; MF_TAG names the rows). ~2.5 min.
phase_memfixed() {
  export PIN=$GPU_CORES
  local tag=${MF_TAG:-mf}
  ptbench ${tag}_peft_base_cuda base cuda 0 4 10
  ptbench ${tag}_peft_base_cuda_bf16 base cuda 0 4 10 --autocast bf16
  olbench ${tag}_ol_base_cuda "$BASE" cuda 4 4 10
  olbench ${tag}_ol_base_cuda_rc "$BASE" cuda 4 4 10 --recompute attention
  olbench ${tag}_ol_base_cuda_bf16 "$BASE" cuda 4 4 20 --precision bf16
  olbench ${tag}_ol_base_cuda_bf16rc "$BASE" cuda 4 4 20 --precision bf16 --recompute attention
  # the fused step (the default: forward, backward and AdamW in one session) against the two sessions
  olbench ${tag}_ol_base_cuda_sep "$BASE" cuda 4 4 10 --separate-step
  olbench ${tag}_ol_base_cuda_bf16rcsep "$BASE" cuda 4 4 20 --precision bf16 --recompute attention --separate-step
  # lean allocates every initializer with its own cudaMalloc; the same row with them in the arena instead
  olbench ${tag}_ol_base_cuda_bf16rcai "$BASE" cuda 4 4 20 --precision bf16 --recompute attention \
    --cuda-option session.use_device_allocator_for_initializers=0
  pack
  ptbench ${tag}_peft_tiny_cuda tiny cuda 0 5 20
  ptbench ${tag}_peft_tiny_cuda_bf16 tiny cuda 0 5 20 --autocast bf16
  olbench ${tag}_ol_tiny_cuda "$TINY" cuda 4 5 100
  olbench ${tag}_ol_tiny_cuda_bf16 "$TINY" cuda 4 5 100 --precision bf16
  olbench ${tag}_ol_tiny_cuda_sep "$TINY" cuda 4 5 100 --separate-step
  unset PIN
  $PY "$X/gpu/report.py" rows "$R" --prefix "${tag}_" | tee "$R/$tag.md" >&2
}

# threads (issue 11): a tiny CUDA step is host-bound (NVML: the GPU is busy ~40 % of it), and train's step time
# on the man-page pairs came in two modes per process (5.4-5.8 vs 7.5-9.8 ms, whatever the batch's shape).
# ORT's intra-op pool of a CUDA session only runs shape arithmetic, so its spinning workers can only steal the
# launching thread's core. bench-train tiny and train on the real pairs with --threads 1 / 4 / 0 (one per core,
# the default), rounds alternating the order; threads.md (report.py threads). ~3 min.
phase_threads() {
  local r t order
  for r in $(seq 1 "${TH_ROUNDS:-3}"); do
    order="1 4 0"; [ $((r % 2)) = 0 ] && order="0 4 1"
    for t in $order; do
      PIN=$GPU_CORES olbench "th_tiny_cuda_t${t}_r$r" "$TINY" cuda "$t" 20 300
      log "threads: train, --threads $t, round $r"
      pinned "$GPU_CORES" timeout 300 $OL train --model "$TINY" --tokenizer "$X/tiny-bart/tokenizer.json" \
        --train "$X/train.jsonl" --out "$W/th-train-t$t-r$r" --force --steps "${TH_STEPS:-800}" --batch-size $BATCH \
        --max-source-length 256 --max-target-length 48 --lr 1e-4 --schedule constant --device cuda --threads "$t" \
        --seed 42 -q > "$R/th-train-t$t-r$r.json" 2> "$R/th-train-t$t-r$r.log" || log "FAILED threads train t$t r$r"
      cp "$W/th-train-t$t-r$r/metrics.jsonl" "$R/th-train-t$t-r$r.metrics.jsonl" 2>/dev/null
    done
  done
  $PY "$X/gpu/report.py" threads "$R" --warmup 20 | tee "$R/threads.md" >&2
}

# staticdims (issue 11, session 6): bench-train with the batch and sequence dims fixed at the benchmark's shape
# (--static-shapes: ORT folds the shape arithmetic, 820 -> 670 nodes in the tiny step graph, and the 81 nodes a
# CUDA session ran on the CPU go) against the symbolic graph, SD_ROUNDS (3) rounds alternating, tiny and base,
# fp32 on CUDA (SD_DEVICE=cpu rehearses it; SD_*_STEPS/SD_*_WARMUP shorten it); the placement of the tiny step
# graph with the dims fixed (--ort-verbose). Does the host-bound tiny step get faster, and does each process
# still settle in one of two modes? ~2 min.
phase_staticdims() {
  local r v order dev=${SD_DEVICE:-cuda} tw=${SD_TINY_WARMUP:-20} ts=${SD_TINY_STEPS:-300} bw=${SD_BASE_WARMUP:-5}
  local bs=${SD_BASE_STEPS:-20}
  for r in $(seq 1 "${SD_ROUNDS:-3}"); do
    order="sym static"; [ $((r % 2)) = 0 ] && order="static sym"
    for v in $order; do
      if [ "$v" = sym ]; then
        PIN=$GPU_CORES olbench "sd_tiny_${dev}_sym_r$r" "$TINY" "$dev" 4 "$tw" "$ts"
        PIN=$GPU_CORES olbench "sd_base_${dev}_sym_r$r" "$BASE" "$dev" 4 "$bw" "$bs"
      else
        PIN=$GPU_CORES olbench_new --static-shapes "sd_tiny_${dev}_static_r$r" "$TINY" "$dev" 4 "$tw" "$ts" --static-shapes
        PIN=$GPU_CORES olbench_new --static-shapes "sd_base_${dev}_static_r$r" "$BASE" "$dev" 4 "$bw" "$bs" --static-shapes
      fi
    done
  done
  log "staticdims: placement of the tiny step graph with the dims fixed"
  pinned "$GPU_CORES" timeout 120 $OL bench-train --model "$TINY" --device "$dev" --batch $BATCH --source-length $S \
    --target-length $T --warmup 0 --steps 1 --static-shapes --ort-verbose > /dev/null 2> "$R/sd-placement.log" \
    || log "FAILED staticdims placement"
  grep -c "CPUExecutionProvider" "$R/sd-placement.log" > "$R/sd-placement-cpu-lines.txt" 2>/dev/null
  $PY "$X/gpu/report.py" rows "$R" --prefix sd_ > "$R/staticdims.md"
  cat "$R/staticdims.md" >&2
}

# cpu2rot (issue 11, session 7): the 2-thread targets with the core pairs rotated. A pair's position alone moves a
# 2-thread step by 10-15 % on this VM (session 7: the tiny row on cores 10,11 was the fastest, whatever its
# setting), so each of CR_ROUNDS (4) rounds runs, per model, four settings at once, each on another pair than in
# the round before (base on 0,1 / 2,3 / 4,5 / 6,7, tiny on 8,9 / 10,11 / 12,13 / 14,15): every setting meets every
# pair once in four rounds. Settings: onnx-lora's default, head_copies=transpose, enable_mem_pattern=1 (ORT's
# memory pattern, off on the CPU by default since session 7), and PEFT. bart-base takes 2 warm-up and 3 timed
# steps, so that no tool's median holds a cold run. Rows c2_<model>_<setting>_r<round>; cpu2rot.md (report.py
# rounds: per round and the median, and PEFT's step over each setting's, round by round). ~5 min.
# rot_row PREFIX THREADS PIN SETTING MODEL_SIZE ROUND TINY_STEPS BASE_STEPS: one row of a rotated CPU comparison
# (cpu2rot, cpu16rot), row PREFIX<model>_<setting>_r<round>: onnx-lora with SETTING's options (default, transpose,
# mempattern, nokernels; thrN: N intra-op threads instead of THREADS; interN: ORT's parallel execution mode with
# N inter-op threads and THREADS-N+1 intra-op ones, so the two pools together still fill THREADS cores), or PEFT;
# 3 warm-up steps on tiny, 2 on base; PIN empty runs on every core.
rot_row() {
  local prefix=$1 thr=$2 pin=$3 set=$4 size=$5 r=$6 model=$TINY wu=3 st=$7 args=()
  [ "$size" = base ] && { model=$BASE; wu=2; st=$8; }
  case $set in
    transpose) args=(--cuda-option head_copies=transpose) ;;
    mempattern) args=(--cuda-option enable_mem_pattern=1) ;;
    nokernels) args=(--cuda-option fused_kernels=0) ;;
    thr[0-9]*) thr=${set#thr} ;;
    inter[0-9]*) args=(--cuda-option "inter_op_threads=${set#inter}"); thr=$((thr - ${set#inter} + 1)) ;;
  esac
  if [ "$set" = peft ]; then
    PIN=$pin TMO=600 ptbench "${prefix}${size}_peft_r$r" "$size" cpu "$thr" "$wu" "$st"
  else # a binary older than head_copies skips the transpose row only: no other row passes the key
    PIN=$pin TMO=600 olbench_new head_copies "${prefix}${size}_${set}_r$r" "$model" cpu "$thr" "$wu" "$st" \
      ${args[@]+"${args[@]}"}
  fi
}

phase_cpu2rot() {
  local r k n
  [ -f "$BASE" ] || { log "FAILED cpu2rot: no $BASE (run 'synth' first)"; return; }
  local base_pairs=(0,1 2,3 4,5 6,7) tiny_pairs=(8,9 10,11 12,13 14,15) settings=(${CR_SETTINGS:-default transpose mempattern peft})
  n=${#settings[@]}
  for r in $(seq 1 "${CR_ROUNDS:-$n}"); do
    for k in $(seq 0 $((n - 1))); do
      rot_row c2_ 2 "${base_pairs[$(( (k + r - 1) % n ))]}" "${settings[$k]}" base "$r" 20 3 &
      rot_row c2_ 2 "${tiny_pairs[$(( (k + r - 1) % n ))]}" "${settings[$k]}" tiny "$r" 20 3 &
    done
    wait
  done
  $PY "$X/gpu/report.py" rounds "$R" --prefix c2_ > "$R/cpu2rot.md"
  cat "$R/cpu2rot.md" >&2
}

# optable (issue 11, session 7): where bart-base's 2-thread CPU step goes in each tool on this host's CPU, kind of work
# by kind of work (tools/bench/op_table.py; docs/notes/cpu-base-profile-s7.md has the same table from a 2-core EPYC,
# where ORT's products won): onnx-lora under ORT's profiler, PyTorch + PEFT under torch.profiler, both on cores 0,1.
# op-table-base-cpu2.md. ~3 min.
phase_optable() {
  [ -f "$BASE" ] || { log "FAILED optable: no $BASE (run 'synth' first)"; return; }
  PIN=0,1 TMO=420 olbench op_ol_base_cpu2 "$BASE" cpu 2 2 3 --profile "$W/prof-op-base-cpu2"
  log "optable: PyTorch + PEFT's operators, base, 2 threads"
  pinned 0,1 env CUDA_VISIBLE_DEVICES= timeout 420 $PY "$X/op_table.py" torch_ops --out "$R/op-peft-base-cpu2.json" -- \
    --size base --device cpu --threads 2 --batch $BATCH --warmup 1 --steps 2 --profile-kernels 2 > "$R/op-peft.out" 2>&1 \
    || log "FAILED optable torch_ops"
  $PY "$X/op_table.py" table --ort "$W"/prof-op-base-cpu2_step_*.json --torch "$R/op-peft-base-cpu2.json" \
    > "$R/op-table-base-cpu2.md" 2>> "$R/op-peft.out" || log "FAILED optable table"
  cat "$R/op-table-base-cpu2.md" >&2
}

# cpuknobs (issue 11, session 7): ONNX Runtime's CPU thread-pool settings that cost no graph change, against the
# default (head copies by Gather) and PEFT in the same run: session.dynamic_block_base=4 (parallel loops hand out
# shrinking blocks instead of one per thread) and session.intra_op_thread_affinities (each pool thread pinned to
# one core; the caller thread stays free, as PyTorch's OpenMP threads are unpinned). Tiny at 16 threads in
# CK_ROUNDS (2) rounds, bart-base at 16 threads once, bart-base at 2 threads with the three settings
# and PEFT at once on disjoint core pairs. Rows ck_*, printed by report.py rows (cpuknobs.md). ~3.5 min.
phase_cpuknobs() {
  local r aff16="" c
  for c in $(seq 2 16); do aff16+="${aff16:+;}$c"; done
  [ -f "$BASE" ] || { log "FAILED cpuknobs: no $BASE (run 'synth' first)"; return; }
  for r in $(seq 1 "${CK_ROUNDS:-2}"); do
    olbench ck_tiny_cpu16_default_r$r "$TINY" cpu 16 3 30
    olbench ck_tiny_cpu16_dbb4_r$r "$TINY" cpu 16 3 30 --cuda-option session.dynamic_block_base=4
    olbench ck_tiny_cpu16_pinned_r$r "$TINY" cpu 16 3 30 --cuda-option "session.intra_op_thread_affinities=$aff16"
    olbench ck_tiny_cpu16_both_r$r "$TINY" cpu 16 3 30 --cuda-option "session.intra_op_thread_affinities=$aff16" \
      --cuda-option session.dynamic_block_base=4
    ptbench ck_tiny_cpu16_peft_r$r tiny cpu 16 3 30
  done
  olbench ck_base_cpu16_default "$BASE" cpu 16 1 3
  olbench ck_base_cpu16_dbb4 "$BASE" cpu 16 1 3 --cuda-option session.dynamic_block_base=4
  olbench ck_base_cpu16_pinned "$BASE" cpu 16 1 3 --cuda-option "session.intra_op_thread_affinities=$aff16"
  ptbench ck_base_cpu16_peft base cpu 16 1 3
  ( PIN=0,1 TMO=420 olbench ck_base_cpu2_default "$BASE" cpu 2 1 2 ) &
  ( PIN=2,3 TMO=420 olbench ck_base_cpu2_dbb4 "$BASE" cpu 2 1 2 --cuda-option session.dynamic_block_base=4 ) &
  # taskset's cores are 0-based, ORT's affinity ids 1-based: the pool thread on core 5
  ( PIN=4,5 TMO=420 olbench ck_base_cpu2_pinned "$BASE" cpu 2 1 2 --cuda-option session.intra_op_thread_affinities=6 ) &
  ( PIN=6,7 TMO=420 ptbench ck_base_cpu2_peft base cpu 2 1 2 ) &
  wait
  $PY "$X/gpu/report.py" rows "$R" --prefix ck_ > "$R/cpuknobs.md"
  cat "$R/cpuknobs.md" >&2
}

# cudagraph (issue 11, session 8): the fused step through IO binding (adapters and moments resident on the GPU, ONNX
# Runtime's C API through Java 22's foreign-function interface) and captured as a CUDA graph (bench-train
# --cuda-graph), against the symbolic graph, the dims fixed alone, IO binding alone and PEFT, one after the other on
# the GPU cores; then the graph and PEFT once more for bart-base (drift). Rows cg_<model>_<variant>; cudagraph.md.
# ~5 min.
phase_cudagraph() {
  export PIN=$GPU_CORES
  local m model wu st
  for m in tiny base; do
    fixed_size $m
    ptbench "cg_${m}_peft" $m cuda 0 "$wu" "$st"
    olbench "cg_${m}_sym" "$model" cuda 4 "$wu" "$st"
    olbench "cg_${m}_static" "$model" cuda 4 "$wu" "$st" --static-shapes
    olbench "cg_${m}_iobinding" "$model" cuda 4 "$wu" "$st" --static-shapes --cuda-option io_binding=1
    olbench "cg_${m}_graph" "$model" cuda 4 "$wu" "$st" --cuda-graph --static-shapes
    pack
  done
  olbench cg_base_graph_r2 "$BASE" cuda 4 5 20 --cuda-graph --static-shapes
  ptbench cg_base_peft_r2 base cuda 0 5 20
  pack
  # real data (many padded shapes: no graph, a binding per shape): does keeping the state on the GPU pay in train?
  local v args
  for v in default iobinding; do
    args=(); [ $v = iobinding ] && args=(--cuda-option io_binding=1)
    RD_DEVICE=cuda rdrun "cg_base_$v" $OL train --model "$BASE" --tokenizer "$X/tiny-bart/tokenizer.json" \
      --train "$X/train.jsonl" --out "$W/cg-rd-$v" --force --steps 300 --batch-size $BATCH --max-source-length 256 \
      --max-target-length 48 --lr 1e-4 --schedule constant --device cuda --threads 4 --seed 42 ${args[@]+"${args[@]}"}
    cp "$W/cg-rd-$v/metrics.jsonl" "$R/rd-cg_base_$v.metrics.jsonl" 2>/dev/null
  done
  unset PIN
  { $PY "$X/gpu/report.py" rows "$R" --prefix cg_
    echo; echo "| train on real data, bart-base, 300 steps | median step ms (after 50) | real tokens/s |"; echo "|---|---:|---:|"
    for v in default iobinding; do
      $PY -c "import sys; sys.path.insert(0, '$X/gpu'); import report
r = report.realdata_train('$R/rd-cg_base_$v.metrics.jsonl', 50) or {}
print(f\"| {'$v'} | {r.get('step_ms_median', 0):.1f} | {r.get('real_tokens_per_second', 0):,.0f} |\")"
    done; } > "$R/cudagraph.md"
  cat "$R/cudagraph.md" >&2
}

# Session 9: with the compiler's host-scalar lift (no MemcpyFromHost left) a session with symbolic dims captures
# CUDA graphs. Fixed shapes: PEFT, the symbolic session, --cuda-graph (dims symbolic) and --cuda-graph
# --static-shapes. Real data (the man-page pairs, same batch, lengths and steps for every row): train default and
# io_binding=1 against the PEFT loop, per variant in tg-VARIANT/realdata.md. (Session 9 also ran train with one graph
# per batch shape in one session: bart-base went wrong within 100 steps, so the step refuses a second shape under
# graphs; docs/benchmarks.md, "H200 run, session 9".) TG_TINY_STEPS (1000), TG_BASE_STEPS (400) change the runs.
phase_traingraph() {
  export PIN=$GPU_CORES
  local m model wu st size steps v args rs=256 rt=48
  for m in tiny base; do
    fixed_size $m
    ptbench "tg_${m}_peft" $m cuda 0 "$wu" "$st"
    olbench "tg_${m}_sym" "$model" cuda 4 "$wu" "$st"
    olbench "tg_${m}_graph" "$model" cuda 4 "$wu" "$st" --cuda-graph
    olbench "tg_${m}_graphstatic" "$model" cuda 4 "$wu" "$st" --cuda-graph --static-shapes
    pack
  done
  $PY "$X/gpu/report.py" rows "$R" --prefix tg_ > "$R/traingraph-fixed.md" 2>&1
  RD_DEVICE=cuda
  for size in tiny base; do
    model=$TINY steps=${TG_TINY_STEPS:-1000}
    if [ $size = base ]; then model=$BASE steps=${TG_BASE_STEPS:-400}; fi
    peft_realdata "$R/tg-peft" "$size" "$steps" $rs $rt
    for v in default iobinding; do
      args=(); [ $v = iobinding ] && args=(--cuda-option io_binding=1)
      mkdir -p "$R/tg-$v"
      R=$R/tg-$v rdrun "ol_$size" $OL train --model "$model" --tokenizer "$X/tiny-bart/tokenizer.json" \
        --train "$X/train.jsonl" --out "$W/tg-$v-$size" --force --steps "$steps" --batch-size $BATCH \
        --max-source-length $rs --max-target-length $rt --lr 1e-4 --schedule constant --device cuda --threads 4 \
        --seed 42 ${args[@]+"${args[@]}"}
      cp "$W/tg-$v-$size/metrics.jsonl" "$R/tg-$v/rd-ol_$size.metrics.jsonl" 2>/dev/null
      cp "$R/tg-peft/"*"peft_$size"* "$R/tg-$v/" 2>/dev/null
    done
    pack
  done
  for v in default iobinding; do
    { echo "### train $v"; $PY "$X/gpu/report.py" realdata "$R/tg-$v" --warmup 50; } > "$R/tg-$v/realdata.md" 2>&1
    cat "$R/tg-$v/realdata.md" >&2
  done
  unset PIN
}

# Session 10 (issue 11): CUDA graphs of every batch shape in one session, now that the step graph has no kernel that
# stages per-run data in pinned host memory (ReplayHazards; session 9's bart-base failure was the gradient Concat of
# 72 pieces). Real data (the man-page pairs, same batch, lengths and steps for every row): the PEFT loop, train with
# io_binding=1 (no graph) and train with io_binding=1 + enable_cuda_graph=1, per size; replay.md has the step and
# tokens/s of each (report.py realdata, in rp-VARIANT/) and the step-by-step parity of the graph run against the
# uncaptured one (replay_parity.py). Then fixed shapes, bart-base, RP_ROUNDS (3) rotated rounds of PEFT against
# bench-train --cuda-graph --static-shapes. RP_TINY_STEPS (1000), RP_BASE_STEPS (400), RP_SIZES ("tiny base").
phase_replay() {
  export PIN=$GPU_CORES
  local size model steps v args rs=256 rt=48 r
  RD_DEVICE=cuda
  for size in ${RP_SIZES:-tiny base}; do
    model=$TINY steps=${RP_TINY_STEPS:-1000}
    if [ $size = base ]; then model=$BASE steps=${RP_BASE_STEPS:-400}; fi
    peft_realdata "$R/rp-peft" "$size" "$steps" $rs $rt
    for v in iobinding graph; do
      args=(--cuda-option io_binding=1); [ $v = graph ] && args+=(--cuda-option enable_cuda_graph=1)
      mkdir -p "$R/rp-$v"
      R=$R/rp-$v rdrun "ol_$size" $OL train --model "$model" --tokenizer "$X/tiny-bart/tokenizer.json" \
        --train "$X/train.jsonl" --out "$W/rp-$v-$size" --force --steps "$steps" --batch-size $BATCH \
        --max-source-length $rs --max-target-length $rt --lr 1e-4 --schedule constant --device cuda --threads 4 \
        --seed 42 "${args[@]}"
      cp "$W/rp-$v-$size/metrics.jsonl" "$R/rp-$v/rd-ol_$size.metrics.jsonl" 2>/dev/null
      cp "$R/rp-peft/"*"peft_$size"* "$R/rp-$v/" 2>/dev/null
    done
    pack
  done
  for r in $(seq 1 "${RP_ROUNDS:-3}"); do
    if [ $((r % 2)) = 1 ]; then
      ptbench "rp_base_peft_r$r" base cuda 0 5 20
      olbench "rp_base_graph_r$r" "$BASE" cuda 4 5 20 --cuda-graph --static-shapes
    else
      olbench "rp_base_graph_r$r" "$BASE" cuda 4 5 20 --cuda-graph --static-shapes
      ptbench "rp_base_peft_r$r" base cuda 0 5 20
    fi
    pack
  done
  unset PIN
  { for v in iobinding graph; do echo "### train, $v"; $PY "$X/gpu/report.py" realdata "$R/rp-$v" --warmup 50; echo; done
    echo "### the graph run against the uncaptured one, step by step"
    echo
    echo "| model | steps compared | max relative loss difference | max relative gradient-norm difference |" \
      "first step past 1e-3 | non-finite steps (uncaptured / graph) |"
    echo "|---|---:|---:|---:|---|---|"
    for size in ${RP_SIZES:-tiny base}; do
      $PY "$X/gpu/replay_parity.py" "$R/rp-iobinding/rd-ol_$size.metrics.jsonl" "$R/rp-graph/rd-ol_$size.metrics.jsonl" \
        --label "$size" 2>&1
    done
    echo
    $PY "$X/gpu/report.py" rows "$R" --prefix rp_base_; } > "$R/replay.md" 2>&1
  cat "$R/replay.md" >&2
}

# Session 11 (issue 11): train --cuda-graph on every export of the matrix (models/exports/manifest.json: both
# exporters, eager and SDPA attention, 3 and 4 inputs, opset 14, extra outputs, static dims, fp16, Optimum's three
# files, mBART, Marian, the tiny-BART 4-input pair), each against the same run on the CPU: the man-page pairs, EX_STEPS
# (40) steps of batch 32 (the static export: its own batch 2 and 64+16 tokens), so every export meets many batch
# shapes, each captured once. EXPORTS is models/exports of the checkout that came with the call (the last chunk's
# command passes it; EX_GPU, '--device cuda --cuda-graph', is the second run's device flags); exports.md has one replay_parity.py row per export (tolerance 1e-6, the CPU-vs-CUDA target).
phase_exports() {
  export PIN=$GPU_CORES
  local ex=${EXPORTS:-$X/exports} steps=${EX_STEPS:-40} name rel model args d
  [ -f "$ex/manifest.json" ] || { log "FAILED exports: no $ex/manifest.json"; return; }
  mkdir -p "$R/exports"
  $PY - "$ex/manifest.json" > "$W/exports.list" <<'EOF2'
import json, os, sys
m = json.load(open(sys.argv[1]))
for f in m["fixtures"]:
    path = os.path.dirname(f["files"][0]) if f["layout"] == "optimum" else f["files"][0]
    print(f["name"], path, "static" if f["static"] else "dynamic")
EOF2
  while read -r name rel kind; do
    model=$ex/$rel
    args=(--batch-size $BATCH --max-source-length $S --max-target-length $T)
    [ "$kind" = static ] && args=(--batch-size 2 --max-source-length 64 --max-target-length 16)
    for d in cpu graph; do
      local dev=(--device cpu)
      [ $d = graph ] && read -ra dev <<< "${EX_GPU:---device cuda --cuda-graph}"
      log "exports: $name on $d"
      pinned $GPU_CORES timeout 300 $OL train --model "$model" --tokenizer "$X/tiny-bart/tokenizer.json" \
        --train "$X/train.jsonl" --out "$W/ex-$name-$d" --force --steps "$steps" "${args[@]}" --lr 5e-4 \
        --schedule constant --threads 4 --seed 42 "${dev[@]}" > "$R/exports/$name-$d.json" 2> "$R/exports/$name-$d.log" \
        || { log "FAILED exports $name $d (rc $?)"; tail -3 "$R/exports/$name-$d.log" >&2; }
      cp "$W/ex-$name-$d/metrics.jsonl" "$R/exports/$name-$d.metrics.jsonl" 2>/dev/null
    done
    pack
  done < "$W/exports.list"
  unset PIN
  { echo "| export | steps compared | max relative loss difference | max relative gradient-norm difference |" \
      "first step past 1e-6 | non-finite steps (CPU / CUDA graph) |"
    echo "|---|---:|---:|---:|---|---|"
    while read -r name rel kind; do
      if [ -s "$R/exports/$name-cpu.metrics.jsonl" ] && [ -s "$R/exports/$name-graph.metrics.jsonl" ]; then
        $PY "$X/gpu/replay_parity.py" "$R/exports/$name-cpu.metrics.jsonl" "$R/exports/$name-graph.metrics.jsonl" \
          --tolerance 1e-6 --label "$name" 2>&1
      else
        echo "| $name | FAILED: no steps, see exports/$name-*.log | | | | |"
      fi
    done < "$W/exports.list"; } > "$R/exports.md"
  cat "$R/exports.md" >&2
}

# Session 11 (issue 11): where bart-base's fixed-shape CUDA step goes in both tools, by kind of work. onnx-lora: ORT's
# profile of the fused step (--static-shapes, no graph) under CUDA_LAUNCH_BLOCKING=1, less a per-node launch floor;
# PyTorch + PEFT: each operator's own GPU kernel time (torch.profiler). op-table-base-cuda.md (op_table.py table).
phase_cudaprof() {
  [ -f "$BASE" ] || { log "FAILED cudaprof: no $BASE (run 'synth' first)"; return; }
  log "cudaprof: onnx-lora base on cuda under CUDA_LAUNCH_BLOCKING=1"
  CUDA_LAUNCH_BLOCKING=1 pinned $GPU_CORES timeout 300 $OL bench-train --model "$BASE" --device cuda --threads 4 \
    --batch $BATCH --source-length $S --target-length $T --static-shapes --warmup 2 --steps 3 \
    --profile "$W/prof-cuda-base" > "$R/cudaprof-ol.json" 2> "$R/cudaprof-ol.log" || log "FAILED cudaprof onnx-lora"
  log "cudaprof: PyTorch + PEFT's GPU kernels per operator"
  pinned $GPU_CORES timeout 300 $PY "$X/op_table.py" torch_ops --out "$R/op-peft-base-cuda.json" -- --size base \
    --device cuda --batch $BATCH --source-length $S --target-length $T --warmup 2 --steps 3 --profile-kernels 3 \
    > "$R/cudaprof-peft.out" 2>&1 || log "FAILED cudaprof torch_ops"
  $PY "$X/op_table.py" table --ort "$W"/prof-cuda-base_step_*.json --torch "$R/op-peft-base-cuda.json" \
    --launch-floor --top 25 > "$R/op-table-base-cuda.md" 2>> "$R/cudaprof-peft.out" || log "FAILED cudaprof table"
  cat "$R/op-table-base-cuda.md" >&2
}

# Session 11 (issue 11): the flat gradient as stacked rows (train.FlatConcat). ORT's CUDA Concat fills a host table
# with an entry per index of the concatenated axis at every run, and the old 1-D concatenation of bart-base's 442,368
# gradient elements showed 7.3 ms in cudaprof. Fixed shapes, the three CUDA paths of bench-train and PEFT, tiny and
# base (rows fg_*, flatgrad.md); run cudaprof after it to see the Concats' times.
phase_flatgrad() {
  export PIN=$GPU_CORES
  local m model wu st
  for m in tiny base; do
    fixed_size $m
    ptbench "fg_${m}_peft" $m cuda 0 "$wu" "$st"
    olbench "fg_${m}_default" "$model" cuda 4 "$wu" "$st"
    olbench "fg_${m}_iobinding" "$model" cuda 4 "$wu" "$st" --cuda-option io_binding=1
    olbench "fg_${m}_graph" "$model" cuda 4 "$wu" "$st" --cuda-graph --static-shapes
    pack
  done
  unset PIN
  $PY "$X/gpu/report.py" rows "$R" --prefix fg_ > "$R/flatgrad.md" 2>&1
  cat "$R/flatgrad.md" >&2
}

# Session 16 (issue 11): the fused GELU backward of onnx-lora's kernel library (src/main/native, runtime.FusedKernels)
# on the fixed-shape CUDA step with graphs, against the same binary with fused_kernels=0 and PyTorch + PEFT beside
# them, KR_ROUNDS rounds (default 2) in turn. kernels.md.
phase_kernels() {
  export PIN=$GPU_CORES
  local m model wu st r
  for r in $(seq 1 "${KR_ROUNDS:-2}"); do
    for m in tiny base; do
      fixed_size $m
      ptbench "kr_${m}_peft_r$r" $m cuda 0 "$wu" "$st"
      olbench "kr_${m}_stock_r$r" "$model" cuda 4 "$wu" "$st" --cuda-graph --static-shapes --cuda-option fused_kernels=0
      olbench "kr_${m}_kernels_r$r" "$model" cuda 4 "$wu" "$st" --cuda-graph --static-shapes
      pack
    done
  done
  unset PIN
  $PY "$X/gpu/report.py" rounds "$R" --prefix kr_ > "$R/kernels.md" 2>&1
  cat "$R/kernels.md" >&2
}

# Sessions 14-15 (issue 11): CPU-vs-CUDA parity per step from one state. tools/bench/LockstepParity.java (compiled into
# the bundle) steps every export of the matrix on the CPU and, before each step, gives the CUDA session the CPU's
# adapters, moments and step count, so both take the same step from the same state on the same batch; 'exports'
# compares two free-running runs, whose drift Adam amplifies. Reuses the CPU run folders of 'exports' when it ran
# first (their artifacts), else makes each with a one-step CPU train. lockstep.md; per-step rows in lockstep/.
# For the exports in LS_FP64 the states are also dumped, and tools/bench/Float64Parity.java measures the CPU's and
# CUDA's float32 step at each of them against the same step in float64 (lockstep-f64.md): where the two devices
# differ by more than 1e-6, whether one of them is off or the step itself is past float32's reach.
phase_lockstep() {
  export PIN=$GPU_CORES
  local ex=${EXPORTS:-$X/exports} steps=${EX_STEPS:-40} name rel model args run len
  LS_FP64=${LS_FP64-marian-sdpa-ts-3in bart-eager-ts-3in bart-sdpa-dynamo-4in}
  [ -f "$ex/manifest.json" ] || { log "FAILED lockstep: no $ex/manifest.json"; return; }
  mkdir -p "$R/lockstep"
  $PY - "$ex/manifest.json" > "$W/lockstep.list" <<'EOF2'
import json, os, sys
m = json.load(open(sys.argv[1]))
for f in m["fixtures"]:
    path = os.path.dirname(f["files"][0]) if f["layout"] == "optimum" else f["files"][0]
    print(f["name"], path, "static" if f["static"] else "dynamic")
EOF2
  while read -r name rel kind; do
    model=$ex/$rel run=$W/ex-$name-cpu len=($BATCH $S $T)
    [ "$kind" = static ] && len=(2 64 16)
    if [ ! -f "$run/artifacts/artifacts.json" ]; then
      run=$W/ls-$name
      pinned $GPU_CORES timeout 300 $OL train --model "$model" --tokenizer "$X/tiny-bart/tokenizer.json" \
        --train "$X/train.jsonl" --out "$run" --force --steps 1 --batch-size ${len[0]} --max-source-length ${len[1]} \
        --max-target-length ${len[2]} --lr 5e-4 --schedule constant --threads 4 --seed 42 --device cpu \
        > /dev/null 2> "$R/lockstep/$name-setup.log" || { log "FAILED lockstep setup $name"; continue; }
    fi
    local dump=()
    case " $LS_FP64 " in *" $name "*) rm -rf "$W/dump-$name"; dump=("$W/dump-$name") ;; esac
    log "lockstep: $name, $steps steps"
    pinned $GPU_CORES timeout 300 $B/run.sh LockstepParity "$run" "$X/tiny-bart/tokenizer.json" "$X/train.jsonl" \
      "$steps" "${len[@]}" 5e-4 4 "${LS_DEVICE:-cuda}" "${dump[@]}" > "$R/lockstep/$name.jsonl" \
      2> "$R/lockstep/$name.log" || { log "FAILED lockstep $name (rc $?)"; tail -3 "$R/lockstep/$name.log" >&2; }
    if [ ${#dump[@]} -gt 0 ]; then
      log "lockstep: $name against float64"
      pinned $GPU_CORES timeout 400 $B/run.sh Float64Parity "$run/artifacts" "${dump[0]}" cpu "${LS_DEVICE:-cuda}" \
        > "$R/lockstep/$name-f64.jsonl" 2> "$R/lockstep/$name-f64.log" \
        || { log "FAILED float64 $name (rc $?)"; tail -3 "$R/lockstep/$name-f64.log" >&2; }
    fi
    pack # a call cut off by its time limit still returns the exports done so far
  done < "$W/lockstep.list"
  unset PIN
  $PY - "$R/lockstep" "$LS_FP64" "${LS_DEVICE:-cuda}" > "$R/lockstep-f64.md" <<'EOF2'
import json, os, sys
d, names, dev = sys.argv[1], sys.argv[2].split(), sys.argv[3]
label = dev.upper() if dev.startswith("cuda") else dev
def rows(f):
    return [json.loads(l) for l in open(f) if l.startswith("{")] if os.path.exists(f) else []
print("Each state of the lockstep trajectory, the float32 step on each device against the same step in float64"
      " (relative errors; 'gradient' is the whole gradient as one vector).\n")
print(f"| export | states | CPU vs {label}, grad norm (max) | CPU vs float64: grad norm, gradient (max) |"
      f" {label} vs float64: grad norm, gradient (max) | states where CPU vs {label} > 1e-6: (CPU, {label}) vs"
      " float64 grad norm |")
print("|---|---:|---:|---|---|---|")
for name in names:
    ls = {r["step"]: r for r in rows(os.path.join(d, name + ".jsonl")) if "step" in r}
    f64 = [r for r in rows(os.path.join(d, name + "-f64.jsonl")) if "state" in r]
    if not f64:
        print(f"| {name} | FAILED: see lockstep/{name}-f64.log | | | | |")
        continue
    def mx(k, key):
        return max(r[k][key] for r in f64)
    past = []
    for r in f64:
        step = int(r["state"].split("-")[1].split(".")[0])
        l = ls.get(step)
        if l and l["rel_grad_norm"] > 1e-6:
            past.append(f"{step}: ({r['cpu']['rel_grad_norm']:.2e}, {r[dev]['rel_grad_norm']:.2e})")
    top = max((l["rel_grad_norm"] for l in ls.values()), default=float("nan"))
    print(f"| {name} | {len(f64)} | {top:.2e} | {mx('cpu','rel_grad_norm'):.2e}, {mx('cpu','rel_grad'):.2e} |"
          f" {mx(dev,'rel_grad_norm'):.2e}, {mx(dev,'rel_grad'):.2e} | {'; '.join(past) or 'none'} |")
EOF2
  cat "$R/lockstep-f64.md" >&2
  $PY - "$R/lockstep" "$W/lockstep.list" > "$R/lockstep.md" <<'EOF2'
import json, os, sys
d = sys.argv[1]
print("| export | steps | max relative loss difference | max relative gradient-norm difference | first step past 1e-6 |")
print("|---|---:|---:|---:|---|")
for line in open(sys.argv[2]):
    name = line.split()[0]
    f = os.path.join(d, name + ".jsonl")
    rows = [json.loads(l) for l in open(f) if l.startswith("{")] if os.path.exists(f) else []
    s = [r for r in rows if "summary" in r]
    if not s:
        print(f"| {name} | FAILED: see lockstep/{name}.log | | | |")
        continue
    s = s[0]
    print(f"| {name} | {s['steps']} | {s['max_rel_loss']:.2e} | {s['max_rel_grad_norm']:.2e} | {s['first_step_past']} |")
EOF2
  cat "$R/lockstep.md" >&2
}

phases=("$@")
[ ${#phases[@]} -eq 0 ] && phases=(all)
for p in "${phases[@]}"; do
  case $p in
    all)
      phase_env; phase_synth; pack
      cpu2_background
      phase_parity; pack; phase_placement; pack; phase_gpu; pack
      log "waiting for the 2-thread background runs"; wait; pack
      phase_cpu16; pack ;;
    env|synth|parity|placement|gpu|cpu16|extra|realdata|memory|datascale|half|halfparity|multi|floor|kprof|threads|memfixed|cores|layout|staticdims|cpuknobs|cpu2rot|optable|cudagraph|traingraph|replay|exports|lockstep|cudaprof|flatgrad|kernels|cpu16rot|cpu16prof) "phase_$p"; pack ;;
    cpu2) phase_cpu2; pack ;;
    *) echo "unknown phase $p" >&2; exit 2 ;;
  esac
done
summary
