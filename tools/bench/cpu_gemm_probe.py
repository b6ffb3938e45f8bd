#!/usr/bin/env python3
"""bart-base's linear products on the CPU: ONNX Runtime's MLAS in each form a training graph can give them, against
PyTorch's BLAS on the same shapes and thread count (issue 11, session 13).

Session 8's op table of the 2-thread bart-base step on the H200 host's Xeon
(docs/bench-data/session8/op-table-base-cpu2.md) put the whole gap to PyTorch + PEFT in the matrix products: the
forward ones at 1.34x PyTorch's time, the backward ones at 1.16x, and fc2's forward MatMul slower than fc1's
input-gradient FusedMatMul, which has the same M, N and K. (Session 13's op table had them at par.) This probe
times each product on its own to say which form MLAS runs fastest on a CPU, and how far each stays from PyTorch:

  matmul3d     MatMul(x[B,T,K], W[K,N]), W an initializer (prepacked), as the exported forward
  matmul2d     the same with x as [B*T, K]
  fused_tB     FusedMatMul(x, Wt[N,K], transB=1), the form of the backward's input gradients
  gemm_tB      Gemm(x2d, Wt[N,K], transB=1)
  noprepack    matmul3d with session.disable_prepacking=1
  torch_linear torch.nn.functional.linear(x, Wt): nn.Linear's forward (addmm with a transposed operand)
  torch_mm     x @ W, W [K,N] contiguous: the backward's dX = dY @ W in nn.Linear's storage

Every ORT output is checked against numpy's (relative 1e-4). The forms of a shape run round-robin, 3 warm-up rounds
and --reps timed ones, so that the machine's slow spells fall on all of them. One JSON object per shape and form on
stdout: the median and minimum ms and the GFLOP/s of the median. Pin the process to as many cores as --threads:

  taskset -c 0,1 python3 tools/bench/cpu_gemm_probe.py --threads 2
"""
import argparse
import json
import statistics
import time

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

B, S, T, D, FF, V = 32, 128, 32, 768, 3072, 50265
# (name, rows of the batch as (B, tokens), K, N): every distinct product of a bart-base LoRA step, forward and input
# gradient (the input gradient of x·W is dY·Wᵀ: K and N swap)
SHAPES = [
    ("enc proj", (B, S), D, D), ("enc fc1", (B, S), D, FF), ("enc fc2", (B, S), FF, D),
    ("dec proj", (B, T), D, D), ("dec fc1", (B, T), D, FF), ("dec fc2", (B, T), FF, D),
    ("lm_head", (B, T), D, V), ("lm_head grad", (B, T), V, D),
]


def session(nodes, x_shape, w, threads, extra=None):
    inits = [numpy_helper.from_array(w, "W")]
    graph = helper.make_graph(nodes, "probe", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    m.ir_version = 8  # what every ORT this probe meets reads; onnx's newest default can be past the runtime's
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    for k, v in (extra or {}).items():
        so.add_session_config_entry(k, v)
    return ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--no-torch", action="store_true")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    torch = None
    if not a.no_torch:
        import torch
        torch.set_num_threads(a.threads)
        torch.set_grad_enabled(False)
    for name, (b, t), k, n in SHAPES:
        x = rng.standard_normal((b, t, k), dtype=np.float32)
        w = (rng.standard_normal((k, n), dtype=np.float32) / np.sqrt(k)).astype(np.float32)
        wt = np.ascontiguousarray(w.T)
        x2 = x.reshape(b * t, k)
        want = x2 @ w
        ort_forms = {
            "matmul3d": (session([helper.make_node("MatMul", ["x", "W"], ["y"])], [b, t, k], w, a.threads), x),
            "matmul2d": (session([helper.make_node("MatMul", ["x", "W"], ["y"])], [b * t, k], w, a.threads), x2),
            "fused_tB": (session([helper.make_node("FusedMatMul", ["x", "W"], ["y"], domain="com.microsoft",
                                                   transB=1)], [b, t, k], wt, a.threads), x),
            "gemm_tB": (session([helper.make_node("Gemm", ["x", "W"], ["y"], transB=1)], [b * t, k], wt, a.threads),
                        x2),
            "noprepack": (session([helper.make_node("MatMul", ["x", "W"], ["y"])], [b, t, k], w, a.threads,
                                  {"session.disable_prepacking": "1"}), x),
        }
        runs = {}
        for form, (sess, feed) in ort_forms.items():
            got = sess.run(None, {"x": feed})[0].reshape(b * t, n)
            err = float(np.max(np.abs(got - want)) / (np.max(np.abs(want)) + 1e-30))
            if err > 1e-4:
                raise SystemExit(f"{name} {form}: relative error {err:.2e} against numpy")
            runs[form] = lambda sess=sess, feed=feed: sess.run(None, {"x": feed})
        if torch is not None:
            tx, tw, twt = torch.from_numpy(x2), torch.from_numpy(w), torch.from_numpy(wt)
            runs["torch_linear"] = lambda: torch.nn.functional.linear(tx, twt)
            runs["torch_mm"] = lambda: tx @ tw
        # round-robin, so that a slow spell of the machine (a VM's neighbours) lands on every form alike
        times = {form: [] for form in runs}
        for r in range(3 + a.reps):
            for form, fn in runs.items():
                t0 = time.perf_counter()
                fn()
                if r >= 3:
                    times[form].append((time.perf_counter() - t0) * 1e3)
        gflop = 2.0 * b * t * k * n / 1e9
        for form, ts in times.items():
            ms = statistics.median(ts)
            print(json.dumps({"shape": name, "m": b * t, "k": k, "n": n, "form": form, "ms": round(ms, 3),
                              "min_ms": round(min(ts), 3), "gflops": round(gflop / ms * 1e3, 1),
                              "threads": a.threads}), flush=True)
        del ort_forms, runs


if __name__ == "__main__":
    main()
