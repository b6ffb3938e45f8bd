#!/usr/bin/env python3
"""Two `train` runs of the same data, seed and settings, step by step: how far apart their losses and gradient norms
are, where they first part (relative difference above --tolerance), and how many values are not finite. Used to
check that CUDA graphs of many batch shapes in one session (issue 11) train the same steps as the uncaptured run.

    replay_parity.py REFERENCE.metrics.jsonl[.gz] CANDIDATE.metrics.jsonl[.gz] [--tolerance 1e-3] [--label NAME]

Prints one Markdown table row: label, steps compared, max relative loss and gradient-norm difference, the first
step past the tolerance, non-finite values in each run."""
import argparse
import gzip
import json
import math


def steps(path):
    out = {}
    with (gzip.open(path, "rt") if path.endswith(".gz") else open(path)) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            e = json.loads(line)
            if e.get("event", "train") == "train" and "step" in e and "loss" in e:
                out[e["step"]] = e
    return out


def rel(a, b):
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.inf
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("reference")
    p.add_argument("candidate")
    p.add_argument("--tolerance", type=float, default=1e-3)
    p.add_argument("--label", default="")
    a = p.parse_args()
    ref, cand = steps(a.reference), steps(a.candidate)
    common = sorted(set(ref) & set(cand))
    worst_loss = worst_norm = 0.0
    first = None
    for s in common:
        dl = rel(ref[s]["loss"], cand[s]["loss"])
        dn = rel(ref[s].get("grad_norm", 0.0), cand[s].get("grad_norm", 0.0))
        worst_loss, worst_norm = max(worst_loss, dl), max(worst_norm, dn)
        if first is None and max(dl, dn) > a.tolerance:
            first = s
    bad = lambda r: sum(1 for e in r.values() if not all(math.isfinite(e.get(k, 0.0)) for k in ("loss", "grad_norm")))
    print(f"| {a.label} | {len(common)} | {worst_loss:.2e} | {worst_norm:.2e} | {'none' if first is None else first} "
          f"| {bad(ref)} / {bad(cand)} |")


if __name__ == "__main__":
    main()
