#!/usr/bin/env python3
"""PyTorch + PEFT with DistributedDataParallel: the side-by-side of `train --devices` (issue 15).

One process per device, started by torchrun; NCCL on CUDA, gloo on CPU (so a CPU machine can rehearse
it). Every rank trains tools/bench_peft.py's configuration on its own random batches: BART built from its
config with random weights (bart-base's shape, or the tiny fixture's), LoRA r=8 alpha=16 on q_proj+v_proj,
per-rank batch 32 of 128 source + 32 target tokens, fp32 with TF32 off, AdamW lr 1e-4 (0.9/0.999, eps
1e-8, no decay), global-norm clip 1.0, no dropout. DDP sums the LoRA gradients during the backward
(bucketed, overlapped with it), as a PEFT user running torchrun gets.

Reported by rank 0 (stdout, and --json-out): the step time (per step the slowest rank's, which is what
every rank waits for; median over the timed steps), global tokens/s (world x batch x (source + target)
over that median), the same steps under DDP's no_sync() (no gradient all-reduce; the difference is the
all-reduce's exposed share of a step), the median time of one all-reduce of a flat buffer of the
trainable parameters' size, and per rank torch.cuda.max_memory_allocated / max_memory_reserved and the
process's own GPU memory from NVML (sampled every 20 ms, as tools/gpu/gpumem.py samples it).

NVLink multicast stays off (NCCL_NVLS_ENABLE=0, TORCH_SYMM_MEM_DISABLE_MULTICAST=1,
NVSHMEM_DISABLE_NVLS=1): the lent multi-GPU machines require it, so the script sets them itself before
NCCL starts, whatever the caller's environment says.

  python3 -m torch.distributed.run --standalone --nproc_per_node 4 tools/bench_peft_ddp.py --size base \\
      --device cuda --json-out peft-ddp-4.json
  python3 -m torch.distributed.run --standalone --nproc_per_node 2 tools/bench_peft_ddp.py --size tiny \\
      --device cpu --threads 1 --steps 3 --warmup 1 --no-sync-steps 2
"""
import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_peft import bart_config, emit  # noqa: E402  (one model configuration and one result format for every PyTorch benchmark)

# The machines' notes: multicast can take the host's shared GPUs out of service, so never let it on.
NO_MULTICAST = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}
os.environ.update(NO_MULTICAST)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", choices=["tiny", "base"], required=True)
    p.add_argument("--tiny-config", default="models/tiny-bart/hf/config.json",
                   help="config.json of the tiny fixture (default: %(default)s)")
    p.add_argument("--device", choices=["cpu", "cuda"], required=True)
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads per rank (0 = leave it)")
    p.add_argument("--batch", type=int, default=32, help="rows per rank and step")
    p.add_argument("--source-length", type=int, default=128)
    p.add_argument("--target-length", type=int, default=32)
    p.add_argument("--steps", type=int, default=50, help="timed steps")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps first")
    p.add_argument("--no-sync-steps", type=int, default=20,
                   help="timed steps under no_sync() after the others (0 = skip; default: %(default)s)")
    p.add_argument("--allreduce-iters", type=int, default=50,
                   help="timed all-reduces of a flat buffer of the trainable parameters' size (0 = skip)")
    p.add_argument("--rank", type=int, default=8, dest="lora_rank")
    p.add_argument("--alpha", type=float, default=16)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--tf32", action="store_true", help="allow TF32 matmuls on CUDA (off: strict float32)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json-out", help="also write the JSON result here (rank 0)")
    return p.parse_args()


class NvmlPeak:
    """This process's GPU memory on its device, from NVML's process table, sampled every 20 ms."""

    def __init__(self, index, uuid):
        self.peak, self.device_peak, self.matched = 0, 0, None
        self._stop = threading.Event()
        try:
            import pynvml
            pynvml.nvmlInit()
            self._nvml = pynvml
            h = None
            if uuid:
                try:
                    h = pynvml.nvmlDeviceGetHandleByUUID(uuid)
                except pynvml.NVMLError:
                    h = None
            self._h = h or pynvml.nvmlDeviceGetHandleByIndex(index)
        except Exception as e:  # noqa: BLE001 - no NVML: the torch counters still report
            self.error = repr(e)
            self._h = None
            return
        self.error = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        pid = os.getpid()
        while not self._stop.is_set():
            try:
                self.device_peak = max(self.device_peak, self._nvml.nvmlDeviceGetMemoryInfo(self._h).used)
                procs = self._nvml.nvmlDeviceGetComputeRunningProcesses(self._h)
                mine = [p.usedGpuMemory for p in procs if p.pid == pid and p.usedGpuMemory]
                if mine:
                    self.matched = True
                    self.peak = max(self.peak, mine[0])
                elif len(procs) == 1 and procs[0].usedGpuMemory and self.matched is not True:
                    # another pid namespace: the one process on this rank's device is this one
                    self.matched = False
                    self.peak = max(self.peak, procs[0].usedGpuMemory)
            except self._nvml.NVMLError:
                pass
            self._stop.wait(0.02)

    def stop(self):
        self._stop.set()
        if self._h is not None:
            self._thread.join()
        return {"nvml_process_peak_bytes": self.peak or None, "nvml_device_used_peak_bytes": self.device_peak or None,
                "nvml_pid_matched": self.matched, "nvml_error": self.error}


def build_model(a, torch):
    from transformers import BartForConditionalGeneration
    from peft import LoraConfig, TaskType, get_peft_model
    cfg = bart_config(a.size, a.tiny_config)
    torch.manual_seed(a.seed)  # the same weights on every rank (DDP also broadcasts rank 0's at wrap time)
    model = BartForConditionalGeneration(cfg).float()
    model = get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_2_SEQ_LM, r=a.lora_rank, lora_alpha=a.alpha,
                                             target_modules=["q_proj", "v_proj"], lora_dropout=0.0, bias="none"))
    return cfg, model


def nccl_version(torch):
    try:
        v = torch.cuda.nccl.version()
        return ".".join(map(str, v)) if isinstance(v, (tuple, list)) else str(v)
    except Exception as e:  # noqa: BLE001 - a version string is not worth failing the run
        return repr(e)


def main():
    a = parse_args()
    if a.threads > 0:
        os.environ["OMP_NUM_THREADS"] = str(a.threads)
        os.environ["MKL_NUM_THREADS"] = str(a.threads)
    import torch
    import torch.distributed as dist
    import transformers
    import peft
    from torch.nn.parallel import DistributedDataParallel as DDP

    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    local = int(os.environ.get("LOCAL_RANK", 0))
    if a.threads > 0:
        torch.set_num_threads(a.threads)
        torch.set_num_interop_threads(1)
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.allow_tf32 = a.tf32
    cuda = a.device == "cuda"
    if cuda:
        if not torch.cuda.is_available() or torch.cuda.device_count() <= local:
            sys.exit(f"rank {rank}: CUDA device {local} requested, {torch.cuda.device_count()} visible")
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device("cpu")
    dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=world,
                            **({"device_id": dev} if cuda else {}))
    mem = None
    if cuda:
        uuid = getattr(torch.cuda.get_device_properties(local), "uuid", None)
        mem = NvmlPeak(local, f"GPU-{uuid}" if uuid is not None else None)

    cfg, model = build_model(a, torch)
    model.to(dev)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    trainable = sum(p.numel() for p in params)
    ddp = DDP(model, device_ids=[local] if cuda else None)
    opt = torch.optim.AdamW(params, lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)

    gen = torch.Generator().manual_seed(a.seed + 1000 * (rank + 1))  # every rank its own data
    b, s, t, vocab = a.batch, a.source_length, a.target_length, cfg.vocab_size

    def batch():
        src = torch.randint(5, vocab, (b, s), generator=gen)
        labels = torch.randint(5, vocab, (b, t), generator=gen)
        dec = torch.cat([torch.full((b, 1), 2, dtype=torch.long), labels[:, :-1]], dim=1)
        return src.to(dev), torch.ones_like(src).to(dev), dec.to(dev), labels.to(dev)

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def step(no_sync):
        sync()
        start = time.perf_counter()
        src, mask, dec, labels = batch()
        ctx = ddp.no_sync() if no_sync else contextlib.nullcontext()
        with ctx:
            out = ddp(input_ids=src, attention_mask=mask, decoder_input_ids=dec, labels=labels)
            out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        loss = out.loss.item()
        sync()
        return (time.perf_counter() - start) * 1000, loss

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    synced, unsynced, losses, first_step_s = [], [], [], None
    for i in range(a.warmup + a.steps):
        ms, loss = step(False)
        losses.append(loss)
        if i == 0:
            first_step_s = time.perf_counter() - T0
        if i >= a.warmup:
            synced.append(ms)
        if rank == 0:
            print(f"step {i + 1}/{a.warmup + a.steps}: {ms:.1f} ms loss {loss:.4f}", file=sys.stderr, flush=True)
    for _ in range(a.no_sync_steps):
        unsynced.append(step(True)[0])

    ar = []
    if a.allreduce_iters > 0:
        flat = torch.ones(trainable, dtype=torch.float32, device=dev)
        for i in range(10 + a.allreduce_iters):
            sync()
            t0 = time.perf_counter()
            dist.all_reduce(flat)
            sync()
            if i >= 10:
                ar.append((time.perf_counter() - t0) * 1000)

    me = {"rank": rank, "step_ms": synced, "no_sync_step_ms": unsynced, "allreduce_ms": ar,
          "loss_first": losses[0], "loss_last": losses[-1],
          "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
          "time_to_first_step_seconds": round(first_step_s, 3)}
    if cuda:
        me["gpu_max_memory_allocated_bytes"] = torch.cuda.max_memory_allocated()
        me["gpu_max_memory_reserved_bytes"] = torch.cuda.max_memory_reserved()
        me["gpu_name"] = torch.cuda.get_device_name(local)
        me.update(mem.stop())
    ranks = [None] * world
    dist.all_gather_object(ranks, me)
    dist.barrier()
    dist.destroy_process_group()
    if rank != 0:
        return

    def slowest(key):
        return [max(r[key][i] for r in ranks) for i in range(len(ranks[0][key]))]

    step_ms = slowest("step_ms")
    median = statistics.median(step_ms)
    tokens = world * b * (s + t)
    r = {
        "tool": "pytorch+peft ddp", "size": a.size, "device": a.device, "world_size": world,
        "backend": "nccl" if cuda else "gloo", "batch_per_rank": b, "global_batch": world * b,
        "source_length": s, "target_length": t, "tokens_per_step": tokens, "trainable_parameters": trainable,
        "step_ms_median": round(median, 3), "step_ms_all": [round(x, 3) for x in step_ms],
        "tokens_per_second": round(tokens / (median / 1000), 3),
        "tf32": a.tf32, "multicast_env": {k: os.environ.get(k) for k in NO_MULTICAST},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
                     "nccl": nccl_version(torch) if cuda else None},
    }
    if unsynced:
        nosync = statistics.median(slowest("no_sync_step_ms"))
        r["no_sync_step_ms_median"] = round(nosync, 3)
        r["allreduce_exposed_share"] = round(max(0.0, 1 - nosync / median), 4)
    if ar:
        r["allreduce_ms_median"] = round(statistics.median(slowest("allreduce_ms")), 4)
        r["allreduce_floats"] = trainable
    r["time_to_first_step_seconds"] = max(x["time_to_first_step_seconds"] for x in ranks)
    r["per_rank"] = [{k: v for k, v in x.items() if k not in ("step_ms", "no_sync_step_ms", "allreduce_ms")}
                     | {"step_ms_median": round(statistics.median(x["step_ms"]), 3)} for x in ranks]
    emit(r, a.json_out)


if __name__ == "__main__":
    main()
