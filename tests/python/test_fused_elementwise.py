"""ai.kiln FusedElementwise (graph/passes/elementwise_chain_fusion.cpp): at --level 99 a Session
fuses chains of float32 elementwise ops into one kernel on cpu, opencl and vulkan. The outputs
must equal those of --level 1 within 1e-5 (the CPU kernel is bit-equal to the unfused ops; other
level-99 fusions such as FusedConv change the rounding a little), the fused node must run on the
device (no CPU fallback), and `kiln optimize` must never write the kiln-internal op (its file is
for other runtimes: onnxruntime loads it)."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

TOL = 1e-5
DEVICES = ["cpu", "opencl", "vulkan"]


def chains_model(path, n):
    """x [2, n] and y [n]: hard-swish spelled as Add/Clip/Div/Mul, then a tree
    Sigmoid(h + b) * Tanh(y) - 0.5 with a constant row b, and x * Erf(x / sqrt 2) as a
    GELU-like chain on a second output."""
    rng = np.random.default_rng(11)
    inits = [numpy_helper.from_array(np.array(v, np.float32), k)
             for k, v in (("three", 3.0), ("zero", 0.0), ("six", 6.0), ("half", 0.5),
                          ("sq2", 1.4142135))]
    inits.append(numpy_helper.from_array(rng.uniform(-1, 1, (n,)).astype(np.float32), "b"))
    nodes = [
        helper.make_node("Add", ["x", "three"], ["a"]),
        helper.make_node("Clip", ["a", "zero", "six"], ["c"]),
        helper.make_node("Div", ["c", "six"], ["d"]),
        helper.make_node("Mul", ["x", "d"], ["h"]),
        helper.make_node("Add", ["h", "b"], ["hb"]),
        helper.make_node("Sigmoid", ["hb"], ["s"]),
        helper.make_node("Tanh", ["y"], ["t"]),
        helper.make_node("Mul", ["s", "t"], ["st"]),
        helper.make_node("Sub", ["st", "half"], ["out"]),
        helper.make_node("Div", ["x", "sq2"], ["xs"]),
        helper.make_node("Erf", ["xs"], ["e"]),
        helper.make_node("Mul", ["x", "e"], ["g"]),
    ]
    f = TensorProto.FLOAT
    graph = helper.make_graph(
        nodes, "chains",
        [helper.make_tensor_value_info("x", f, [2, n]), helper.make_tensor_value_info("y", f, [n])],
        [helper.make_tensor_value_info("out", f, [2, n]), helper.make_tensor_value_info("g", f, [2, n])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


def run_levels(kiln, src, inputs, tmp_path, dev, monkeypatch):
    monkeypatch.setenv("KILN_LOG_LEVEL", "info")
    outs, logs = {}, {}
    for level in (1, 99):
        outdir = tmp_path / f"{dev}_l{level}"
        res = kiln("run", src, "--inputs", inputs, "--output-dir", outdir, "--level", level,
                   "--device", dev)
        assert res.returncode == 0, res.describe()
        outs[level] = {p.stem: np.load(p) for p in sorted(outdir.glob("*.npy"))}
        logs[level] = res.stderr
    return outs, logs


@pytest.mark.parametrize("dev", DEVICES)
@pytest.mark.parametrize("n", [1, 13, 127])
def test_chains_fuse_and_match_level1(kiln, tmp_path, monkeypatch, dev, n):
    src = tmp_path / "chains.onnx"
    chains_model(src, n)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    rng = np.random.default_rng(n)
    np.save(inputs / "x.npy", rng.uniform(-5, 5, (2, n)).astype(np.float32))
    np.save(inputs / "y.npy", rng.uniform(-2, 2, (n,)).astype(np.float32))
    outs, logs = run_levels(kiln, src, inputs, tmp_path, dev, monkeypatch)
    # Two trees: hard-swish + the Sigmoid/Tanh tree (one node, 9 ops), and the Erf chain.
    assert "FusedElementwise: 2" in logs[99], logs[99]
    assert "elementwise_nodes_fused: 12" in logs[99], logs[99]
    for line in logs[99].splitlines():
        assert not ("runs on the CPU" in line and "FusedElementwise" in line), line
    assert outs[1].keys() == outs[99].keys() == {"out", "g"}
    for k in outs[1]:
        err = float(np.abs(outs[99][k].astype(np.float64) - outs[1][k]).max())
        # The CPU evaluates the same reference formulas in one kernel: bit-equal.
        assert err <= (0.0 if dev == "cpu" else TOL), (k, err)


def zoo_model(repo_root, name):
    src = Path(repo_root) / "tests" / "models" / "zoo" / f"{name}.onnx"
    if not src.is_file():
        pytest.skip(f"{src} not in this checkout")
    return src


# resnet: residual Add + Relu; mobilenetv3: the squeeze-excite HardSigmoid + Mul (on the CPU the
# HardSigmoid joins its Conv as FusedConv first, so nothing is left to chain there).
@pytest.mark.parametrize("dev", DEVICES)
@pytest.mark.parametrize("name", ["resnet", "mobilenetv3"])
def test_zoo_model_level99_equals_level1(kiln, repo_root, tmp_path, monkeypatch, dev, name):
    src = zoo_model(repo_root, name)
    inputs = src.parent / name / "inputs"
    outs, logs = run_levels(kiln, src, inputs, tmp_path, dev, monkeypatch)
    if dev == "cpu" and name == "mobilenetv3":
        assert "FusedConv" in logs[99] and "FusedElementwise" not in logs[99], logs[99]
    else:
        assert "FusedElementwise" in logs[99], logs[99]
    for line in logs[99].splitlines():
        assert not ("runs on the CPU" in line and "FusedElementwise" in line), line
    assert outs[1].keys() == outs[99].keys() and outs[1]
    for k, v in outs[1].items():
        err = float(np.abs(outs[99][k].astype(np.float64) - v).max())
        assert err <= TOL, (k, err)


@pytest.mark.parametrize("dev", DEVICES)
def test_optimize_never_writes_the_internal_op(kiln, tmp_path, dev):
    ort = pytest.importorskip("onnxruntime")
    src = tmp_path / "chains.onnx"
    chains_model(src, 13)
    out = tmp_path / "opt.onnx"
    res = kiln("optimize", src, out, "--level", 99, "--device", dev, "--quiet")
    assert res.returncode == 0, res.describe()
    model = onnx.load(str(out))
    assert all(n.domain != "ai.kiln" for n in model.graph.node)
    assert all(o.domain != "ai.kiln" for o in model.opset_import)
    ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
