#!/usr/bin/env python3
"""Runs a command and samples the GPU's memory in use while it runs (NVML, every 20 ms).

  gpumem.py --out FILE.json -- COMMAND [ARGS...]

Writes {baseline, peak, peak - baseline, the command's own peak from NVML's per-process table when
the driver reports it, exit code, wall seconds} for GPU 0, and the same for every GPU under
per_device (multi-GPU runs). The same measurement for onnx-lora (Java + ORT) and PyTorch, so peak
GPU memory compares like for like (CUDA context included). Exit code = the command's.

It also samples NVML's GPU utilization (the share of time a kernel was running): its median over the
run's last third (where a benchmark's timed steps are) says whether the command kept the GPU busy or
left it waiting on the host; util_samples has GPU 0's samples every 100 ms (seconds, utilization %,
MiB in use over the baseline), which also show when the memory grows (start-up, first step).
"""
import json
import subprocess
import sys
import threading
import time


def main():
    args = sys.argv[1:]
    if len(args) < 4 or args[0] != "--out" or args[2] != "--":
        sys.exit(__doc__)
    out, cmd = args[1], args[3:]
    import pynvml
    pynvml.nvmlInit()
    hs = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
    bases = [pynvml.nvmlDeviceGetMemoryInfo(h).used for h in hs]
    peaks = [[b, 0] for b in bases]
    utils = [[] for _ in hs]
    stop = threading.Event()
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd)

    def sample():
        while not stop.is_set():
            for h, peak, util in zip(hs, peaks, utils):
                used = pynvml.nvmlDeviceGetMemoryInfo(h).used
                peak[0] = max(peak[0], used)
                try:
                    util.append((time.perf_counter() - t0, pynvml.nvmlDeviceGetUtilizationRates(h).gpu, used))
                except pynvml.NVMLError:
                    pass
                try:
                    for proc in pynvml.nvmlDeviceGetComputeRunningProcesses(h):
                        if proc.usedGpuMemory:
                            peak[1] = max(peak[1], proc.usedGpuMemory)
                except pynvml.NVMLError:
                    pass
            stop.wait(0.02)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    rc = p.wait()
    stop.set()
    th.join()
    wall = time.perf_counter() - t0

    def last_third(samples):
        tail = sorted(u for t, u, _ in samples if t >= wall * 2 / 3)
        return tail[len(tail) // 2] if tail else None

    per = [{"index": i, "gpu_used_baseline_bytes": b, "gpu_used_peak_bytes": pk[0], "gpu_peak_delta_bytes": pk[0] - b,
            "gpu_process_peak_bytes": pk[1] or None, "gpu_util_median_last_third": last_third(u)}
           for i, (b, pk, u) in enumerate(zip(bases, peaks, utils))]
    r = {"cmd": cmd, "exit_code": rc, "wall_seconds": round(wall, 3)}
    r.update({k: v for k, v in per[0].items() if k != "index"})
    r["per_device"] = per
    # every 100 ms: [seconds, utilization %, MiB in use over the baseline], to see when memory grows
    r["util_samples"] = [[round(t, 2), u, (m - bases[0]) >> 20] for t, u, m in utils[0][::5]] if utils else []
    with open(out, "w") as f:
        json.dump(r, f, indent=1)
    sys.exit(rc)


if __name__ == "__main__":
    main()
