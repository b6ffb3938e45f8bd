#!/usr/bin/env python3
"""One half-precision training step of onnx-lora, through its own Java TrainingSession, against PyTorch autocast + PEFT.

The onnx-lora side is a dump of tools/bench/StepGradientDump.java (org.onnxlora.train.GradientProbe): compiled
artifacts (onnx-lora compile --precision bf16|fp16 of the tiny fixture patched with r=4, alpha=8 on
q/k/v/out_proj) fed the batch and initial adapters of the float32 goldens (goldens/train_step.safetensors),
one forward-backward on the device the dump names (cuda on the GPU machine, through the bundle's
onnxruntime_gpu), written as <dtype>/loss and <dtype>/grad/<adapter> (gradients of the mean loss). The
PyTorch side runs the same step here: base model cast to the dtype, PEFT LoRA in float32, torch.autocast
on --device. Checks the issue-13 bounds: loss within 1e-2 relative, gradients within 5e-2 of the largest
value, read two ways: each adapter's gradient against its own largest value ("ok", the strict reading) and all
gradients against the largest of all ("ok_of_largest"). Both tools' distance from the float32 step of the
goldens says whose rounding a difference comes from.

  python3 half_parity.py --dump STEP.safetensors --hf tiny-bart/hf --goldens tiny-bart/goldens \
      --device cuda [--json-out FILE]

Prints one JSON object; exits 1 when a bound is missed.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import load_file


def java_step(path):
    with safe_open(path, framework="np") as f:
        meta = f.metadata() or {}
        dtype = meta["precision"]
        loss = float(f.get_tensor(f"{dtype}/loss")[0])
        prefix = f"{dtype}/grad/"
        grads = {k[len(prefix):]: f.get_tensor(k) for k in f.keys() if k.startswith(prefix)}
    return dtype, loss, grads, meta


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
    ap.add_argument("--dump", required=True, help="StepGradientDump's output (its metadata names dtype and device)")
    ap.add_argument("--hf", required=True)
    ap.add_argument("--goldens", required=True)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cuda", help="where PyTorch runs its step")
    ap.add_argument("--json-out")
    a = ap.parse_args()
    gold = load_file(os.path.join(a.goldens, "train_step.safetensors"))
    dtype, loss, grads, meta = java_step(a.dump)
    if dtype not in ("bf16", "fp16"):
        sys.exit(f"{a.dump} is a {dtype} step; this compares bf16 or fp16")
    ref_loss, ref_grads = torch_step(a.hf, gold, dtype, a.device)
    fp32 = {k: gold[f"step1/grad/{k}"] for k in grads if f"step1/grad/{k}" in gold}

    def per_tensor(xs, refs):
        """Worst |x - ref| / max|ref| over the adapters, each against its own largest value, and which one."""
        worst, name = 0.0, None
        for k, x in xs.items():
            err = float(np.abs(x - refs[k]).max() / max(np.abs(refs[k]).max(), 1e-30))
            if err > worst:
                worst, name = err, k
        return worst, name

    def of_largest(xs, refs):
        """Largest |x - ref| over all adapters / the largest |ref| over all adapters."""
        return float(max(np.abs(x - refs[k]).max() for k, x in xs.items())
                     / max(max(np.abs(refs[k]).max() for k in xs), 1e-30))

    worst, worst_name = per_tensor(grads, ref_grads)
    overall = of_largest(grads, ref_grads)
    loss_rel = abs(loss - ref_loss) / abs(ref_loss)
    r = {"dtype": dtype, "onnx_lora": "java TrainingSession (GradientProbe)", "device": meta.get("device"),
         "torch_device": a.device, "loss_scale": float(meta.get("loss_scale", "nan")),
         "skipped_steps": int(meta.get("skipped_steps", "-1")), "loss": loss, "torch_loss": ref_loss,
         "loss_rel_err": loss_rel, "max_grad_rel_err": worst, "worst_adapter": worst_name,
         "grad_err_of_largest": overall, "adapters": len(grads),
         "ok": loss_rel <= 1e-2 and worst <= 5e-2 and sorted(grads) == sorted(ref_grads),
         "ok_of_largest": loss_rel <= 1e-2 and overall <= 5e-2 and sorted(grads) == sorted(ref_grads)}
    if len(fp32) == len(grads):
        # how far each tool's half-precision step is from the float32 step (goldens/train_step, PyTorch fp32):
        # tells whose rounding a disagreement between the two comes from
        r["onnx_lora_vs_fp32"] = per_tensor(grads, fp32)[0]
        r["torch_vs_fp32"] = per_tensor({k: ref_grads[k] for k in grads}, fp32)[0]
        r["onnx_lora_vs_fp32_of_largest"] = of_largest(grads, fp32)
        r["torch_vs_fp32_of_largest"] = of_largest({k: ref_grads[k] for k in grads}, fp32)
    text = json.dumps(r, indent=1)
    print(text)
    if a.json_out:
        with open(a.json_out, "w") as f:
            f.write(text + "\n")
    sys.exit(0 if r["ok"] else 1)


if __name__ == "__main__":
    main()
