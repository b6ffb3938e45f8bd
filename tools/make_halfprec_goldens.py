#!/usr/bin/env python3
"""Half-precision training-step goldens for onnx-lora's HalfPrecisionParityTest.

One forward-backward of the tiny BART fixture in PyTorch the way PEFT users train in half
precision: the base model cast to bfloat16 / float16 (frozen weights stored in it), LoRA A/B in
float32 (PEFT's autocast_adapter_dtype), under torch.autocast for that dtype, the loss computed on
float32 logits. Same batch and same initial adapters as the float32 goldens of
tools/make_fixtures.py (goldens/train_step.safetensors), so the three precisions are comparable.

  /tmp/fixtures-venv/bin/python tools/make_halfprec_goldens.py --model models/tiny-bart

Writes GOLDENS/halfprec_step.safetensors (per dtype: loss and the gradient of the mean loss of
every adapter, onnx-lora layout [in,r]/[r,out]) and GOLDENS/halfprec_step.json (versions, losses,
and how far each dtype's gradients are from float32's, which says what the test tolerances buy).
"""
import argparse
import json
import os

import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import BartForConditionalGeneration

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def lora_model(hf, dtype, init, names):
    from peft import LoraConfig, get_peft_model
    base = BartForConditionalGeneration.from_pretrained(hf).to(dtype).eval()
    cfg = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "out_proj"],
                     lora_dropout=0.0, bias="none", task_type="SEQ_2_SEQ_LM")
    pm = get_peft_model(base, cfg, autocast_adapter_dtype=True)
    pm.eval()
    params = {}
    for name, p in pm.named_parameters():
        if "lora_" not in name:
            continue
        path = name.split("base_model.model.", 1)[1].split(".lora_")[0]
        kind = "lora_A" if ".lora_A." in name else "lora_B"
        key = f"{path}.{kind}"
        assert p.dtype == torch.float32, f"{key} is {p.dtype}: adapters must stay float32"
        with torch.no_grad():
            p.copy_(init[f"init/{key}"].t())
        params[key] = p
    assert sorted(params) == sorted(names), "adapters differ from the float32 goldens"
    return pm, params


def step(pm, params, batch, dtype):
    with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
        logits = pm(input_ids=batch["batch/input_ids"], attention_mask=batch["batch/attention_mask"],
                    decoder_input_ids=batch["batch/decoder_input_ids"], use_cache=False).logits
    labels = batch["batch/labels"]
    loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                             ignore_index=-100, reduction="mean")
    loss.backward()
    return loss.item(), {k: p.grad.detach().float().t().contiguous().clone() for k, p in params.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/tiny-bart")
    args = ap.parse_args()
    gold = os.path.join(args.model, "goldens")
    ref = load_file(os.path.join(gold, "train_step.safetensors"))
    names = json.load(open(os.path.join(gold, "train_step.json")))["adapters"]
    import peft
    out, report = {}, {"torch": torch.__version__, "transformers": transformers.__version__,
                       "peft": peft.__version__, "by": "tools/make_halfprec_goldens.py", "dtypes": {}}
    grads = {}
    for label, dtype in DTYPES.items():
        pm, params = lora_model(os.path.join(args.model, "hf"), dtype, ref, names)
        loss, g = step(pm, params, ref, dtype)
        grads[label] = g
        report["dtypes"][label] = {"loss": loss}
        if label != "fp32":
            out[f"{label}/loss"] = torch.tensor([loss], dtype=torch.float32)
            for k, v in g.items():
                out[f"{label}/grad/{k}"] = v
    for label in ("bf16", "fp16"):
        worst = 0.0
        for k in names:
            a, b = grads[label][k], grads["fp32"][k]
            worst = max(worst, float((a - b).abs().max() / b.abs().max()))
        report["dtypes"][label]["max_grad_rel_err_vs_fp32"] = worst
        report["dtypes"][label]["loss_rel_err_vs_fp32"] = abs(report["dtypes"][label]["loss"]
                                                              - report["dtypes"]["fp32"]["loss"]) / abs(
            report["dtypes"]["fp32"]["loss"])
    save_file(out, os.path.join(gold, "halfprec_step.safetensors"), metadata={"by": "tools/make_halfprec_goldens.py"})
    with open(os.path.join(gold, "halfprec_step.json"), "w") as f:
        json.dump(report, f, indent=1, sort_keys=True)
    print(json.dumps(report["dtypes"]))


if __name__ == "__main__":
    main()
