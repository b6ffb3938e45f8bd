#!/usr/bin/env python3
"""PEFT round-trip goldens for onnx-lora's interop tests (PeftRoundTripTest).

Runs real Hugging Face PEFT on the PyTorch weights the tiny-BART fixtures were
exported from, in float32 on the CPU, over one fixed padded batch:

  export:  loads goldens/peft_export (written by onnx-lora's `export-adapter --format peft`,
           regenerate with `./mvnw test -Dtest=PeftRoundTripTest -Donnxlora.writeGoldens=true`)
           with PeftModel.from_pretrained, checks every tensor landed in a LoRA parameter,
           and records the logits;
  native:  makes an adapter with PEFT itself (rank_pattern, alpha_pattern, rsLoRA, dropout,
           gaussian A and random B), saves it with save_pretrained (fp32) and as bf16
           safetensors, and records the logits of each (the bf16 one reloaded from disk);
  base:    the logits of the model without adapters.

  python3 tools/make_peft_goldens.py --model models/tiny-bart \
      --export models/tiny-bart/goldens/peft_export --out models/tiny-bart/goldens

Writes OUT/peft_native/, OUT/peft_native_bf16/, OUT/peft_roundtrip.safetensors (the batch
and the logits) and OUT/peft_roundtrip.json (versions, per-module r and scaling PEFT used).
"""
import argparse
import json
import os
import shutil

import peft
import torch
import transformers
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import BartForConditionalGeneration

# The batch Logits.batch() in the Java tests uses: right-padded with <pad>=1 and a mask.
INPUT_IDS = [[0, 45, 311, 902, 17, 2, 1], [0, 1200, 7, 64, 1999, 388, 2]]
MASK = [[1, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1, 1]]
DECODER = [[2, 0, 45, 311, 902], [2, 0, 1200, 7, 64]]

NATIVE = dict(
    r=4,
    lora_alpha=8,
    target_modules=["q_proj", "k_proj", "v_proj", "out_proj"],
    rank_pattern={"encoder_attn.k_proj": 2, "model.encoder.layers.1.self_attn.q_proj": 6},
    # the specific key first: PEFT takes the first pattern that matches
    alpha_pattern={"model.decoder.layers.1.self_attn.v_proj": 5, "v_proj": 12},
    use_rslora=True,
    lora_dropout=0.1,
    init_lora_weights="gaussian",
    task_type="SEQ_2_SEQ_LM",
)


def base_model(path):
    return BartForConditionalGeneration.from_pretrained(path).float().eval()


def logits(model):
    with torch.no_grad():
        return model(input_ids=torch.tensor(INPUT_IDS), attention_mask=torch.tensor(MASK),
                     decoder_input_ids=torch.tensor(DECODER)).logits.float().contiguous()


def lora_modules(model):
    out = {}
    for name, mod in model.named_modules():
        if hasattr(mod, "scaling") and isinstance(mod.scaling, dict) and "default" in mod.scaling:
            key = name[len("base_model.model."):] if name.startswith("base_model.model.") else name
            out[key] = {"r": mod.r["default"], "scaling": float(mod.scaling["default"])}
    return out


def check_loaded(model, adapter_dir):
    """Every tensor of the file must equal a LoRA parameter of the loaded model."""
    params = dict(model.named_parameters())
    sd = load_file(os.path.join(adapter_dir, "adapter_model.safetensors"))
    for k, v in sd.items():
        name = k[: -len(".weight")] + ".default.weight"
        assert name in params, f"{k} did not load into a parameter ({name})"
        assert torch.equal(params[name].detach().float(), v.float()), f"{k} loaded different values"
    n = len(lora_modules(model))
    assert n * 2 == len(sd), f"{n} LoRA modules but {len(sd)} tensors"
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/tiny-bart")
    ap.add_argument("--export", default="models/tiny-bart/goldens/peft_export")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    hf = f"{args.model}/hf"
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(1234)
    tensors = {
        "input_ids": torch.tensor(INPUT_IDS), "attention_mask": torch.tensor(MASK),
        "decoder_input_ids": torch.tensor(DECODER),
    }
    report = {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}

    tensors["logits_base"] = logits(base_model(hf))

    exported = PeftModel.from_pretrained(base_model(hf), args.export).eval()
    report["export_modules"] = check_loaded(exported, args.export)
    report["export"] = lora_modules(exported)
    tensors["logits_export"] = logits(exported)

    native_dir = os.path.join(args.out, "peft_native")
    pm = get_peft_model(base_model(hf), LoraConfig(**NATIVE))
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_B" in n:
                p.normal_(0.0, 0.05)
    pm.eval()
    tensors["logits_native"] = logits(pm)
    report["native"] = lora_modules(pm)
    pm.save_pretrained(native_dir)
    reloaded = PeftModel.from_pretrained(base_model(hf), native_dir).eval()
    check_loaded(reloaded, native_dir)
    report["native_reload_max_abs"] = float((logits(reloaded) - tensors["logits_native"]).abs().max())

    bf16_dir = os.path.join(args.out, "peft_native_bf16")
    os.makedirs(bf16_dir, exist_ok=True)
    sd = load_file(os.path.join(native_dir, "adapter_model.safetensors"))
    save_file({k: v.to(torch.bfloat16).contiguous() for k, v in sd.items()},
              os.path.join(bf16_dir, "adapter_model.safetensors"), metadata={"format": "pt"})
    shutil.copy(os.path.join(native_dir, "adapter_config.json"), bf16_dir)
    bf16 = PeftModel.from_pretrained(base_model(hf), bf16_dir).eval()
    tensors["logits_native_bf16"] = logits(bf16)
    for d in (native_dir, bf16_dir):
        readme = os.path.join(d, "README.md")
        if os.path.exists(readme):
            os.remove(readme)

    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(args.out, "peft_roundtrip.safetensors"),
              metadata={"by": "tools/make_peft_goldens.py"})
    with open(os.path.join(args.out, "peft_roundtrip.json"), "w") as f:
        json.dump(report, f, indent=1, sort_keys=True)
    print(json.dumps({k: v for k, v in report.items() if not isinstance(v, dict)}))
    for k in ("logits_export", "logits_native", "logits_native_bf16"):
        print(k, "max |delta vs base|", float((tensors[k] - tensors["logits_base"]).abs().max()))


if __name__ == "__main__":
    main()
