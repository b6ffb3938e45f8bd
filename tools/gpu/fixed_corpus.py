#!/usr/bin/env python3
"""Writes an N-row JSONL whose every row is longer than the training lengths, so that `train` truncates each
to exactly --max-source-length + --max-target-length tokens: fixed 128+32 batches through `train` (which,
unlike bench-train, runs on several devices) for the multi-GPU benchmark of issue 15.

Words are drawn (seeded) from a JSONL of real pairs, so the tokenizer sees ordinary text; SOURCE_WORDS and
TARGET_WORDS words a row are several times what 128 and 32 tokens need.

  python3 tools/gpu/fixed_corpus.py models/datasets/manpages/train.jsonl 4096 /tmp/fixed-4096.jsonl
"""
import json
import random
import sys

SOURCE_WORDS = 400
TARGET_WORDS = 100


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    src, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    words = []
    with open(src, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                words.extend(r["source"].split())
                words.extend(r["target"].split())
    rng = random.Random(0)
    with open(out, "w", encoding="utf-8") as f:
        for _ in range(n):
            f.write(json.dumps({"source": " ".join(rng.choices(words, k=SOURCE_WORDS)),
                                "target": " ".join(rng.choices(words, k=TARGET_WORDS))}) + "\n")


if __name__ == "__main__":
    main()
