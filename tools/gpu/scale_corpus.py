#!/usr/bin/env python3
"""Writes an N-row corpus from a JSONL of source/target pairs, for data-scaling benchmarks (issue 11).

Rows repeat the given pairs in order with the source's words rotated by one more place each time round,
so the texts differ (no cache or tokenizer shortcut) while lengths keep the real distribution.

  python3 tools/gpu/scale_corpus.py models/datasets/manpages/train.jsonl 1000000 /tmp/manpages-1000000.jsonl
"""
import json
import sys


def main():
    src, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with open(src, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    with open(out, "w", encoding="utf-8") as f:
        for i in range(n):
            r = rows[i % len(rows)]
            w = r["source"].split()
            k = (i // len(rows)) % max(1, len(w))
            f.write(json.dumps({"source": " ".join(w[k:] + w[:k]), "target": r["target"]}) + "\n")


if __name__ == "__main__":
    main()
