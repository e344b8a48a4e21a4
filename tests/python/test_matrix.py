"""Issue 7's test matrix: every fp32 zoo model (tests/models/zoo) on every backend (cpu, opencl,
vulkan) in the variants a user hands kiln, each against onnxruntime running the same model file
on the same (committed) inputs:

- kiln-optimized: the export at --level 2 (kiln's transformer fusions); the reference is the
  export's committed onnxruntime output.
- int8 by kiln: `kiln quantize` (QOperator, onnxruntime's quantize_dynamic layout); the
  reference is onnxruntime running that int8 file.
- int8 by onnxruntime: onnxruntime.quantization.quantize_dynamic's output, run by both.

"As exported" is tests/python/test_zoo.py and "ORT-optimized" is test_ort_optimized.py; the
tolerances of all of them are the one table tests/models/tolerances.json. A device that is not
present is a visible skip. With KILN_MATRIX_LOG=FILE every cell appends a JSON line with its
measured errors (docs/MODELS.md is written from it).
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")

REPO = Path(__file__).resolve().parents[2]
ZOO = REPO / "tests" / "models" / "zoo"
TABLE = json.loads((REPO / "tests" / "models" / "tolerances.json").read_text())
FP32 = TABLE["fp32"]
INT8 = TABLE["int8"]
MANIFEST = {k: v for k, v in json.loads((ZOO / "zoo.json").read_text()).items()
            if not k.startswith("_")}
# fp32 exports in standard ops only (the com.microsoft and already-quantized files are
# variants themselves).
MODELS = sorted(n for n, m in MANIFEST.items()
                if not any(op.startswith("com.microsoft.") for op in m["ops"])
                and "MatMulInteger" not in m["ops"])
DEVICES = ["cpu", "opencl", "vulkan"]


def feeds(name):
    return {p.stem: np.load(p) for p in sorted((ZOO / name / "inputs").glob("*.npy"))}


def ort_run(path, inputs):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, inputs)))


def log_cell(**cell):
    path = os.environ.get("KILN_MATRIX_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(cell) + "\n")


@pytest.fixture(scope="module")
def present(kiln, tmp_path_factory):
    path = tmp_path_factory.mktemp("devices") / "d.json"
    res = kiln("devices", "--json", path)
    assert res.returncode == 0, res.describe()
    d = json.loads(path.read_text())
    return {"cpu": True, "opencl": bool(d["opencl"]["devices"]),
            "vulkan": bool(d.get("vulkan", {}).get("devices"))}


def need(present, device):
    if not present[device]:
        pytest.skip(f"no {device} device")


def run_kiln(kiln, model, name, device, out, *extra):
    res = kiln("run", model, "--device", device, "--inputs", ZOO / name / "inputs",
               "--output-dir", out, "--quiet", *extra)
    if device == "vulkan" and "not available in this build" in res.stderr:
        pytest.skip("the Vulkan backend is not in this build")
    assert res.returncode == 0, res.describe()
    assert "falls back to the CPU" not in res.stderr, res.describe()
    return {p.stem: np.load(p) for p in out.glob("*.npy")}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", MODELS)
def test_kiln_optimized(kiln, present, tmp_path, name, device):
    need(present, device)
    want = {p.stem: np.load(p) for p in (ZOO / name / "expected").glob("*.npy")}
    got = run_kiln(kiln, ZOO / f"{name}.onnx", name, device, tmp_path / "out", "--level", "2")
    worst = 0.0
    for k, ref in want.items():
        assert k in got, f"{name}: kiln wrote no {k}"
        assert got[k].shape == ref.shape and got[k].dtype == ref.dtype, k
        err = float(np.max(np.abs(got[k].astype(np.float64) - ref))) if ref.size else 0.0
        worst = max(worst, err)
        assert err <= FP32[name], f"{name}/{k} on {device} at level 2: max abs {err:.3g}"
    log_cell(model=name, variant="kiln-optimized", device=device, max_abs=worst)


@pytest.fixture(scope="module")
def int8_models(kiln, tmp_path_factory):
    """model name -> {"kiln": path, "ort": path}, made once per module, lazily."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    d = tmp_path_factory.mktemp("int8")
    made = {}

    def get(name):
        if name not in made:
            src = ZOO / f"{name}.onnx"
            ours = d / f"{name}_kiln.onnx"
            res = kiln("quantize", src, ours, "--quiet")
            assert res.returncode == 0, res.describe()
            theirs = d / f"{name}_ort.onnx"
            quantize_dynamic(str(src), str(theirs), weight_type=QuantType.QInt8)
            made[name] = {"kiln": ours, "ort": theirs, "refs": {}}
        return made[name]

    return get


def cosine(a, b):
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 1.0 if na == nb else 0.0
    return float(a @ b / (na * nb))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("quantizer", ["kiln", "ort"])
@pytest.mark.parametrize("name", MODELS)
def test_int8(kiln, present, int8_models, tmp_path, name, quantizer, device):
    need(present, device)
    m = int8_models(name)
    path = m[quantizer]
    if quantizer not in m["refs"]:
        m["refs"][quantizer] = ort_run(path, feeds(name))
    want = m["refs"][quantizer]
    got = run_kiln(kiln, path, name, device, tmp_path / "out")
    cells = []
    for k, ref in want.items():
        assert k in got, f"{name}: kiln wrote no {k}"
        g = got[k]
        assert g.shape == ref.shape and g.dtype == ref.dtype, k
        if not np.issubdtype(ref.dtype, np.floating) or ref.size == 0:
            continue
        cos = cosine(g, ref)
        agree = float(np.mean(g.argmax(-1) == ref.argmax(-1))) if ref.ndim else 1.0
        err = float(np.max(np.abs(g.astype(np.float64) - ref)))
        cells.append((k, cos, agree, err))
        assert cos >= INT8["min_cosine"], f"{name}/{k} ({quantizer} int8) on {device}: cos {cos}"
        assert agree >= INT8["min_argmax_agreement"], \
            f"{name}/{k} ({quantizer} int8) on {device}: argmax agreement {agree}"
        assert err <= INT8["max_abs"], f"{name}/{k} ({quantizer} int8) on {device}: {err:.3g}"
    log_cell(model=name, variant=f"int8-{quantizer}", device=device,
             min_cosine=min(c[1] for c in cells), min_argmax=min(c[2] for c in cells),
             max_abs=max(c[3] for c in cells))
