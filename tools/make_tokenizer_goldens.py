"""Golden token ids for the data-pipeline tests (DJL tokenizer vs. Hugging Face `tokenizers`).

Run from the repository root:  python tools/make_tokenizer_goldens.py
Needs only `pip install tokenizers`. Writes src/test/resources/org/onnxlora/data/tokenizer_goldens.json.
"""
import json
import tokenizers
from tokenizers import Tokenizer

TOKENIZER = "models/tiny-bart/tokenizer.json"
DATA = "models/datasets/manpages/train.jsonl"
OUT = "src/test/resources/org/onnxlora/data/tokenizer_goldens.json"
TRUNCATE = 16

texts = []
with open(DATA, encoding="utf-8") as f:
    for i, line in enumerate(f):
        if i >= 4:
            break
        row = json.loads(line)
        texts += [row["source"], row["target"]]
# Edge cases: non-ASCII (byte-level BPE), tabs/newlines, a literal special token, leading space.
texts += ["naïve café — 日本語 😀", "tab\there\nnewline", "a </s> b", " leading space", "x"]

full = Tokenizer.from_file(TOKENIZER)
cut = Tokenizer.from_file(TOKENIZER)
cut.enable_truncation(TRUNCATE)
cases = []
for t in texts:
    e = full.encode(t)
    cases.append({
        "text": t,
        "ids": e.ids,
        "truncated": cut.encode(t).ids,
        "decoded": full.decode(e.ids, skip_special_tokens=True),
    })
with open(OUT, "w", encoding="utf-8") as f:
    # One case per line keeps diffs readable.
    f.write('{"tokenizers_version": %s, "truncate": %d, "cases": [\n' % (json.dumps(tokenizers.__version__), TRUNCATE))
    f.write(",\n".join(json.dumps(c, ensure_ascii=False) for c in cases))
    f.write("\n]}\n")
print(f"wrote {len(cases)} cases to {OUT}")
