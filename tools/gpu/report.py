#!/usr/bin/env python3
"""Reads what tools/gpu/run-on-device.sh produced (standard library, plus onnx where named).

  report.py parity CPU_RUN CUDA_RUN [--tol 1e-3]   loss curves (metrics.jsonl) and final adapters of two train runs
  report.py placement VERBOSE_LOG [--model training_model.onnx ...]
                                                   ORT's "Node placements", per session; nodes not on CUDA
  report.py profile PROFILE.json [--top 20]        per-op-type time of an ORT profile
  report.py table RESULTS_DIR                      the benchmark table (markdown) from the bench-*.json files
  report.py shapes METRICS.jsonl [--warmup N] [--top K] [--batch B]
                                                   the padded shapes a train run met most often (BxS+T per line)
  report.py realdata RESULTS_DIR [--warmup N]      real-data table: train vs PEFT, and train vs bench-train per shape
  report.py datascale RUNS_DIR --rounds R [--warmup N] [--clocks CSV] FILE...
                                                   start-up and step time of train runs NAME-rR on each FILE, and
                                                   their spread over the files (step, per padded token, per shape)
  report.py multi MULTI_DIR [--warmup N]           issue 15: train --devices on 1/2/4 GPUs against PEFT DDP, and
                                                   the N-GPU vs gradient-accumulation equivalence
  report.py floor RESULTS_DIR                      GPU memory stage by stage before any model: ORT vs PyTorch
  report.py kprof RESULTS_DIR                      each missed row's step by kind of work, both tools
  report.py threads RESULTS_DIR [--warmup N]       tiny CUDA steps per --threads value, every round
  report.py rows RESULTS_DIR [--prefix P]          bench-P*.json by name: tokens/s, step, peak GPU memory
  report.py rounds RESULTS_DIR [--prefix c2_]      cpu2rot: each setting's step per round and its ratio to PEFT's
  report.py layout LAYOUT.jsonl                    head split/merge on ORT's CPU: Transpose vs Gather per thread count
"""
import argparse
import collections
import glob
import json
import math
import os
import re
import sys

# Ops that only ever compute shapes or indices when they land on the CPU in our graphs: ORT assigns
# them there on purpose (GetCpuPreferredNodes). Anything else on the CPU is a real fallback.
SHAPE_OPS = {"Shape", "Size", "Gather", "Concat", "Unsqueeze", "Squeeze", "Reshape", "Equal", "Not", "And", "Or",
             "NonZero", "Sub", "Add", "Mul", "Div", "Expand", "Range", "Cast", "ConstantOfShape", "Slice",
             "ReduceSum", "ReduceProd", "Identity", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Where",
             "Max", "Min", "Neg", "Abs", "Flatten", "Transpose", "Tile", "Constant"}


def load_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def parity(a):
    cpu = [e for e in load_jsonl(os.path.join(a.cpu, "metrics.jsonl")) if e.get("event") == "train"]
    gpu = [e for e in load_jsonl(os.path.join(a.cuda, "metrics.jsonl")) if e.get("event") == "train"]
    if len(cpu) != len(gpu) or not cpu:
        sys.exit(f"step counts differ or empty: cpu {len(cpu)}, cuda {len(gpu)}")
    rows, worst_loss, worst_norm = [], 0.0, 0.0
    for c, g in zip(cpu, gpu):
        rl = abs(c["loss"] - g["loss"]) / max(abs(c["loss"]), 1e-12)
        rn = abs(c["grad_norm"] - g["grad_norm"]) / max(abs(c["grad_norm"]), 1e-12)
        worst_loss, worst_norm = max(worst_loss, rl), max(worst_norm, rn)
        rows.append({"step": c["step"], "loss_cpu": c["loss"], "loss_cuda": g["loss"], "rel_diff": rl,
                     "grad_norm_cpu": c["grad_norm"], "grad_norm_cuda": g["grad_norm"], "grad_norm_rel_diff": rn})
    out = {"steps": len(rows), "tolerance_rel": a.tol, "max_loss_rel_diff": worst_loss,
           "max_grad_norm_rel_diff": worst_norm, "loss_first": [rows[0]["loss_cpu"], rows[0]["loss_cuda"]],
           "loss_last": [rows[-1]["loss_cpu"], rows[-1]["loss_cuda"]]}
    out.update(adapter_diff(a.cpu, a.cuda))
    out["pass"] = worst_loss <= a.tol
    out["per_step"] = rows
    print(json.dumps(out, indent=1))
    return 0 if out["pass"] else 1


def adapter_diff(run_a, run_b):
    """max |a-b| / max |a| over the final adapters of two runs (needs numpy + safetensors)."""
    try:
        import numpy as np
        from safetensors.numpy import load_file
    except ImportError:
        return {}
    fa = sorted(glob.glob(os.path.join(run_a, "checkpoints", "step-*", "*.safetensors")))
    fb = sorted(glob.glob(os.path.join(run_b, "checkpoints", "step-*", "*.safetensors")))
    res = {}
    for x, y in zip(fa, fb):
        ta, tb = load_file(x), load_file(y)
        num = max(float(np.max(np.abs(ta[k] - tb[k]))) for k in ta)
        den = max(float(np.max(np.abs(ta[k]))) for k in ta)
        res["final_" + os.path.basename(x).split(".")[0] + "_max_rel_diff"] = num / max(den, 1e-30)
    return res


PLACED = re.compile(r"(All nodes|Node\(s\)) placed on \[(\w+)\]\. Number of nodes: (\d+)")
NODE = re.compile(r"VerifyEachNodeIsAssignedToAnEp\]   (\S+) \((.*)\)\s*$")


def parse_placements(path):
    """Sessions in order of creation: [{provider: [(op, name), ...]}]."""
    sessions, cur, provider = [], None, None
    with open(path, errors="replace") as f:
        for line in f:
            if "Node placements" in line:
                cur = collections.OrderedDict()
                sessions.append(cur)
                provider = None
                continue
            m = PLACED.search(line)
            if m and cur is not None:
                provider = m.group(2)
                cur.setdefault(provider, [])
                if m.group(1) == "All nodes":
                    cur[provider].append(("*all*", m.group(3)))
                continue
            m = NODE.search(line.rstrip("\n"))
            if m and cur is not None and provider is not None:
                cur[provider].append((m.group(1), m.group(2)))
    return sessions


def float_outputs(models):
    """node name -> True when some output is a float tensor (needs onnx; empty if unavailable)."""
    try:
        import onnx
    except ImportError:
        return {}
    res = {}
    for path in models:
        m = onnx.load(path, load_external_data=False)
        try:
            m = onnx.shape_inference.infer_shapes(m)
        except Exception:  # noqa: BLE001 - best effort
            pass
        types = {v.name: v.type.tensor_type.elem_type for v in list(m.graph.value_info) + list(m.graph.output)
                 + list(m.graph.input)}
        for n in m.graph.node:
            res[n.name] = any(types.get(o) in (1, 10, 11, 16) for o in n.output)
    return res


def placement(a):
    sessions = parse_placements(a.log)
    floats = float_outputs(a.model or [])
    names = a.names.split(",") if a.names else [f"session{i}" for i in range(len(sessions))]
    out = {"sessions": []}
    for i, s in enumerate(sessions):
        name = names[i] if i < len(names) else f"session{i}"
        info = {"session": name, "providers": {p: (int(v[0][1]) if v and v[0][0] == "*all*" else len(v))
                                               for p, v in s.items()}}
        cpu = [(op, n) for p, v in s.items() if p != "CUDAExecutionProvider" for op, n in v if op != "*all*"]
        by_op = collections.Counter(op for op, _ in cpu)
        info["not_on_cuda_by_op"] = dict(by_op.most_common())
        suspicious = [{"op": op, "node": n, "float_output": floats.get(n)} for op, n in cpu
                      if op not in SHAPE_OPS or floats.get(n)]
        info["not_shape_arithmetic"] = suspicious
        cuda = s.get("CUDAExecutionProvider", [])
        info["memcpy_nodes"] = dict(collections.Counter(op for op, _ in cuda if op.startswith("Memcpy")))
        out["sessions"].append(info)
    with open(a.log, errors="replace") as f:
        out["memcpy_warnings"] = [line.strip()[-220:] for line in f if "Memcpy nodes are added" in line]
    print(json.dumps(out, indent=1))
    return 0


def profile(a):
    """Per-op-type kernel time per run, the first (warm-up) run left out when there are several."""
    with open(a.file) as f:
        events = json.load(f)
    runs = sorted((e["ts"], e["ts"] + e["dur"]) for e in events
                  if e.get("cat") == "Session" and e.get("name") == "model_run")
    kept = runs[1:] if len(runs) > 1 else runs
    per_op = collections.defaultdict(lambda: [0, 0, set()])
    total = 0
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        if kept and not any(lo <= e["ts"] <= hi for lo, hi in kept):
            continue
        args = e.get("args", {})
        op = args.get("op_name", "?")
        per_op[op][0] += e["dur"]
        per_op[op][1] += 1
        per_op[op][2].add(args.get("provider", "?").replace("ExecutionProvider", ""))
        total += e["dur"]
    n = max(len(kept), 1)
    durs = sorted(hi - lo for lo, hi in kept)
    rows = sorted(per_op.items(), key=lambda kv: -kv[1][0])
    out = {"file": os.path.basename(a.file), "runs_total": len(runs), "runs_counted": len(kept),
           "model_run_ms_median": durs[len(durs) // 2] / 1000 if durs else None,
           "kernel_ms_per_run": round(total / 1000 / n, 3),
           "top": [{"op": op, "ms_per_run": round(d / 1000 / n, 3), "share": round(d / max(total, 1), 4),
                    "nodes_per_run": c // n, "providers": sorted(p)} for op, (d, c, p) in rows[:a.top]]}
    print(json.dumps(out, indent=1))
    return 0


def fmt_mb(b):
    return "" if b is None else f"{b / 2**20:,.0f}"


def table(a):
    rows = []
    for path in sorted(glob.glob(os.path.join(a.dir, "bench-*.json"))):
        try:
            with open(path) as f:
                r = json.load(f)
        except (OSError, ValueError):
            continue
        name = os.path.basename(path)[len("bench-"):-len(".json")]
        mem = {}
        mp = os.path.join(a.dir, "gpumem-" + name + ".json")
        if os.path.exists(mp):
            with open(mp) as f:
                mem = json.load(f)
        parts = name.split("_")
        variant = parts[3] if len(parts) > 3 else ""
        tool = r.get("tool", "onnx-lora") + (f" ({variant})" if variant else "")
        # the row's name says the size where it follows TOOL_SIZE_DEVICE (a stand-in model may weigh anything)
        size = r.get("size") or (parts[1] if len(parts) > 2 and parts[1] in ("tiny", "base", "large") else
                                 "base" if r.get("model_weight_bytes", 0) > 100e6 else "tiny")
        dev = r.get("device", "?")
        dev = "cuda" if dev.startswith("cuda") else "cpu"
        rows.append({"name": name, "variant": variant, "tool": tool, "size": size, "device": dev,
                     "threads": r.get("threads"), "tok_s": r.get("tokens_per_second"),
                     "step_ms": r.get("step_ms_median"), "steps": len(r.get("step_ms_all", [])),
                     "first": r.get("time_to_first_step_seconds"), "rss": r.get("peak_rss_bytes"),
                     "gpu_alloc": r.get("gpu_max_memory_allocated_bytes"),
                     "gpu_proc": mem.get("gpu_peak_delta_bytes")})
    rows.sort(key=lambda x: (x["size"], x["device"], -(x["threads"] or 0) if x["device"] == "cpu" else 0, x["tool"]))
    print("| model | device | tool | tokens/s | step ms (median) | timed steps | time to 1st step s | peak RSS MB "
          "| peak GPU MB (process, nvml) | torch max_allocated MB |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for x in rows:
        d = "CUDA" if x["device"] == "cuda" else f"CPU {x['threads']} thr"
        print(f"| {x['size']} | {d} | {x['tool']} | {x['tok_s']:,.0f} | {x['step_ms']:,.1f} | {x['steps']} "
              f"| {x['first']:.1f} | {fmt_mb(x['rss'])} | {fmt_mb(x['gpu_proc'])} | {fmt_mb(x['gpu_alloc'])} |")
    # ratios onnx-lora / peft per (size, device, threads)
    print()
    print("| model | device | tokens/s onnx-lora / PEFT | peak GPU onnx-lora / PEFT |")
    print("|---|---|---:|---:|")
    key = lambda x: (x["size"], x["device"], x["threads"] if x["device"] == "cpu" else None)  # noqa: E731
    ol = {key(x): x for x in rows if x["tool"] == "onnx-lora"}
    pf = {key(x): x for x in rows if x["tool"] == "pytorch+peft"}
    for k, o in sorted(ol.items(), key=lambda kv: str(kv[0])):
        p = pf.get(k)
        if not p or not p["tok_s"]:
            continue
        g = ""
        if o["gpu_proc"] and p["gpu_proc"]:
            g = f"{o['gpu_proc'] / p['gpu_proc']:.2f}"
        d = "CUDA" if k[1] == "cuda" else f"CPU {k[2]} thr"
        print(f"| {k[0]} | {d} | {o['tok_s'] / p['tok_s']:.2f} | {g} |")
    # onnx-lora's variant rows (ol_SIZE_DEV_VARIANT) against PEFT's row of the same variant where there is one
    # (tf32, bf16), else its plain row; the device column names the variant
    pfv = {key(x) + (x["variant"],): x for x in rows if x["name"].startswith("peft_")}
    for o in sorted((x for x in rows if x["name"].startswith("ol_") and x["variant"] and x["tok_s"]),
                    key=lambda x: (x["size"], x["device"], -(x["threads"] or 0), x["variant"])):
        p = pfv.get(key(o) + (o["variant"],)) or pf.get(key(o))
        if not p or not p["tok_s"]:
            continue
        g = f"{o['gpu_proc'] / p['gpu_proc']:.2f}" if o["gpu_proc"] and p["gpu_proc"] else ""
        d = "CUDA" if o["device"] == "cuda" else f"CPU {o['threads']} thr"
        vs = f", vs PEFT ({p['variant']})" if p["variant"] else ""
        print(f"| {o['size']} | {d} ({o['variant']}{vs}) | {o['tok_s'] / p['tok_s']:.2f} | {g} |")
    return 0


def train_steps(path, warmup):
    """The train events of a metrics.jsonl after the first `warmup` steps."""
    return [e for e in load_jsonl(path) if e.get("event") == "train" and e["step"] > warmup]


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return None if n == 0 else (xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2)


def realdata_train(path, warmup):
    """Median step and real tokens/s of a train run from its metrics.jsonl (needs step_seconds)."""
    steps = train_steps(path, warmup)
    if not steps or "step_seconds" not in steps[0]:
        return None
    secs = [e["step_seconds"] for e in steps]
    real = [e["tokens"] for e in steps]
    padded = [e["padded_tokens"] for e in steps]
    return {"timed_steps": len(steps), "step_ms_median": median(secs) * 1000,
            "real_tokens_per_step_median": median(real), "real_tokens_per_second": sum(real) / sum(secs),
            "padding_efficiency": sum(real) / sum(padded),
            "distinct_shapes": len({e["padded_shape"] for e in steps})}


def shape_counts(path, warmup, batch=None):
    """padded shape -> step times (s), for single-batch steps of `batch` rows (any when None)."""
    by = collections.defaultdict(list)
    for e in train_steps(path, warmup):
        shape = e.get("padded_shape", "")
        if "," in shape or not shape:
            continue
        if batch is not None and int(shape.split("x")[0]) != batch:
            continue
        by[shape].append(e["step_seconds"])
    return by


def shape_key(shape):
    b, rest = shape.split("x")
    s, t = rest.split("+")
    return int(b), int(s), int(t)


def shapes(a):
    by = shape_counts(a.metrics, a.warmup, a.batch)
    ranked = sorted(by.items(), key=lambda kv: (-len(kv[1]), -sum(shape_key(kv[0]))))
    for shape, _ in ranked[:a.top]:
        print(shape)
    return 0


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def realdata(a):
    """Markdown: train vs the PEFT loop per size, then train's step per padded shape vs bench-train at it."""
    print("| model | device | tool | median step ms | real tokens/step (median) | real tokens/s | padding efficiency "
          "| distinct shapes | timed steps | process wall s | peak GPU MB (process, nvml) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    ratios = []
    sizes = sorted({os.path.basename(p)[len("rd-ol_"):-len(".metrics.jsonl")]
                    for p in glob.glob(os.path.join(a.dir, "rd-ol_*.metrics.jsonl"))}
                   | {os.path.basename(p)[len("rd-peft_"):-len(".json")]
                      for p in glob.glob(os.path.join(a.dir, "rd-peft_*.json")) if not p.endswith(".wall.json")})
    for size in sizes:
        ol = realdata_train(os.path.join(a.dir, f"rd-ol_{size}.metrics.jsonl"), a.warmup)
        pf = read_json(os.path.join(a.dir, f"rd-peft_{size}.json"))
        summary = read_json(os.path.join(a.dir, f"rd-ol_{size}.json")) or {}
        dev = "CUDA" if pf and pf.get("device") == "cuda" or os.path.exists(
            os.path.join(a.dir, f"gpumem-rd-ol_{size}.json")) else "CPU"
        for tool, r in (("onnx-lora train", ol), ("PyTorch + PEFT", pf)):
            if not r:
                print(f"| {size} | {dev} | {tool} | missing | | | | | | | |")
                continue
            key = "ol" if tool.startswith("onnx") else "peft"
            wall = (read_json(os.path.join(a.dir, f"rd-{key}_{size}.wall.json")) or {}).get("wall_ms")
            mem = (read_json(os.path.join(a.dir, f"gpumem-rd-{key}_{size}.json")) or {}).get("gpu_peak_delta_bytes")
            print(f"| {size} | {dev} | {tool} | {r['step_ms_median']:,.1f} | {r['real_tokens_per_step_median']:,.0f} "
                  f"| {r['real_tokens_per_second']:,.0f} | {r['padding_efficiency']:.3f} | {r['distinct_shapes']} "
                  f"| {r['timed_steps']} | {'' if wall is None else f'{wall / 1000:.1f}'} | {fmt_mb(mem)} |")
        if ol and pf:
            ratios.append((size, dev, ol["real_tokens_per_second"] / pf["real_tokens_per_second"]))
        if summary and not summary.get("steps"):
            print(f"| {size} | {dev} | (train summary incomplete) | | | | | | | | |")
    print()
    print("| model | device | real tokens/s onnx-lora / PEFT (target ≥ 1.0) |")
    print("|---|---|---:|")
    for size, dev, r in ratios:
        print(f"| {size} | {dev} | **{r:.2f}×** |")
    print()
    print("| model | padded shape | train steps at it | train median step ms | bench-train median step ms "
          "| ratio (target ≤ 1.2) |")
    print("|---|---|---:|---:|---:|---:|")
    for size in sizes:
        metrics = os.path.join(a.dir, f"rd-ol_{size}.metrics.jsonl")
        if not os.path.exists(metrics):
            continue
        by = shape_counts(metrics, a.warmup)
        for path in sorted(glob.glob(os.path.join(a.dir, f"rdfixed-{size}_*.json"))):
            r = read_json(path)
            if not r:
                continue
            shape = f"{r['batch']}x{r['source_length']}+{r['target_length']}"
            times = by.get(shape, [])
            if not times:
                continue
            m = median(times) * 1000
            print(f"| {size} | {shape} | {len(times)} | {m:,.1f} | {r['step_ms_median']:,.1f} "
                  f"| **{m / r['step_ms_median']:.2f}** |")
    return 0


def read_clocks(path):
    """(epoch ms, SM MHz) samples of `nvidia-smi --query-gpu=timestamp,clocks.sm,... -lms N` (local-time stamps)."""
    import datetime
    out = []
    with open(path) as f:
        for line in f:
            parts = [x.strip() for x in line.split(",")]
            try:
                ts = datetime.datetime.strptime(parts[0], "%Y/%m/%d %H:%M:%S.%f").timestamp() * 1000
                out.append((ts, float(parts[1])))
            except (ValueError, IndexError):
                continue
    return out


MEMORY_ROWS = [
    # (precision, bench name, setting as the user gives it), PEFT row first per precision
    ("fp32", "peft_base_cuda", "PyTorch + PEFT"),
    ("fp32", "ol_base_cuda", "default (auto: lean on CUDA)"),
    ("fp32", "ol_base_cuda_fast", "--gpu-memory fast"),
    ("fp32", "ol_base_cuda_devinit", "--cuda-option session.use_device_allocator_for_initializers=1"),
    ("fp32", "ol_base_cuda_nomempat", "--cuda-option enable_mem_pattern=0"),
    ("fp32", "ol_base_cuda_arenadevinit", "kSameAsRequested + device allocator for initializers"),
    ("fp32", "ol_base_cuda_lean", "the three settings as --cuda-option"),
    ("fp32", "ol_base_cuda_leanp", "--gpu-memory lean"),
    ("fp32", "ol_base_cuda_rc", "--recompute attention"),
    ("fp32", "ol_base_cuda_leanrc", "--gpu-memory lean --recompute attention"),
    ("bf16", "peft_base_cuda_bf16mem", "PyTorch + PEFT, bf16 autocast"),
    ("bf16", "ol_base_cuda_bf16mem", "--precision bf16 --gpu-memory fast"),
    ("bf16", "ol_base_cuda_bf16lean", "--precision bf16 --gpu-memory lean"),
    ("bf16", "ol_base_cuda_bf16leanrc", "--precision bf16 --gpu-memory lean --recompute attention"),
]


def memory(a):
    """Markdown: peak GPU memory and speed of each memory setting against PEFT of the same precision and run."""
    def row(name):
        r = read_json(os.path.join(a.dir, f"bench-{name}.json"))
        m = read_json(os.path.join(a.dir, f"gpumem-{name}.json")) or {}
        return r, m.get("gpu_peak_delta_bytes")

    print("| base, fixed 128+32, batch 32 | setting | tokens/s | step ms | peak GPU MB | memory vs PEFT | speed vs PEFT |")
    print("|---|---|---:|---:|---:|---:|---:|")
    peft = {}
    for prec, name, label in MEMORY_ROWS:
        r, mem = row(name)
        if name.startswith("peft"):
            peft[prec] = (r, mem)
        if not r:
            print(f"| {prec} | {label} | missing | | | | |")
            continue
        pr, pm = peft.get(prec, (None, None))
        mr = f"**{mem / pm:.2f}×**" if mem and pm and not name.startswith("peft") else ""
        sr = f"{r['tokens_per_second'] / pr['tokens_per_second']:.2f}×" if pr and not name.startswith("peft") else ""
        print(f"| {prec} | {label} | {r['tokens_per_second']:,.0f} | {r['step_ms_median']:,.1f} | {fmt_mb(mem)} "
              f"| {mr} | {sr} |")
    print()
    print("| base, train on the real pairs (≤ 256 + ≤ 48 tokens) | median step ms | real tokens/s | peak GPU MB |")
    print("|---|---:|---:|---:|")
    for v, label in (("default", "--gpu-memory fast"), ("lean", "--gpu-memory lean"),
                     ("leanrc", "--gpu-memory lean --recompute attention")):
        metrics = os.path.join(a.dir, f"rd-mem_{v}_base.metrics.jsonl")
        r = realdata_train(metrics, a.warmup) if os.path.exists(metrics) else None
        mem = (read_json(os.path.join(a.dir, f"gpumem-rd-mem_{v}_base.json")) or {}).get("gpu_peak_delta_bytes")
        if not r:
            print(f"| {label} | missing | | |")
            continue
        print(f"| {label} | {r['step_ms_median']:,.1f} | {r['real_tokens_per_second']:,.0f} | {fmt_mb(mem)} |")
    return 0


def spread(xs):
    """How far apart values are, in percent of the smallest: (max - min) / min."""
    return (max(xs) - min(xs)) / min(xs) * 100


def datascale(a):
    """One row per data file: start-up of the cache miss (round 1) and hits, median step, step per padded token,
    the padded tokens of a median step, and with --clocks the GPU's SM clock during the runs; then the spread of
    the per-size medians against the issue's 5 % (step time and step per padded token, each on its own line) and
    of a shape-matched ratio to the first file (the median over shared padded shapes of the per-shape medians)."""
    clocks = read_clocks(a.clocks) if a.clocks else []
    print("| rows | start-up s, cache miss (round 1) | start-up s, cache hit: median (range) | median step ms: median "
          "over all rounds (range) | median step µs per padded token: median (range) | timed steps per run "
          "| timed steps in all | padded tokens a step: median |" + (" SM MHz during the runs: median (min) |" if clocks else ""))
    print("|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if clocks else ""))
    size_step, size_tok, size_shapes = {}, {}, {}
    for f in a.files:
        name = os.path.basename(f)[:-len(".jsonl")]
        with open(f) as fh:
            rows = sum(1 for _ in fh)
        start, step, per_tok, padded, n, total, mhz = [], [], [], [], 0, 0, []
        by_shape = collections.defaultdict(list)
        for r in range(1, a.rounds + 1):
            base = os.path.join(a.dir, f"{name}-r{r}")
            summary = read_json(base + ".json")
            ev = train_steps(os.path.join(base, "metrics.jsonl"), a.warmup) if summary else []
            if not ev:
                continue
            with open(base + ".wall_ms") as fh:
                wall = int(fh.read()) / 1000
            n = len(ev)
            total += n
            start.append(wall - summary["seconds"])
            step.append(median([e["step_seconds"] for e in ev]) * 1000)
            per_tok.append(median([e["step_seconds"] / e["padded_tokens"] for e in ev]) * 1e6)
            padded.extend(e["padded_tokens"] for e in ev)
            for e in ev:
                if "," not in e.get("padded_shape", ","):
                    by_shape[e["padded_shape"]].append(e["step_seconds"] * 1000)
            if clocks and os.path.exists(base + ".window"):
                with open(base + ".window") as fh:
                    lo, hi = map(int, fh.read().split())
                mhz.extend(m for t, m in clocks if lo <= t <= hi)
        if not start:
            print(f"| {rows} | missing | | | | | | |" + (" |" if clocks else ""))
            continue
        hs = start[1:] or start
        clock = ""
        if clocks:
            clock = f" {median(mhz):.0f} ({min(mhz):.0f}) |" if mhz else " |"
        size_step[rows], size_tok[rows], size_shapes[rows] = median(step), median(per_tok), by_shape
        print(f"| {rows} | {start[0]:.1f} | {median(hs):.1f} ({min(hs):.1f}-{max(hs):.1f}) "
              f"| {median(step):.2f} ({min(step):.2f}-{max(step):.2f}) "
              f"| {median(per_tok):.3f} ({min(per_tok):.3f}-{max(per_tok):.3f}) | {n} | {total} "
              f"| {median(padded):,.0f} |{clock}")
    if len(size_step) > 1:
        print()
        for label, by, unit in (("median step (the target's measure)", size_step, "ms"),
                                ("median step per padded token (the corpora's batches differ in padded size; the "
                                 "fairer measure where the step's cost follows its tokens, as when GPU-bound)",
                                 size_tok, "µs")):
            lo, hi = min(by, key=by.get), max(by, key=by.get)
            s = spread(list(by.values()))
            digits = 2 if unit == "ms" else 3
            print(f"- spread over sizes of the {label}: **{s:.1f} %**, {by[lo]:,.{digits}f} {unit} at {lo:,} rows to "
                  f"{by[hi]:,.{digits}f} {unit} at {hi:,} rows; target within 5 %: **{'met' if s <= 5 else 'missed'}**")
        # the same padded shape at every size: what is left of a size's step is what the data's size costs, with
        # neither the batch mix (which shapes a run's steps happen to have) nor the padding
        ref = next(iter(size_shapes))
        shared = [sh for sh in size_shapes[ref]
                  if all(len(size_shapes[r].get(sh, ())) >= 3 for r in size_shapes)]
        if shared:
            ratio = {r: median([median(size_shapes[r][sh]) / median(size_shapes[ref][sh]) for sh in shared])
                     for r in size_shapes}
            s = spread(list(ratio.values()))
            cells = ", ".join(f"{r:,} rows {v:.3f}×" for r, v in ratio.items() if r != ref)
            print(f"- shape-matched, per padded shape that every size met at least 3 times ({len(shared)} shapes), "
                  f"each size's median step at that shape against {ref:,} rows', median over the shapes: {cells}; "
                  f"spread **{s:.1f} %**; target within 5 %: **{'met' if s <= 5 else 'missed'}**")
        else:
            print("- shape-matched: no padded shape that every size met at least 3 times (too few steps a run)")
    return 0


LAYOUT_OPS = {"split": "split [B,T,H,D]→[B,H,T,D]", "merge": "merge [B,H,T,D]→[B,T,H,D]",
              "scores": "scores Q·Kᵀ, K as [B,T,H,D]"}


def fmt_us(v):
    return "" if v is None else f"{v:,.1f}"


def layout(a):
    """Markdown from tools/bench/layout_bench.py's lines: per shape, op and thread count, Transpose against Gather."""
    by = collections.defaultdict(dict)
    cores = {}
    lines = load_jsonl(a.jsonl)
    for r in lines:
        by[(r["shape"], r["op"], r["threads"])][r["kind"]] = r["us"]
        cores[r["threads"]] = r.get("cores")
    shapes = list(dict.fromkeys(k[0] for k in by))
    threads = sorted({k[2] for k in by})
    ops = [o for o in LAYOUT_OPS if any(k[1] == o for k in by)]
    versions = sorted({r.get("ort", "?") for r in lines})
    print(f"ONNX Runtime {', '.join(versions)} (Python), CPU provider, one-node sessions. Transpose / Gather time per "
          "thread count (above 1: the Gather copy is faster; scores: the exported Transpose [0,2,3,1] + MatMul "
          "against a Gather split + FusedMatMul transB):")
    print()
    print("| shape | op | " + " | ".join(f"{t} thr" for t in threads) + " |")
    print("|---|---|" + "---:|" * len(threads))
    for shape in shapes:
        for op in ops:
            cells = []
            for t in threads:
                v = by.get((shape, op, t), {})
                cells.append(f"{v['transpose'] / v['gather']:.2f}" if v.get("transpose") and v.get("gather") else "")
            print(f"| {shape} | {op} | " + " | ".join(cells) + " |")
    print()
    print("| shape | threads (cores) | op | Transpose µs | Gather µs | Transpose / Gather "
          "| scores: Transpose [0,2,1,3] + FusedMatMul transB µs |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for shape in shapes:
        for t in threads:
            for op in ops:
                v = by.get((shape, op, t))
                if not v:
                    continue
                tr, ga, tb = v.get("transpose"), v.get("gather"), v.get("transpose_transB")
                ratio = f"**{tr / ga:.2f}**" if tr and ga else ""
                print(f"| {shape} | {t} ({cores.get(t, '?')}) | {LAYOUT_OPS[op]} | {fmt_us(tr)} | {fmt_us(ga)} | {ratio} "
                      f"| {fmt_us(tb)} |")
    return 0


def gpu_indices(devices, n):
    """Physical GPU indices of the first n entries of a device list (cuda:K; cuda = 0); None for CPU."""
    out = []
    for d in devices.split(",")[:n]:
        if not d.startswith("cuda"):
            return None
        out.append(int(d.split(":")[1]) if ":" in d else 0)
    return out


def per_gpu_mb(mem, indices):
    """'a / b / ...' MB of each GPU's peak process memory (NVML; the device's used delta where the driver has no
    per-process figure)."""
    if not mem or indices is None:
        return ""
    by = {d["index"]: d for d in mem.get("per_device", [])}
    vals = []
    for i in dict.fromkeys(indices):
        d = by.get(i) or (mem if i == 0 else {})
        vals.append(d.get("gpu_process_peak_bytes") or d.get("gpu_peak_delta_bytes"))
    return " / ".join(fmt_mb(v) for v in vals) if any(vals) else ""


def multi(a):
    """Markdown: onnx-lora train --devices and PEFT DDP per GPU count, their ratio, and the equivalence check."""
    cfg = read_json(os.path.join(a.dir, "config.json")) or {}
    devices = cfg.get("devices", "")
    ns = [int(x) for x in str(cfg.get("ns", "1 2 4")).split()]
    ol, pf = {}, {}
    for n in ns:
        steps = [e for e in load_jsonl(os.path.join(a.dir, f"ol-{n}.metrics.jsonl"))
                 if e.get("event") == "train"][a.warmup:] if os.path.exists(os.path.join(a.dir, f"ol-{n}.metrics.jsonl")) else []
        if steps:
            step = median([e["step_seconds"] for e in steps])
            tokens = median([e["padded_tokens"] for e in steps])
            ar = [e["allreduce_seconds"] for e in steps if "allreduce_seconds" in e]
            ol[n] = {"step_ms": step * 1000, "tok_s": tokens / step, "timed": len(steps),
                     "shapes": sorted({e["padded_shape"] for e in steps}),
                     "real_share": sum(e["tokens"] for e in steps) / max(1, sum(e["padded_tokens"] for e in steps)),
                     "ar_ms": median(ar) * 1000 if ar else 0.0,
                     "ar_share": median([e["allreduce_seconds"] / e["step_seconds"] for e in steps
                                         if "allreduce_seconds" in e]) if ar else 0.0,
                     "mem": per_gpu_mb(read_json(os.path.join(a.dir, f"gpumem-ol-{n}.json")), gpu_indices(devices, n))}
        r = read_json(os.path.join(a.dir, f"peftddp-{n}.json"))
        if r:
            idx = gpu_indices(devices, n)
            ranks = r.get("per_rank", [])
            pf[n] = {"step_ms": r["step_ms_median"], "tok_s": r["tokens_per_second"], "timed": len(r["step_ms_all"]),
                     "ar_share": r.get("allreduce_exposed_share"), "ar_ms": r.get("allreduce_ms_median"),
                     "mem": per_gpu_mb(read_json(os.path.join(a.dir, f"gpumem-peftddp-{n}.json")), idx),
                     "alloc": " / ".join(fmt_mb(x.get("gpu_max_memory_allocated_bytes")) for x in ranks)
                     if any(x.get("gpu_max_memory_allocated_bytes") for x in ranks) else ""}
    print(f"Devices: {devices}; model {cfg.get('model', '?')}; per-device batch {cfg.get('batch_per_device', '?')} of "
          f"{cfg.get('source_length', '?')}+{cfg.get('target_length', '?')} tokens; medians after {a.warmup} warm-up "
          f"steps. Weak-scaling efficiency = tokens/s on N / (N x tokens/s on 1).")
    print()
    print("| GPUs | tool | median step ms | tokens/s | weak-scaling efficiency | all-reduce ms (median) "
          "| share of step in the all-reduce | peak GPU MB per GPU (NVML process) | torch max_allocated MB per rank "
          "| timed steps |")
    print("|---:|---|---:|---:|---:|---:|---:|---|---|---:|")
    for n in ns:
        for tool, rows in (("onnx-lora train --devices", ol), ("PyTorch + PEFT DDP", pf)):
            x = rows.get(n)
            if not x:
                print(f"| {n} | {tool} | missing | | | | | | | |")
                continue
            eff = f"{x['tok_s'] / (n * rows[1]['tok_s']):.3f}" if 1 in rows else ""
            ar_ms = "" if x["ar_ms"] is None else f"{x['ar_ms']:.2f}"
            share = "" if x["ar_share"] is None else f"{x['ar_share']:.1%}"
            if n == 1 and tool.startswith("onnx"):
                ar_ms, share = "none (one session)", "0"
            note = " (exposed: 1 - no_sync step / step)" if tool.startswith("PyTorch") and x["ar_share"] is not None \
                and n > 1 else ""
            print(f"| {n} | {tool} | {x['step_ms']:,.1f} | {x['tok_s']:,.0f} | {eff} | {ar_ms} | {share}{note} "
                  f"| {x['mem']} | {x.get('alloc', '')} | {x['timed']} |")
    print()
    print("| GPUs | tokens/s onnx-lora / PEFT DDP (target ≥ 1.0) | weak-scaling efficiency onnx-lora (target ≥ 0.90 at 4) "
          "| batch shapes seen by train | real / padded tokens |")
    print("|---:|---:|---:|---|---:|")
    for n in ns:
        o, p = ol.get(n), pf.get(n)
        ratio = f"**{o['tok_s'] / p['tok_s']:.2f}×**" if o and p else ""
        eff = f"**{o['tok_s'] / (n * ol[1]['tok_s']):.3f}**" if o and 1 in ol else ""
        print(f"| {n} | {ratio} | {eff} | {', '.join(o['shapes']) if o else ''} "
              f"| {'' if not o else format(o['real_share'], '.3f')} |")
    eq = [n for n in ns if n >= 2]
    if eq:
        print()
        print(f"Equivalence: {cfg.get('eq_steps', '?')} steps on one global batch of data, 1 device with --grad-accum N "
              "against N devices, TF32 off (target: adapters within 1e-5 relative).")
        print()
        print("| GPUs | final adapters max rel diff | AdamW moments max rel diff | pass |")
        print("|---:|---:|---:|---|")
        for n in eq:
            d = read_json(os.path.join(a.dir, f"eq-{n}.json")) or {}
            ad, mo = d.get("final_adapters_max_rel_diff"), d.get("final_optimizer_max_rel_diff")
            if ad is None:
                print(f"| {n} | missing | | |")
                continue
            print(f"| {n} | {ad:.2e} | {'' if mo is None else f'{mo:.2e}'} | {'yes' if ad <= 1e-5 else '**no**'} |")
    return 0


def floor(a):
    """Markdown: the stage-by-stage GPU memory of MemoryFloor (ONNX Runtime) and torch_floor.py (PyTorch)."""
    cols = [("ORT lean", "floor-ort-lean.json"), ("ORT fast", "floor-ort-fast.json"), ("PyTorch", "floor-torch.json")]
    runs = [(label, read_json(os.path.join(a.dir, f))) for label, f in cols]
    runs = [(label, r) for label, r in runs if r]
    if not runs:
        print("no floor results")
        return 1
    for label, r in runs:
        print(f"**{label}** ({r.get('device')}{', torch ' + r['torch'] if 'torch' in r else ''})")
        print()
        print("| stage | MiB over the start | this stage |")
        print("|---|---:|---:|")
        for st in r["stages"]:
            print(f"| {st['stage']} | {st['over_start_mib']:,} | {st['delta_mib']:+,} |")
        print()
    return 0


def kernel_ms(profile_json):
    """(matrix products, attention, other) ms per run from a `report.py profile` summary of an ORT profile."""
    kinds = {"matrix products": 0.0, "attention": 0.0, "other": 0.0}
    for row in profile_json.get("top", []):
        op = row["op"]
        kind = "matrix products" if op in ("MatMul", "FusedMatMul", "Gemm", "MatMulInteger") else \
            "attention" if op in ("Attention", "MultiHeadAttention") else "other"
        kinds[kind] += row["ms_per_run"]
    return kinds


def kprof(a):
    """Markdown: each missed row's step split by kind of work (kprof phase), both tools side by side."""
    print("| row | tool | step ms (median) | measured as | matrix products ms | attention ms | the rest ms "
          "| GPU busy (NVML, timed steps) |")
    print("|---|---|---:|---|---:|---:|---:|---:|")
    rows = [("base fp32, CUDA", "kp_peft_base_cuda", "kp_ol_base_cuda", None),
            ("base fp32, CUDA, ORT TunableOp", None, "kp_ol_base_cuda_tunable", None),
            ("base bf16, CUDA", "kp_peft_base_cuda_bf16", "kp_ol_base_cuda_bf16", None),
            ("tiny fp32, CUDA", "kp_peft_tiny_cuda", "kp_ol_tiny_cuda", None),
            ("tiny, CPU 16 threads", "kp_peft_tiny_cpu16", "kp_ol_tiny_cpu16", "profile-kp-tiny-cpu16-training.json"),
            ("tiny, CPU 16 threads, denormals as zero", None, "kp_ol_tiny_cpu16_daz", None),
            ("tiny, CPU 2 threads", "kp_peft_tiny_cpu2", "kp_ol_tiny_cpu2", "profile-kp-tiny-cpu2-training.json")]
    for label, pt, ol, prof in rows:
        for tool, name in (("PyTorch + PEFT", pt), ("onnx-lora", ol)):
            if not name:
                continue
            r = read_json(os.path.join(a.dir, f"bench-{name}.json"))
            if not r:
                continue
            mem = read_json(os.path.join(a.dir, f"gpumem-{name}.json")) or {}
            util = mem.get("per_device", [{}])[0].get("gpu_util_median_last_third") if mem else None
            util = f"{util} %" if util is not None else ""
            kp = r.get("kernel_profile")
            if kp:
                k = kp["by_kind_ms_per_step"]
                how = kp["what"] + (f", {kp['kernels_per_step']:.0f} kernels" if kp.get("kernels_per_step") else "")
                parts = [k.get("matrix products", 0), k.get("attention", 0),
                         sum(v for kk, v in k.items() if kk not in ("matrix products", "attention"))]
            elif tool == "onnx-lora" and prof and read_json(os.path.join(a.dir, prof)):
                pj = read_json(os.path.join(a.dir, prof))
                k = kernel_ms(pj)
                how = f"ORT profile, {pj.get('kernel_ms_per_run', 0):.1f} ms of kernels"
                parts = [k["matrix products"], k["attention"], k["other"]]
            else:
                how, parts = "", None
            cells = " | ".join(f"{v:,.1f}" for v in parts) if parts else " | | "
            print(f"| {label} | {tool} | {r['step_ms_median']:,.1f} | {how} | {cells} | {util} |")
    return 0


def threads(a):
    """Markdown: bench-train tiny CUDA and train on the real pairs per --threads value, every round (threads phase)."""
    runs = collections.defaultdict(lambda: {"bench": [], "train": []})
    for path in glob.glob(os.path.join(a.dir, "bench-th_tiny_cuda_t*_r*.json")):
        m = re.search(r"_t(\d+)_r(\d+)\.json$", path)
        r = read_json(path)
        if m and r:
            runs[int(m.group(1))]["bench"].append(r["step_ms_median"])
    for path in glob.glob(os.path.join(a.dir, "th-train-t*-r*.metrics.jsonl")):
        m = re.search(r"-t(\d+)-r(\d+)\.metrics", path)
        steps = train_steps(path, a.warmup)
        if m and steps:
            runs[int(m.group(1))]["train"].append(median([s["step_seconds"] * 1000 for s in steps]))
    print("| --threads | bench-train tiny CUDA, median step ms per round | train on the man-page pairs, median step ms per round | train: median over rounds (spread) |")
    print("|---:|---|---|---:|")
    for t in sorted(runs):
        b = ", ".join(f"{x:.2f}" for x in sorted(runs[t]["bench"]))
        tr = sorted(runs[t]["train"])
        spread = f"{median(tr):.2f} ({(tr[-1] - tr[0]) / median(tr) * 100:.0f} %)" if tr else ""
        print(f"| {t if t else '0 (one per core)'} | {b} | {', '.join(f'{x:.2f}' for x in tr)} | {spread} |")
    return 0


def rows(a):
    """Markdown: every bench-PREFIX*.json of a run by name, with tokens/s, step, peak GPU memory and how busy the
    GPU was over the last third of the run (memfixed, staticdims; the GPU columns stay empty on a CPU run)."""
    print("| run | tokens/s | step ms (median) | peak GPU MB (process, nvml) | GPU busy % (NVML, last third) |")
    print("|---|---:|---:|---:|---:|")
    for path in sorted(glob.glob(os.path.join(a.dir, f"bench-{a.prefix}*.json"))):
        name = os.path.basename(path)[len("bench-"):-len(".json")]
        r = read_json(path) or {}
        mem = read_json(os.path.join(a.dir, f"gpumem-{name}.json")) or {}
        if r.get("tokens_per_second"):
            busy = mem.get("gpu_util_median_last_third")
            print(f"| {name} | {r['tokens_per_second']:,.0f} | {r['step_ms_median']:.1f} "
                  f"| {fmt_mb(mem.get('gpu_peak_delta_bytes'))} | {'' if busy is None else busy} |")
    return 0


def rounds(a):
    """Markdown: rows named PREFIX<model>_<setting>_r<round> (cpu2rot), where each round ran every setting of a
    model at once, each on another core pair: per setting the step of every round and their median, then each
    setting's median ratio to the model's `peft` row, round by round (a round's rows shared the machine's load)."""
    steps = collections.defaultdict(dict)
    for path in glob.glob(os.path.join(a.dir, f"bench-{a.prefix}*_r*.json")):
        m = re.fullmatch(re.escape(a.prefix) + r"(\w+?)_(\w+)_r(\d+)", os.path.basename(path)[len("bench-"):-len(".json")])
        r = read_json(path) or {}
        if m and r.get("step_ms_median"):
            steps[(m.group(1), m.group(2))][int(m.group(3))] = r["step_ms_median"]
    print("| model | setting | median step ms per round | median over rounds | PEFT step / this step, per round | median ratio |")
    print("|---|---|---|---:|---|---:|")
    for (model, setting) in sorted(steps):
        mine, peft = steps[(model, setting)], steps.get((model, "peft"), {})
        per = ", ".join(f"{mine[k]:,.1f}" for k in sorted(mine))
        ratios = [peft[k] / mine[k] for k in sorted(mine) if k in peft] if setting != "peft" else []
        rs = ", ".join(f"{x:.2f}" for x in ratios)
        med = f"**{median(ratios):.2f}×**" if ratios else ""
        print(f"| {model} | {setting} | {per} | {median(list(mine.values())):,.1f} | {rs} | {med} |")
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("parity")
    s.add_argument("cpu")
    s.add_argument("cuda")
    s.add_argument("--tol", type=float, default=1e-3)
    s = sub.add_parser("placement")
    s.add_argument("log")
    s.add_argument("--model", action="append", help="compiled graph(s), to tell float outputs from shape values")
    s.add_argument("--names", help="comma-separated session names in creation order")
    s = sub.add_parser("profile")
    s.add_argument("file")
    s.add_argument("--top", type=int, default=20)
    s = sub.add_parser("table")
    s.add_argument("dir")
    s = sub.add_parser("shapes")
    s.add_argument("metrics")
    s.add_argument("--warmup", type=int, default=0)
    s.add_argument("--top", type=int, default=3)
    s.add_argument("--batch", type=int)
    s = sub.add_parser("realdata")
    s.add_argument("dir")
    s.add_argument("--warmup", type=int, default=0)
    s = sub.add_parser("memory")
    s.add_argument("dir")
    s.add_argument("--warmup", type=int, default=0)
    s = sub.add_parser("datascale")
    s.add_argument("dir")
    s.add_argument("files", nargs="+")
    s.add_argument("--rounds", type=int, required=True)
    s.add_argument("--warmup", type=int, default=0)
    s.add_argument("--clocks", help="nvidia-smi clock samples (timestamp,clocks.sm,...) taken during the runs")
    s = sub.add_parser("rows")
    s.add_argument("dir")
    s.add_argument("--prefix", default="")
    s = sub.add_parser("rounds")
    s.add_argument("dir")
    s.add_argument("--prefix", default="c2_")
    s = sub.add_parser("threads")
    s.add_argument("dir")
    s.add_argument("--warmup", type=int, default=0)
    s = sub.add_parser("floor")
    s.add_argument("dir")
    s = sub.add_parser("kprof")
    s.add_argument("dir")
    s = sub.add_parser("multi")
    s.add_argument("dir")
    s.add_argument("--warmup", type=int, default=0)
    s = sub.add_parser("layout")
    s.add_argument("jsonl")
    a = p.parse_args()
    return {"datascale": datascale, "parity": parity, "placement": placement, "profile": profile, "table": table, "shapes": shapes,
            "realdata": realdata, "multi": multi, "memory": memory, "floor": floor, "kprof": kprof, "threads": threads, "rows": rows, "rounds": rounds,
            "layout": layout}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
