"""The dynamically quantized BERT of the model zoo (tests/models/zoo/bert_int8.onnx:
DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul, DequantizeLinear after uint8 Gathers) on
the OpenCL and Vulkan devices: every DynamicQuantizeLinear, MatMulInteger and DequantizeLinear
node runs on the device (none in `kiln run --verbose`'s list of CPU nodes, no warning about a
failed prepare), and `kiln compare --against cpu` agrees with kiln's CPU path within 1e-5 on the
committed inputs and on random inputs of another shape. Skipped visibly without the device.
KILN_BIN selects the binary (default <repo>/build/kiln); see conftest.py.
"""

import json
import re
from pathlib import Path

import pytest

ZOO = Path(__file__).resolve().parents[2] / "tests" / "models" / "zoo"
MODEL = ZOO / "bert_int8.onnx"
INT8_OPS = ("DynamicQuantizeLinear", "MatMulInteger", "DequantizeLinear")


@pytest.fixture(scope="module")
def devices(kiln, tmp_path_factory):
    path = tmp_path_factory.mktemp("devices") / "d.json"
    res = kiln("devices", "--json", path)
    assert res.returncode == 0, res.describe()
    return json.loads(path.read_text())


def device_or_skip(devices, kind):
    if not devices.get(kind, {}).get("devices"):
        pytest.skip(f"no {kind} device")
    return kind


@pytest.mark.parametrize("kind", ["opencl", "vulkan"])
def test_int8_ops_run_on_the_device(kiln, devices, kind):
    device = device_or_skip(devices, kind)
    res = kiln("run", MODEL, "--device", device, "--inputs", ZOO / "bert_int8" / "inputs",
               "--verbose", timeout=300)
    if kind == "vulkan" and "not available in this build" in res.stderr:
        pytest.skip("the Vulkan backend is not in this build")
    assert res.returncode == 0, res.describe()
    text = res.stdout + res.stderr
    assert "placement:" in text, res.describe()
    on_cpu = [line for line in text.splitlines()
              if line.strip().startswith("cpu:") and any(f"({op})" in line for op in INT8_OPS)]
    assert not on_cpu, "int8 nodes ran on the CPU:\n" + "\n".join(on_cpu)
    failed = [line for line in text.splitlines() if "falls back to the CPU" in line]
    assert not failed, "\n".join(failed)


@pytest.mark.parametrize("kind", ["opencl", "vulkan"])
@pytest.mark.parametrize("inputs", ["committed", "random_1x37"])
def test_int8_model_matches_cpu(kiln, devices, kind, inputs, tmp_path):
    device = device_or_skip(devices, kind)
    feed = (["--inputs", ZOO / "bert_int8" / "inputs"] if inputs == "committed" else
            ["--random", "--seed", "3", "--dim", "batch=1", "--dim", "sequence=37"])
    report = tmp_path / "cmp.json"
    res = kiln("compare", MODEL, "--device", device, "--against", "cpu", *feed, "--atol", "1e-5",
               "--rtol", "0", "--json", report, timeout=300)
    if kind == "vulkan" and "not available in this build" in res.stderr:
        pytest.skip("the Vulkan backend is not in this build")
    assert res.returncode == 0, res.describe()
    assert not re.search(r"falls back to the CPU", res.stderr), res.describe()
    assert json.loads(report.read_text())["ok"], res.describe()
