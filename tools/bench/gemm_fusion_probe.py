#!/usr/bin/env python3
"""What bart-base's linear products cost on the GPU, as PyTorch's cuBLAS runs them, and what fusing the attention
projections would save (issue 11, session 11): one LoRA step's forward products and input-gradient products
(the frozen weights get no gradient), batch 32, 128 source + 32 target tokens, fp32 with TF32 off, each shape timed
on its own with CUDA events.

  separate: q, k and v as three products per layer and the decoders' cross-attention k and v as two per layer,
            with the Adds that sum their input gradients
  fused:    q|k|v as one product of 3·d outputs per layer, and the cross k|v of all decoder layers as one product
            of the encoder output (12·d outputs), whose input gradient is one product with no sum

Attention's batched products and LoRA's own products are left out (the same in both). The split and concatenation
a fused graph would add are not timed either. Prints JSON: both totals, lm_head's share and every shape's time.

  python3 tools/bench/gemm_fusion_probe.py        (on the GPU machine; needs torch with CUDA)
"""
import torch, json, sys
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
dev = "cuda"
B, S, T, d, ff, V, L = 32, 128, 32, 768, 3072, 50265, 6
Ne, Nd = B * S, B * T

def timeit(fn, reps=50):
    for _ in range(5): fn()
    torch.cuda.synchronize()
    s, e = torch.cuda.Event(True), torch.cuda.Event(True)
    s.record()
    for _ in range(reps): fn()
    e.record(); torch.cuda.synchronize()
    return s.elapsed_time(e) / reps

cache = {}
def mm(m, k, n, tb=False):
    key = (m, k, n, tb)
    if key not in cache:
        a = torch.randn(m, k, device=dev)
        b = torch.randn(n, k, device=dev) if tb else torch.randn(k, n, device=dev)
        cache[key] = (a, b, timeit(lambda: a @ (b.t() if tb else b)))
    return cache[key][2]

def fwd_bwd(m, k, n, dgrad=True):
    t = mm(m, k, n, True)  # nn.Linear: x @ W^T
    if dgrad: t += mm(m, n, k)  # dX = dY @ W
    return t

def add(m, n):
    a = torch.randn(m, n, device=dev); b = torch.randn(m, n, device=dev)
    return timeit(lambda: a + b)

def addmm(m, k, n):
    c = torch.randn(m, n, device=dev); a = torch.randn(m, k, device=dev); b = torch.randn(k, n, device=dev)
    return timeit(lambda: torch.addmm(c, a, b))

rows = {}
sep = 0.0; fus = 0.0
for layer in range(L):
    dg = layer > 0
    sep += 3 * fwd_bwd(Ne, d, d, dg) + (2 * add(Ne, d) if dg else 0)
    fus += fwd_bwd(Ne, d, 3 * d, dg)
    common = fwd_bwd(Ne, d, d) + fwd_bwd(Ne, d, ff) + fwd_bwd(Ne, ff, d)
    sep += common; fus += common
for layer in range(L):
    sep += 3 * fwd_bwd(Nd, d, d) + 2 * add(Nd, d)
    fus += fwd_bwd(Nd, d, 3 * d)
    sep += 2 * fwd_bwd(Ne, d, d) + add(Ne, d)  # cross k, v
    common = 2 * fwd_bwd(Nd, d, d) + fwd_bwd(Nd, d, ff) + fwd_bwd(Nd, ff, d)
    sep += common; fus += common
sep += 11 * add(Ne, d)  # summing 12 cross grads into the encoder output
fus += fwd_bwd(Ne, d, 12 * d)
head = fwd_bwd(Nd, d, V)
rows["separate_ms"] = sep + head
rows["fused_ms"] = fus + head
rows["lm_head_ms"] = head
rows["shapes"] = {f"{k[0]}x{k[1]}x{k[2]}{'T' if k[3] else ''}": round(v[2], 4) for k, v in cache.items()}
rows["add_Ne_d"] = add(Ne, d)
rows["addmm_vs_mm_plus_add_Ne_d_d"] = [addmm(Ne, d, d), mm(Ne, d, d) + add(Ne, d)]
rows["gpu"] = torch.cuda.get_device_name()
print(json.dumps(rows, indent=1))
