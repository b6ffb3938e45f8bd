#!/usr/bin/env python3
"""Hugging Face generate() goldens for onnx-lora's generation tests.

Runs transformers' own greedy and beam search on the tiny BART fixture (the
PyTorch weights the ONNX exports came from) over a fixed batch, for a set of
generation settings, and writes the sources and the generated ids:

  python3 tools/make_generate_goldens.py --model models/tiny-bart \
      --data models/datasets/manpages/valid.jsonl --out models/tiny-bart/goldens/generate.json

Needs torch, transformers and tokenizers (the lent GPU machine has them); runs
on the CPU in float32, no network. The batch is padded on the right with
<pad>=1 and an attention mask, as the Java generator pads it.
"""
import argparse
import json
import random

import torch
from tokenizers import Tokenizer
from transformers import BartForConditionalGeneration
import transformers

CASES = [
    # name, settings (anything not named: greedy, length_penalty 1, early_stopping False, nothing forced)
    ("greedy", dict()),
    ("greedy_max5", dict(max_new_tokens=5)),
    ("greedy_no_repeat_2", dict(no_repeat_ngram_size=2)),
    ("greedy_min20_bos7", dict(min_length=20, forced_bos_token_id=7)),
    ("beam4", dict(num_beams=4)),
    ("beam4_lp2_early", dict(num_beams=4, length_penalty=2.0, early_stopping=True)),
    ("beam3_lp0", dict(num_beams=3, length_penalty=0.0)),
    ("beam4_lp_minus1", dict(num_beams=4, length_penalty=-1.0)),
    ("beam4_no_repeat_3", dict(num_beams=4, no_repeat_ngram_size=3)),
    ("beam5_forced_eos_max8", dict(num_beams=5, max_new_tokens=8, forced_eos_token_id=2)),
    ("beam2_min12", dict(num_beams=2, min_length=12)),
]
MAX_NEW = 40


def sources(tokenizer_path, data, n_data=6, n_random=6, seed=7):
    tok = Tokenizer.from_file(tokenizer_path)
    out = []
    with open(data) as f:
        for line in f:
            if len(out) == n_data:
                break
            ids = tok.encode(json.loads(line)["source"]).ids
            if len(ids) > 64:
                ids = ids[:63] + [2]
            out.append(ids)
    rng = random.Random(seed)
    for _ in range(n_random):
        n = 5 + rng.randrange(28)
        out.append([0] + [5 + rng.randrange(2043) for _ in range(n - 2)] + [2])
    return out


def strip(seq, eos=2):
    """Drops the decoder start token and everything after the first EOS (HF pads there)."""
    seq = seq[1:]
    return seq[: seq.index(eos) + 1] if eos in seq else seq


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/tiny-bart")
    ap.add_argument("--data", default="models/datasets/manpages/valid.jsonl")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    torch.manual_seed(0)
    model = BartForConditionalGeneration.from_pretrained(f"{args.model}/hf").eval()
    # The checkpoint's generation_config forces EOS at the limit; the cases opt in explicitly.
    model.generation_config.forced_eos_token_id = None
    srcs = sources(f"{args.model}/tokenizer.json", args.data)
    width = max(len(s) for s in srcs)
    ids = torch.tensor([s + [1] * (width - len(s)) for s in srcs])
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in srcs])

    cases = []
    for name, settings in CASES:
        kw = dict(max_new_tokens=MAX_NEW, do_sample=False, num_beams=1, length_penalty=1.0,
                  early_stopping=False, decoder_start_token_id=2, eos_token_id=2, pad_token_id=1)
        kw.update(settings)
        with torch.no_grad():
            seqs = model.generate(input_ids=ids, attention_mask=mask, **kw)
        outs = [strip(s) for s in seqs.tolist()]
        cases.append({"name": name, "settings": kw, "outputs": outs})
        print(name, [len(o) for o in outs], flush=True)

    with open(args.out, "w") as f:
        json.dump({"transformers": transformers.__version__, "torch": torch.__version__,
                   "sources": srcs, "cases": cases}, f, indent=1)


if __name__ == "__main__":
    main()
