"""Writes kiln's model zoo: small, randomly initialised models exported by the real exporters
(torch.onnx.export, the TorchScript exporter Optimum uses, dynamo=False), from Hugging Face
transformers configs and from plain torch.nn CNNs, plus ONNX Runtime's transformer optimizer
and dynamic quantizer applied to the BERT export; and for each model fixed inputs and
onnxruntime's outputs for them.

    VENV/bin/python tests/models/zoo/make_zoo.py [OUT_DIR] [--only FAMILY,...]
                                                  (default: this folder, every family)

Needs torch, transformers, onnx and onnxruntime; it runs offline (no model hub: every model is
built from a config with seeded random weights). The tests (tests/python/test_zoo.py) need only
the committed files, never torch. Each model MODEL gets MODEL.onnx, MODEL/inputs/NAME.npy and
MODEL/expected/NAME.npy (onnxruntime CPUExecutionProvider, graph optimizations off), and
zoo.json lists them with the op counts that README.md tabulates.
"""

import collections
import json
import os
import sys
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
import transformers
from torch import nn

_POSITIONAL = [a for i, a in enumerate(sys.argv[1:], 1)
               if not a.startswith("--") and sys.argv[i - 1] != "--only"]
OUT = os.path.abspath(_POSITIONAL[0] if _POSITIONAL else os.path.dirname(__file__))
SEED = 20261123
BATCH = 2
SEQ = 13  # not a power of two
VOCAB = 500

warnings.filterwarnings("ignore")
transformers.logging.set_verbosity_error()

MANIFEST = {}


def seeded():
    torch.manual_seed(SEED)
    np.random.seed(SEED)


def text_inputs(pad_id=0, type_ids=False, pad_from=9):
    """input_ids [2, 13] in [3, VOCAB) (pad_id where masked), attention_mask with row 1 padded
    from position pad_from on, and optionally all-zero token_type_ids with row 0 half ones."""
    rng = np.random.default_rng(SEED)
    ids = rng.integers(3, VOCAB, size=(BATCH, SEQ), dtype=np.int64)
    mask = np.ones((BATCH, SEQ), np.int64)
    mask[1, pad_from:] = 0
    ids[mask == 0] = pad_id
    feeds = {"input_ids": ids, "attention_mask": mask}
    if type_ids:
        tt = np.zeros((BATCH, SEQ), np.int64)
        tt[0, 7:] = 1
        feeds["token_type_ids"] = tt
    return feeds


def op_counts(path):
    m = onnx.load(path)
    c = collections.Counter(
        (f"{n.domain}." if n.domain not in ("", "ai.onnx") else "") + n.op_type
        for n in m.graph.node)
    return dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))


def write_case(name, feeds, made_by, opset, torch_ref=None, note=""):
    """Runs onnxruntime on NAME.onnx, writes inputs/ and expected/, records the manifest entry.
    torch_ref: {output name: array} computed by torch before export, checked against ORT."""
    path = os.path.join(OUT, f"{name}.onnx")
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    outs = dict(zip(names, sess.run(names, feeds)))
    torch_err = None
    if torch_ref is not None:
        torch_err = max(float(np.max(np.abs(outs[k] - v))) for k, v in torch_ref.items())
        assert torch_err < 1e-4, f"{name}: onnxruntime differs from torch by {torch_err}"
    for sub, data in (("inputs", feeds), ("expected", outs)):
        d = os.path.join(OUT, name, sub)
        os.makedirs(d, exist_ok=True)
        for old in os.listdir(d):
            os.remove(os.path.join(d, old))
        for k, v in data.items():
            np.save(os.path.join(d, f"{k}.npy"), v)
    MANIFEST[name] = {
        "file": f"{name}.onnx",
        "bytes": os.path.getsize(path),
        "opset": opset,
        "made_by": made_by,
        "note": note,
        "inputs": {k: [list(v.shape), str(v.dtype)] for k, v in feeds.items()},
        "outputs": {k: [list(v.shape), str(v.dtype)] for k, v in outs.items()},
        "ort_vs_torch_max_abs": torch_err,
        "ops": op_counts(path),
    }
    print(f"{name}: {os.path.getsize(path)} bytes, {sum(MANIFEST[name]['ops'].values())} nodes"
          + (f", ORT vs torch {torch_err:.2g}" if torch_err is not None else ""))


class Wrap(nn.Module):
    """Calls a Hugging Face model with keyword arguments (transformers 5 reordered forward()'s
    positional parameters) and returns the chosen output fields as a tuple."""

    def __init__(self, model, in_names, out_fields, **extra):
        super().__init__()
        self.model, self.in_names, self.out_fields, self.extra = model, in_names, out_fields, extra

    def forward(self, *args):
        o = self.model(**dict(zip(self.in_names, args)), **self.extra)
        return tuple(getattr(o, f) for f in self.out_fields)


def export(name, module, feeds, out_names, dynamic, opset):
    """torch.onnx.export with the TorchScript exporter; returns the torch outputs computed
    before the export (the export itself may leave the module in a different state)."""
    module.eval()
    args = tuple(torch.from_numpy(v) for v in feeds.values())
    with torch.no_grad():
        ref = module(*args)
    ref = ref if isinstance(ref, tuple) else (ref,)
    ref = {n: r.detach().numpy().copy() for n, r in zip(out_names, ref)}
    torch.onnx.export(module, args, os.path.join(OUT, f"{name}.onnx"),
                      input_names=list(feeds), output_names=out_names, dynamic_axes=dynamic,
                      opset_version=opset, dynamo=False)
    return ref


def seq_axes(names, out_names, out_seq=()):
    d = {n: {0: "batch", 1: "sequence"} for n in names}
    for o in out_names:
        d[o] = {0: "batch", 1: "sequence"} if o in out_seq else {0: "batch"}
    return d


# --- Hugging Face encoders -------------------------------------------------------------------


def bert_config(hidden=64, heads=4, inter=128):
    return transformers.BertConfig(vocab_size=VOCAB, hidden_size=hidden, num_hidden_layers=2,
                                   num_attention_heads=heads, intermediate_size=inter,
                                   max_position_embeddings=64)


def make_bert(opset, attention="sdpa"):
    seeded()
    cfg = bert_config()
    cfg._attn_implementation = attention
    model = transformers.BertModel(cfg)
    feeds = text_inputs(type_ids=True)
    outs = ["last_hidden_state", "pooler_output"]
    w = Wrap(model, list(feeds), outs)
    name = f"bert_op{opset}" if attention == "sdpa" else f"bert_{attention}_op{opset}"
    ref = export(name, w, feeds, outs, seq_axes(feeds, outs, {"last_hidden_state"}), opset)
    write_case(name, feeds, f"transformers.BertModel (hidden 64, 4 heads, 2 layers, "
               f"intermediate 128, vocab {VOCAB}, {attention} attention) -> torch.onnx.export "
               f"(dynamo=False, opset {opset})", opset, ref)


def make_minilm():
    """A sentence-transformers-shaped MiniLM: BertModel with hidden 48 / 3 heads, then masked
    mean pooling and L2 normalisation in the exported graph."""
    seeded()
    model = transformers.BertModel(bert_config(hidden=48, heads=3, inter=96),
                                   add_pooling_layer=False)

    class MeanPool(nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            h = self.m(input_ids=input_ids, attention_mask=attention_mask,
                       token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * mask).sum(1) / torch.clamp(mask.sum(1), min=1e-9)
            return h, nn.functional.normalize(pooled, p=2, dim=1)

    feeds = text_inputs(type_ids=True)
    outs = ["token_embeddings", "sentence_embedding"]
    ref = export("minilm", MeanPool(model), feeds, outs,
                 seq_axes(feeds, outs, {"token_embeddings"}), 14)
    write_case("minilm", feeds, "transformers.BertModel (hidden 48, 3 heads, 2 layers, "
               "intermediate 96, no pooler) + sentence-transformers mean pooling and L2 "
               "normalize -> torch.onnx.export (dynamo=False, opset 14)", 14, ref)


def make_distilbert():
    seeded()
    cfg = transformers.DistilBertConfig(vocab_size=VOCAB, dim=64, n_layers=2, n_heads=4,
                                        hidden_dim=128, max_position_embeddings=64)
    model = transformers.DistilBertModel(cfg)
    feeds = text_inputs()
    outs = ["last_hidden_state"]
    ref = export("distilbert", Wrap(model, list(feeds), outs), feeds, outs,
                 seq_axes(feeds, outs, set(outs)), 14)
    write_case("distilbert", feeds, "transformers.DistilBertModel (dim 64, 4 heads, 2 layers, "
               "hidden_dim 128) -> torch.onnx.export (dynamo=False, opset 14)", 14, ref)


def make_roberta():
    seeded()
    cfg = transformers.RobertaConfig(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=128,
                                     max_position_embeddings=66, pad_token_id=1,
                                     type_vocab_size=1)
    model = transformers.RobertaModel(cfg)
    feeds = text_inputs(pad_id=1)
    outs = ["last_hidden_state", "pooler_output"]
    ref = export("roberta", Wrap(model, list(feeds), outs), feeds, outs,
                 seq_axes(feeds, outs, {"last_hidden_state"}), 17)
    write_case("roberta", feeds, "transformers.RobertaModel (hidden 64, 4 heads, 2 layers, "
               "intermediate 128, pad id 1: position ids from a CumSum over input_ids) -> "
               "torch.onnx.export (dynamo=False, opset 17)", 17, ref)


def make_t5_encoder():
    seeded()
    cfg = transformers.T5Config(vocab_size=VOCAB, d_model=64, d_kv=16, d_ff=128, num_layers=2,
                                num_heads=4, relative_attention_num_buckets=32,
                                relative_attention_max_distance=64)
    model = transformers.T5EncoderModel(cfg)
    feeds = text_inputs()
    outs = ["last_hidden_state"]
    ref = export("t5_encoder", Wrap(model, list(feeds), outs), feeds, outs,
                 seq_axes(feeds, outs, set(outs)), 17)
    write_case("t5_encoder", feeds, "transformers.T5EncoderModel (d_model 64, 4 heads of 16, "
               "2 layers, d_ff 128, relative attention buckets 32) -> torch.onnx.export "
               "(dynamo=False, opset 17)", 17, ref)


# --- T5 as Optimum exports seq2seq: encoder, decoder, decoder with past ----------------------


def t5_config():
    return transformers.T5Config(vocab_size=VOCAB, d_model=64, d_kv=16, d_ff=128, num_layers=2,
                                 num_decoder_layers=2, num_heads=4,
                                 relative_attention_num_buckets=32,
                                 relative_attention_max_distance=64, decoder_start_token_id=0,
                                 pad_token_id=0, eos_token_id=1)


T5_GEN_WHAT = ("transformers.T5ForConditionalGeneration (d_model 64, 4 heads of 16, 2+2 layers, "
               "d_ff 128, relative attention buckets 32)")


def make_t5_seq2seq():
    """The three files Optimum writes for a T5 seq2seq model, from one randomly initialised
    T5ForConditionalGeneration: t5_gen_encoder (input_ids, attention_mask -> last_hidden_state),
    t5_gen_decoder (the first step: input_ids [b, s], encoder_attention_mask,
    encoder_hidden_states -> logits, present.N.decoder.key/value, present.N.encoder.key/value)
    and t5_gen_decoder_with_past (one step: input_ids [b, 1], encoder_attention_mask,
    past_key_values.N.decoder/encoder.key/value -> logits, present.N.decoder.key/value)."""
    seeded()
    cfg = t5_config()
    model = transformers.T5ForConditionalGeneration(cfg).eval()
    layers, heads, hd = cfg.num_decoder_layers, cfg.num_heads, cfg.d_kv
    feeds = text_inputs()

    class Encoder(nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask):
            return self.m.encoder(input_ids=input_ids, attention_mask=attention_mask)[0]

    ref = export("t5_gen_encoder", Encoder(model), feeds, ["last_hidden_state"],
                 seq_axes(feeds, ["last_hidden_state"], {"last_hidden_state"}), 17)
    write_case("t5_gen_encoder", feeds, T5_GEN_WHAT + ": encoder -> torch.onnx.export "
               "(dynamo=False, opset 17)", 17, ref)
    with torch.no_grad():
        enc = model.encoder(input_ids=torch.from_numpy(feeds["input_ids"]),
                            attention_mask=torch.from_numpy(feeds["attention_mask"]))[0]
    enc = enc.numpy().copy()

    def cache_outputs(pkv, with_cross):
        out = []
        for i in range(layers):
            sa = pkv.self_attention_cache.layers[i]
            out += [sa.keys, sa.values]
            if with_cross:
                ca = pkv.cross_attention_cache.layers[i]
                out += [ca.keys, ca.values]
        return out

    class Decoder(nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, encoder_attention_mask, encoder_hidden_states):
            o = self.m(decoder_input_ids=input_ids, attention_mask=encoder_attention_mask,
                       encoder_outputs=(encoder_hidden_states,), use_cache=True)
            return (o.logits, *cache_outputs(o.past_key_values, True))

    dec_seq = 3
    rng = np.random.default_rng(SEED + 2)
    dec_ids = rng.integers(3, VOCAB, size=(BATCH, dec_seq), dtype=np.int64)
    dec_ids[:, 0] = cfg.decoder_start_token_id
    dfeeds = {"input_ids": dec_ids, "encoder_attention_mask": feeds["attention_mask"],
              "encoder_hidden_states": enc}
    present = [f"present.{i}.{part}.{k}" for i in range(layers)
               for part in ("decoder", "encoder") for k in ("key", "value")]
    outs = ["logits"] + present
    dyn = {"input_ids": {0: "batch", 1: "decoder_sequence"},
           "encoder_attention_mask": {0: "batch", 1: "encoder_sequence"},
           "encoder_hidden_states": {0: "batch", 1: "encoder_sequence"},
           "logits": {0: "batch", 1: "decoder_sequence"}}
    for n in present:
        dyn[n] = {0: "batch", 2: "decoder_sequence" if ".decoder." in n else "encoder_sequence"}
    ref = export("t5_gen_decoder", Decoder(model), dfeeds, outs, dyn, 17)
    write_case("t5_gen_decoder", dfeeds, T5_GEN_WHAT + ": decoder first step with cross "
               "attention, present.N.decoder/encoder.key/value outputs (Optimum's decoder_model "
               "layout) -> torch.onnx.export (dynamo=False, opset 17)", 17, ref,
               note="3 decoder tokens on t5_gen_encoder's committed output")

    class DecoderWithPast(nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, encoder_attention_mask, *kv):
            self_cache, cross_cache = transformers.DynamicCache(), transformers.DynamicCache()
            for i in range(layers):
                self_cache.update(kv[4 * i], kv[4 * i + 1], i)
                cross_cache.update(kv[4 * i + 2], kv[4 * i + 3], i)
            cache = transformers.EncoderDecoderCache(self_cache, cross_cache)
            # The encoder output is only read through the cross-attention cache; a [b, s, d]
            # placeholder keeps the module's signature (Optimum does the same).
            placeholder = torch.zeros(input_ids.shape[0], encoder_attention_mask.shape[1],
                                      cfg.d_model)
            o = self.m(decoder_input_ids=input_ids, attention_mask=encoder_attention_mask,
                       encoder_outputs=(placeholder,), past_key_values=cache, use_cache=True)
            return (o.logits, *cache_outputs(o.past_key_values, False))

    with torch.no_grad():
        first = Decoder(model)(*(torch.from_numpy(v) for v in dfeeds.values()))
    pfeeds = {"input_ids": rng.integers(3, VOCAB, size=(BATCH, 1), dtype=np.int64),
              "encoder_attention_mask": feeds["attention_mask"]}
    past_names = []
    for i in range(layers):
        for part in ("decoder", "encoder"):
            for k in ("key", "value"):
                n = f"past_key_values.{i}.{part}.{k}"
                past_names.append(n)
                pfeeds[n] = first[1 + len(past_names) - 1].numpy().copy()
    outs = ["logits"] + [f"present.{i}.decoder.{k}" for i in range(layers)
                         for k in ("key", "value")]
    dyn = {"input_ids": {0: "batch"},
           "encoder_attention_mask": {0: "batch", 1: "encoder_sequence"},
           "logits": {0: "batch"}}
    for n in past_names:
        dyn[n] = {0: "batch", 2: "past_decoder_sequence" if ".decoder." in n
                  else "encoder_sequence"}
    for n in outs[1:]:
        dyn[n] = {0: "batch", 2: "past_decoder_sequence + 1"}
    ref = export("t5_gen_decoder_with_past", DecoderWithPast(model), pfeeds, outs, dyn, 17)
    write_case("t5_gen_decoder_with_past", pfeeds, T5_GEN_WHAT + ": one decoder step with "
               "past_key_values.N.decoder/encoder.key/value inputs and present.N.decoder."
               "key/value outputs (Optimum's decoder_with_past_model layout) -> "
               "torch.onnx.export (dynamo=False, opset 17)", 17, ref,
               note="the past is t5_gen_decoder's committed present")


# --- ViT -------------------------------------------------------------------------------------


def make_vit():
    seeded()
    cfg = transformers.ViTConfig(image_size=32, patch_size=8, num_channels=3, hidden_size=64,
                                 num_hidden_layers=2, num_attention_heads=4,
                                 intermediate_size=128, num_labels=10)
    model = transformers.ViTForImageClassification(cfg)
    rng = np.random.default_rng(SEED)
    feeds = {"pixel_values": rng.normal(0, 1, size=(BATCH, 3, 32, 32)).astype(np.float32)}
    outs = ["logits"]
    ref = export("vit", Wrap(model, list(feeds), outs), feeds, outs,
                 {"pixel_values": {0: "batch"}, "logits": {0: "batch"}}, 17)
    write_case("vit", feeds, "transformers.ViTForImageClassification (32x32 images, patch 8, "
               "hidden 64, 4 heads, 2 layers, intermediate 128, 10 labels) -> "
               "torch.onnx.export (dynamo=False, opset 17)", 17, ref)


# --- GPT-2 -----------------------------------------------------------------------------------


def gpt2_config():
    return transformers.GPT2Config(vocab_size=VOCAB, n_positions=64, n_embd=64, n_layer=2,
                                   n_head=4, n_inner=128)


def make_gpt2():
    seeded()
    model = transformers.GPT2LMHeadModel(gpt2_config())
    feeds = text_inputs()
    outs = ["logits"]
    ref = export("gpt2", Wrap(model, list(feeds), outs, use_cache=False), feeds, outs,
                 seq_axes(feeds, outs, set(outs)), 14)
    write_case("gpt2", feeds, "transformers.GPT2LMHeadModel (n_embd 64, 4 heads, 2 layers, "
               "n_inner 128, use_cache=False: causal + padding mask) -> torch.onnx.export "
               "(dynamo=False, opset 14)", 14, ref)


def make_gpt2_with_past():
    """One decoder step as Optimum's decoder_with_past file spells it: input_ids [b, 1],
    attention_mask [b, past + 1], position_ids [b, 1], past_key_values.N.key/value
    [b, heads, past, 16] in; logits and present.N.key/value [b, heads, past + 1, 16] out."""
    seeded()
    cfg = gpt2_config()
    model = transformers.GPT2LMHeadModel(cfg)
    layers, heads, hd = cfg.n_layer, cfg.n_head, cfg.n_embd // cfg.n_head
    past = SEQ - 1

    class Step(nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, position_ids, *kv):
            cache = transformers.DynamicCache()
            for i in range(layers):
                cache.update(kv[2 * i], kv[2 * i + 1], i)
            o = self.m(input_ids=input_ids, attention_mask=attention_mask,
                       position_ids=position_ids, past_key_values=cache, use_cache=True)
            pkv = o.past_key_values
            present = []
            for i in range(layers):
                layer = pkv.layers[i]
                present += [layer.keys, layer.values]
            return (o.logits, *present)

    rng = np.random.default_rng(SEED + 1)
    mask = np.ones((BATCH, past + 1), np.int64)
    mask[1, :3] = 0  # row 1 is left-padded by 3
    feeds = {
        "input_ids": rng.integers(3, VOCAB, size=(BATCH, 1), dtype=np.int64),
        "attention_mask": mask,
        "position_ids": (mask.sum(1, keepdims=True) - 1).astype(np.int64),
    }
    kv_names = []
    for i in range(layers):
        for kind in ("key", "value"):
            n = f"past_key_values.{i}.{kind}"
            kv_names.append(n)
            feeds[n] = rng.normal(0, 1, size=(BATCH, heads, past, hd)).astype(np.float32)
    outs = ["logits"] + [f"present.{i}.{k}" for i in range(layers) for k in ("key", "value")]
    dyn = {"input_ids": {0: "batch", 1: "sequence"},
           "attention_mask": {0: "batch", 1: "total_sequence"},
           "position_ids": {0: "batch", 1: "sequence"},
           "logits": {0: "batch", 1: "sequence"}}
    for n in kv_names:
        dyn[n] = {0: "batch", 2: "past_sequence"}
    for n in outs[1:]:
        dyn[n] = {0: "batch", 2: "total_sequence"}
    ref = export("gpt2_with_past", Step(model), feeds, outs, dyn, 14)
    write_case("gpt2_with_past", feeds, "transformers.GPT2LMHeadModel (as gpt2) one decoder "
               "step with a DynamicCache built from past_key_values.N.key/value inputs, "
               "present.N.key/value outputs (Optimum's decoder_with_past layout) -> "
               "torch.onnx.export (dynamo=False, opset 14)", 14, ref,
               note="past 12 positions (random N(0,1) keys/values), row 1 left-padded by 3")


# --- CNNs ------------------------------------------------------------------------------------


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.down is None else self.down(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + idt)


class TinyResNet(nn.Module):
    """torchvision's ResNet-18 structure at 1/4 width with one BasicBlock per stage."""

    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 7, 2, 3, bias=False), nn.BatchNorm2d(16),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        self.layers = nn.Sequential(BasicBlock(16, 16, 1), BasicBlock(16, 32, 2),
                                    BasicBlock(32, 64, 2), BasicBlock(64, 64, 2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.pool(self.layers(self.stem(x)))
        return self.fc(torch.flatten(x, 1))


class SqueezeExcite(nn.Module):
    def __init__(self, c, r=4):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, c // r, 1)
        self.fc2 = nn.Conv2d(c // r, c, 1)

    def forward(self, x):
        s = self.fc2(torch.relu(self.fc1(self.pool(x))))
        return x * nn.functional.hardsigmoid(s)


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand, act, se=False):
        super().__init__()
        mid = cin * expand
        layers = []
        if expand != 1:
            layers += [nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), act()]
        layers += [nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False),
                   nn.BatchNorm2d(mid), act()]
        if se:
            layers.append(SqueezeExcite(mid))
        layers += [nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.block(x)
        return x + y if self.residual else y


class TinyMobileNet(nn.Module):
    """MobileNetV2 structure (ReLU6, inverted residuals, depthwise convs) at small width; with
    v3=True the MobileNetV3 twists: Hardswish and squeeze-excite with Hardsigmoid."""

    def __init__(self, v3=False, classes=10):
        super().__init__()
        act = nn.Hardswish if v3 else nn.ReLU6
        cfg = [(16, 8, 1, 1), (8, 16, 2, 4), (16, 16, 1, 4), (16, 24, 2, 4), (24, 24, 1, 4),
               (24, 32, 2, 4)]
        layers = [nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), act()]
        for i, (cin, cout, s, e) in enumerate(cfg):
            layers.append(InvertedResidual(cin, cout, s, e, act, se=v3 and i % 2 == 1))
        layers += [nn.Conv2d(32, 128, 1, bias=False), nn.BatchNorm2d(128), act()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(128, classes))

    def forward(self, x):
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


def randomise_bn(model):
    """Non-trivial BatchNorm statistics, so the folded conv weights are not the identity."""
    g = torch.Generator().manual_seed(SEED)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
            m.weight.data.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)


def make_cnn(name, model, what, opset=17):
    seeded()
    randomise_bn(model)
    rng = np.random.default_rng(SEED)
    feeds = {"pixel_values": rng.normal(0, 1, size=(BATCH, 3, 64, 64)).astype(np.float32)}
    outs = ["logits"]
    ref = export(name, model, feeds, outs, {"pixel_values": {0: "batch"}, "logits": {0: "batch"}},
                 opset)
    write_case(name, feeds, f"{what} (torch.nn, random weights, eval mode: BatchNorm folded "
               f"into the convs by the exporter) -> torch.onnx.export (dynamo=False, "
               f"opset {opset})", opset, ref)


# --- ONNX Runtime-processed BERT -------------------------------------------------------------


def make_bert_ort_variants():
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    # The optimizer's Attention fusion matches the eager attention spelling, not the sdpa one
    # (on bert_op14 it fuses only SkipLayerNormalization and BiasGelu).
    src = os.path.join(OUT, "bert_eager_op14.onnx")
    feeds = {k: np.load(os.path.join(OUT, "bert_op14", "inputs", f"{k}.npy"))
             for k in ("input_ids", "attention_mask", "token_type_ids")}
    opt = optimize_model(src, model_type="bert", num_heads=4, hidden_size=64)
    opt.save_model_to_file(os.path.join(OUT, "bert_ort_opt.onnx"))
    write_case("bert_ort_opt", feeds, "bert_eager_op14.onnx -> onnxruntime.transformers.optimizer"
               ".optimize_model(model_type='bert', num_heads=4, hidden_size=64)", 14,
               note=f"fusions: {json.dumps(opt.get_fused_operator_statistics())}")
    src = os.path.join(OUT, "bert_op14.onnx")
    quantize_dynamic(src, os.path.join(OUT, "bert_int8.onnx"), weight_type=QuantType.QInt8)
    write_case("bert_int8", feeds, "bert_op14.onnx -> onnxruntime.quantization.quantize_dynamic"
               "(weight_type=QInt8)", 14)


ALL = ["bert", "minilm", "distilbert", "roberta", "t5_encoder", "t5_seq2seq", "vit", "gpt2",
       "gpt2_with_past", "cnn", "bert_ort"]


def main():
    """Builds every family, or only those named by --only a,b (the others keep their files and
    manifest entries)."""
    only = None
    if "--only" in sys.argv:
        only = set(sys.argv[sys.argv.index("--only") + 1].split(","))
        unknown = only - set(ALL)
        assert not unknown, f"unknown families {sorted(unknown)}; known: {ALL}"
        with open(os.path.join(OUT, "zoo.json")) as f:
            MANIFEST.update(json.load(f))
    want = lambda fam: only is None or fam in only  # noqa: E731
    os.makedirs(OUT, exist_ok=True)
    if want("bert"):
        build_bert()
    if want("minilm"):
        make_minilm()
    if want("distilbert"):
        make_distilbert()
    if want("roberta"):
        make_roberta()
    if want("t5_encoder"):
        make_t5_encoder()
    if want("t5_seq2seq"):
        make_t5_seq2seq()
    if want("vit"):
        make_vit()
    if want("gpt2"):
        make_gpt2()
    if want("gpt2_with_past"):
        make_gpt2_with_past()
    if want("cnn"):
        build_cnns()
    if want("bert_ort"):
        make_bert_ort_variants()
    MANIFEST["_versions"] = {"torch": torch.__version__, "transformers": transformers.__version__,
                             "onnx": onnx.__version__, "onnxruntime": ort.__version__}
    with open(os.path.join(OUT, "zoo.json"), "w") as f:
        json.dump(MANIFEST, f, indent=1, sort_keys=True)
        f.write("\n")


def build_bert():
    make_bert(14)
    make_bert(17)
    make_bert(14, attention="eager")


def build_cnns():
    make_cnn("resnet", TinyResNet(), "ResNet-18-style CNN (stem conv 7x7/2 + maxpool, 4 "
             "BasicBlocks 16-64 channels, 1x1 downsample convs, global average pool, fc 10)")
    make_cnn("mobilenetv2", TinyMobileNet(), "MobileNetV2-style CNN (ReLU6, depthwise 3x3, "
             "inverted residuals with expansion 4, global average pool, fc 10)")
    make_cnn("mobilenetv3", TinyMobileNet(v3=True), "MobileNetV3-style CNN (as mobilenetv2 "
             "with Hardswish and squeeze-excite blocks gated by Hardsigmoid)")


if __name__ == "__main__":
    main()
