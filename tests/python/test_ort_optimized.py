"""Models as ONNX Runtime's transformer optimizer writes them (tests/models/ort_opt, made by
make_ort_opt.py from the zoo's exports): com.microsoft fused ops plus LayerNormalization /
SimplifiedLayerNormalization in the default domain at opsets the onnx checker rejects, and graphs
on which libonnx 1.12's shape inference with data propagation crashes (kiln runs it in a child
process and goes on without it). Each model runs in kiln on the CPU (levels 1 and 2) and on
OpenCL and Vulkan when present (level 1: the com.microsoft fused ops run on the device), against
onnxruntime live on the zoo model's committed inputs.
Tolerance: 1e-4 absolute, as for the zoo's fp32 models.
"""

import json
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
OPT = REPO / "tests" / "models" / "ort_opt"
ZOO = REPO / "tests" / "models" / "zoo"
MODELS = sorted(json.loads((OPT / "ort_opt.json").read_text()).items())
ATOL = 1e-4


def ort_outputs(model, feeds):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
    names = {i.name for i in sess.get_inputs()}
    outs = sess.run(None, {k: v for k, v in feeds.items() if k in names})
    return {o.name: v for o, v in zip(sess.get_outputs(), outs)}


@pytest.fixture(scope="module")
def devices_available(kiln, tmp_path_factory):
    path = tmp_path_factory.mktemp("devices") / "d.json"
    res = kiln("devices", "--json", path)
    assert res.returncode == 0, res.describe()
    d = json.loads(path.read_text())
    return {api for api in ("opencl", "vulkan") if d.get(api, {}).get("devices")}


@pytest.mark.parametrize("device,level", [("cpu", "1"), ("cpu", "2"), ("opencl", "1"),
                                          ("vulkan", "1")])
@pytest.mark.parametrize("name,info", MODELS, ids=[m[0] for m in MODELS])
def test_ort_optimized_model(kiln, tmp_path, name, info, device, level, devices_available):
    if device != "cpu" and device not in devices_available:
        pytest.skip(f"no {device} device")
    model = OPT / info["file"]
    inputs = ZOO / name / "inputs"
    feeds = {p.stem: np.load(p) for p in inputs.glob("*.npy")}
    want = ort_outputs(model, feeds)
    out = tmp_path / "out"
    res = kiln("run", model, "--inputs", inputs, "--output-dir", out, "--device", device,
               "--level", level, timeout=300)
    assert res.returncode == 0, res.describe()
    assert "falls back to the CPU" not in res.stderr, res.stderr
    for oname, ref in want.items():
        got = np.load(out / f"{oname.replace('/', '_').replace(':', '_')}.npy")
        assert got.shape == ref.shape, (oname, got.shape, ref.shape)
        err = float(np.max(np.abs(got.astype(np.float64) - ref))) if ref.size else 0.0
        assert err <= ATOL, f"{name} {oname} on {device} level {level}: max abs error {err}"


def test_info_reports_the_shape_inference_fallback(kiln):
    """roberta_ort.onnx crashes libonnx's shape inference with data propagation: kiln survives
    and says so."""
    res = kiln("info", OPT / "roberta_ort.onnx")
    assert res.returncode == 0, res.describe()
    assert "shape inference with data propagation" in res.stdout + res.stderr
