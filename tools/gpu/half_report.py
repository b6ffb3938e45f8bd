#!/usr/bin/env python3
"""Summary of run-on-device.sh's 'half' phase (issue 13): placement, parity, speed/memory ratios, quality.

  python3 half_report.py RESULTS_DIR                  (prints one JSON object)
  python3 half_report.py --parity-table RESULTS_DIR   (phase 'halfparity': a markdown table of half-parity-*.json)
"""
import json
import os
import sys


def fmt(x):
    return "-" if x is None else f"{x:.2e}"


def parity_table(r):
    """One row per dtype: the Java step on CUDA against PyTorch CUDA autocast + PEFT, with issue 13's bounds."""
    lines = ["| dtype | onnx-lora (device) | PyTorch | loss | PyTorch loss | loss rel. err (<= 1e-2) |"
             " gradient err / each adapter's largest (<= 5e-2) | gradient err / largest of all (<= 5e-2) |"
             " vs fp32 step, per adapter: onnx-lora / PyTorch | fp16 loss scale (skipped) | ok (per adapter / of all) |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for p in ("bf16", "fp16"):
        try:
            with open(os.path.join(r, f"half-parity-{p}.json")) as f:
                d = json.load(f)
        except Exception as e:  # a failed step leaves no file: the row says so
            lines.append(f"| {p} | missing: {e} | | | | | | | | | no |")
            continue
        scale = f"{d['loss_scale']:g} ({d['skipped_steps']})" if p == "fp16" else "-"
        lines.append(f"| {p} | Java TrainingSession ({d.get('device')}) | autocast ({d.get('torch_device')}) |"
                     f" {d['loss']:.6f} | {d['torch_loss']:.6f} | {d['loss_rel_err']:.2e} |"
                     f" {d['max_grad_rel_err']:.2e} | {fmt(d.get('grad_err_of_largest'))} |"
                     f" {fmt(d.get('onnx_lora_vs_fp32'))} / {fmt(d.get('torch_vs_fp32'))} | {scale} |"
                     f" {'yes' if d['ok'] else 'NO'} / {'yes' if d.get('ok_of_largest') else 'NO'} |")
    return "\n".join(lines)


def main():
    if sys.argv[1] == "--parity-table":
        print(parity_table(sys.argv[2]))
        return
    r = sys.argv[1]

    def j(name):
        try:
            with open(os.path.join(r, name)) as f:
                return json.load(f)
        except Exception as e:  # a failed run leaves no file: say so in the summary
            return {"error": str(e)}

    out = {"placement": {}, "parity": {}, "bench": {}, "quality": {}}
    for p in ("bf16", "fp16"):
        d = j(f"half-placement-{p}.json")
        out["placement"][p] = [{k: s.get(k) for k in ("session", "providers", "not_on_cuda_by_op", "memcpy_nodes")}
                               for s in d.get("sessions", [])] or d
        out["parity"][p] = {k: v for k, v in j(f"half-parity-{p}.json").items() if k != "providers"}
    names = ("ol_tiny_cuda_fp32h", "ol_tiny_cuda_bf16", "ol_tiny_cuda_fp16", "peft_tiny_cuda_bf16",
             "ol_base_cuda_fp32h", "ol_base_cuda_bf16", "ol_base_cuda_fp16", "peft_base_cuda_bf16",
             "peft_base_cuda_fp16")
    for n in names:
        b, m = j(f"bench-{n}.json"), j(f"gpumem-{n}.json")
        out["bench"][n] = {"tokens_per_second": b.get("tokens_per_second"), "step_ms_median": b.get("step_ms_median"),
                           "skipped_steps": b.get("skipped_steps"), "gpumem": m}
    for s in ("tiny", "base"):
        o = out["bench"].get(f"ol_{s}_cuda_bf16", {})
        p = out["bench"].get(f"peft_{s}_cuda_bf16", {})
        f = out["bench"].get(f"ol_{s}_cuda_fp32h", {})
        try:
            out["bench"][f"{s}_bf16_speed_vs_peft_bf16"] = round(o["tokens_per_second"] / p["tokens_per_second"], 3)
            out["bench"][f"{s}_bf16_speed_vs_own_fp32"] = round(o["tokens_per_second"] / f["tokens_per_second"], 3)
        except Exception as e:
            out["bench"][f"{s}_ratios"] = f"missing: {e}"
    for p in ("fp32", "bf16", "fp16"):
        q = j(f"half-quality-{p}.json")
        out["quality"][p] = {k: q.get(k) for k in ("valid_loss", "initial_valid_loss", "skipped_steps", "loss_scale",
                                                   "tokens_per_second", "error")}
    try:
        ref = out["quality"]["fp32"]["valid_loss"]
        for p in ("bf16", "fp16"):
            out["quality"][p]["relative_to_fp32"] = round(out["quality"][p]["valid_loss"] / ref - 1, 5)
    except Exception as e:
        out["quality"]["ratios"] = f"missing: {e}"
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
