#!/usr/bin/env python3
"""Makes the tiny BART fixtures and the PyTorch goldens that the Java tests check.

Needs python3 with torch, transformers, tokenizers, peft, onnx, onnxruntime and
safetensors (the lent GPU machine has them; no network is needed):

  python3 tools/make_fixtures.py --data models/datasets/manpages --out models/tiny-bart

What it writes under --out:
  tokenizer.json            byte-level BPE trained on the dataset's corpus.txt
  hf/                       the PyTorch model (config.json + model.safetensors)
  model.onnx                TorchScript exporter (dynamo=False), opset 17
  model.dynamo.onnx         dynamo exporter (dynamo=True), opset 18
  optimum/                  Optimum's layout: encoder_model.onnx, decoder_model.onnx,
                            decoder_with_past_model.onnx (KV cache)
  goldens/train_step.safetensors + train_step.json
                            PEFT LoRA loss, gradients and 3 AdamW steps on a fixed batch
  manifest.json             versions, shapes and the ORT-vs-PyTorch check of every export

The model is random-initialised, then briefly pre-trained as a denoising
autoencoder on the corpus (BART's objective), so that fine-tuning it on the
summarisation pairs has something to build on. Everything is seeded.
"""
import argparse
import json
import math
import os
import random
import sys
import time
import traceback

import numpy as np
import torch

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
BOS, PAD, EOS, UNK, MASK = range(5)


def log(*a):
    print(*a, flush=True)


# ----------------------------------------------------------------------------- tokenizer
def train_tokenizer(corpus, vocab_size, path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train([corpus], trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", BOS), ("</s>", EOS)],
    )
    for i, s in enumerate(SPECIALS):
        assert tok.token_to_id(s) == i, (s, tok.token_to_id(s))
    tok.save(path)
    return tok


# ----------------------------------------------------------------------------- model
def make_model(vocab, args):
    from transformers import BartConfig, BartForConditionalGeneration

    cfg = BartConfig(
        vocab_size=vocab,
        d_model=args.d_model,
        encoder_layers=args.layers,
        decoder_layers=args.layers,
        encoder_attention_heads=args.heads,
        decoder_attention_heads=args.heads,
        encoder_ffn_dim=args.ffn,
        decoder_ffn_dim=args.ffn,
        max_position_embeddings=args.max_pos,
        dropout=0.1,
        attention_dropout=0.0,
        activation_dropout=0.0,
        activation_function="gelu",
        pad_token_id=PAD,
        bos_token_id=BOS,
        eos_token_id=EOS,
        decoder_start_token_id=EOS,
        forced_bos_token_id=None,
        forced_eos_token_id=EOS,
        use_cache=True,
        scale_embedding=False,
        tie_word_embeddings=True,
    )
    cfg._attn_implementation = "eager"
    torch.manual_seed(args.seed)
    model = BartForConditionalGeneration(cfg)
    try:
        model.config._attn_implementation = "eager"
    except Exception:
        pass
    return model


def infill(ids, rng, ratio=0.3):
    """BART text infilling: spans (Poisson(3) long) replaced by one <mask> each."""
    body, out, i = ids[1:-1], [], 0
    while i < len(body):
        if rng.random() < ratio / 3.0:
            out.append(MASK)
            span = int(np.random.default_rng(rng.randrange(1 << 30)).poisson(3))
            i += span  # a zero-length span is an insertion: the token stays
            if span == 0:
                out.append(body[i])
                i += 1
        else:
            out.append(body[i])
            i += 1
    return [BOS] + out + [EOS]


def pad_to(rows, value):
    n = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (n - len(r)) for r in rows], dtype=torch.long)


def pretrain(model, tok, corpus_lines, args, device):
    from transformers.models.bart.modeling_bart import shift_tokens_right

    rng = random.Random(args.seed)
    enc = [e.ids[: args.max_len] for e in tok.encode_batch(corpus_lines)]
    enc = [e if e[-1] == EOS else e[:-1] + [EOS] for e in enc if len(e) >= 4]
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=args.pretrain_lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 200) * max(0.05, 1 - s / args.pretrain_steps))
    t0 = time.time()
    for step in range(args.pretrain_steps):
        batch = [enc[rng.randrange(len(enc))] for _ in range(args.pretrain_batch)]
        src = pad_to([infill(b, rng) for b in batch], PAD)
        tgt = pad_to(batch, PAD)
        labels = tgt.masked_fill(tgt == PAD, -100)
        dec_in = shift_tokens_right(tgt, PAD, EOS)
        out = model(input_ids=src.to(device), attention_mask=(src != PAD).long().to(device),
                    decoder_input_ids=dec_in.to(device), labels=labels.to(device), use_cache=False)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 500 == 0 or step == args.pretrain_steps - 1:
            log(f"pretrain step {step} loss {out.loss.item():.4f} ({time.time() - t0:.1f}s)")
    model.to("cpu").eval()
    for k in ("dropout", "attention_dropout", "activation_dropout"):
        setattr(model.config, k, 0.0)
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    return out.loss.item()


# ----------------------------------------------------------------------------- export
def logits_only(model):
    """Re-class the HF model so that forward(input_ids, attention_mask, decoder_input_ids) -> logits,
    keeping its module paths (model.encoder.layers.0.self_attn.q_proj, lm_head) as the exporters see them."""
    base = type(model)

    class Seq2SeqLogits(base):
        def forward(self, input_ids, attention_mask, decoder_input_ids):
            return base.forward(self, input_ids=input_ids, attention_mask=attention_mask,
                                decoder_input_ids=decoder_input_ids, use_cache=False, return_dict=True).logits

    model.__class__ = Seq2SeqLogits
    return model


def sample_inputs(vocab, batch=2, src=9, tgt=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (batch, src), generator=g)
    mask = torch.ones(batch, src, dtype=torch.long)
    mask[0, src - 3:] = 0
    ids[0, src - 3:] = PAD
    dec = torch.randint(5, vocab, (batch, tgt), generator=g)
    dec[:, 0] = EOS
    return ids, mask, dec


def onnx_export(module, args, path, opset, input_names, output_names, dynamic_axes, dynamo=False):
    """torch.onnx.export with the TorchScript exporter, or dynamo where asked (or where TorchScript is gone)."""
    try:
        if dynamo:
            raise NotImplementedError("dynamo asked")
        torch.onnx.export(module, args, path, dynamo=False, opset_version=opset, input_names=input_names,
                          output_names=output_names, dynamic_axes=dynamic_axes, do_constant_folding=True)
        return "torchscript"
    except NotImplementedError:
        pass
    except Exception:
        if dynamo:
            raise
        log("TorchScript export failed, trying dynamo:\n" + traceback.format_exc())
    prog = torch.onnx.export(module, args, dynamo=True, opset_version=max(opset, 18), input_names=input_names,
                             output_names=output_names, dynamic_axes=dynamic_axes)
    prog.save(path)
    return "dynamo"


def export_full(model, path, dynamo, opset):
    ids, mask, dec = sample_inputs(model.config.vocab_size)
    names = ["input_ids", "attention_mask", "decoder_input_ids"]
    if dynamo:
        from torch.export import Dim
        dyn = {n: {0: Dim.DYNAMIC, 1: Dim.DYNAMIC} for n in names}
        prog = torch.onnx.export(model, (ids, mask, dec), dynamo=True, opset_version=opset,
                                 input_names=names, output_names=["logits"], dynamic_shapes=dyn)
        prog.save(path)
    else:
        used = onnx_export(model, (ids, mask, dec), path, opset, names, ["logits"],
                           {"input_ids": {0: "batch_size", 1: "encoder_sequence_length"},
                            "attention_mask": {0: "batch_size", 1: "encoder_sequence_length"},
                            "decoder_input_ids": {0: "batch_size", 1: "decoder_sequence_length"},
                            "logits": {0: "batch_size", 1: "decoder_sequence_length"}})
        if used != "torchscript":
            raise RuntimeError("the TorchScript exporter is not available in this PyTorch")


class EncoderOnly(torch.nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids, attention_mask):
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask, return_dict=True).last_hidden_state


class DecoderWithHead(torch.nn.Module):
    """Optimum's decoder_model: (input_ids, encoder_attention_mask, encoder_hidden_states) -> logits, present.*"""

    def __init__(self, model, with_past):
        super().__init__()
        self.decoder = model.model.decoder
        self.lm_head = model.lm_head
        self.register_buffer("final_logits_bias", model.final_logits_bias.clone())
        self.layers = len(self.decoder.layers)
        self.with_past = with_past

    def forward(self, input_ids, encoder_attention_mask, encoder_hidden_states, *past):
        from transformers.cache_utils import DynamicCache, EncoderDecoderCache
        cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        if self.with_past:
            for i in range(self.layers):
                dk, dv, ek, ev = past[4 * i: 4 * i + 4]
                cache.self_attention_cache.update(dk, dv, i)
                cache.cross_attention_cache.update(ek, ev, i)
                cache.is_updated[i] = True
        out = self.decoder(input_ids=input_ids, encoder_hidden_states=encoder_hidden_states,
                           encoder_attention_mask=encoder_attention_mask, past_key_values=cache,
                           use_cache=True, return_dict=True)
        logits = self.lm_head(out.last_hidden_state) + self.final_logits_bias
        pkv = out.past_key_values
        presents = []
        for i in range(self.layers):
            sa, ca = pkv.self_attention_cache, pkv.cross_attention_cache
            presents += [layer_kv(sa, i, 0), layer_kv(sa, i, 1)]
            if not self.with_past:
                presents += [layer_kv(ca, i, 0), layer_kv(ca, i, 1)]
        return (logits, *presents)


def layer_kv(cache, i, which):
    if hasattr(cache, "layers"):
        layer = cache.layers[i]
        return layer.keys if which == 0 else layer.values
    return (cache.key_cache if which == 0 else cache.value_cache)[i]


def export_optimum(model, outdir, opset):
    os.makedirs(outdir, exist_ok=True)
    cfg = model.config
    ids, mask, dec = sample_inputs(cfg.vocab_size)
    enc = EncoderOnly(model.model.encoder).eval()
    onnx_export(enc, (ids, mask), os.path.join(outdir, "encoder_model.onnx"), opset,
                ["input_ids", "attention_mask"], ["last_hidden_state"],
                {"input_ids": {0: "batch_size", 1: "encoder_sequence_length"},
                 "attention_mask": {0: "batch_size", 1: "encoder_sequence_length"},
                 "last_hidden_state": {0: "batch_size", 1: "encoder_sequence_length"}})
    with torch.no_grad():
        hidden = enc(ids, mask)
    L = cfg.decoder_layers
    present_names = []
    for i in range(L):
        present_names += [f"present.{i}.decoder.key", f"present.{i}.decoder.value",
                          f"present.{i}.encoder.key", f"present.{i}.encoder.value"]
    kv_axes = lambda seq: {0: "batch_size", 2: seq}
    dec_model = DecoderWithHead(model, with_past=False).eval()
    axes = {"input_ids": {0: "batch_size", 1: "decoder_sequence_length"},
            "encoder_attention_mask": {0: "batch_size", 1: "encoder_sequence_length"},
            "encoder_hidden_states": {0: "batch_size", 1: "encoder_sequence_length"},
            "logits": {0: "batch_size", 1: "decoder_sequence_length"}}
    for n in present_names:
        axes[n] = kv_axes("decoder_sequence_length" if ".decoder." in n else "encoder_sequence_length")
    onnx_export(dec_model, (dec, mask, hidden), os.path.join(outdir, "decoder_model.onnx"), opset,
                ["input_ids", "encoder_attention_mask", "encoder_hidden_states"], ["logits"] + present_names, axes)
    written = ["encoder_model.onnx", "decoder_model.onnx"]
    try:
        with torch.no_grad():
            first = dec_model(dec, mask, hidden)
        past = list(first[1:])
        step_ids = dec[:, -1:]
        wp = DecoderWithHead(model, with_past=True).eval()
        past_names, out_names = [], ["logits"]
        axes = {"input_ids": {0: "batch_size"},
                "encoder_attention_mask": {0: "batch_size", 1: "encoder_sequence_length"},
                "encoder_hidden_states": {0: "batch_size", 1: "encoder_sequence_length"},
                "logits": {0: "batch_size"}}
        for i in range(L):
            for part in ("decoder.key", "decoder.value", "encoder.key", "encoder.value"):
                n = f"past_key_values.{i}.{part}"
                past_names.append(n)
                axes[n] = kv_axes("past_decoder_sequence_length" if "decoder" in part else "encoder_sequence_length")
            for part in ("decoder.key", "decoder.value"):
                n = f"present.{i}.{part}"
                out_names.append(n)
                axes[n] = kv_axes("past_decoder_sequence_length + 1")
        onnx_export(wp, (step_ids, mask, hidden, *past), os.path.join(outdir, "decoder_with_past_model.onnx"), opset,
                    ["input_ids", "encoder_attention_mask", "encoder_hidden_states"] + past_names, out_names, axes)
        written.append("decoder_with_past_model.onnx")
    except Exception:
        log("WARNING: decoder_with_past export failed:\n" + traceback.format_exc())
    return written


# ----------------------------------------------------------------------------- checks
def ort_run(path, feeds):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return s.run(None, {k: v.numpy() for k, v in feeds.items()})


def check_full(model, path):
    model.eval()
    ids, mask, dec = sample_inputs(model.config.vocab_size, batch=3, src=13, tgt=7, seed=5)
    with torch.no_grad():
        ref = model(ids, mask, dec).numpy()
    got = ort_run(path, {"input_ids": ids, "attention_mask": mask, "decoder_input_ids": dec})[0]
    return float(np.abs(got - ref).max())


def check_optimum(model, outdir, files):
    model.eval()
    ids, mask, dec = sample_inputs(model.config.vocab_size, batch=3, src=13, tgt=7, seed=5)
    with torch.no_grad():
        ref = type(model).forward(model, ids, mask, dec).numpy()
    hidden = ort_run(os.path.join(outdir, "encoder_model.onnx"), {"input_ids": ids, "attention_mask": mask})[0]
    outs = ort_run(os.path.join(outdir, "decoder_model.onnx"),
                   {"input_ids": dec, "encoder_attention_mask": mask, "encoder_hidden_states": torch.from_numpy(hidden)})
    result = {"decoder_model": float(np.abs(outs[0] - ref).max())}
    if "decoder_with_past_model.onnx" in files:
        # prefix of length t-1 through decoder_model, last token through decoder_with_past
        pre = ort_run(os.path.join(outdir, "decoder_model.onnx"),
                      {"input_ids": dec[:, :-1], "encoder_attention_mask": mask,
                       "encoder_hidden_states": torch.from_numpy(hidden)})
        L = model.config.decoder_layers
        feeds = {"input_ids": dec[:, -1:], "encoder_attention_mask": mask,
                 "encoder_hidden_states": torch.from_numpy(hidden)}
        for i in range(L):
            for j, part in enumerate(("decoder.key", "decoder.value", "encoder.key", "encoder.value")):
                feeds[f"past_key_values.{i}.{part}"] = torch.from_numpy(pre[1 + 4 * i + j])
        step = ort_run(os.path.join(outdir, "decoder_with_past_model.onnx"), feeds)
        result["decoder_with_past_model"] = float(np.abs(step[0][:, 0] - ref[:, -1]).max())
    return result


# ----------------------------------------------------------------------------- goldens
def goldens(model, tok, data_dir, outdir, args):
    """PEFT LoRA on q/k/v/out of every attention block: loss, gradients, 3 AdamW steps."""
    import copy
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import save_file
    from transformers.models.bart.modeling_bart import shift_tokens_right

    rows = [json.loads(l) for l in open(os.path.join(data_dir, "valid.jsonl"), encoding="utf-8")][:4]
    src = [e.ids[:40] for e in tok.encode_batch([r["source"] for r in rows])]
    tgt = [e.ids[:12] for e in tok.encode_batch([r["target"] for r in rows])]
    src = [s if s[-1] == EOS else s[:-1] + [EOS] for s in src]
    tgt = [t if t[-1] == EOS else t[:-1] + [EOS] for t in tgt]
    input_ids = pad_to(src, PAD)
    attention_mask = (input_ids != PAD).long()
    tgt_ids = pad_to(tgt, PAD)
    labels = tgt_ids.masked_fill(tgt_ids == PAD, -100)
    decoder_input_ids = shift_tokens_right(tgt_ids, PAD, EOS)

    r, alpha = 4, 8
    lcfg = LoraConfig(r=r, lora_alpha=alpha, target_modules=["q_proj", "k_proj", "v_proj", "out_proj"],
                      lora_dropout=0.0, bias="none", task_type="SEQ_2_SEQ_LM")
    pm = get_peft_model(copy.deepcopy(model), lcfg)
    pm.eval()
    g = torch.Generator().manual_seed(1234)
    tensors, params, names = {}, [], []
    for name, p in pm.named_parameters():
        if "lora_" not in name:
            assert not p.requires_grad, name
            continue
        with torch.no_grad():
            p.copy_(torch.randn(p.shape, generator=g) * (0.2 if "lora_A" in name else 0.1))
        path = name.split("base_model.model.", 1)[1].split(".lora_")[0]
        kind = "lora_A" if ".lora_A." in name else "lora_B"
        names.append(f"{path}.{kind}")
        params.append(p)
    init = {n: p.detach().t().contiguous().clone() for n, p in zip(names, params)}  # ONNX layout [in,r] / [r,out]

    def loss_fn():
        logits = pm(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids,
                    use_cache=False).logits
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                                 ignore_index=-100, reduction="mean"), logits

    hp = {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01, "max_grad_norm": 1.0}
    opt = torch.optim.AdamW(params, lr=hp["lr"], betas=tuple(hp["betas"]), eps=hp["eps"],
                            weight_decay=hp["weight_decay"])
    meta = {"rank": r, "alpha": alpha, "targets": ["q_proj", "k_proj", "v_proj", "out_proj"],
            "adapters": names, "optimizer": hp, "steps": []}
    for k, v in init.items():
        tensors[f"init/{k}"] = v
    for step in range(1, 4):
        opt.zero_grad(set_to_none=True)
        loss, logits = loss_fn()
        loss.backward()
        if step == 1:
            tensors["logits"] = logits.detach().contiguous()
        for n, p in zip(names, params):
            tensors[f"step{step}/grad/{n}"] = p.grad.detach().t().contiguous().clone()
        norm = torch.nn.utils.clip_grad_norm_(params, hp["max_grad_norm"])
        opt.step()
        for n, p in zip(names, params):
            st = opt.state[p]
            tensors[f"step{step}/param/{n}"] = p.detach().t().contiguous().clone()
            tensors[f"step{step}/exp_avg/{n}"] = st["exp_avg"].detach().t().contiguous().clone()
            tensors[f"step{step}/exp_avg_sq/{n}"] = st["exp_avg_sq"].detach().t().contiguous().clone()
        meta["steps"].append({"step": step, "loss": loss.item(), "grad_norm": float(norm),
                              "tokens": int((labels != -100).sum())})
        log(f"golden step {step}: loss {loss.item():.6f} grad_norm {float(norm):.6f}")
    tensors["batch/input_ids"] = input_ids
    tensors["batch/attention_mask"] = attention_mask
    tensors["batch/decoder_input_ids"] = decoder_input_ids
    tensors["batch/labels"] = labels
    os.makedirs(outdir, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(outdir, "train_step.safetensors"))
    with open(os.path.join(outdir, "train_step.json"), "w") as f:
        json.dump(meta, f, indent=1)


# ----------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="dataset folder (corpus.txt, valid.jsonl)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--vocab", type=int, default=2048)
    ap.add_argument("--d-model", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=256)
    ap.add_argument("--max-pos", type=int, default=256)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--pretrain-steps", type=int, default=3000)
    ap.add_argument("--pretrain-batch", type=int, default=64)
    ap.add_argument("--pretrain-lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    import onnx, onnxruntime, transformers, peft, tokenizers
    manifest = {"versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                             "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
                             "peft": peft.__version__, "tokenizers": tokenizers.__version__},
                "args": vars(args), "checks": {}, "errors": {}}
    log(json.dumps(manifest["versions"]))

    tok = train_tokenizer(os.path.join(args.data, "corpus.txt"), args.vocab, os.path.join(args.out, "tokenizer.json"))
    vocab = tok.get_vocab_size()
    lines = [l.strip() for l in open(os.path.join(args.data, "corpus.txt"), encoding="utf-8") if l.strip()]
    model = make_model(vocab, args)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    manifest["pretrain_final_loss"] = pretrain(model, tok, lines, args, device)
    model.save_pretrained(os.path.join(args.out, "hf"))
    n_params = sum(p.numel() for p in model.parameters())
    manifest["parameters"] = n_params
    log(f"model: {n_params} parameters, vocab {vocab}")

    try:
        goldens(model, tok, args.data, os.path.join(args.out, "goldens"), args)
    except Exception:
        manifest["errors"]["goldens"] = traceback.format_exc()
        log(manifest["errors"]["goldens"])

    export_model = logits_only(model)
    for name, dynamo, opset in (("model.onnx", False, 17), ("model.dynamo.onnx", True, 18)):
        path = os.path.join(args.out, name)
        try:
            export_full(export_model, path, dynamo, opset)
            manifest["checks"][name] = check_full(export_model, path)
            log(f"{name}: max |ort - torch| = {manifest['checks'][name]:.3g}")
        except Exception:
            manifest["errors"][name] = traceback.format_exc()
            log(manifest["errors"][name])
    try:
        files = export_optimum(model, os.path.join(args.out, "optimum"), 17)
        manifest["checks"]["optimum"] = check_optimum(model, os.path.join(args.out, "optimum"), files)
        log(f"optimum: {manifest['checks']['optimum']}")
    except Exception:
        manifest["errors"]["optimum"] = traceback.format_exc()
        log(manifest["errors"]["optimum"])
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    bad = {k: v for k, v in manifest["checks"].items()
           if (v if isinstance(v, float) else max(v.values())) > 1e-4}
    if manifest["errors"] or bad:
        log(f"FAILED: errors in {list(manifest['errors'])}, deviations {bad}")
        sys.exit(1)
    log("all exports match PyTorch")


if __name__ == "__main__":
    main()
