#!/usr/bin/env python3
"""What LoRA's own products cost on the GPU, and what reshaping them would save (issue 11, session 12).

cudaprof (session 11) showed bart-base's LoRA products at 4.7 ms a step in onnx-lora against 2.1 ms in PyTorch +
PEFT: the same six products per module (two forward, four backward), issued in a different orientation. onnx-lora
stores A as [in, r] and B as [r, out] (the patched graph's layout); PEFT stores them as nn.Linear weights, [r, in]
and [out, r], so cuBLAS sees transposed problems with other trans flags. Torch passes a transposed view to cuBLAS
as a trans flag, as ONNX Runtime's Gemm/FusedMatMul do, so each orientation below is the cuBLAS call either tool
makes. fp32, TF32 off, each product timed on its own inside a captured CUDA graph (GPU time only).

Also timed, for the graph rewrites they would justify:
  siblings: n LoRA A products that read the same activation (q and v of one layer: n=2; the cross-attention v of
            all six decoder layers read the encoder output: n=6) as one product with n·r columns, its input
            gradient as one product of K = n·r instead of n products and n-1 adds; the split and concatenations
            such a graph needs are timed with it
  fold:     the forward of a targeted projection as the graph runs it (MatMul, A, B, Mul by the scale, Add, bias
            Add) against Gemm(x, W0, bias) + A + Gemm(xA, B, C=base, alpha=scale)

  python3 tools/bench/lora_gemm_probe.py        (on the GPU machine; needs torch with CUDA)
Prints JSON.
"""
import json
import torch

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
dev = "cuda"
B, S, T, d, r = 32, 128, 32, 768, 8
Ne, Nd = B * S, B * T


def timeit(fn, reps=50, replays=20):
    """GPU time of one call in µs: the calls are captured in a CUDA graph and replayed, so host launch cost (which
    exceeds many of these kernels) is not measured, as in onnx-lora's --cuda-graph step."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(reps):
            fn()
    graph.replay()
    torch.cuda.synchronize()
    s, e = torch.cuda.Event(True), torch.cuda.Event(True)
    s.record()
    for _ in range(replays):
        graph.replay()
    e.record()
    torch.cuda.synchronize()
    return round(s.elapsed_time(e) / (reps * replays) * 1000, 2)


def rnd(*shape):
    return torch.randn(*shape, device=dev)


def products(n):
    """The six products of one module at n tokens, in both layouts. Values are µs."""
    x, g = rnd(n, d), rnd(n, d)
    xa, dxa = rnd(n, r), rnd(n, r)
    a, b = rnd(d, r), rnd(r, d)            # onnx-lora: A [in, r], B [r, out]
    aw, bw = rnd(r, d), rnd(d, r)          # PEFT: lora_A.weight [r, in], lora_B.weight [out, r]
    ours = {
        "xA": timeit(lambda: x @ a),
        "xA.B": timeit(lambda: xa @ b),
        "dxA=g.Bt": timeit(lambda: g @ b.t()),
        "dB=xAt.g": timeit(lambda: xa.t() @ g),
        "dA=xt.dxA": timeit(lambda: x.t() @ dxa),
        "dx=dxA.At": timeit(lambda: dxa @ a.t()),
    }
    peft = {
        "xA": timeit(lambda: x @ aw.t()),
        "xA.B": timeit(lambda: xa @ bw.t()),
        "dxA=g.Bt": timeit(lambda: g @ bw),
        "dB=xAt.g": timeit(lambda: g.t() @ xa),
        "dA=xt.dxA": timeit(lambda: dxa.t() @ x),
        "dx=dxA.At": timeit(lambda: dxa @ aw),
    }
    # The weight gradients in the other orientation and transposed back, as a graph could emit them.
    alt = {
        "dB as (gt.xA)t": timeit(lambda: (g.t() @ xa).t().contiguous()),
        "dA as (dxAt.x)t": timeit(lambda: (dxa.t() @ x).t().contiguous()),
    }
    return {"ours": ours, "peft": peft, "ours_total": round(sum(ours.values()), 2),
            "peft_total": round(sum(peft.values()), 2), "alt": alt}


def siblings(n_tokens, n):
    x = rnd(n_tokens, d)
    a_list = [rnd(d, r) for _ in range(n)]
    dxa_list = [rnd(n_tokens, r) for _ in range(n)]
    sep_f = timeit(lambda: [x @ a for a in a_list])
    sep_da = timeit(lambda: [x.t() @ g for g in dxa_list])

    def sep_dx():
        acc = dxa_list[0] @ a_list[0].t()
        for g, a in zip(dxa_list[1:], a_list[1:]):
            acc = acc + g @ a.t()
        return acc
    sep_dx_t = timeit(sep_dx)

    def fused_f():
        cat = torch.cat(a_list, 1)
        return torch.split(x @ cat, r, 1)  # views; a graph's Split copies, timed below
    fused_f_t = timeit(fused_f)
    y = rnd(n_tokens, n * r)
    split_copy = timeit(lambda: [p.contiguous() for p in torch.split(y, r, 1)])
    cat_dxa = timeit(lambda: torch.cat(dxa_list, 1))
    dxa_cat = torch.cat(dxa_list, 1)
    a_cat = torch.cat(a_list, 1)
    fused_da = timeit(lambda: [p.contiguous() for p in torch.split(x.t() @ dxa_cat, r, 1)])
    fused_dx = timeit(lambda: dxa_cat @ a_cat.t())
    sep = sep_f + sep_da + sep_dx_t
    fused = fused_f_t + split_copy + cat_dxa + fused_da + fused_dx
    return {"separate_us": round(sep, 2), "fused_us": round(fused, 2),
            "parts": {"sep_forward": sep_f, "sep_dA": sep_da, "sep_dx_with_adds": sep_dx_t,
                      "fused_forward_with_cat": fused_f_t, "split_copy": split_copy, "cat_dxA": cat_dxa,
                      "fused_dA_with_split": fused_da, "fused_dx": fused_dx}}


def fold(n):
    x = rnd(n, d)
    w0, bias = rnd(d, d), rnd(d)
    a, b = rnd(d, r), rnd(r, d)
    scale = torch.tensor(2.0, device=dev)

    def now():
        base = x @ w0
        lora = (x @ a) @ b
        return (base + lora * scale) + bias

    def folded():
        base = torch.addmm(bias, x, w0)
        return torch.addmm(base, x @ a, b, beta=1, alpha=2.0)
    return {"graph_now_us": timeit(now), "folded_us": timeit(folded)}


def main():
    out = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__}
    try:
        import onnxruntime as ort
        out["python_onnxruntime"] = [ort.__version__, ort.get_available_providers()]
    except Exception as e:  # noqa: BLE001 - reported, not fatal
        out["python_onnxruntime"] = repr(e)
    out["products_encoder_tokens"] = products(Ne)
    out["products_decoder_tokens"] = products(Nd)
    out["siblings_encoder_qv"] = siblings(Ne, 2)
    out["siblings_decoder_qv"] = siblings(Nd, 2)
    out["siblings_cross_v_6"] = siblings(Ne, 6)
    out["fold_encoder"] = fold(Ne)
    out["fold_decoder"] = fold(Nd)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
