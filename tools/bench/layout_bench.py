#!/usr/bin/env python3
"""Attention head split and merge on ONNX Runtime's CPU provider: Transpose against Gather row copies (issue 11).

ORT's CPU Transpose (DoTransposeImpl) walks the tensor on one thread, while Gather splits its row copies over the
intra-op pool; onnx-lora's CPU lowering (`head_copies=gather`) rewrites every perm=[0,2,1,3] Transpose of a
training graph into Reshape + Gather on that account. This measures, per attention shape and intra-op thread
count, each layout change both ways in a one-node ORT session (default graph optimizations, as onnx-lora's):

  split   [B,T,H,D] -> [B,H,T,D]: the projection's output into heads (Transpose [0,2,1,3] / Reshape + Gather)
  merge   [B,H,T,D] -> [B,T,H,D]: the heads back for the output projection (the same two forms)
  scores  Q [B,H,T,D] times K given as [B,T,H,D]: the exported Transpose [0,2,3,1] + MatMul ("transpose"), K's
          split by Gather + FusedMatMul transB=1 ("gather"), and its split by Transpose + FusedMatMul
          ("transpose_transB")

Every variant's output is checked against numpy's (bit for bit for the copies, 1e-4 for the products). One JSON
line per (shape, threads, op, kind) goes to stdout or --out (appended): median microseconds of `--reps` runs after
5 warm-up runs. tools/gpu/report.py layout turns the lines into a table with Transpose / Gather per op.

  python3 tools/bench/layout_bench.py --threads 1,2 --out /tmp/layout.jsonl

Pin the process yourself (taskset) to as many cores as threads, as run-on-device.sh's layout phase does.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

# (batch, sequence, heads, head size) of the attention inputs: the tiny fixture (d_model 64, 4 heads) and the
# bart-base shape (768, 12 heads), at the benchmarks' batch 32 of 128 source and 32 target tokens
SHAPES = {"tiny enc": (32, 128, 4, 16), "tiny dec": (32, 32, 4, 16),
          "base enc": (32, 128, 12, 64), "base dec": (32, 32, 12, 64)}
HEAD_PERM = [0, 2, 1, 3]


def model(nodes, inputs, output, inits=()):
    g = helper.make_graph(nodes, "layout", inputs, [output], list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)],
                             ir_version=8)


def value(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def gather_rows(x, y, a, b, d, prefix=""):
    """Nodes and initializers that copy x [n, a, b, d] to y [n, b, a, d] as HeadCopyPass does: x read as
    [n, a*b, d], row j*b + i gathered to [i, j]."""
    idx = (np.arange(a)[None, :] * b + np.arange(b)[:, None]).astype(np.int64)
    inits = [numpy_helper.from_array(idx, prefix + "idx"), numpy_helper.from_array(np.array([0, -1, d], np.int64),
                                                                                  prefix + "rows")]
    nodes = [helper.make_node("Reshape", [x, prefix + "rows"], [prefix + "x3"]),
             helper.make_node("Gather", [prefix + "x3", prefix + "idx"], [y], axis=1)]
    return nodes, inits


def head_copy(kind, src):
    """x of shape src -> its [0,2,1,3] transpose, by one Transpose or by Reshape + Gather."""
    n, a, b, d = src
    dst = [n, b, a, d]
    if kind == "transpose":
        return model([helper.make_node("Transpose", ["x"], ["y"], perm=HEAD_PERM)], [value("x", src)], value("y", dst))
    nodes, inits = gather_rows("x", "y", a, b, d)
    return model(nodes, [value("x", src)], value("y", dst), inits)


def scores(kind, batch, seq, heads, size):
    """Q [B,H,T,D] times K [B,T,H,D] transposed to [B,H,D,T]: scores [B,H,T,T]."""
    if kind == "transpose":
        nodes, inits = [helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 3, 1]),
                        helper.make_node("MatMul", ["q", "kt"], ["y"])], []
    elif kind == "transpose_transB":
        nodes, inits = [helper.make_node("Transpose", ["k"], ["k4"], perm=HEAD_PERM)], []
    else:
        nodes, inits = gather_rows("k", "k4", seq, heads, size)
    if kind != "transpose":
        nodes.append(helper.make_node("FusedMatMul", ["q", "k4"], ["y"], domain="com.microsoft", transB=1))
    return model(nodes, [value("q", [batch, heads, seq, size]), value("k", [batch, seq, heads, size])],
                 value("y", [batch, heads, seq, seq]), inits)


def time_session(m, feeds, threads, reps):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    s = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    out = s.run(None, feeds)[0]
    for _ in range(5):
        s.run(None, feeds)
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        s.run(None, feeds)
        ts.append(time.perf_counter() - t)
    return out, float(np.median(ts) * 1e6)


def measure(shape, threads, reps, rng):
    batch, seq, heads, size = SHAPES[shape]
    x = rng.standard_normal((batch, seq, heads, size), dtype=np.float32)
    xh = np.ascontiguousarray(x.transpose(HEAD_PERM))
    q = rng.standard_normal((batch, heads, seq, size), dtype=np.float32)
    rows = []
    for op, inp in (("split", x), ("merge", xh)):
        for kind in ("transpose", "gather"):
            y, us = time_session(head_copy(kind, list(inp.shape)), {"x": inp}, threads, reps)
            if not np.array_equal(y, inp.transpose(HEAD_PERM)):
                raise AssertionError(f"{shape} {op} {kind}: not the transpose")
            rows.append((op, kind, us))
    want = q @ x.transpose(0, 2, 3, 1)
    for kind in ("transpose", "gather", "transpose_transB"):
        y, us = time_session(scores(kind, batch, seq, heads, size), {"q": q, "k": x}, threads, reps)
        if not np.allclose(y, want, rtol=1e-4, atol=1e-4):
            raise AssertionError(f"{shape} scores {kind}: off by {np.abs(y - want).max()}")
        rows.append(("scores", kind, us))
    return [{"shape": shape, "threads": threads, "op": op, "kind": kind, "us": round(us, 1)} for op, kind, us in rows]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", default="1,2,16", help="comma-separated intra-op thread counts")
    p.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated, of: " + ", ".join(SHAPES))
    p.add_argument("--reps", type=int, default=40)
    p.add_argument("--out", help="JSONL file to append to (default: stdout)")
    a = p.parse_args()
    rng = np.random.default_rng(0)
    out = open(a.out, "a") if a.out else sys.stdout
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        for shape in a.shapes.split(","):
            for threads in (int(t) for t in a.threads.split(",")):
                for r in measure(shape, threads, a.reps, rng):
                    r.update(cores=cores, ort=ort.__version__)
                    out.write(json.dumps(r) + "\n")
                out.flush()
    finally:
        if a.out:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
