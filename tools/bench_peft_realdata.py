#!/usr/bin/env python3
"""PyTorch + PEFT on real text pairs, written as a user would write it (issue 11's real-data comparison).

The counterpart of `onnx-lora train` on the same JSONL file with the same batch size, maximum lengths and
steps: the tokenizer.json through transformers' PreTrainedTokenizerFast (truncation=True, max_length=N,
the tokenizer's own <s> ... </s>, which is what onnx-lora's tokenizer does), a fresh random permutation of
the rows every epoch (the last batch of an epoch may be short, as in onnx-lora), each batch padded to its
longest source and its longest target (pad id in the inputs, -100 in the labels), the decoder inputs made by
the model from the labels, mean token cross-entropy, AdamW (lr 1e-4, no weight decay) with global-norm
clipping at 1.0, LoRA r=8 alpha=16 on q_proj+v_proj, dropout 0, fp32, TF32 off. Collation and the copy to
the device are inside the timed step, and the loss is read every step (as onnx-lora does).

tokens counts real tokens: non-pad source tokens plus labels other than -100, so the number is comparable
with onnx-lora's metrics.jsonl ("tokens"), whose batches are padded differently (to a length ladder).

Reported (one JSON object on stdout, also --json-out): step_ms_median, real tokens per step (median), real
tokens/s over the timed steps (their tokens over their time), padded tokens, padding efficiency, time to
first step, peak RSS, and on CUDA torch's peak allocated/reserved memory (gpumem.py samples the process from
outside). The model has random weights with the tiny fixture's config or bart-base's shape (bench_peft.py).

  python3 tools/bench_peft_realdata.py --size tiny --device cpu --threads 2 --train models/datasets/manpages/train.jsonl \\
      --tokenizer models/tiny-bart/tokenizer.json --max-source-length 256 --max-target-length 48 --steps 40 --warmup 5
"""
import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_peft import bart_config, emit  # noqa: E402

IGNORE = -100


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", choices=["tiny", "base"], required=True)
    p.add_argument("--tiny-config", default="models/tiny-bart/hf/config.json")
    p.add_argument("--train", required=True, help="JSONL with source/target fields")
    p.add_argument("--tokenizer", required=True, help="tokenizer.json (the one onnx-lora train gets)")
    p.add_argument("--source-field", default="source")
    p.add_argument("--target-field", default="target")
    p.add_argument("--device", choices=["cpu", "cuda"], required=True)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--max-source-length", type=int, default=256)
    p.add_argument("--max-target-length", type=int, default=64)
    p.add_argument("--steps", type=int, default=100, help="steps in all, the warm-up ones included")
    p.add_argument("--warmup", type=int, default=10, help="first steps left out of the statistics")
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--alpha", type=float, default=16)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--tf32", action="store_true")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--json-out")
    return p.parse_args()


def load_pairs(path, sf, tf):
    src, tgt = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                o = json.loads(line)
                src.append(o[sf])
                tgt.append(o[tf])
    return src, tgt


def main():
    a = parse_args()
    if a.threads > 0:
        os.environ["OMP_NUM_THREADS"] = str(a.threads)
        os.environ["MKL_NUM_THREADS"] = str(a.threads)
    import torch
    import transformers
    import peft
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import BartForConditionalGeneration, PreTrainedTokenizerFast

    if a.threads > 0:
        torch.set_num_threads(a.threads)
        torch.set_num_interop_threads(1)
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.allow_tf32 = a.tf32
    torch.manual_seed(a.seed)
    dev = torch.device(a.device)
    if a.device == "cuda" and not torch.cuda.is_available():
        sys.exit("CUDA requested but torch.cuda.is_available() is False")

    tok = PreTrainedTokenizerFast(tokenizer_file=a.tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                  unk_token="<unk>", mask_token="<mask>")
    sources, targets = load_pairs(a.train, a.source_field, a.target_field)
    t_tok = time.perf_counter()
    enc = tok(sources, truncation=True, max_length=a.max_source_length)["input_ids"]
    lab = tok(text_target=targets, truncation=True, max_length=a.max_target_length)["input_ids"]
    tokenize_s = time.perf_counter() - t_tok
    pad = tok.pad_token_id

    cfg = bart_config(a.size, a.tiny_config)
    cfg.pad_token_id = pad
    cfg.decoder_start_token_id = 2
    if len(tok) > cfg.vocab_size:
        sys.exit(f"tokenizer has {len(tok)} tokens, the model {cfg.vocab_size}")
    model = BartForConditionalGeneration(cfg).float()
    model = get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_2_SEQ_LM, r=a.rank, lora_alpha=a.alpha,
                                             target_modules=["q_proj", "v_proj"], lora_dropout=0.0, bias="none"))
    model.to(dev)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)

    gen = torch.Generator().manual_seed(a.seed)
    n, b = len(enc), a.batch

    def batches():
        while True:
            order = torch.randperm(n, generator=gen).tolist()
            for i in range(0, n, b):
                yield order[i:i + b]

    def collate(rows):
        s = max(len(enc[r]) for r in rows)
        t = max(len(lab[r]) for r in rows)
        ids = torch.full((len(rows), s), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), s), dtype=torch.long)
        labels = torch.full((len(rows), t), IGNORE, dtype=torch.long)
        for j, r in enumerate(rows):
            ids[j, :len(enc[r])] = torch.tensor(enc[r])
            mask[j, :len(enc[r])] = 1
            labels[j, :len(lab[r])] = torch.tensor(lab[r])
        return ids, mask, labels

    def sync():
        if a.device == "cuda":
            torch.cuda.synchronize()

    if a.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    step_ms, real, padded, losses, shapes = [], [], [], [], {}
    first_step_s = None
    it = batches()
    for i in range(a.steps):
        sync()
        start = time.perf_counter()
        ids, mask, labels = collate(next(it))
        real_tokens = int(mask.sum()) + int((labels != IGNORE).sum())
        ids, mask, labels = ids.to(dev), mask.to(dev), labels.to(dev)
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        loss = out.loss.item()
        sync()
        wall = (time.perf_counter() - start) * 1000
        losses.append(loss)
        if i == 0:
            first_step_s = time.perf_counter() - T0
        if i >= a.warmup:
            step_ms.append(wall)
            real.append(real_tokens)
            padded.append(ids.numel() + labels.numel())
            shapes[f"{ids.shape[0]}x{ids.shape[1]}+{labels.shape[1]}"] = \
                shapes.get(f"{ids.shape[0]}x{ids.shape[1]}+{labels.shape[1]}", 0) + 1
        if i < 3 or (i + 1) % 50 == 0:
            print(f"step {i + 1}/{a.steps}: {wall:.1f} ms {real_tokens} tokens loss {loss:.4f}", file=sys.stderr,
                  flush=True)
    if not step_ms:
        sys.exit("no timed steps: --steps must exceed --warmup")

    r = {
        "tool": "pytorch+peft", "workload": "realdata", "size": a.size, "device": a.device,
        "threads": a.threads if a.threads > 0 else torch.get_num_threads(),
        "batch": b, "max_source_length": a.max_source_length, "max_target_length": a.max_target_length,
        "rows": n, "steps": a.steps, "warmup": a.warmup, "timed_steps": len(step_ms),
        "step_ms_median": round(statistics.median(step_ms), 3),
        "step_ms_all": [round(x, 3) for x in step_ms],
        "real_tokens_per_step_median": statistics.median(real),
        "real_tokens_per_second": round(sum(real) / (sum(step_ms) / 1000), 1),
        "padded_tokens_per_step_median": statistics.median(padded),
        "padding_efficiency": round(sum(real) / sum(padded), 4),
        "distinct_shapes": len(shapes),
        "tokenize_seconds": round(tokenize_s, 3),
        "time_to_first_step_seconds": round(first_step_s, 3),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "loss_first": losses[0], "loss_last": losses[-1], "tf32": a.tf32,
        "attn_implementation": getattr(model.config, "_attn_implementation", None),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
    }
    if a.device == "cuda":
        r["gpu_max_memory_allocated_bytes"] = torch.cuda.max_memory_allocated()
        r["gpu_max_memory_reserved_bytes"] = torch.cuda.max_memory_reserved()
        r["gpu_name"] = torch.cuda.get_device_name(0)
    emit(r, a.json_out)


if __name__ == "__main__":
    main()
