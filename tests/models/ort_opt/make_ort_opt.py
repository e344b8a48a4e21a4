"""Writes the zoo's transformer exports as ONNX Runtime's transformer optimizer rewrites them
(onnxruntime.transformers.optimizer.optimize_model, default options), the form Optimum's
ORTOptimizer hands to users: com.microsoft Attention / SkipLayerNormalization / BiasGelu /
FastGelu..., and LayerNormalization / SimplifiedLayerNormalization in the default domain at the
model's own opset, which the onnx checker rejects but onnxruntime accepts.

Run offline with a python that has torch + onnxruntime (some model types import torch):
    VENV/bin/python tests/models/ort_opt/make_ort_opt.py   (VENV: a venv with torch, onnxruntime)
tests/python/test_ort_optimized.py runs each file in kiln and compares with onnxruntime live,
on the zoo model's committed inputs.
"""

import json
from collections import Counter
from pathlib import Path

from onnxruntime.transformers.optimizer import optimize_model

HERE = Path(__file__).resolve().parent
ZOO = HERE.parent / "zoo"

# zoo model -> (ORT model_type, heads, hidden)
MODELS = {
    "bert_op14": ("bert", 4, 64),
    "bert_eager_op14": ("bert", 4, 64),
    "distilbert": ("bert", 4, 64),
    "roberta": ("bert", 4, 64),
    "minilm": ("bert", 3, 48),
    "gpt2": ("gpt2", 4, 64),
    "t5_encoder": ("t5", 4, 64),
    "t5_gen_encoder": ("t5", 4, 64),
    "t5_gen_decoder": ("t5", 4, 64),
    "t5_gen_decoder_with_past": ("t5", 4, 64),
    "vit": ("vit", 4, 64),
}


def main():
    summary = {}
    for name, (kind, heads, hidden) in MODELS.items():
        m = optimize_model(str(ZOO / f"{name}.onnx"), model_type=kind, num_heads=heads,
                           hidden_size=hidden)
        out = HERE / f"{name}_ort.onnx"
        m.save_model_to_file(str(out))
        ops = Counter(f"{n.domain + ':' if n.domain else ''}{n.op_type}"
                      for n in m.model.graph.node)
        summary[name] = {"file": out.name, "model_type": kind, "nodes": len(m.model.graph.node),
                         "fused": {k: v for k, v in ops.items()
                                   if k.startswith("com.microsoft") or "LayerNormalization" in k}}
        print(name, summary[name]["nodes"], summary[name]["fused"])
    (HERE / "ort_opt.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
