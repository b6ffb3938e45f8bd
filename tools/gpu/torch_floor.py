#!/usr/bin/env python3
"""PyTorch's fixed GPU memory costs, stage by stage: the counterpart of tools/bench/MemoryFloor.java.

Each stage runs the same single operation on the same bart-base-sized tensors as MemoryFloor's, then reads the
device's memory in use from nvidia-smi (the lent machine runs nothing else), so the two tools' rows compare like
for like: the CUDA context, cuBLAS in fp32 and bf16, reductions, softmax, layer norm. Prints one JSON object.

  python3 tools/gpu/torch_floor.py [--device cuda:0]
"""
import argparse
import json
import subprocess
import sys


def used_mib(index):
    out = subprocess.run(["nvidia-smi", "-i", str(index), "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                         capture_output=True, text=True, check=True).stdout
    return int(out.strip().splitlines()[0])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda:0")
    a = p.parse_args()
    index = int(a.device.split(":")[1]) if ":" in a.device else 0
    stages = []
    base = used_mib(index)

    def stage(what):
        used = used_mib(index)
        prev = stages[-1]["used_mib"] if stages else base
        stages.append({"stage": what, "used_mib": used, "over_start_mib": used - base, "delta_mib": used - prev})
        print(f"{what:48s} {used - base:6d} MiB  (+{used - prev})", file=sys.stderr)

    stage("before PyTorch")
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False
    dev = torch.device(a.device)
    g = torch.Generator().manual_seed(0)

    def rand(*shape):
        return (torch.rand(*shape, generator=g) * 0.2 - 0.1).to(dev)

    x = torch.zeros(1, device=dev)
    torch.cuda.synchronize()
    stage("CUDA context: a tensor of 1")
    xs, w = rand(4096, 768), rand(768, 768)
    y = xs @ w
    torch.cuda.synchronize()
    stage("matmul fp32 [4096,768]x[768,768] (cuBLAS)")
    y = (xs.bfloat16() @ w.bfloat16()).float()
    torch.cuda.synchronize()
    stage("matmul bf16 (cuBLAS, tensor cores)")
    y = xs.sum(-1, keepdim=True)
    y = xs.sum(0, keepdim=True)
    torch.cuda.synchronize()
    stage("sum over the last and the first axis")
    y = torch.softmax(rand(1024, 50265), -1)
    torch.cuda.synchronize()
    stage("softmax [1024,50265]")
    y = torch.nn.functional.layer_norm(xs, (768,))
    torch.cuda.synchronize()
    stage("layer_norm [4096,768]")
    del x, y
    out = {"device": a.device, "torch": torch.__version__, "stages": stages,
           "memory_reserved_mib": torch.cuda.memory_reserved(dev) // (1 << 20)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
