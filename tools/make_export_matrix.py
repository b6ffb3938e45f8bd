#!/usr/bin/env python3
"""Exports small seq2seq models in every export shape users bring, each checked against PyTorch.

Needs python3 with torch, transformers, tokenizers, onnx, onnxscript, onnxruntime and safetensors
(no network; the lent GPU machine has them, and so does this project's Java machine through its
local wheel index):

  python3 tools/make_export_matrix.py --data models/datasets/manpages \
      --tiny-bart models/tiny-bart --out models/exports --pretrained models/exports/pretrained

With --pretrained pointing at the committed models/exports/pretrained/ this re-exports the committed
weights (no pre-training: add a shape to main() and run it, on any CPU, in a few minutes); pointing at
an empty folder it pre-trains (a GPU makes that ~1.5 min) and saves the models there.

What it writes:
  TINY/model.4in.onnx, TINY/model.4in.dynamo.onnx
      the bundled tiny BART (TINY/hf, the weights of TINY/model.onnx) with the four inputs
      input_ids, attention_mask, decoder_input_ids, decoder_attention_mask (TorchScript opset 17,
      dynamo opset 18); their manifest entries are in OUT/manifest.json
  OUT/<name>.onnx (or OUT/<name>/ for the Optimum folder)
      a smaller BART (and a tiny mBART and Marian), pre-trained briefly as a denoiser on the
      dataset's corpus with make_fixtures.py's code, exported in each shape main() lists
  OUT/<name>.config.json, OUT/<name>.generation_config.json
      the Hugging Face configs of the model the file was exported from
  OUT/<group>.ref.safetensors
      one fixed batch (2 rows, each with padding): input/<graph input> (int64) and
      output/<graph output> (float32) as PyTorch computes them, shared by the fixtures with the same
      weights and signature, for the Java tests to check ONNX Runtime against
  PRETRAINED/{bart,mbart,marian}/
      the pre-trained PyTorch models (config.json, model.safetensors, pretrain.json)
  OUT/manifest.json
      per fixture: files, family, exporter, attention, opset, declared inputs and outputs (dtype and
      shape, symbolic or fixed), static dims, special token ids, the max |ORT - PyTorch| of every
      checked output, and the package versions; a variant that cannot be exported is recorded
      under "errors" with the reason instead of stopping the run

Every step is seeded. The manifest is rewritten after each variant, so a failure late in the
run leaves the earlier fixtures described.
"""
import argparse
import contextlib
import copy
import json
import os
import random
import sys
import time
import traceback

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402  (the tokenizer ids, pre-training and Optimum export live there)

PAD, BOS, EOS = mf.PAD, mf.BOS, mf.EOS
FP32_TOLERANCE = 1e-4
STATIC = {"batch": 2, "source": 64, "target": 16}
REF_SOURCE, REF_TARGET = 12, 6  # the reference batch: 2 rows, both padded somewhere
EXTRA_OUTPUT = "encoder_last_hidden_state"


def log(*a):
    print(*a, flush=True)


# ----------------------------------------------------------------------------- models
def small_bart(vocab, args):
    ns = argparse.Namespace(d_model=args.d_model, layers=args.layers, heads=args.heads, ffn=args.ffn,
                            max_pos=args.max_pos, seed=args.seed)
    return mf.make_model(vocab, ns)


def family_config(family, vocab, args):
    """Tiny mBART / Marian configs coherent with the bundled tokenizer (<s>=0, <pad>=1, </s>=2)."""
    common = dict(vocab_size=vocab, d_model=args.d_model, encoder_layers=args.layers, decoder_layers=args.layers,
                  encoder_attention_heads=args.heads, decoder_attention_heads=args.heads,
                  encoder_ffn_dim=args.ffn, decoder_ffn_dim=args.ffn, max_position_embeddings=args.max_pos,
                  dropout=0.1, attention_dropout=0.0, activation_dropout=0.0, pad_token_id=PAD,
                  bos_token_id=BOS, eos_token_id=EOS, forced_eos_token_id=EOS, use_cache=True)
    if family == "mbart":
        from transformers import MBartConfig
        # mBART starts decoding at </s> (its fine-tuning checkpoints then force a language code)
        return MBartConfig(decoder_start_token_id=EOS, scale_embedding=True, tie_word_embeddings=True, **common)
    if family == "marian":
        from transformers import MarianConfig
        # Marian starts decoding at its pad id, as every Helsinki-NLP/opus-mt checkpoint does
        return MarianConfig(decoder_start_token_id=PAD, decoder_vocab_size=vocab, scale_embedding=True,
                            share_encoder_decoder_embeddings=True, tie_word_embeddings=True,
                            activation_function="swish", **common)
    raise ValueError(family)


def family_model(family, vocab, args):
    from transformers import MarianMTModel, MBartForConditionalGeneration
    cfg = family_config(family, vocab, args)
    torch.manual_seed(args.seed)
    return (MBartForConditionalGeneration if family == "mbart" else MarianMTModel)(cfg)


@contextlib.contextmanager
def decoder_start(token):
    """make_fixtures.pretrain shifts targets right with </s> as the start token; Marian starts with <pad>."""
    import transformers.models.bart.modeling_bart as bart
    original = bart.shift_tokens_right
    bart.shift_tokens_right = lambda ids, pad, _start: original(ids, pad, token)
    try:
        yield
    finally:
        bart.shift_tokens_right = original


def pretrain(model, tok, lines, args, steps, device):
    ns = argparse.Namespace(seed=args.seed, max_len=args.max_len, pretrain_lr=args.pretrain_lr,
                            pretrain_steps=steps, pretrain_batch=args.pretrain_batch)
    with decoder_start(model.config.decoder_start_token_id):
        return mf.pretrain(model, tok, lines, ns, device)


def with_attention(model, impl):
    """A copy of model whose attention is computed by impl ('eager' or 'sdpa')."""
    m = copy.deepcopy(model)
    if hasattr(m, "set_attn_implementation"):
        m.set_attn_implementation(impl)
    else:
        m.config._attn_implementation = impl
    actual = getattr(m.config, "_attn_implementation", None)
    if actual != impl:
        raise RuntimeError(f"asked for attention '{impl}', the model uses '{actual}'")
    return m.eval()


# ----------------------------------------------------------------------------- export signatures
class Signature:
    """The forward an export sees: which inputs, which outputs, keeping the HF module paths."""

    def __init__(self, four_inputs, extra_outputs=()):
        self.inputs = ["input_ids", "attention_mask", "decoder_input_ids"]
        if four_inputs:
            self.inputs.append("decoder_attention_mask")
        self.outputs = ["logits", *extra_outputs]

    def wrap(self, model):
        """A copy of model re-classed so that forward(*self.inputs) returns self.outputs (as make_fixtures.logits_only)."""
        m = copy.deepcopy(model)
        base, outputs = type(m), tuple(self.outputs)
        if len(self.inputs) == 3:
            def forward(self, input_ids, attention_mask, decoder_input_ids):
                return pick(base.forward(self, input_ids=input_ids, attention_mask=attention_mask,
                                         decoder_input_ids=decoder_input_ids, use_cache=False, return_dict=True))
        else:
            def forward(self, input_ids, attention_mask, decoder_input_ids, decoder_attention_mask):
                return pick(base.forward(self, input_ids=input_ids, attention_mask=attention_mask,
                                         decoder_input_ids=decoder_input_ids,
                                         decoder_attention_mask=decoder_attention_mask,
                                         use_cache=False, return_dict=True))

        def pick(out):
            values = tuple(getattr(out, n) for n in outputs)
            return values[0] if len(values) == 1 else values

        m.__class__ = type("Seq2Seq" + "".join(n.title().replace("_", "") for n in outputs), (base,),
                           {"forward": forward})
        return m.eval()


def export(module, sig, feeds, path, exporter, opset, dynamic):
    args = tuple(feeds[n] for n in sig.inputs)
    if exporter == "torchscript":
        axes = None
        if dynamic:
            axes = {n: {0: "batch_size", 1: "decoder_sequence_length" if n.startswith("decoder") else
                        "encoder_sequence_length"} for n in sig.inputs}
            axes["logits"] = {0: "batch_size", 1: "decoder_sequence_length"}
            for n in sig.outputs[1:]:
                axes[n] = {0: "batch_size", 1: "encoder_sequence_length"}
        torch.onnx.export(module, args, path, dynamo=False, opset_version=opset, input_names=sig.inputs,
                          output_names=sig.outputs, dynamic_axes=axes, do_constant_folding=True)
        return
    from torch.export import Dim
    shapes = {n: {0: Dim.DYNAMIC, 1: Dim.DYNAMIC} for n in sig.inputs} if dynamic else None
    prog = torch.onnx.export(module, args, dynamo=True, opset_version=opset, input_names=sig.inputs,
                             output_names=sig.outputs, dynamic_shapes=shapes)
    prog.save(path)


# ----------------------------------------------------------------------------- reference batch
def reference_batch(tok, data_dir, start, source_len=None, target_len=None):
    """Two validation rows: row 0's target and row 1's source padded, so every mask has zeros."""
    rows = [json.loads(l) for l in open(os.path.join(data_dir, "valid.jsonl"), encoding="utf-8")][:2]
    src = [e.ids for e in tok.encode_batch([r["source"] for r in rows])]
    tgt = [e.ids for e in tok.encode_batch([r["target"] for r in rows])]
    # the tokenizer ends every encoding with </s>; truncation keeps it last
    src = [s[:-1][:n - 1] + [EOS] for s, n in zip(src, (REF_SOURCE, REF_SOURCE - 4))]
    tgt = [t[:-1][:n - 1] + [EOS] for t, n in zip(tgt, (REF_TARGET - 2, REF_TARGET))]
    S, T = source_len or REF_SOURCE, target_len or REF_TARGET

    def pad(r, n, value=PAD):
        return r + [value] * (n - len(r))

    ids = torch.tensor([pad(s, S) for s in src], dtype=torch.long)
    labels = torch.tensor([pad(t, T) for t in tgt], dtype=torch.long)
    label_mask = torch.tensor([pad([1] * len(t), T, 0) for t in tgt], dtype=torch.long)
    dec = torch.cat([torch.full((2, 1), start, dtype=torch.long), labels[:, :-1]], dim=1)
    # decoder_attention_mask is the label mask (1 where a target token is predicted), as HF tokenizers give it
    return {"input_ids": ids, "attention_mask": (ids != PAD).long(), "decoder_input_ids": dec,
            "decoder_attention_mask": label_mask}


def torch_outputs(module, sig, feeds):
    with torch.no_grad():
        out = module(*(feeds[n] for n in sig.inputs))
    out = out if isinstance(out, tuple) else (out,)
    return {n: o.detach() for n, o in zip(sig.outputs, out)}


def ort_outputs(path, sig, feeds):
    got = mf.ort_run(path, {n: feeds[n] for n in sig.inputs})
    return dict(zip(sig.outputs, got))


def max_diff(a, b):
    return float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).max())


class References:
    """Reference batches, one file per group of fixtures that share feeds and (up to attention kernels) PyTorch outputs.

    The first fixture of a group writes input/<name> (int64) and output/<name> (float32); later ones check that
    their own PyTorch outputs agree with the stored ones, and are checked in ORT against the stored ones, which is
    what the Java tests do."""

    SHARED_TORCH_TOLERANCE = 1e-5

    def __init__(self, out):
        self.out, self.groups = out, {}

    def use(self, group, feeds, inputs, outputs):
        """Returns (file name, the stored outputs, max |own PyTorch - stored| or None for the group's first)."""
        name = group + ".ref.safetensors"
        outputs = {n: v.detach().float().numpy() for n, v in outputs.items()}
        if group not in self.groups:
            from safetensors.torch import save_file
            tensors = {f"input/{n}": feeds[n].to(torch.int64).contiguous() for n in inputs}
            tensors.update({f"output/{n}": torch.from_numpy(v).contiguous() for n, v in outputs.items()})
            save_file(tensors, os.path.join(self.out, name), metadata={"made_by": "tools/make_export_matrix.py"})
            self.groups[group] = ({n: feeds[n] for n in inputs}, outputs)
            return name, outputs, None
        stored_feeds, stored = self.groups[group]
        if set(stored_feeds) != set(inputs) or any(not torch.equal(stored_feeds[n], feeds[n]) for n in inputs):
            raise RuntimeError(f"reference group {group} was made with other feeds")
        if set(stored) != set(outputs):
            raise RuntimeError(f"reference group {group} has outputs {sorted(stored)}, not {sorted(outputs)}")
        drift = max(max_diff(outputs[n], stored[n]) for n in outputs)
        if drift > self.SHARED_TORCH_TOLERANCE:
            raise RuntimeError(f"PyTorch outputs differ from reference group {group} by {drift}")
        return name, stored, drift


# ----------------------------------------------------------------------------- manifest
DTYPES = {1: "float32", 10: "float16", 11: "float64", 16: "bfloat16", 7: "int64", 6: "int32", 9: "bool"}


def describe_values(values, skip=()):
    from onnx import TensorProto
    out = []
    for v in values:
        if v.name in skip:
            continue
        t = v.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param if d.HasField("dim_param") else None)
                for d in t.shape.dim]
        out.append({"name": v.name, "dtype": DTYPES.get(t.elem_type, TensorProto.DataType.Name(t.elem_type).lower()),
                    "shape": dims})
    return out


def describe_file(path):
    import onnx
    m = onnx.load(path, load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    inputs = describe_values(m.graph.input, inits)
    return {
        "opset": max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")),
        "ir_version": m.ir_version,
        "producer": f"{m.producer_name} {m.producer_version}".strip(),
        "bytes": os.path.getsize(path),
        "inputs": inputs,
        "outputs": describe_values(m.graph.output),
        "static_dims": [{"input": i["name"], "axis": a, "size": d} for i in inputs
                        for a, d in enumerate(i["shape"]) if isinstance(d, int)],
    }


def save_configs(model, out, name):
    model.config.to_json_file(os.path.join(out, f"{name}.config.json"))
    files = [f"{name}.config.json"]
    gen = getattr(model, "generation_config", None)
    if gen is not None:
        gen.to_json_file(os.path.join(out, f"{name}.generation_config.json"))
        files.append(f"{name}.generation_config.json")
    return files


class Manifest:
    def __init__(self, path, header):
        self.path, self.data = path, dict(header, fixtures=[], errors={})

    def add(self, entry):
        self.data["fixtures"].append(entry)
        self.flush()

    def error(self, name, why):
        self.data["errors"][name] = why
        log(f"ERROR {name}:\n{why}")
        self.flush()

    def flush(self):
        with open(self.path, "w") as f:
            json.dump(self.data, f, indent=1)
            f.write("\n")


# ----------------------------------------------------------------------------- variants
def single_file(manifest, out, name, model, family, *, refs, attention, exporter, opset, four_inputs, tok, data_dir,
                extra_outputs=(), static=False, fp16=False, file_prefix="", config_source=None):
    """Exports one single-file variant, checks it in ORT against PyTorch, writes its reference and entry."""
    t0 = time.time()
    sig = Signature(four_inputs, extra_outputs)
    base = with_attention(model, attention)
    if fp16:
        base = base.half()
    module = sig.wrap(base)
    start = model.config.decoder_start_token_id
    feeds = reference_batch(tok, data_dir, start, *((STATIC["source"], STATIC["target"]) if static else ()))
    path = os.path.join(out, file_prefix + name + ".onnx")
    export(module, sig, feeds, path, exporter, opset, dynamic=not static)
    want = torch_outputs(module, sig, feeds)
    got = ort_outputs(path, sig, feeds)
    group = f"{family}-{'4in' if four_inputs else '3in'}" + ("-extra-outputs" if extra_outputs else "") \
        + ("-static" if static else "") + ("-fp16" if fp16 else "")
    ref, stored, drift = refs.use(group, feeds, sig.inputs, want)
    diffs = {n: max_diff(got[n], stored[n]) for n in sig.outputs}
    entry = {"name": name, "layout": "single", "files": [file_prefix + name + ".onnx"], "family": family,
             "exporter": exporter, "attention": attention, "dtype": "float16" if fp16 else "float32",
             "four_inputs": four_inputs, "static": static}
    entry.update(describe_file(path))
    entry["reference"] = ref
    if drift is not None:
        entry["torch_vs_reference"] = drift
    if fp16:
        fp32 = sig.wrap(with_attention(model, attention))
        ref32 = torch_outputs(fp32, sig, feeds)
        scale = float(np.abs(ref32["logits"].numpy()).max())
        entry["max_abs_diff_fp16"] = diffs
        entry["max_abs_diff_vs_fp32_torch"] = {n: max_diff(got[n], ref32[n]) for n in sig.outputs}
        entry["max_abs_logit"] = scale
        entry["ok"] = bool(entry["max_abs_diff_fp16"]["logits"] <= 1e-2 * scale)
    else:
        entry["max_abs_diff"] = diffs
        entry["ok"] = bool(max(diffs.values()) <= FP32_TOLERANCE)
    entry["configs"] = save_configs(model, out, name) if config_source is None else config_source
    entry.update(special_ids(model))
    entry["seconds"] = round(time.time() - t0, 2)
    log(f"{name}: {entry['bytes']} bytes, opset {entry['opset']}, max |ort - torch| "
        f"{diffs} ({'ok' if entry['ok'] else 'TOO LARGE'})")
    manifest.add(entry)
    return module, feeds


def special_ids(model):
    c = model.config
    return {"decoder_start_token_id": c.decoder_start_token_id, "pad_token_id": c.pad_token_id,
            "eos_token_id": c.eos_token_id, "bos_token_id": c.bos_token_id, "vocab_size": c.vocab_size}


def optimum_chain(folder, files, feeds, layers):
    """ORT logits of the folder on feeds: encoder -> decoder_model, and the last step through decoder_with_past."""
    hidden = mf.ort_run(os.path.join(folder, "encoder_model.onnx"),
                        {"input_ids": feeds["input_ids"], "attention_mask": feeds["attention_mask"]})[0]
    common = {"encoder_attention_mask": feeds["attention_mask"], "encoder_hidden_states": torch.from_numpy(hidden)}
    dec = feeds["decoder_input_ids"]
    full = mf.ort_run(os.path.join(folder, "decoder_model.onnx"), dict(common, input_ids=dec))[0]
    if "decoder_with_past_model.onnx" not in files:
        return full, None
    prefix = mf.ort_run(os.path.join(folder, "decoder_model.onnx"), dict(common, input_ids=dec[:, :-1]))
    step = dict(common, input_ids=dec[:, -1:])
    for i in range(layers):
        for j, part in enumerate(("decoder.key", "decoder.value", "encoder.key", "encoder.value")):
            step[f"past_key_values.{i}.{part}"] = torch.from_numpy(prefix[1 + 4 * i + j])
    last = mf.ort_run(os.path.join(folder, "decoder_with_past_model.onnx"), step)[0]
    return full, last[:, 0]


def optimum_folder(manifest, out, name, model, *, refs, tok, data_dir):
    t0 = time.time()
    folder = os.path.join(out, name)
    eager = with_attention(model, "eager")
    files = mf.export_optimum(eager, folder, 17)
    logits_model = mf.logits_only(copy.deepcopy(eager))
    # make_fixtures' own check, on its random batch of 3 x 13 source / 7 target tokens
    checks = {f"random_batch_{k}": v for k, v in mf.check_optimum(logits_model, folder, files).items()}
    sig = Signature(False)
    feeds = reference_batch(tok, data_dir, model.config.decoder_start_token_id)
    ref, stored, drift = refs.use("bart-3in", feeds, sig.inputs, torch_outputs(logits_model, sig, feeds))
    full, last = optimum_chain(folder, files, feeds, model.config.decoder_layers)
    checks["decoder_model"] = max_diff(full, stored["logits"])
    if last is not None:
        checks["decoder_with_past_model"] = max_diff(last, stored["logits"][:, -1])
    eager.config.to_json_file(os.path.join(folder, "config.json"))
    eager.generation_config.to_json_file(os.path.join(folder, "generation_config.json"))
    parts = {f[:-len(".onnx")]: describe_file(os.path.join(folder, f)) for f in files}
    entry = {"name": name, "layout": "optimum", "files": [f"{name}/{f}" for f in files], "family": "bart",
             "exporter": "torchscript", "attention": "eager", "dtype": "float32", "four_inputs": False,
             "static": False, "opset": 17, "bytes": sum(p["bytes"] for p in parts.values()), "parts": parts,
             "reference": ref, "max_abs_diff": checks, "ok": bool(max(checks.values()) <= FP32_TOLERANCE),
             "configs": [f"{name}/config.json", f"{name}/generation_config.json"]}
    if drift is not None:
        entry["torch_vs_reference"] = drift
    entry.update(special_ids(model))
    entry["seconds"] = round(time.time() - t0, 2)
    log(f"{name}: {files}, max |ort - torch| {checks}")
    manifest.add(entry)


def attempt(manifest, name, fn, *a, **kw):
    try:
        return fn(manifest, *a, **kw)
    except Exception:
        manifest.error(name, traceback.format_exc(limit=8))
        return None


def tiny_bart_four_inputs(manifest, out, tiny_dir, tiny_out, refs, tok, data_dir):
    """The bundled tiny BART's weights with four inputs, written to tiny_out (next to its 3-input model.onnx)."""
    from transformers import BartForConditionalGeneration
    model = BartForConditionalGeneration.from_pretrained(os.path.join(tiny_dir, "hf"), attn_implementation="eager")
    model.eval()
    os.makedirs(tiny_out, exist_ok=True)
    prefix = os.path.relpath(tiny_out, out) + "/"
    names = {"torchscript": ("model.4in", 17), "dynamo": ("model.4in.dynamo", 18)}
    for exporter, (file_name, opset) in names.items():
        fixture = "tiny-bart-" + ("ts" if exporter == "torchscript" else "dynamo") + "-4in"

        def run(manifest, exporter=exporter, file_name=file_name, opset=opset, fixture=fixture):
            t0 = time.time()
            sig = Signature(True)
            module = sig.wrap(model)
            feeds = reference_batch(tok, data_dir, model.config.decoder_start_token_id)
            path = os.path.join(tiny_out, file_name + ".onnx")
            export(module, sig, feeds, path, exporter, opset, dynamic=True)
            want = torch_outputs(module, sig, feeds)
            got = ort_outputs(path, sig, feeds)
            three = mf.ort_run(os.path.join(tiny_dir, "model.onnx" if exporter == "torchscript"
                                            else "model.dynamo.onnx"),
                               {n: feeds[n] for n in ("input_ids", "attention_mask", "decoder_input_ids")})[0]
            mask = feeds["decoder_attention_mask"].numpy().astype(bool)
            entry = {"name": fixture, "layout": "single", "files": [prefix + file_name + ".onnx"], "family": "bart",
                     "exporter": exporter, "attention": "eager", "dtype": "float32", "four_inputs": True,
                     "static": False}
            entry.update(describe_file(path))
            ref, stored, drift = refs.use("tiny-bart-4in", feeds, sig.inputs, want)
            entry["reference"] = ref
            if drift is not None:
                entry["torch_vs_reference"] = drift
            entry["max_abs_diff"] = {"logits": max_diff(got["logits"], stored["logits"])}
            # causal attention: where the label mask is 1 the 4-input logits are the 3-input model's
            entry["max_abs_diff_vs_3in_on_real_targets"] = max_diff(got["logits"][mask], three[mask])
            entry["ok"] = bool(entry["max_abs_diff"]["logits"] <= FP32_TOLERANCE
                               and entry["max_abs_diff_vs_3in_on_real_targets"] <= 1e-5)
            entry["configs"] = ["../tiny-bart/hf/config.json", "../tiny-bart/hf/generation_config.json"]
            entry.update(special_ids(model))
            entry["seconds"] = round(time.time() - t0, 2)
            log(f"{fixture}: {entry['max_abs_diff']}, vs 3-input {entry['max_abs_diff_vs_3in_on_real_targets']:.3g}")
            manifest.add(entry)

        attempt(manifest, fixture, run)


# ----------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="dataset folder (corpus.txt, valid.jsonl)")
    ap.add_argument("--tiny-bart", required=True, help="the bundled tiny BART (hf/, tokenizer.json, model.onnx)")
    ap.add_argument("--tiny-out", help="where the 4-input tiny BART exports go (default: --tiny-bart)")
    ap.add_argument("--out", required=True)
    # d_model 16 keeps the 20-odd files near 0.5 MB each: the vocabulary (the bundled tokenizer's 2048) dominates
    ap.add_argument("--d-model", type=int, default=16)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=64)
    ap.add_argument("--max-pos", type=int, default=256)
    ap.add_argument("--max-len", type=int, default=96)
    ap.add_argument("--pretrain-steps", type=int, default=1000, help="BART's denoising steps")
    ap.add_argument("--family-pretrain-steps", type=int, default=200, help="mBART's and Marian's")
    # large batches, few steps: a model this small is bound by kernel launches, not by the batch
    ap.add_argument("--pretrain-batch", type=int, default=256)
    ap.add_argument("--pretrain-lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pretrained", help="folder for the pre-trained PyTorch models: loaded from it where present "
                                         "(a re-export of the same weights), written to it otherwise")
    ap.add_argument("--only", default="", help="comma-separated fixture names (for trying one shape)")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    import onnx, onnxruntime, onnxscript, safetensors, tokenizers, transformers
    from tokenizers import Tokenizer
    versions = {"torch": torch.__version__, "transformers": transformers.__version__, "onnx": onnx.__version__,
                "onnxscript": onnxscript.__version__, "onnxruntime": onnxruntime.__version__,
                "tokenizers": tokenizers.__version__, "safetensors": safetensors.__version__,
                "numpy": np.__version__, "python": sys.version.split()[0]}
    log(json.dumps(versions))
    manifest = Manifest(os.path.join(args.out, "manifest.json"), {
        "made_by": "python3 tools/make_export_matrix.py --data models/datasets/manpages "
                   "--tiny-bart models/tiny-bart --out models/exports",
        "versions": versions, "args": {k: v for k, v in vars(args).items() if k not in ("only", "data", "tiny_bart", "tiny_out", "out", "pretrained")},
        "tolerance": {"float32": FP32_TOLERANCE, "float16_relative_to_max_abs_logit": 1e-2},
        "reference_tensors": "input/<graph input> int64, output/<graph output> float32 (PyTorch)",
        "models": {}})
    only = set(filter(None, args.only.split(",")))
    wanted = lambda n: not only or n in only

    refs = References(args.out)
    tok = Tokenizer.from_file(os.path.join(args.tiny_bart, "tokenizer.json"))
    vocab = tok.get_vocab_size()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    lines = [l.strip() for l in open(os.path.join(args.data, "corpus.txt"), encoding="utf-8") if l.strip()]

    if wanted("tiny-bart-ts-4in") or wanted("tiny-bart-dynamo-4in"):
        tiny_bart_four_inputs(manifest, args.out, args.tiny_bart, args.tiny_out or args.tiny_bart, refs, tok,
                              args.data)

    def base_model(family, make, steps):
        t0 = time.time()
        saved = os.path.join(args.pretrained, family) if args.pretrained else None
        if saved and os.path.exists(os.path.join(saved, "config.json")):
            m = type(make()).from_pretrained(saved).eval()  # re-export the same weights without pre-training
            with open(os.path.join(saved, "pretrain.json")) as f:
                done = json.load(f)
            loss, steps = done["pretrain_final_loss"], done["pretrain_steps"]
        else:
            m = make()
            loss = pretrain(m, tok, lines, args, steps, device) if steps > 0 else None
            if saved:
                m.save_pretrained(saved)
                with open(os.path.join(saved, "pretrain.json"), "w") as f:
                    json.dump({"pretrain_steps": steps, "pretrain_final_loss": loss}, f)
        manifest.data["models"][family] = {
            "class": type(m).__name__, "parameters": sum(p.numel() for p in m.parameters()),
            "pretrain_steps": steps, "pretrain_final_loss": loss, "seconds": round(time.time() - t0, 1),
            "config": {k: getattr(m.config, k) for k in ("d_model", "encoder_layers", "decoder_layers",
                                                         "encoder_attention_heads", "encoder_ffn_dim",
                                                         "vocab_size", "max_position_embeddings")}}
        manifest.flush()
        log(f"{family}: {manifest.data['models'][family]}")
        return m

    bart = base_model("bart", lambda: small_bart(vocab, args), args.pretrain_steps)
    common = dict(refs=refs, tok=tok, data_dir=args.data)
    for attention in ("eager", "sdpa"):
        for exporter, short, opset in (("torchscript", "ts", 17), ("dynamo", "dynamo", 18)):
            for four in (False, True):
                name = f"bart-{attention}-{short}-{'4in' if four else '3in'}"
                if wanted(name):
                    attempt(manifest, name, single_file, args.out, name, bart, "bart", attention=attention,
                            exporter=exporter, opset=opset, four_inputs=four, **common)
    shapes = {
        "bart-eager-ts-3in-opset14": dict(opset=14),
        "bart-eager-ts-3in-extra-outputs": dict(opset=17, extra_outputs=(EXTRA_OUTPUT,)),
        "bart-eager-ts-3in-static": dict(opset=17, static=True),
        "bart-eager-ts-3in-fp16": dict(opset=17, fp16=True),
    }
    for name, kw in shapes.items():
        if wanted(name):
            attempt(manifest, name, single_file, args.out, name, bart, "bart", attention="eager",
                    exporter="torchscript", four_inputs=False, **kw, **common)
    if wanted("bart-optimum"):
        attempt(manifest, "bart-optimum", optimum_folder, args.out, "bart-optimum", bart, **common)

    for family in ("mbart", "marian"):
        name = f"{family}-sdpa-ts-3in"
        if not wanted(name):
            continue
        try:
            m = base_model(family, lambda: family_model(family, vocab, args), args.family_pretrain_steps)
        except Exception:
            manifest.error(name, traceback.format_exc(limit=8))
            continue
        attempt(manifest, name, single_file, args.out, name, m, family, attention="sdpa", exporter="torchscript",
                opset=17, four_inputs=False, **common)

    manifest.flush()
    bad = [f["name"] for f in manifest.data["fixtures"] if not f["ok"]]
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(args.out) for f in fs)
    log(f"{len(manifest.data['fixtures'])} fixtures, {total} bytes under {args.out}; "
        f"errors: {list(manifest.data['errors'])}; beyond tolerance: {bad}")
    sys.exit(1 if bad or manifest.data["errors"] else 0)


if __name__ == "__main__":
    main()
