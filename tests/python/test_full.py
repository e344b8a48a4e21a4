"""Full-size models (issue 7's separate target): `make test-full` builds them with
tests/models/full/make_full.py into $KILN_MODEL_CACHE/full (default ~/.cache/kiln/models/full)
and runs this file with KILN_FULL=1. Every model there (bert-base, distilbert-base, roberta-base,
gpt2 124M, vit-base, t5-small's three files, torchvision resnet18 and mobilenet_v2) on cpu,
opencl and vulkan (when present) in each variant: as exported, kiln-optimized (--level 2),
ONNX Runtime-optimized (model_ort.onnx) and quantize_dynamic'd (model_int8.onnx), against
onnxruntime's outputs for the same file. Tolerances: the "full" part of
tests/models/tolerances.json. Without KILN_FULL=1 or without the cache every test is a visible
skip saying how to run it (`make test` stays fast).
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("KILN_MODEL_CACHE", Path.home() / ".cache" / "kiln" / "models"))
FULL = CACHE / "full"
TABLE = json.loads((REPO / "tests" / "models" / "tolerances.json").read_text())["full"]
MANIFEST = {}
if (FULL / "full.json").is_file():
    MANIFEST = {k: v for k, v in json.loads((FULL / "full.json").read_text()).items()
                if not k.startswith("_")}
MODELS = sorted(MANIFEST) or ["(none)"]

pytestmark = [
    pytest.mark.skipif(os.environ.get("KILN_FULL") != "1",
                       reason="full-size models run in `make test-full` (KILN_FULL=1)"),
    pytest.mark.skipif(not MANIFEST, reason=f"{FULL} has no models: build them with "
                       "python tests/models/full/make_full.py (needs torch, transformers, "
                       "torchvision), or run `make test-full`"),
]

# variant -> (model file, expected folder, extra kiln arguments)
VARIANTS = {
    "exported": ("model.onnx", "expected", []),
    "kiln-optimized": ("model.onnx", "expected", ["--level", "2"]),
    "ort-optimized": ("model_ort.onnx", "expected_ort", []),
    "int8": ("model_int8.onnx", "expected_int8", []),
}


@pytest.fixture(scope="module")
def present(kiln, tmp_path_factory):
    path = tmp_path_factory.mktemp("devices") / "d.json"
    res = kiln("devices", "--json", path)
    assert res.returncode == 0, res.describe()
    d = json.loads(path.read_text())
    return {"cpu": True, "opencl": bool(d["opencl"]["devices"]),
            "vulkan": bool(d.get("vulkan", {}).get("devices"))}


def cosine(a, b):
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na and nb else float(na == nb)


@pytest.mark.parametrize("device", ["cpu", "opencl", "vulkan"])
@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("name", MODELS)
def test_full_model(kiln, present, tmp_path, name, variant, device):
    if not present[device]:
        pytest.skip(f"no {device} device")
    file, exp, extra = VARIANTS[variant]
    d = FULL / name
    if not (d / file).is_file():
        pytest.skip(f"{name} has no {file} (ONNX Runtime's optimizer has no model type for it)")
    out = tmp_path / "out"
    res = kiln("run", d / file, "--device", device, "--inputs", d / "inputs", "--output-dir", out,
               "--quiet", *extra, timeout=1800)
    assert res.returncode == 0, res.describe()
    assert "falls back to the CPU" not in res.stderr, res.describe()
    rule = TABLE["int8"] if variant == "int8" else TABLE["fp32"]
    cells = []
    for p in sorted((d / exp).glob("*.npy")):
        want = np.load(p)
        got = np.load(out / p.name)
        assert got.shape == want.shape and got.dtype == want.dtype, p.stem
        if not np.issubdtype(want.dtype, np.floating) or want.size == 0:
            assert np.array_equal(got, want), p.stem
            continue
        err = float(np.max(np.abs(got.astype(np.float64) - want)))
        cos = cosine(got, want)
        agree = float(np.mean(got.argmax(-1) == want.argmax(-1)))
        cells.append(f"{p.stem}: max abs {err:.3g}, cosine {cos:.6f}, argmax {agree:.3f}")
        assert err <= rule["max_abs"] + rule["rtol"] * float(np.max(np.abs(want))), cells[-1]
        assert cos >= rule["min_cosine"], cells[-1]
        assert agree >= rule["min_argmax_agreement"], cells[-1]
    log = os.environ.get("KILN_MATRIX_LOG")
    if log:
        with open(log, "a") as f:
            f.write(json.dumps({"model": name, "variant": variant, "device": device,
                                "cells": cells}) + "\n")
