"""Level-99 fusions (graph/passes/all_passes.h) on the zoo models: `kiln run --level 99` must give
the outputs of `--level 1` within 1e-5 on every backend, `kiln optimize --level 99` must report
what it fused, and on OpenCL and Vulkan the level-99 graph holds only ops those devices run
(FusedConv, which they do not have, is never written for them; MatMulIntegerToFloat and
DynamicQuantizeMatMul run there without falling back to the CPU)."""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

TOL = 1e-5
FUSED = ("FusedConv", "MatMulIntegerToFloat", "DynamicQuantizeMatMul")

# (model, device) pairs; the CNNs on the devices cost a kernel build each, so two models there.
CASES = [(m, "cpu") for m in ("resnet", "mobilenetv2", "mobilenetv3", "bert_int8")] + [
    (m, d) for m in ("mobilenetv2", "bert_int8") for d in ("opencl", "vulkan")]


def zoo(repo_root):
    return Path(repo_root) / "tests" / "models" / "zoo"


def load_npys(folder):
    return {p.stem: np.load(p) for p in sorted(Path(folder).glob("*.npy"))}


def model_or_skip(repo_root, name):
    src = zoo(repo_root) / f"{name}.onnx"
    if not src.is_file():
        pytest.skip(f"{src} not in this checkout")
    return src


@pytest.mark.parametrize("name,dev", CASES)
def test_level99_equals_level1(kiln, repo_root, tmp_path, monkeypatch, name, dev):
    src = model_or_skip(repo_root, name)
    monkeypatch.setenv("KILN_LOG_LEVEL", "info")
    outs = {}
    for level in (1, 99):
        outdir = tmp_path / f"l{level}"
        res = kiln("run", src, "--inputs", zoo(repo_root) / name / "inputs", "--output-dir", outdir,
                   "--level", level, "--device", dev)
        assert res.returncode == 0, res.describe()
        if dev != "cpu" and level == 99:
            # The fused ops run on the device: no fallback names them.
            for line in res.stderr.splitlines():
                if "runs on the CPU" in line:
                    assert all(op not in line for op in FUSED), line
        outs[level] = load_npys(outdir)
    assert outs[1].keys() == outs[99].keys() and outs[1]
    for k, v in outs[1].items():
        err = float(np.abs(outs[99][k].astype(np.float64) - v).max())
        assert err <= TOL, (k, err)


def test_optimize_reports_the_quantized_matmul_fusions(kiln, repo_root, tmp_path):
    src = model_or_skip(repo_root, "bert_int8")
    out, js = tmp_path / "opt.onnx", tmp_path / "opt.json"
    res = kiln("optimize", src, out, "--level", 99, "--json", js, "--quiet")
    assert res.returncode == 0, res.describe()
    ops = [n.op_type for n in onnx.load(str(out)).graph.node]
    had = [n.op_type for n in onnx.load(str(src)).graph.node].count("MatMulInteger")
    assert had == 13
    assert "MatMulInteger" not in ops
    # Two layers x (attention output, FFN in, FFN out) + the pooler quantize their activation for
    # one MatMul: DynamicQuantizeMatMul. Q, K and V share theirs: MatMulIntegerToFloat.
    assert ops.count("DynamicQuantizeMatMul") == 7 and ops.count("MatMulIntegerToFloat") == 6
    assert ops.count("DynamicQuantizeLinear") == 2
    counts = json.loads(js.read_text())["counts"]
    assert counts["DynamicQuantizeMatMul"] == 7 and counts["MatMulIntegerToFloat"] == 6


@pytest.mark.parametrize("dev", ["opencl", "vulkan"])
def test_no_fused_conv_for_the_devices(kiln, repo_root, tmp_path, dev):
    src = model_or_skip(repo_root, "mobilenetv2")
    out, js = tmp_path / "opt.onnx", tmp_path / "opt.json"
    res = kiln("optimize", src, out, "--level", 99, "--device", dev, "--json", js, "--quiet")
    assert res.returncode == 0, res.describe()
    assert all(n.op_type != "FusedConv" for n in onnx.load(str(out)).graph.node)
    assert "FusedConv" not in json.loads(js.read_text())["counts"]


def conv_bn_model(path):
    """X [1, 3, 13, 13] -> Conv -> BatchNormalization -> Relu -> grouped Conv (no bias) ->
    BatchNormalization -> Clip(0, 6): the zoo CNNs come with their BN already folded."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)

    def init(name, *shape, lo=-1.0, hi=1.0):
        return numpy_helper.from_array(rng.uniform(lo, hi, shape).astype(np.float32), name)

    inits = [init("w1", 13, 3, 3, 3), init("b1", 13), init("w2", 13, 1, 3, 3),
             helper.make_tensor("lo", TensorProto.FLOAT, [], [0.0]),
             helper.make_tensor("hi", TensorProto.FLOAT, [], [6.0])]
    for i in (1, 2):
        inits += [init(f"s{i}", 13, lo=0.5, hi=2.0), init(f"t{i}", 13), init(f"m{i}", 13),
                  init(f"v{i}", 13, lo=0.1, hi=3.0)]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "s1", "t1", "m1", "v1"], ["n1"],
                         epsilon=1e-3),
        helper.make_node("Relu", ["n1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], group=13, strides=[2, 2]),
        helper.make_node("BatchNormalization", ["c2", "s2", "t2", "m2", "v2"], ["n2"]),
        helper.make_node("Clip", ["n2", "lo", "hi"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "conv_bn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 13, 13])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 13, 6, 6])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    model.ir_version = 8
    onnx.save(model, str(path))


@pytest.mark.parametrize("dev", ["cpu", "opencl", "vulkan"])
def test_conv_bn_folding(kiln, tmp_path, dev):
    src = tmp_path / "conv_bn.onnx"
    conv_bn_model(src)
    out, js = tmp_path / "opt.onnx", tmp_path / "opt.json"
    res = kiln("optimize", src, out, "--level", 99, "--device", dev, "--json", js, "--quiet")
    assert res.returncode == 0, res.describe()
    ops = [n.op_type for n in onnx.load(str(out)).graph.node]
    assert "BatchNormalization" not in ops
    assert json.loads(js.read_text())["counts"]["ConvBatchNormalization"] == 2
    if dev != "cpu":
        assert "FusedConv" not in ops
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    np.save(inputs / "x.npy", np.random.default_rng(5).uniform(-2, 2, (1, 3, 13, 13))
            .astype(np.float32))
    outs = {}
    for level in (1, 99):
        res = kiln("run", src, "--inputs", inputs, "--output-dir", tmp_path / f"l{level}",
                   "--level", level, "--device", dev, "--quiet")
        assert res.returncode == 0, res.describe()
        outs[level] = np.load(tmp_path / f"l{level}" / "y.npy")
    assert outs[1].shape == outs[99].shape == (1, 13, 6, 6)
    assert float(np.abs(outs[1] - outs[99]).max()) <= TOL
