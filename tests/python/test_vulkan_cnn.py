"""The CNN zoo models (tests/models/zoo: resnet, mobilenetv2, mobilenetv3) on Vulkan: every node
runs on the Vulkan device (no CPU fallback: Conv, MaxPool, GlobalAveragePool... have Vulkan
kernels, runtime/vulkan/ops_conv.cpp and ops_pool.cpp), the outputs reproduce the committed
onnxruntime outputs within the zoo tolerance, and `kiln compare --device vulkan --against cpu`
agrees with kiln's CPU path within 1e-4 at batch 1 (committed inputs) and batch 2 (random).
Skips visibly when `kiln devices` lists no Vulkan device. KILN_BIN selects the binary.
"""

import json
import re
from pathlib import Path

import numpy as np
import pytest

ZOO = Path(__file__).resolve().parents[2] / "tests" / "models" / "zoo"
TOLERANCES = json.loads((ZOO.parent / "tolerances.json").read_text())["fp32"]
CNNS = ["resnet", "mobilenetv2", "mobilenetv3"]


@pytest.fixture(scope="module")
def vulkan(kiln, tmp_path_factory):
    path = tmp_path_factory.mktemp("devices") / "d.json"
    res = kiln("devices", "--json", path)
    assert res.returncode == 0, res.describe()
    if not json.loads(path.read_text()).get("vulkan", {}).get("devices"):
        pytest.skip("no Vulkan device")
    return "vulkan"


@pytest.mark.parametrize("name", CNNS)
def test_cnn_runs_wholly_on_vulkan(kiln, vulkan, name, tmp_path):
    out = tmp_path / "out"
    res = kiln("run", ZOO / f"{name}.onnx", "--device", vulkan, "--inputs", ZOO / name / "inputs",
               "--output-dir", out, "--verbose", "--threads", "2")
    if "not available in this build" in res.stderr:
        pytest.skip("the Vulkan backend is not in this build")
    assert res.returncode == 0, res.describe()
    text = res.stdout + res.stderr
    m = re.search(r"placement: (\d+) of (\d+) nodes on vulkan", text)
    assert m, f"no placement line\n{res.describe()}"
    assert m.group(1) == m.group(2), f"{name}: only {m.group(0)}\n{res.describe()}"
    assert "runs on the CPU" not in text and "falls back to the CPU" not in text, res.describe()
    for ref_path in sorted((ZOO / name / "expected").glob("*.npy")):
        ref = np.load(ref_path)
        got = np.load(out / ref_path.name)
        assert got.shape == ref.shape and got.dtype == ref.dtype, ref_path.name
        err = float(np.max(np.abs(got.astype(np.float64) - ref)))
        assert err <= TOLERANCES[name], f"{name}/{ref_path.stem}: max abs error {err:.3g}"


@pytest.mark.parametrize("name", CNNS)
@pytest.mark.parametrize("batch", [1, 2])
def test_cnn_vulkan_matches_cpu(kiln, vulkan, name, batch, tmp_path):
    js = tmp_path / "compare.json"
    inputs = (["--inputs", ZOO / name / "inputs"] if batch == 1
              else ["--random", "--dim", f"batch={batch}", "--seed", "3"])
    res = kiln("compare", ZOO / f"{name}.onnx", "--device", vulkan, "--against", "cpu",
               *inputs, "--atol", "1e-4", "--rtol", "0", "--threads", "2", "--json", js)
    assert res.returncode == 0, res.describe()
    assert js.is_file(), res.describe()
