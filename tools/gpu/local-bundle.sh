# Sourced by the *-local.sh rehearsals of run-on-device.sh's phases: lays out a bundle folder the way
# build-bundle.sh does, with links into this checkout instead of copies, and a run.sh that runs Java on
# the given classpath. BUNDLE must not exist or be empty.
#
#   . tools/gpu/local-bundle.sh; local_bundle ROOT BUNDLE CLASSPATH

local_bundle() {
  local root=$1 b=$2 cp=$3
  mkdir -p "$b/extra/tiny-bart/hf"
  ln -s "$root/tools/gpu" "$b/extra/gpu"
  ln -s "$root/tools/bench_peft.py" "$root/tools/bench_peft_realdata.py" "$root/tools/bench_peft_ddp.py" \
    "$root/tools/bench/layout_bench.py" "$root/tools/bench/op_table.py" "$b/extra/"
  ln -s "$root/models/tiny-bart/model.onnx" "$root/models/tiny-bart/tokenizer.json" "$b/extra/tiny-bart/"
  ln -s "$root/models/tiny-bart/hf/config.json" "$b/extra/tiny-bart/hf/"
  ln -s "$root/models/datasets/manpages/train.jsonl" "$root/models/datasets/manpages/valid.jsonl" "$b/extra/"
  printf '#!/usr/bin/env bash\nexec java -cp "%s" "$@"\n' "$cp" > "$b/run.sh"
  chmod +x "$b/run.sh"
}
