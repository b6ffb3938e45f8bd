#!/usr/bin/env python3
"""PyTorch + PEFT side of the issue-6 benchmark: the configuration `onnx-lora bench-train` runs.

One process measures one configuration and prints one JSON object (also written to --json-out):
LoRA r=8, alpha=16 on q_proj+v_proj (PEFT), or full fine-tuning (--mode full); AdamW (lr 1e-4,
no weight decay, betas 0.9/0.999, eps 1e-8) with global-norm clipping at 1.0, as onnx-lora's
defaults; random full-length batches (source ids in [5, vocab), all-ones attention mask, random
labels, decoder input = labels shifted right after decoder_start_token_id 2), a fresh batch per
step, built on the host and moved to the device inside the timed step (bench-train does the same).

The model is BartForConditionalGeneration with random weights: the tiny fixture's config
(models/tiny-bart/hf/config.json) or bart-base's shape (what `onnx-lora synth --preset base` writes).
Dropout is 0 everywhere, as in the eval-mode ONNX export onnx-lora trains.

Reported: tokens/s (batch x (source + target) tokens over the median timed step), every step time,
time to first step (from before `import torch` to the end of step 1), peak host RSS (ru_maxrss),
and on CUDA torch.cuda.max_memory_allocated / max_memory_reserved. The process's total GPU memory
(context included) is sampled from outside by tools/gpu/gpumem.py, the same way as for onnx-lora.

  python3 tools/bench_peft.py --size base --device cuda --mode lora --batch 32 --source-length 128 --target-length 32
  CUDA_VISIBLE_DEVICES= python3 tools/bench_peft.py --size base --device cpu --threads 2 --steps 2 --warmup 1
"""
import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402

BASE = dict(vocab_size=50265, d_model=768, encoder_layers=6, decoder_layers=6, encoder_attention_heads=12,
            decoder_attention_heads=12, encoder_ffn_dim=3072, decoder_ffn_dim=3072, max_position_embeddings=1024)


def emit(result, json_out):
    """Prints the result as one JSON object, and writes it to json_out too when given (every benchmark here)."""
    text = json.dumps(result, indent=2)
    print(text)
    if json_out:
        with open(json_out, "w") as f:
            f.write(text + "\n")


def bart_config(size, tiny_config):
    """The BartConfig every PyTorch benchmark here trains: the tiny fixture's config.json or bart-base's shape,
    with dropout and layer drop off (onnx-lora's training graphs have none) and no KV cache."""
    from transformers import BartConfig
    if size == "tiny":
        with open(tiny_config) as f:
            cfg = BartConfig(**{k: v for k, v in json.load(f).items()
                                if k not in ("architectures", "transformers_version", "dtype")})
    else:
        cfg = BartConfig(**BASE)
    for k in ("dropout", "attention_dropout", "activation_dropout", "classifier_dropout"):
        setattr(cfg, k, 0.0)
    cfg.encoder_layerdrop = 0.0
    cfg.decoder_layerdrop = 0.0
    cfg.use_cache = False
    return cfg


# cuBLAS names its Hopper kernels nvjet_*; the others carry gemm/xmma/cutlass
GEMM_MARKS = ("gemm", "cutlass", "xmma", "nvjet", "cublas", "matmul", "aten::mm", "aten::bmm", "aten::addmm",
              "aten::baddbmm")
ATTN_MARKS = ("fmha", "attention", "flash", "efficient")


def kernel_kind(name):
    n = name.lower()
    if any(m in n for m in ATTN_MARKS):
        return "attention"
    if any(m in n for m in GEMM_MARKS):
        return "matrix products"
    return "other"


def kernel_profile(torch, train_step, steps, device):
    """Time per step by kind of work, from torch.profiler: on CUDA the GPU kernels (what the device did, whatever
    launched it), on the CPU the operators' own time. The share of matrix products is the floor both tools
    share (the same cuBLAS/GEMM work), so the rest is what a faster tool can win."""
    from torch.profiler import ProfilerActivity, profile
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with profile(activities=acts) as prof:
        for _ in range(steps):
            train_step()
        if device == "cuda":
            torch.cuda.synchronize()
    by_kind, by_name, launches = {}, {}, 0
    if device == "cuda":
        for e in prof.events():
            if getattr(e, "device_type", None) != torch.autograd.DeviceType.CUDA:
                continue
            if "#" in e.name or e.name.startswith(("Optimizer.", "ProfilerStep")):
                continue  # a record_function range drawn on the GPU timeline, not a kernel: it overlaps them
            if "memcpy" in e.name.lower() or "memset" in e.name.lower():
                kind = "copies"
            else:
                kind = kernel_kind(e.name)
            us = e.time_range.elapsed_us()
            by_kind[kind] = by_kind.get(kind, 0) + us
            by_name[e.name] = by_name.get(e.name, 0) + us
            launches += 1
    else:
        for e in prof.key_averages():
            if e.self_cpu_time_total <= 0:
                continue
            kind = kernel_kind(e.key)
            by_kind[kind] = by_kind.get(kind, 0) + e.self_cpu_time_total
            by_name[e.key] = by_name.get(e.key, 0) + e.self_cpu_time_total
    total = sum(by_kind.values())
    top = sorted(by_name.items(), key=lambda kv: -kv[1])[:15]
    return {
        "steps": steps, "what": "GPU kernel time" if device == "cuda" else "CPU operator self time",
        "ms_per_step": round(total / steps / 1000, 3),
        "kernels_per_step": round(launches / steps, 1) if device == "cuda" else None,
        "by_kind_ms_per_step": {k: round(v / steps / 1000, 3) for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1])},
        "top_ms_per_step": [{"name": n[:120], "kind": kernel_kind(n), "ms": round(v / steps / 1000, 3)} for n, v in top],
    }


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", choices=["tiny", "base"], required=True)
    p.add_argument("--tiny-config", default="models/tiny-bart/hf/config.json",
                   help="config.json of the tiny fixture (default: %(default)s)")
    p.add_argument("--device", choices=["cpu", "cuda"], required=True)
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0 = leave PyTorch's default)")
    p.add_argument("--mode", choices=["lora", "full"], default="lora")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--source-length", type=int, default=128)
    p.add_argument("--target-length", type=int, default=32)
    p.add_argument("--steps", type=int, default=10, help="timed steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--alpha", type=float, default=16)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--tf32", action="store_true", help="allow TF32 matmuls on CUDA (off: strict float32)")
    p.add_argument("--autocast", choices=["none", "bf16", "fp16"], default="none",
                   help="half precision as PEFT users train in it (onnx-lora's --precision): the frozen base cast to"
                        " that dtype, LoRA adapters and AdamW state in float32, forward under torch.autocast; fp16"
                        " adds torch.amp.GradScaler (default: none = float32)")
    p.add_argument("--attn", default=None, help="attn_implementation (default: transformers' choice, sdpa)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json-out", help="also write the JSON result here")
    p.add_argument("--profile-kernels", type=int, default=0, metavar="N",
                   help="after the timed steps, profile N more with torch.profiler and report the time per step by "
                        "kind of work (matrix products, attention, the rest): on CUDA each GPU kernel's time, on the "
                        "CPU each operator's own time")
    return p.parse_args()


def main():
    a = parse_args()
    if a.threads > 0:
        # before torch is imported, so that OpenMP's pool is sized once
        os.environ["OMP_NUM_THREADS"] = str(a.threads)
        os.environ["MKL_NUM_THREADS"] = str(a.threads)
    import torch
    import transformers
    import peft
    from transformers import BartForConditionalGeneration

    if a.threads > 0:
        torch.set_num_threads(a.threads)
        torch.set_num_interop_threads(1)
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.allow_tf32 = a.tf32
    torch.manual_seed(a.seed)
    dev = torch.device(a.device)
    if a.device == "cuda" and not torch.cuda.is_available():
        sys.exit("CUDA requested but torch.cuda.is_available() is False")

    cfg = bart_config(a.size, a.tiny_config)
    if a.attn:
        cfg._attn_implementation = a.attn
    model = BartForConditionalGeneration(cfg).float()
    half = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[a.autocast]
    if half is not None:
        model = model.to(half)  # the frozen base in half precision; PEFT keeps the adapters float32
    attn = getattr(model.config, "_attn_implementation", None)
    if a.mode == "lora":
        from peft import LoraConfig, TaskType, get_peft_model
        model = get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_2_SEQ_LM, r=a.rank, lora_alpha=a.alpha,
                                                 target_modules=["q_proj", "v_proj"], lora_dropout=0.0, bias="none"))
    model.to(dev)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    trainable = sum(p.numel() for p in params)
    total = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(params, lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    if half is not None:
        assert all(p.dtype == torch.float32 for p in params), "trainable parameters must stay float32"
    scaler = torch.amp.GradScaler(a.device) if a.autocast == "fp16" else None
    skipped = 0

    gen = torch.Generator().manual_seed(a.seed)
    vocab = cfg.vocab_size
    b, s, t = a.batch, a.source_length, a.target_length

    def batch():
        src = torch.randint(5, vocab, (b, s), generator=gen)
        labels = torch.randint(5, vocab, (b, t), generator=gen)
        dec = torch.cat([torch.full((b, 1), 2, dtype=torch.long), labels[:, :-1]], dim=1)
        return (src.to(dev, non_blocking=False), torch.ones_like(src).to(dev), dec.to(dev), labels.to(dev))

    def sync():
        if a.device == "cuda":
            torch.cuda.synchronize()

    step_ms, losses = [], []
    first_step_s = None
    if a.device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def train_step():
        src, mask, dec, labels = batch()
        with torch.autocast(a.device, dtype=half or torch.float32, enabled=half is not None):
            out = model(input_ids=src, attention_mask=mask, decoder_input_ids=dec, labels=labels)
        if scaler is not None:
            scaler.scale(out.loss).backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            before = scaler.get_scale()
            scaler.step(opt)
            scaler.update()
            skipped_now = int(scaler.get_scale() < before)
        else:
            skipped_now = 0
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
        opt.zero_grad(set_to_none=True)
        return out.loss.item(), skipped_now  # .item() synchronizes, as onnx-lora reads its loss every step

    for i in range(a.warmup + a.steps):
        sync()
        start = time.perf_counter()
        loss, was_skipped = train_step()
        skipped += was_skipped
        sync()
        wall = time.perf_counter() - start
        losses.append(loss)
        if i == 0:
            first_step_s = time.perf_counter() - T0
        if i >= a.warmup:
            step_ms.append(wall * 1000)
        print(f"step {i + 1}/{a.warmup + a.steps}: {wall * 1000:.1f} ms loss {loss:.4f}", file=sys.stderr, flush=True)

    median = statistics.median(step_ms)
    tokens = b * (s + t)
    r = {
        "tool": "pytorch+peft" if a.mode == "lora" else "pytorch-full",
        "size": a.size, "device": a.device, "threads": a.threads if a.threads > 0 else torch.get_num_threads(),
        "mode": a.mode, "batch": b, "source_length": s, "target_length": t, "tokens_per_step": tokens,
        "trainable_parameters": trainable, "parameters": total,
        "step_ms_median": round(median, 3), "step_ms_all": [round(x, 3) for x in step_ms],
        "tokens_per_second": round(tokens / (median / 1000), 3),
        "time_to_first_step_seconds": round(first_step_s, 3),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "loss_first": losses[0], "loss_last": losses[-1],
        "tf32": a.tf32, "attn_implementation": attn, "autocast": a.autocast,
        "skipped_steps": skipped if scaler is not None else None,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
    }
    if a.device == "cuda":
        r["gpu_max_memory_allocated_bytes"] = torch.cuda.max_memory_allocated()
        r["gpu_max_memory_reserved_bytes"] = torch.cuda.max_memory_reserved()
        r["gpu_name"] = torch.cuda.get_device_name(0)
    if a.profile_kernels > 0:  # after the memory figures, which the profiler's buffers must not touch
        r["kernel_profile"] = kernel_profile(torch, train_step, a.profile_kernels, a.device)
    emit(r, a.json_out)


if __name__ == "__main__":
    main()
