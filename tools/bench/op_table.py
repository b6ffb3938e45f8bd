#!/usr/bin/env python3
"""Where a CPU training step goes, onnx-lora against PyTorch + PEFT, by kind of work (issue 11).

Two inputs, one step of the same configuration each:
  --ort FILE    an ONNX Runtime profile of onnx-lora's step (bench-train --profile PREFIX writes PREFIX_step_*.json);
                the last --ort-runs (3) OrtSession.run calls are counted, so warm-up runs (the second run of a
                session can be slower than the ones after it) stay out
  --torch FILE  PyTorch's operators with their input shapes, as `torch_ops` (below) writes them: a JSON list of
                {name, shapes, count, self_ms} per step, from torch.profiler(record_shapes=True)

Prints a markdown table: ms per step for each kind of work in both tools and onnx-lora / PEFT, then
onnx-lora's costliest nodes (--top). The kinds are matrix products (split into the linear layers forward and
backward, lm_head, LoRA's factors), attention (its products,
softmax and mask; PyTorch's fused SDPA), the loss and everything else as wide as the vocabulary, LayerNorm and
GELU forward and backward, copies and transposes (onnx-lora's attention head copies; PyTorch's addmm bias
broadcasts), adds and gradient sums. The classes read node names as the TorchScript export and onnx-lora's
backward name them (/grad/..., self_attn/MatMul, lora/...), and PyTorch's aten ops with their shapes; "other" holds
the rest. The two profilers measure differently: ORT's per-node kernel time against PyTorch's operator self time,
which includes the profiler's own overhead (10-15 % of a bart-base step on 2 cores), so compare kinds, not totals.

  onnx-lora bench-train --model base.onnx --device cpu --threads 2 --batch 32 --warmup 2 --steps 3 --profile /tmp/ol
  python3 tools/bench/op_table.py torch_ops --out /tmp/peft_ops.json -- --size base --device cpu --threads 2 \\
      --steps 2 --warmup 1 --profile-kernels 2
  python3 tools/bench/op_table.py table --ort /tmp/ol_step_*.json --torch /tmp/peft_ops.json

`torch_ops` runs tools/bench_peft.py (the arguments after --) with its profile swapped for one that keeps every
operator with its input shapes; its --profile-kernels N says how many steps are profiled. With --device cuda among
bench_peft.py's arguments it counts each operator's own GPU kernel time instead of its CPU time.

On CUDA, ORT's per-node times are host times unless the profile ran under CUDA_LAUNCH_BLOCKING=1; then each is the
node's GPU time plus a launch and a synchronisation. `table --launch-floor` takes that overhead out: the median time
of the nodes with at most 1,024 output elements (kernels too small to cost anything but their launch) is subtracted
from every node that has any output (clamped at 0), and the table gets onnx-lora's node count per kind. Single-kernel
nodes (the elementwise ones) are measured fairly that way. A node's host work counts too: in session 11 the fused
step's flat-gradient Concats showed 7 ms for 3.5 MB moved, which was ORT filling a host table per concatenated index
(train.FlatConcat now stacks rows instead).

  CUDA_LAUNCH_BLOCKING=1 onnx-lora bench-train --model base.onnx --device cuda --static-shapes --batch 32 \\
      --warmup 2 --steps 3 --profile /tmp/olc
  python3 tools/bench/op_table.py torch_ops --out /tmp/peft_cuda_ops.json -- --size base --device cuda \\
      --steps 3 --warmup 2 --profile-kernels 3
  python3 tools/bench/op_table.py table --ort /tmp/olc_step_*.json --torch /tmp/peft_cuda_ops.json --launch-floor
"""
import argparse
import collections
import json
import os
import re
import sys

def vocab_size(nodes):
    """The vocabulary, read from lm_head's output in onnx-lora's profile: every tensor this wide belongs to the loss
    or lm_head, in both tools."""
    for name, op, ins, outs, ms in nodes:
        if name.startswith("/lm_head/") and op in ("MatMul", "FusedMatMul", "Gemm") and outs:
            return outs[0][-1]
    sys.exit("no lm_head product in the ORT profile: cannot tell the vocabulary size")


def ort_nodes(path, last_runs):
    """(name, op, input shapes, output shapes, ms per run) of every node in the last `last_runs` runs."""
    with open(path) as f:
        events = json.load(f)
    runs = sorted((e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"),
                  key=lambda e: e["ts"])[-last_runs:]
    if not runs:
        sys.exit(f"{path}: no model_run events (not an ONNX Runtime profile?)")

    def shapes(e, key):
        return [list(d.values())[0] for d in e["args"].get(key, [])]

    out = []
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        if not any(r["ts"] <= e["ts"] <= r["ts"] + r["dur"] for r in runs):
            continue
        out.append((e["name"][:-len("_kernel_time")], e["args"]["op_name"], shapes(e, "input_type_shape"),
                    shapes(e, "output_type_shape"), e["dur"] / 1000 / len(runs)))
    return out, [r["dur"] / 1000 for r in runs]


def ort_kind(name, op, ins, outs, vocab):
    grad = "/grad" in name
    wide = any(vocab in s for s in ins + outs)
    if op in ("MatMul", "FusedMatMul", "Gemm"):
        if "lm_head" in name:
            return "lm_head products"
        if "lora" in name:
            return "LoRA products"
        if re.search(r"(self_attn|encoder_attn)/MatMul", name):
            return "attention"
        return "linear products, backward" if grad else "linear products, forward"
    if wide or "/loss" in name:
        return "loss and vocabulary-wide"
    if op == "Softmax" or (grad and op in ("Mul", "Sub", "ReduceSum") and re.search(r"attn/(Softmax|MatMul)", name)):
        return "attention"
    if op == "Add" and any(len(s) == 4 and s[1] == 1 for s in ins):
        return "attention"  # the mask, broadcast over heads
    if op == "Sum" or "/Sum/Add" in name:  # a gradient Sum, or one of the Adds a CPU session writes it as
        return "adds and gradient sums"
    if op == "LayerNormalization":
        return "LayerNorm forward"
    if grad and "layer_norm" in name:
        return "LayerNorm backward"
    if op in ("Gelu", "FastGelu") or (not grad and "activation_fn" in name):
        return "GELU forward"
    if grad and ("activation_fn" in name or op in ("Erf", "Exp")):
        return "GELU backward"
    if op in ("Transpose", "Gather"):
        return "copies and transposes"
    if op == "Add":
        return "adds and gradient sums"
    return "other"


def torch_kind(name, shapes, vocab):
    if name in ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"):
        if re.search(rf"\b{vocab}\b", shapes):
            return "lm_head products"
        if re.search(r"\b8\]|\[8,", shapes):
            return "LoRA products"
        return "linear products, forward" if name == "aten::addmm" else "linear products, backward"
    if "attention" in name:
        return "attention"
    if re.search(rf"\b{vocab}\b", shapes):
        return "loss and vocabulary-wide"
    if "layer_norm_backward" in name:
        return "LayerNorm backward"
    if "layer_norm" in name:
        return "LayerNorm forward"
    if name == "aten::gelu_backward":
        return "GELU backward"
    if name == "aten::gelu":
        return "GELU forward"
    if name in ("aten::copy_", "aten::transpose", "aten::contiguous", "aten::clone"):
        return "copies and transposes"  # PyTorch's copies: addmm's bias broadcast, views made contiguous
    if name in ("aten::add", "aten::add_", "aten::sum"):
        return "adds and gradient sums"
    return "other"


KINDS = ["linear products, forward", "linear products, backward", "lm_head products", "LoRA products", "attention",
         "loss and vocabulary-wide", "LayerNorm forward", "LayerNorm backward", "GELU forward", "GELU backward",
         "copies and transposes", "adds and gradient sums", "other"]


def elements(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def launch_floor(nodes):
    """The median time of the nodes whose outputs hold at most 1,024 elements: under CUDA_LAUNCH_BLOCKING=1, what a
    node costs before its kernel does any work."""
    small = sorted(ms for name, op, ins, outs, ms in nodes if outs and max(elements(o) for o in outs) <= 1024)
    if not small:
        sys.exit("no node with a small output in the ORT profile: cannot estimate the launch floor")
    return small[len(small) // 2]


def table(a):
    nodes, runs = ort_nodes(a.ort, a.ort_runs)
    with open(a.torch) as f:
        ops = json.load(f)
    vocab = vocab_size(nodes)
    floor = 0.0
    if a.launch_floor:
        floor = launch_floor(nodes)
        nodes = [(name, op, ins, outs, max(ms - floor, 0.0) if outs else ms) for name, op, ins, outs, ms in nodes]
    ol, pt, count = collections.Counter(), collections.Counter(), collections.Counter()
    for name, op, ins, outs, ms in nodes:
        kind = ort_kind(name, op, ins, outs, vocab)
        ol[kind] += ms
        count[kind] += 1 / len(runs)
    for r in ops:
        pt[torch_kind(r["name"], r["shapes"], vocab)] += r["self_ms"]
    print(f"onnx-lora: {os.path.basename(a.ort)}, last {len(runs)} runs ({', '.join(f'{r:,.0f}' for r in runs)} ms), "
          f"kernels {sum(ol.values()):,.0f} ms per run; PyTorch + PEFT: {os.path.basename(a.torch)}, operator self "
          f"time {sum(pt.values()):,.0f} ms per step\n")
    if a.launch_floor:
        print(f"onnx-lora's times less a launch floor of {floor * 1000:.1f} µs per node (CUDA_LAUNCH_BLOCKING=1)\n")
    nodes_col = a.launch_floor
    print("| kind of work | onnx-lora ms | PEFT ms | onnx-lora / PEFT |" + (" onnx-lora nodes |" if nodes_col else ""))
    print("|---|---:|---:|---:|" + ("---:|" if nodes_col else ""))
    for k in KINDS:
        if ol[k] or pt[k]:
            ratio = f"{ol[k] / pt[k]:.2f}" if pt[k] else ""
            print(f"| {k} | {ol[k]:,.1f} | {pt[k]:,.1f} | {ratio} |" + (f" {count[k]:.0f} |" if nodes_col else ""))
    print(f"| all | {sum(ol.values()):,.1f} | {sum(pt.values()):,.1f} | {sum(ol.values()) / sum(pt.values()):.2f} |"
          + (f" {sum(count.values()):.0f} |" if nodes_col else ""))
    if a.top:
        print(f"\nonnx-lora's {a.top} costliest nodes (ms per run):\n")
        per_node, seen = collections.Counter(), {}
        for name, op, ins, outs, ms in nodes:
            per_node[name] += ms
            seen[name] = (op, ins, outs)
        for name, ms in per_node.most_common(a.top):
            op, ins, outs = seen[name]
            print(f"    {ms:8.1f}  {op:12s} {name}  {ins} -> {outs}")


def scaling(a):
    """Two ORT profiles of one step graph at two thread counts: per op type, ms per run at each and the speed-up,
    then the nodes by duration (how much of each run is small nodes, where dispatching over the pool is the cost),
    and the time between kernels (the executor's own work)."""
    few, few_runs = ort_nodes(a.few, a.ort_runs)
    many, many_runs = ort_nodes(a.many, a.ort_runs)
    label_few, label_many = a.labels.split(",")

    def by_op(nodes, runs):
        ms, count = collections.Counter(), collections.Counter()
        for name, op, ins, outs, t in nodes:
            ms[op] += t
            count[op] += 1 / len(runs)
        return ms, count

    fms, fcount = by_op(few, few_runs)
    mms, _ = by_op(many, many_runs)
    run_few, run_many = sum(few_runs) / len(few_runs), sum(many_runs) / len(many_runs)
    print(f"{label_few}: {os.path.basename(a.few)}, run {run_few:,.1f} ms, kernels {sum(fms.values()):,.1f} ms; "
          f"{label_many}: {os.path.basename(a.many)}, run {run_many:,.1f} ms, kernels {sum(mms.values()):,.1f} ms\n")
    print(f"| op | nodes | {label_few} ms | {label_many} ms | speed-up |")
    print("|---|---:|---:|---:|---:|")
    for op, t in sorted(mms.items(), key=lambda kv: -kv[1])[:a.top]:
        up = f"{fms[op] / t:.2f}" if t else ""
        print(f"| {op} | {fcount[op]:.0f} | {fms[op]:,.2f} | {t:,.2f} | {up} |")
    print(f"| all kernels | {sum(fcount.values()):.0f} | {sum(fms.values()):,.1f} | {sum(mms.values()):,.1f} | "
          f"{sum(fms.values()) / sum(mms.values()):.2f} |")
    print(f"| between kernels | | {run_few - sum(fms.values()):,.1f} | {run_many - sum(mms.values()):,.1f} | |")
    print(f"\nnodes of the {label_many} run by duration (per run):\n")
    print("| duration | nodes | ms |")
    print("|---|---:|---:|")
    bounds = [0.005, 0.01, 0.02, 0.05, 0.1, 0.5, float("inf")]
    lo = 0.0
    for hi in bounds:
        sel = [t for *_, t in many if lo <= t * len(many_runs) < hi]  # t is per run: one node's time / runs
        label = f"{lo * 1000:.0f}-{hi * 1000:.0f} µs" if hi != float("inf") else f">= {lo * 1000:.0f} µs"
        print(f"| {label} | {len(sel) / len(many_runs):.0f} | {sum(sel):,.2f} |")
        lo = hi


def torch_ops(a):
    """bench_peft.py with its kernel profile replaced by one that keeps every operator and its input shapes."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:0] = [here, os.path.join(here, "..")]  # tools/bench/ in the tree; side by side in the GPU bundle
    import bench_peft

    def profile(torch, train_step, steps, device):
        from torch.profiler import ProfilerActivity, profile as torch_profile
        gpu = device == "cuda"
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if gpu else [])
        with torch_profile(activities=activities, record_shapes=True) as prof:
            for _ in range(steps):
                train_step()
            if gpu:
                torch.cuda.synchronize()
        # on the GPU an operator's own kernels' time; on the CPU its own time
        own = (lambda e: e.self_device_time_total) if gpu else (lambda e: e.self_cpu_time_total)
        # the operators only: with CUDA activities on, each kernel is a row of its own as well, whose time its
        # launching operator's self time already counts
        ops = [e for e in prof.key_averages(group_by_input_shape=True)
               if str(getattr(e, "device_type", "CPU")).endswith("CPU")]
        rows = [{"name": e.key, "shapes": str(e.input_shapes)[:400], "count": e.count / steps,
                 "self_ms": own(e) / steps / 1000}
                for e in ops if own(e) > 0]
        rows.sort(key=lambda r: -r["self_ms"])
        with open(a.out, "w") as f:
            json.dump(rows, f, indent=1)
        return {"steps": steps, "ms_per_step": round(sum(r["self_ms"] for r in rows), 3), "ops_file": a.out}

    bench_peft.kernel_profile = profile
    sys.argv = ["bench_peft.py"] + a.rest
    bench_peft.main()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("table", help="the side-by-side table")
    t.add_argument("--ort", required=True)
    t.add_argument("--torch", required=True)
    t.add_argument("--ort-runs", type=int, default=3)
    t.add_argument("--top", type=int, default=20)
    t.add_argument("--launch-floor", action="store_true",
                   help="the ORT profile ran under CUDA_LAUNCH_BLOCKING=1: take each node's launch out")
    c = sub.add_parser("scaling", help="one step graph at two thread counts, op type by op type")
    c.add_argument("--few", required=True, help="ORT profile at the lower thread count")
    c.add_argument("--many", required=True, help="ORT profile at the higher thread count")
    c.add_argument("--labels", default="2 threads,16 threads")
    c.add_argument("--ort-runs", type=int, default=3)
    c.add_argument("--top", type=int, default=25)
    o = sub.add_parser("torch_ops", help="run bench_peft.py, keeping every profiled operator with its shapes")
    o.add_argument("--out", required=True)
    o.add_argument("rest", nargs=argparse.REMAINDER, help="-- then bench_peft.py's arguments")
    a = p.parse_args()
    if a.cmd == "table":
        table(a)
    elif a.cmd == "scaling":
        scaling(a)
    else:
        a.rest = [x for x in a.rest if x != "--"]
        if "--profile-kernels" not in a.rest:
            sys.exit("give bench_peft.py --profile-kernels N: the number of steps to profile")
        torch_ops(a)


if __name__ == "__main__":
    main()
