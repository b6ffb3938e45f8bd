#!/usr/bin/env bash
# Benchmarks `onnx-lora patch` and `onnx-lora merge` on bart-base and bart-large shaped
# models (generated with `onnx-lora synth`) against plain copies of the same file.
#
# For each model and operation: wall time, CPU time (user+sys) and peak RSS from GNU
# time, median of --runs runs; the runs are interleaved (copy, copy+fsync, patch, merge,
# then again) so that load from other users of the machine spreads over all rows. Page cache warm: the input is read once before timing
# (caches cannot be dropped without root, so cold-cache numbers are not measured), and
# `sync` runs before every timed run so one run's write-back does not slow the next.
# The JVM runs with the default flags of `java -jar`, i.e. what users of the launcher see.
#
# Targets: patch and merge each <= 2x the time of `cp`, peak RSS <= 1.3x the model size.
#
# Usage: tools/bench/patch_merge.sh [--scratch DIR] [--runs N] [--presets "base large"]
#                                   [--no-build] [--keep] [--phases] [--baseline JAR]
# --baseline JAR also times patch and merge of another build (e.g. main's jar, with its
# lib/ folder beside it) in the same rounds, as rows "patch@baseline" and "merge@baseline".
# --phases also splits one patch and one merge per model into parse/transform/
# serialise/write/fsync with heap vs page-cache RSS (tools/bench/PatchMergePhases.java).
# Prints markdown tables on stdout (also saved as DIR/results.md); progress on stderr.
set -euo pipefail

SCRATCH=/tmp/onnx-lora-bench
RUNS=3
PRESETS="base large"
BUILD=1
KEEP=0
PHASES=0
BASELINE=
JAVA=${JAVA:-java}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --scratch) SCRATCH=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --presets) PRESETS=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --keep) KEEP=1; shift ;;
        --phases) PHASES=1; shift ;;
        --baseline) BASELINE=$2; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "patch_merge.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done

REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO"
SCRATCH=$(realpath -m "$SCRATCH")
# Models are hundreds of MB to GB: never let them land where git could pick them up.
case "$SCRATCH/" in
    "$REPO"/*) echo "patch_merge.sh: scratch folder $SCRATCH is inside the repository; choose another" >&2; exit 2 ;;
esac
mkdir -p "$SCRATCH"
[[ -x /usr/bin/time ]] || { echo "patch_merge.sh: GNU time (/usr/bin/time) is required" >&2; exit 2; }

JAR=target/onnx-lora.jar
if [[ $BUILD == 1 ]]; then
    echo "building $JAR ..." >&2
    ./mvnw -q -B -DskipTests package >&2
fi
[[ -f $JAR || -n ${ONNX_LORA:-} ]] || { echo "patch_merge.sh: $JAR is missing; build it or drop --no-build" >&2; exit 2; }
# ONNX_LORA overrides the command (e.g. an installed launcher); default: plain `java -jar`.
if [[ -n ${ONNX_LORA:-} ]]; then
    read -r -a LORA <<< "$ONNX_LORA"
else
    LORA=("$JAVA" -jar "$JAR")
fi

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# Bytes of a model: the .onnx plus its external data file, if any.
model_bytes() {
    local total
    total=$(stat -c %s "$1")
    [[ -f "$1.data" ]] && total=$((total + $(stat -c %s "$1.data")))
    echo "$total"
}

rm_model() { rm -f "$1" "$1.data"; }

# Reads a model into the page cache so every timed run starts warm.
warm() { cat "$1" > /dev/null; [[ -f "$1.data" ]] && cat "$1.data" > /dev/null; return 0; }

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# run_once OP INPUT OUTPUT CMD...: warms INPUT, removes OUTPUT, syncs, runs CMD once under GNU time and
# appends "wall rss_kb cpu" to $SAMPLES/OP.
run_once() {
    local op=$1 input=$2 out=$3 stats s k u y; shift 3
    stats=$(mktemp)
    warm "$input"
    rm_model "$out"
    sync
    if ! /usr/bin/time -f '%e %M %U %S' -o "$stats" "$@" > "$stats.log" 2>&1; then
        echo "patch_merge.sh: command failed: $*" >&2
        cat "$stats.log" >&2
        rm -f "$stats" "$stats.log"
        exit 1
    fi
    read -r s k u y < <(tail -n 1 "$stats")
    u=$(awk -v u="$u" -v y="$y" 'BEGIN { print u + y }')
    echo "$s $k $u" >> "$SAMPLES/$op"
    log "  $op: ${s}s wall, ${u}s CPU, $((k / 1024)) MiB peak RSS (load $(cut -d' ' -f1 /proc/loadavg))"
    rm -f "$stats" "$stats.log"
}

# medians OP: stores the medians of OP's samples in secs/rssk/cpu[OP].
medians() {
    local op=$1
    secs[$op]=$(awk '{ print $1 }' "$SAMPLES/$op" | median)
    rssk[$op]=$(awk '{ print $2 }' "$SAMPLES/$op" | median)
    cpu[$op]=$(awk '{ print $3 }' "$SAMPLES/$op" | median)
}

SAMPLES=$(mktemp -d)
trap 'rm -rf "$SAMPLES"' EXIT
RESULTS=$SCRATCH/results.md
PHASE_RESULTS=$SCRATCH/phases.md
: > "$PHASE_RESULTS"
{
    echo "| model | size (MB) | op | wall s (median of $RUNS) | CPU s | peak RSS (MB) | wall / copy | wall / copy+fsync | RSS / model size |"
    echo "|---|---:|---|---:|---:|---:|---:|---:|---:|"
} > "$RESULTS"
MISSES=()
declare -A secs rssk cpu
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

for preset in $PRESETS; do
    model=$SCRATCH/$preset.onnx
    if [[ ! -f $model ]]; then
        log "generating $preset with synth ..."
        "${LORA[@]}" synth --preset "$preset" --seed 0 --out "$model" >&2
    fi
    bytes=$(model_bytes "$model")
    mb=$(awk -v b="$bytes" 'BEGIN { printf "%.0f", b / 1e6 }')
    patched=$SCRATCH/$preset.patched.onnx
    merged=$SCRATCH/$preset.merged.onnx
    copy=$SCRATCH/$preset.copy.onnx

    secs=(); rssk=(); cpu=()
    rm -f "$SAMPLES"/*
    # Rounds interleave the operations, so a burst of load from the machine's other users
    # hits all of them alike instead of one operation's whole series.
    for ((round = 1; round <= RUNS; round++)); do
        log "$preset: round $round of $RUNS"
        run_once copy "$model" "$copy" cp "$model" "$copy"
        # ModelIO.save fsyncs its output and plain cp does not; this row separates the disk flush from the work.
        run_once "copy+fsync" "$model" "$copy" sh -c 'cp "$1" "$2" && sync "$2"' sh "$model" "$copy"
        rm_model "$copy"
        run_once patch "$model" "$patched" "${LORA[@]}" patch --model "$model" --out "$patched" \
            --rank 8 --alpha 16 --target q_proj,v_proj
        run_once merge "$patched" "$merged" "${LORA[@]}" merge --model "$patched" --out "$merged"
        [[ $round == "$RUNS" ]] || rm_model "$merged"
        if [[ -n $BASELINE ]]; then
            base_patched=$SCRATCH/$preset.patched-baseline.onnx
            run_once patch@baseline "$model" "$base_patched" "$JAVA" -jar "$BASELINE" patch --model "$model" \
                --out "$base_patched" --rank 8 --alpha 16 --target q_proj,v_proj
            run_once merge@baseline "$base_patched" "$merged.baseline" "$JAVA" -jar "$BASELINE" merge \
                --model "$base_patched" --out "$merged.baseline"
            rm_model "$base_patched"; rm_model "$merged.baseline"
        fi
    done
    OPS=(copy copy+fsync patch merge)
    [[ -z $BASELINE ]] || OPS+=(patch@baseline merge@baseline)
    for op in "${OPS[@]}"; do medians "$op"; done

    for op in "${OPS[@]}"; do
        awk -v m="$preset" -v mb="$mb" -v b="$bytes" -v op="$op" -v s="${secs[$op]}" -v k="${rssk[$op]}" \
            -v u="${cpu[$op]}" -v c="${secs[copy]}" -v f="${secs[copy+fsync]}" 'BEGIN {
                ratio = (c > 0) ? s / c : 0
                fratio = (f > 0) ? s / f : 0
                printf "| %s | %s | %s | %.2f | %.2f | %.0f | %.2f | %.2f | %.2f |\n", m, mb, op, s, u, k * 1024 / 1e6, ratio, fratio, k * 1024 / b
            }' >> "$RESULTS"
        if [[ $op == patch || $op == merge ]]; then
            awk -v s="${secs[$op]}" -v c="${secs[copy]}" 'BEGIN { exit !(c > 0 && s > 2 * c) }' \
                && MISSES+=("$preset $op: $(awk -v s="${secs[$op]}" -v c="${secs[copy]}" 'BEGIN { printf "%.1f", s / c }')x copy time (target <= 2x)")
            awk -v k="${rssk[$op]}" -v b="$bytes" 'BEGIN { exit !(k * 1024 > 1.3 * b) }' \
                && MISSES+=("$preset $op: peak RSS $(awk -v k="${rssk[$op]}" -v b="$bytes" 'BEGIN { printf "%.2f", k * 1024 / b }')x model size (target <= 1.3x)")
        fi
    done
    if [[ $PHASES == 1 ]]; then
        for op in patch merge; do
            src=$model; [[ $op == merge ]] && src=$patched
            log "$preset: phases of $op"
            warm "$src"; sync
            "$JAVA" -cp "$JAR:target/lib/*" tools/bench/PatchMergePhases.java "$op" "$src" "$SCRATCH/$preset.phases.onnx" \
                >> "$PHASE_RESULTS"
            echo >> "$PHASE_RESULTS"
            rm_model "$SCRATCH/$preset.phases.onnx"
        done
    fi
    log "$preset: patched model $(($(model_bytes "$patched") / 1000000)) MB, merged model $(($(model_bytes "$merged") / 1000000)) MB"
    [[ $KEEP == 1 ]] || rm_model "$copy"
    [[ $KEEP == 1 ]] || { rm_model "$patched"; rm_model "$merged"; }
done

{
    echo
    echo "Page cache: warm (inputs read before timing, sync before each run). Machine: $(nproc) cores," \
        "$(free -g | awk '/^Mem:/ { print $2 }') GB RAM; $("$JAVA" -version 2>&1 | head -n 1)." \
        "Load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)."
} >> "$RESULTS"
cat "$RESULTS"
if [[ -s $PHASE_RESULTS ]]; then
    echo
    cat "$PHASE_RESULTS"
fi
if [[ ${#MISSES[@]} -eq 0 ]]; then
    echo "All targets met (patch/merge <= 2x copy time, peak RSS <= 1.3x model size)."
else
    echo "Targets missed:"
    printf -- '- %s\n' "${MISSES[@]}"
fi
