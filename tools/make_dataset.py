#!/usr/bin/env python3
"""Builds the bundled summarisation dataset from the installed manual pages.

Each pair maps the first paragraphs of a page's DESCRIPTION section (source) to
the one-line summary of its NAME section (target), e.g.
  "List information about the FILEs ..." -> "list directory contents".

Standard library only; runs on any Debian-like machine with man pages:
  python3 tools/make_dataset.py --out models/datasets/manpages
Output: train.jsonl, valid.jsonl, test.jsonl and corpus.txt (all sources and
targets, used to train the tiny tokenizer). The split is deterministic: it is
keyed by a hash of the page name, so re-running on another machine with a
different set of pages keeps existing pages in the same split.
"""
import argparse
import glob
import gzip
import hashlib
import json
import os
import re

ESCAPES = [
    (re.compile(r"\\f(\[[^\]]*\]|\(..|.)"), ""),   # font changes
    (re.compile(r"\\s[+-]?\d"), ""),               # size changes
    (re.compile(r"\\\*(\[[^\]]*\]|\(..|.)"), ""),  # string registers
    (re.compile(r"\\\((em|en)"), "-"),
    (re.compile(r"\\\((lq|rq|dq)"), '"'),
    (re.compile(r"\\\((oq|cq|aq)"), "'"),
    (re.compile(r"\\\(\w\w"), ""),
    (re.compile(r"\\\[[^\]]*\]"), ""),
    (re.compile(r"\\[-]"), "-"),
    (re.compile(r"\\[&|^/,%:]"), ""),
    (re.compile(r"\\e"), "\\\\"),
    (re.compile(r"\\ "), " "),
    (re.compile(r"\\(.)"), r"\1"),
]


def clean(text):
    for pattern, repl in ESCAPES:
        text = pattern.sub(repl, text)
    return re.sub(r"\s+", " ", text).strip()


def sections(lines):
    name, body = None, {}
    for line in lines:
        m = re.match(r'^\.S[Hh]\s+"?([^"]*)"?\s*$', line)
        if m:
            name = m.group(1).strip().upper()
            body.setdefault(name, [])
        elif name is not None:
            body[name].append(line)
    return body


def text_of(lines, max_chars):
    """Running text of a section: paragraph macros end paragraphs, other requests drop out."""
    paras, cur = [], []
    for line in lines:
        if line.startswith(('.\\"', "'\\\"")):
            continue
        if re.match(r"^\.(PP|LP|P|TP|IP|HP|sp|br|RS|RE|nf|fi|TH|SS)\b", line):
            if cur:
                paras.append(" ".join(cur))
                cur = []
            if re.match(r"^\.(TP|IP|nf|SS)\b", line) and paras:
                break  # option tables and examples follow: keep only the prose lead
            continue
        m = re.match(r"^\.(B|I|BR|IR|RB|RI|BI|IB|SM|SB)\s+(.*)$", line)
        if m:
            line = m.group(2).replace('"', "")
        elif line.startswith((".", "'")):
            continue
        cur.append(line)
    if cur:
        paras.append(" ".join(cur))
    out = ""
    for p in (clean(p) for p in paras):
        if not p:
            continue
        if out and len(out) + len(p) + 1 > max_chars:
            break
        out = (out + " " + p).strip()
    return out[:max_chars]


def pair_of(path, max_chars):
    try:
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except (OSError, EOFError):
        return None
    if any(l.startswith(".so ") for l in lines[:3]):
        return None  # alias page
    secs = sections(lines)
    name_lines = secs.get("NAME") or secs.get("NOM")
    desc_lines = secs.get("DESCRIPTION")
    if not name_lines or not desc_lines:
        return None
    name_text = clean(" ".join(l for l in name_lines if not l.startswith(".")))
    m = re.match(r"^(.*?)\s+-+\s+(.*)$", name_text)
    if not m:
        return None
    summary = m.group(2).strip().rstrip(".")
    source = text_of(desc_lines, max_chars)
    if len(summary.split()) < 2 or len(source.split()) < 8:
        return None
    return {"name": os.path.basename(path).split(".")[0], "source": source, "target": summary}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--man-dir", default="/usr/share/man")
    ap.add_argument("--out", required=True)
    ap.add_argument("--sections", default="1,5,7,8")
    ap.add_argument("--max-chars", type=int, default=480)
    ap.add_argument("--max-pairs", type=int, default=4000)
    ap.add_argument("--max-family", type=int, default=1200,
                    help="cap on pages of one command family (gcloud alone has thousands of near-identical pages)")
    args = ap.parse_args()

    pairs, seen = [], set()
    for sec in args.sections.split(","):
        for path in sorted(glob.glob(os.path.join(args.man_dir, f"man{sec}", "*.gz"))):
            p = pair_of(path, args.max_chars)
            if p and p["source"] not in seen:
                seen.add(p["source"])
                pairs.append(p)
    pairs.sort(key=lambda p: hashlib.sha1(p["name"].encode()).hexdigest())
    families, kept = {}, []
    for p in pairs:
        family = re.split(r"[_\-.]", p["name"])[0]
        families[family] = families.get(family, 0) + 1
        if families[family] <= args.max_family:
            kept.append(p)
    pairs = kept[: args.max_pairs]
    os.makedirs(args.out, exist_ok=True)
    splits = {"train": [], "valid": [], "test": []}
    for p in pairs:
        h = int(hashlib.sha1(p["name"].encode()).hexdigest()[:8], 16) % 20
        splits["valid" if h == 0 else "test" if h == 1 else "train"].append(p)
    for split, rows in splits.items():
        with open(os.path.join(args.out, f"{split}.jsonl"), "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    with open(os.path.join(args.out, "corpus.txt"), "w", encoding="utf-8") as f:
        for p in pairs:
            f.write(p["source"] + "\n" + p["target"] + "\n")
    print(json.dumps({k: len(v) for k, v in splits.items()}))


if __name__ == "__main__":
    main()
