"""Full-size models for `make test-full` (issue 7): the real architectures at their published
sizes with seeded random weights (no model hub), exported by torch.onnx.export (dynamo=False,
the exporter Optimum uses) into a cache outside the repository, each also passed through ONNX
Runtime's transformer optimizer and through quantize_dynamic, with onnxruntime's outputs for
every variant:

    bert-base (BertModel, 12 x 768, vocab 30522), distilbert-base, roberta-base,
    gpt2 (GPT2LMHeadModel 124M, its 50257 x 768 tied embedding is 154 MB: larger than
    lavapipe's 128 MiB storage-buffer limit), t5-small (T5ForConditionalGeneration as
    Optimum's encoder / decoder / decoder_with_past files), vit-base (ViTForImageClassification
    224x224), and torchvision resnet18 and mobilenet_v2 (weights=None).

    python tests/models/full/make_full.py [CACHE_DIR] [--only NAME,...]

Needs torch, transformers, torchvision, onnx and onnxruntime (a separate venv: `make test-full`
makes one). CACHE_DIR defaults to $KILN_MODEL_CACHE/full, else ~/.cache/kiln/models/full. Each
model NAME gets NAME/model.onnx, model_ort.onnx (transformers only), model_int8.onnx,
inputs/*.npy and expected/, expected_ort/, expected_int8/ (onnxruntime, optimizations off),
and full.json lists them. Batch 1, sequence 128, as issue 9's targets.
"""

import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np

SEED = 20261123
SEQ = 128
warnings.filterwarnings("ignore")


def cache_dir():
    pos = [a for i, a in enumerate(sys.argv[1:], 1)
           if not a.startswith("--") and sys.argv[i - 1] != "--only"]
    if pos:
        return Path(pos[0])
    base = Path(os.environ.get("KILN_MODEL_CACHE", Path.home() / ".cache" / "kiln" / "models"))
    return base / "full"


def text_feeds(vocab, type_ids=False, pad_id=0):
    rng = np.random.default_rng(SEED)
    ids = rng.integers(3, vocab, size=(1, SEQ), dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": np.ones((1, SEQ), np.int64)}
    if type_ids:
        feeds["token_type_ids"] = np.zeros((1, SEQ), np.int64)
    return feeds


def main():
    import onnxruntime as ort
    import torch
    import transformers
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model
    from torch import nn

    transformers.logging.set_verbosity_error()
    out_root = cache_dir()
    out_root.mkdir(parents=True, exist_ok=True)
    only = None
    if "--only" in sys.argv:
        only = set(sys.argv[sys.argv.index("--only") + 1].split(","))
    manifest_path = out_root / "full.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}

    def ort_outputs(path, feeds):
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        return dict(zip(names, sess.run(names, feeds)))

    def save(d, arrays):
        d.mkdir(parents=True, exist_ok=True)
        for old in d.glob("*.npy"):
            old.unlink()
        for k, v in arrays.items():
            np.save(d / f"{k}.npy", v)

    class Wrap(nn.Module):
        def __init__(self, model, in_names, out_fields, **extra):
            super().__init__()
            self.model, self.in_names, self.out_fields, self.extra = (model, in_names,
                                                                      out_fields, extra)

        def forward(self, *args):
            o = self.model(**dict(zip(self.in_names, args)), **self.extra)
            return tuple(getattr(o, f) if isinstance(f, str) else f(o) for f in self.out_fields)

    def build(name, module, feeds, out_names, dynamic, opset, ort_type=None, heads=0, hidden=0,
              what=""):
        if only is not None and name not in only:
            return None
        d = out_root / name
        d.mkdir(parents=True, exist_ok=True)
        model = d / "model.onnx"
        module.eval()
        args = tuple(torch.from_numpy(v) for v in feeds.values())
        with torch.no_grad():
            torch.onnx.export(module, args, str(model), input_names=list(feeds),
                              output_names=out_names, dynamic_axes=dynamic, opset_version=opset,
                              dynamo=False)
        save(d / "inputs", feeds)
        save(d / "expected", ort_outputs(model, feeds))
        entry = {"what": what, "opset": opset, "bytes": model.stat().st_size +
                 sum(p.stat().st_size for p in d.glob("*.data"))}
        if ort_type:
            opt = optimize_model(str(model), model_type=ort_type, num_heads=heads,
                                 hidden_size=hidden)
            opt.save_model_to_file(str(d / "model_ort.onnx"))
            save(d / "expected_ort", ort_outputs(d / "model_ort.onnx", feeds))
            entry["ort_fusions"] = opt.get_fused_operator_statistics()
        quantize_dynamic(str(model), str(d / "model_int8.onnx"), weight_type=QuantType.QInt8)
        save(d / "expected_int8", ort_outputs(d / "model_int8.onnx", feeds))
        entry["int8_bytes"] = (d / "model_int8.onnx").stat().st_size
        manifest[name] = entry
        manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        print(f"{name}: {entry['bytes'] / 1e6:.1f} MB, int8 {entry['int8_bytes'] / 1e6:.1f} MB")
        return d

    def seq_axes(names, outs):
        d = {n: {0: "batch", 1: "sequence"} for n in names}
        d.update({o: {0: "batch", 1: "sequence"} for o in outs})
        return d

    def seeded():
        torch.manual_seed(SEED)

    # Encoders.
    seeded()
    m = transformers.BertModel(transformers.BertConfig(), add_pooling_layer=False)
    f = text_feeds(30522, type_ids=True)
    build("bert-base", Wrap(m, list(f), ["last_hidden_state"]), f, ["last_hidden_state"],
          seq_axes(f, ["last_hidden_state"]), 14, "bert", 12, 768,
          "transformers.BertModel(BertConfig()): bert-base-uncased's shape, random weights")
    seeded()
    m = transformers.DistilBertModel(transformers.DistilBertConfig())
    f = text_feeds(30522)
    build("distilbert-base", Wrap(m, list(f), ["last_hidden_state"]), f, ["last_hidden_state"],
          seq_axes(f, ["last_hidden_state"]), 14, "bert", 12, 768,
          "transformers.DistilBertModel(DistilBertConfig()), random weights")
    seeded()
    m = transformers.RobertaModel(transformers.RobertaConfig(vocab_size=50265,
                                                            max_position_embeddings=514,
                                                            type_vocab_size=1, pad_token_id=1),
                                  add_pooling_layer=False)
    f = text_feeds(50265, pad_id=1)
    build("roberta-base", Wrap(m, list(f), ["last_hidden_state"]), f, ["last_hidden_state"],
          seq_axes(f, ["last_hidden_state"]), 14, "bert", 12, 768,
          "transformers.RobertaModel (roberta-base's shape), random weights")
    # GPT-2 124M.
    seeded()
    m = transformers.GPT2LMHeadModel(transformers.GPT2Config())
    f = text_feeds(50257)
    build("gpt2", Wrap(m, list(f), ["logits"], use_cache=False), f, ["logits"],
          seq_axes(f, ["logits"]), 14, "gpt2", 12, 768,
          "transformers.GPT2LMHeadModel(GPT2Config()): gpt2 (124M), random weights")
    # ViT-base.
    seeded()
    m = transformers.ViTForImageClassification(transformers.ViTConfig(num_labels=1000))
    rng = np.random.default_rng(SEED)
    f = {"pixel_values": rng.normal(0, 1, size=(1, 3, 224, 224)).astype(np.float32)}
    build("vit-base", Wrap(m, list(f), ["logits"]), f, ["logits"],
          {"pixel_values": {0: "batch"}, "logits": {0: "batch"}}, 17, "vit", 12, 768,
          "transformers.ViTForImageClassification(ViTConfig()): vit-base-patch16-224, random")
    # torchvision CNNs.
    try:
        import torchvision
        for name, ctor in (("resnet18", torchvision.models.resnet18),
                           ("mobilenet_v2", torchvision.models.mobilenet_v2)):
            seeded()
            m = ctor(weights=None)
            # weights=None leaves BatchNorm as the identity (mean 0, var 1, gamma 1, beta 0),
            # with which mobilenet_v2's logits come out ~1e-9: give every BN non-trivial
            # statistics, as the zoo's CNNs have, so that the outputs are O(0.1-1).
            g = torch.Generator().manual_seed(SEED)
            for mod in m.modules():
                if isinstance(mod, nn.BatchNorm2d):
                    n = mod.num_features
                    mod.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                    mod.running_var.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
                    mod.weight.data.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
                    mod.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
            build(name, m, f, ["logits"], {"pixel_values": {0: "batch"}, "logits": {0: "batch"}},
                  17, what=f"torchvision.models.{name}(weights=None)")
    except ImportError:
        print("torchvision is missing: resnet18 and mobilenet_v2 skipped")
    # T5-small as Optimum's three files.
    seeded()
    cfg = transformers.T5Config(d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_heads=8,
                                vocab_size=32128, decoder_start_token_id=0, pad_token_id=0)
    t5 = transformers.T5ForConditionalGeneration(cfg).eval()
    f = text_feeds(32128)

    class Encoder(nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask):
            return self.m.encoder(input_ids=input_ids, attention_mask=attention_mask)[0]

    build("t5-small-encoder", Encoder(t5), f, ["last_hidden_state"],
          seq_axes(f, ["last_hidden_state"]), 17, "t5", 8, 512,
          "transformers.T5ForConditionalGeneration (t5-small's shape), encoder")
    with torch.no_grad():
        enc = t5.encoder(input_ids=torch.from_numpy(f["input_ids"]),
                         attention_mask=torch.from_numpy(f["attention_mask"]))[0].numpy().copy()

    def cache_outputs(pkv, with_cross):
        out = []
        for i in range(cfg.num_decoder_layers):
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

    layers = cfg.num_decoder_layers
    present = [f"present.{i}.{p}.{k}" for i in range(layers) for p in ("decoder", "encoder")
               for k in ("key", "value")]
    df = {"input_ids": np.zeros((1, 1), np.int64), "encoder_attention_mask": f["attention_mask"],
          "encoder_hidden_states": enc}
    dyn = {"input_ids": {0: "batch", 1: "decoder_sequence"},
           "encoder_attention_mask": {0: "batch", 1: "encoder_sequence"},
           "encoder_hidden_states": {0: "batch", 1: "encoder_sequence"},
           "logits": {0: "batch", 1: "decoder_sequence"}}
    for n in present:
        dyn[n] = {0: "batch", 2: "decoder_sequence" if ".decoder." in n else "encoder_sequence"}
    build("t5-small-decoder", Decoder(t5), df, ["logits"] + present, dyn, 17, "t5", 8, 512,
          "t5-small decoder, first step (Optimum's decoder_model layout)")

    class DecoderWithPast(nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, encoder_attention_mask, *kv):
            sc, cc = transformers.DynamicCache(), transformers.DynamicCache()
            for i in range(layers):
                sc.update(kv[4 * i], kv[4 * i + 1], i)
                cc.update(kv[4 * i + 2], kv[4 * i + 3], i)
            ph = torch.zeros(input_ids.shape[0], encoder_attention_mask.shape[1], cfg.d_model)
            o = self.m(decoder_input_ids=input_ids, attention_mask=encoder_attention_mask,
                       encoder_outputs=(ph,), past_key_values=transformers.EncoderDecoderCache(
                           sc, cc), use_cache=True)
            return (o.logits, *cache_outputs(o.past_key_values, False))

    with torch.no_grad():
        first = Decoder(t5)(*(torch.from_numpy(v) for v in df.values()))
    pf = {"input_ids": np.full((1, 1), 5, np.int64), "encoder_attention_mask": f["attention_mask"]}
    for j, n in enumerate(present):
        pf[n.replace("present.", "past_key_values.")] = first[1 + j].numpy().copy()
    outs = ["logits"] + [f"present.{i}.decoder.{k}" for i in range(layers)
                         for k in ("key", "value")]
    dyn = {"input_ids": {0: "batch"}, "encoder_attention_mask": {0: "batch", 1: "encoder_sequence"},
           "logits": {0: "batch"}}
    for n in pf:
        if n.startswith("past_key_values."):
            dyn[n] = {0: "batch", 2: "past_decoder_sequence" if ".decoder." in n
                      else "encoder_sequence"}
    for n in outs[1:]:
        dyn[n] = {0: "batch", 2: "past_decoder_sequence + 1"}
    build("t5-small-decoder-with-past", DecoderWithPast(t5), pf, outs, dyn, 17, "t5", 8, 512,
          "t5-small decoder, one step with past (Optimum's decoder_with_past_model layout)")
    manifest["_versions"] = {"torch": torch.__version__, "transformers": transformers.__version__,
                             "onnxruntime": ort.__version__}
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
