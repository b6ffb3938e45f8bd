#!/usr/bin/env python3
"""One half-precision training step of onnx-lora's compiled graph against PyTorch autocast + PEFT.

Feeds the compiled training graph (onnx-lora compile --precision bf16|fp16 of the tiny fixture
patched with r=4, alpha=8 on q/k/v/out_proj) the batch and initial adapters of the float32
goldens (goldens/train_step.safetensors) through ONNX Runtime's Python API, and runs the same
step in PyTorch: base model cast to the dtype, PEFT LoRA in float32, torch.autocast. Checks the
issue-13 bounds: loss within 1e-2 relative, every adapter gradient within 5e-2 of its largest
value. The training graph takes adapters, batch and (fp16) loss_scale as inputs, so no Java runs.

  python3 half_parity.py --artifacts DIR --hf tiny-bart/hf --goldens tiny-bart/goldens \
      --dtype bf16 --device cuda [--json-out FILE]

Prints one JSON object; exits 1 when a bound is missed.
"""
import argparse
import json
import os
import sys

import numpy as np
import onnxruntime as ort
import torch
from safetensors.numpy import load_file


def onnx_step(art, gold, device):
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
    so = ort.SessionOptions()
    s = ort.InferenceSession(os.path.join(art, "training_model.onnx"), so, providers=providers)
    names = {i.name for i in s.get_inputs()}
    feeds = {}
    for k in ("input_ids", "attention_mask", "decoder_input_ids", "labels"):
        if k in names:
            feeds[k] = gold[f"batch/{k}"].astype(np.int64)
    adapters = [n for n in names if n.endswith(".lora_A") or n.endswith(".lora_B")]
    for a in adapters:
        feeds[a] = gold[f"init/{a}"].astype(np.float32)
    if "loss_scale" in names:
        feeds["loss_scale"] = np.array(1.0, dtype=np.float32)
    outs = [o.name for o in s.get_outputs()]
    r = dict(zip(outs, s.run(outs, feeds)))
    tokens = float(r["token_count"])
    return (float(r["loss_sum"]) / tokens, {a: r["grad." + a] / tokens for a in adapters},
            s.get_providers())


def torch_step(hf, gold, dtype, device):
    from peft import LoraConfig, get_peft_model
    from transformers import BartForConditionalGeneration
    half = {"bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
    base = BartForConditionalGeneration.from_pretrained(hf).to(half).to(device).eval()
    pm = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "out_proj"],
                                         lora_dropout=0.0, bias="none", task_type="SEQ_2_SEQ_LM"))
    pm.eval()
    params = {}
    for name, p in pm.named_parameters():
        if "lora_" in name:
            key = name.split("base_model.model.", 1)[1].split(".lora_")[0] + (".lora_A" if ".lora_A." in name
                                                                              else ".lora_B")
            with torch.no_grad():
                p.copy_(torch.from_numpy(gold[f"init/{key}"]).t())
            params[key] = p
    t = {k: torch.from_numpy(gold[f"batch/{k}"]).long().to(device)
         for k in ("input_ids", "attention_mask", "decoder_input_ids", "labels")}
    with torch.autocast(device, dtype=half):
        logits = pm(input_ids=t["input_ids"], attention_mask=t["attention_mask"],
                    decoder_input_ids=t["decoder_input_ids"], use_cache=False).logits
    loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), t["labels"].reshape(-1),
                                             ignore_index=-100)
    loss.backward()
    return loss.item(), {k: p.grad.detach().float().t().cpu().numpy() for k, p in params.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--artifacts", required=True)
    ap.add_argument("--hf", required=True)
    ap.add_argument("--goldens", required=True)
    ap.add_argument("--dtype", choices=["bf16", "fp16"], required=True)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cuda")
    ap.add_argument("--json-out")
    a = ap.parse_args()
    gold = load_file(os.path.join(a.goldens, "train_step.safetensors"))
    loss, grads, providers = onnx_step(a.artifacts, gold, a.device)
    ref_loss, ref_grads = torch_step(a.hf, gold, a.dtype, a.device)
    worst, worst_name = 0.0, None
    for k, g in grads.items():
        ref = ref_grads[k]
        err = float(np.abs(g - ref).max() / max(np.abs(ref).max(), 1e-30))
        if err > worst:
            worst, worst_name = err, k
    loss_rel = abs(loss - ref_loss) / abs(ref_loss)
    r = {"dtype": a.dtype, "device": a.device, "providers": providers, "loss": loss, "torch_loss": ref_loss,
         "loss_rel_err": loss_rel, "max_grad_rel_err": worst, "worst_adapter": worst_name, "adapters": len(grads),
         "ok": loss_rel <= 1e-2 and worst <= 5e-2 and len(grads) == len(ref_grads)}
    text = json.dumps(r, indent=1)
    print(text)
    if a.json_out:
        with open(a.json_out, "w") as f:
            f.write(text + "\n")
    sys.exit(0 if r["ok"] else 1)


if __name__ == "__main__":
    main()
