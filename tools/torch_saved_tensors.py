#!/usr/bin/env python3
"""What PyTorch + PEFT keeps for the backward of one training step (issue 11, GPU memory), on the CPU.

The model and LoRA setup of tools/bench_peft.py (random weights, r=8 alpha=16 on q_proj+v_proj, dropout 0),
one forward of a random full-length batch under torch.autograd.graph.saved_tensors_hooks: every tensor autograd
saves, counted once per storage (views of one tensor share it), parameters and the batch left out. The total is
what tools/bench/SavedActivations.java reports for a compiled onnx-lora training graph at the same shape.

  python3 tools/torch_saved_tensors.py --size tiny --tiny-config models/tiny-bart/hf/config.json --batch 32 \\
      --source-length 128 --target-length 32
"""
import argparse
import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_peft import bart_config  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", choices=["tiny", "base"], required=True)
    p.add_argument("--tiny-config", default="models/tiny-bart/hf/config.json")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--source-length", type=int, default=128)
    p.add_argument("--target-length", type=int, default=32)
    p.add_argument("--attn", default=None, help="attn_implementation (default: transformers' choice)")
    p.add_argument("--top", type=int, default=12)
    a = p.parse_args()
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import BartForConditionalGeneration

    cfg = bart_config(a.size, a.tiny_config)
    if a.attn:
        cfg._attn_implementation = a.attn
    torch.manual_seed(0)
    model = BartForConditionalGeneration(cfg).float()
    model = get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_2_SEQ_LM, r=8, lora_alpha=16,
                                             target_modules=["q_proj", "v_proj"], lora_dropout=0.0, bias="none"))
    model.train()
    b, s, t = a.batch, a.source_length, a.target_length
    src = torch.randint(5, cfg.vocab_size, (b, s))
    labels = torch.randint(5, cfg.vocab_size, (b, t))
    mask = torch.ones_like(src)
    excluded = {x.untyped_storage().data_ptr() for x in list(model.parameters()) + list(model.buffers())}
    excluded |= {x.untyped_storage().data_ptr() for x in (src, labels, mask)}
    seen = {}

    def pack(x):
        st = x.untyped_storage()
        if st.data_ptr() not in excluded and st.data_ptr() not in seen:
            seen[st.data_ptr()] = (st.nbytes(), tuple(x.shape), str(x.dtype).replace("torch.", ""))
        return x

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
        out = model(input_ids=src, attention_mask=mask, labels=labels)
    out.loss.backward()
    total = sum(v[0] for v in seen.values())
    print(f"PyTorch + PEFT {a.size} at batch {b}, source {s}, target {t} "
          f"(attention: {getattr(model.config, '_attn_implementation', None)}): {len(seen)} storages saved for the "
          f"backward, {total / 1e6:.1f} MB")
    by = collections.defaultdict(lambda: [0, 0])
    for nbytes, shape, dtype in seen.values():
        by[f"{list(shape)} {dtype}"][0] += nbytes
        by[f"{list(shape)} {dtype}"][1] += 1
    print()
    print("| shape (of the first view saved) | storages | MB | share |")
    print("|---|---:|---:|---:|")
    for k, (n, c) in sorted(by.items(), key=lambda kv: -kv[1][0])[:a.top]:
        print(f"| {k} | {c} | {n / 1e6:.2f} | {n / max(total, 1):.3f} |")


if __name__ == "__main__":
    main()
