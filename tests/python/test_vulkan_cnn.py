"""The CNN zoo models (tests/models/zoo: resnet, mobilenetv2, mobilenetv3) on Vulkan: every node
runs on the Vulkan device (no CPU fallback: Conv, MaxPool, GlobalAveragePool... have Vulkan
kernels, runtime/vulkan/ops_conv.cpp and ops_pool.cpp), the outputs reproduce the committed
onnxruntime outputs within the zoo tolerance, and `kiln compare --device vulkan --against cpu`
agrees with kiln's CPU path within 1e-4 at batch 1 (committed inputs) and batch 2 (random);
and one-node models with bad nn attributes or shapes fail with an error naming the node.
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


def _one_node_model(path, op, x_shape, attrs, inits=()):
    import onnx
    from onnx import TensorProto, helper
    inputs = ["x"] + [name for name, _ in inits]
    node = helper.make_node(op, inputs, ["y"], name="bad_node", **attrs)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [onnx.numpy_helper.from_array(arr, name) for name, arr in inits])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path)


HOSTILE = {
    "conv_group_mismatch": ("Conv", [1, 4, 5, 5], {"group": 3},
                            [("w", np.ones((3, 1, 3, 3), np.float32))]),
    "conv_negative_pads": ("Conv", [1, 2, 5, 5], {"pads": [-1, 0, 0, 0]},
                           [("w", np.ones((3, 2, 3, 3), np.float32))]),
    "conv_zero_stride": ("Conv", [1, 2, 5, 5], {"strides": [0, 1]},
                         [("w", np.ones((3, 2, 3, 3), np.float32))]),
    "maxpool_no_kernel_shape": ("MaxPool", [1, 2, 5, 5], {}, []),
    "avgpool_pad_ge_kernel": ("AveragePool", [1, 2, 5, 5],
                              {"kernel_shape": [2, 2], "pads": [2, 2, 2, 2]}, []),
    "batchnorm_wrong_param_shape": ("BatchNormalization", [1, 3, 4, 4], {},
                                    [(n, np.ones((2,), np.float32))
                                     for n in ("s", "b", "m", "v")]),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_bad_nn_nodes_give_a_clear_error(kiln, vulkan, case, tmp_path):
    """Invalid attributes or shapes: Vulkan's supports() says no, the CPU reports an error that
    names the node; never a crash (the kiln fixture fails on signals and sanitizer reports)."""
    op, x_shape, attrs, inits = HOSTILE[case]
    model = tmp_path / "bad.onnx"
    _one_node_model(model, op, x_shape, attrs, inits)
    res = kiln("run", model, "--device", vulkan, "--random", "--quiet")
    assert res.returncode != 0, res.describe()
    assert "bad_node" in res.stderr, res.describe()
