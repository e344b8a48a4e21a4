"""`kiln optimize IN OUT`: the written model passes the onnx checker, loads in onnxruntime and gives
onnxruntime's outputs on the input model (1e-5), at every level; usage and file errors."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

LEVELS = [0, 1, 2, 99]
ATOL = 1e-5


def ort_outputs(path, feeds):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return names, sess.run(names, feeds)


def model_with(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    return m


def const(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def f32(shape):
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


def cleanup_model():
    """Identity / Dropout / redundant Casts, Transposes, Squeeze pairs; an Identity output."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3, 4])
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, [4, 3, "batch"])
    nodes = [
        helper.make_node("Identity", ["x"], ["a"]),
        helper.make_node("Dropout", ["a"], ["b"]),
        helper.make_node("Cast", ["b"], ["c"], to=TensorProto.DOUBLE),
        helper.make_node("Cast", ["c"], ["d"], to=TensorProto.FLOAT),
        helper.make_node("Transpose", ["d"], ["t1"], perm=[0, 2, 1]),
        helper.make_node("Transpose", ["t1"], ["t2"], perm=[0, 2, 1]),
        helper.make_node("Unsqueeze", ["t2", "ax"], ["u"]),
        helper.make_node("Squeeze", ["u", "ax"], ["q"]),
        helper.make_node("Relu", ["q"], ["r"]),
        helper.make_node("Identity", ["r"], ["y"]),
        helper.make_node("Transpose", ["r"], ["z"], perm=[2, 1, 0]),
    ]
    m = model_with(nodes, [x], [y, z], [const("ax", np.array([1], np.int64))])
    return m, {"x": f32((2, 3, 4))}


def shape_model():
    """Shape -> Gather / Slice -> Concat -> Reshape with a symbolic batch, and MatMul + Add."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4, 6])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 24])
    w2 = helper.make_tensor_value_info("w2", TensorProto.FLOAT, [3, 5])
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "i0"], ["d0"], axis=0),
        helper.make_node("Slice", ["s", "st", "en"], ["tail"]),
        helper.make_node("ReduceProd", ["tail"], ["prod"], keepdims=1),
        helper.make_node("Unsqueeze", ["d0", "ax"], ["d0u"]),
        helper.make_node("Concat", ["d0u", "prod"], ["shp"], axis=0),
        helper.make_node("Reshape", ["x", "shp"], ["y"]),
        # Constant chain, then a 2-D MatMul + bias -> Gemm.
        helper.make_node("Constant", [], ["k"], value=const("kv", f32((3, 4)))),
        helper.make_node("Add", ["k", "k"], ["k2"]),
        helper.make_node("MatMul", ["k2", "w"], ["mm"]),
        helper.make_node("Add", ["mm", "m_in"], ["mr"]),
        helper.make_node("MatMul", ["mr", "w5"], ["mm2"]),
        helper.make_node("Add", ["mm2", "b"], ["w2"]),
    ]
    inits = [const("i0", np.array(0, np.int64)), const("st", np.array([1], np.int64)),
             const("en", np.array([3], np.int64)), const("ax", np.array([0], np.int64)),
             const("w", f32((4, 4))), const("w5", f32((4, 5))), const("b", f32((5,)))]
    xin = helper.make_tensor_value_info("m_in", TensorProto.FLOAT, [3, 4])
    m = model_with(nodes, [x, xin], [y, w2], inits)
    return m, {"x": f32((2, 4, 6)), "m_in": f32((3, 4))}


@pytest.fixture(scope="module")
def example(repo_root):
    d = repo_root / "tests" / "models" / "example"
    feeds = {n: np.load(d / "inputs" / f"{n}.npy") for n in ["input_ids", "attention_mask"]}
    return d / "encoder.onnx", feeds


def check_optimized(kiln, src, feeds, tmp_path, level):
    out = tmp_path / f"opt{level}.onnx"
    js = tmp_path / f"opt{level}.json"
    res = kiln("optimize", src, out, "--level", level, "--json", js)
    assert res.returncode == 0, res.describe()
    assert "nodes:" in res.stdout and "passes:" in res.stdout, res.stdout
    if level <= 1:
        # Level-2 fusions may use ops onnxruntime knows at any opset but the onnx schemas only
        # from a later one (LayerNormalization in a model of opset < 17).
        onnx.checker.check_model(str(out), full_check=True)
    names, want = ort_outputs(src, feeds)
    got_names, got = ort_outputs(out, feeds)
    assert got_names == names
    for n, a, b in zip(names, got, want):
        assert a.dtype == b.dtype and a.shape == b.shape, n
        np.testing.assert_allclose(a, b, rtol=0, atol=ATOL, err_msg=n)
    report = json.loads(js.read_text())
    assert report["level"] == level
    assert report["nodes_after"] == len(onnx.load(str(out)).graph.node)
    return report, onnx.load(str(out))


@pytest.mark.parametrize("level", LEVELS)
def test_example_encoder(kiln, example, tmp_path, level):
    src, feeds = example
    report, _ = check_optimized(kiln, src, feeds, tmp_path, level)
    assert report["nodes_before"] == 144
    if level == 0:
        assert report["nodes_after"] == 144 and report["counts"] == {}
    else:
        assert report["nodes_after"] < 144
        assert report["counts"].get("identity_removed") == 1


@pytest.mark.parametrize("level", LEVELS)
def test_small_models(kiln, tmp_path, level):
    for make in (cleanup_model, shape_model):
        model, feeds = make()
        src = tmp_path / f"{make.__name__}.onnx"
        onnx.save(model, str(src))
        report, out = check_optimized(kiln, src, feeds, tmp_path, level)
        outputs = [o.name for o in out.graph.output]
        assert outputs == [o.name for o in model.graph.output]
        ops = [n.op_type for n in out.graph.node]
        if level == 0:
            assert len(ops) == len(model.graph.node)
        elif make is cleanup_model:
            assert ops == ["Relu", "Transpose"], ops
        else:
            assert "Gemm" in ops and "Constant" not in ops and "Slice" not in ops, ops


def test_errors(kiln, example, tmp_path):
    src, _ = example
    res = kiln("optimize", src, tmp_path / "o.onnx", "--level", "3")
    assert res.returncode == 2, res.describe()
    assert "--level" in res.stderr
    res = kiln("optimize", src, tmp_path / "o.onnx", "--level", "x")
    assert res.returncode == 2, res.describe()
    res = kiln("optimize", src)
    assert res.returncode == 2, res.describe()
    missing = tmp_path / "missing.onnx"
    res = kiln("optimize", missing, tmp_path / "o.onnx")
    assert res.returncode == 1, res.describe()
    assert str(missing) in res.stderr
    bad_out = tmp_path / "no" / "dir" / "o.onnx"
    res = kiln("optimize", src, bad_out)
    assert res.returncode == 1, res.describe()
    assert str(tmp_path / "no" / "dir") in res.stderr
    res = kiln("optimize", "--help")
    assert res.returncode == 0 and "usage: kiln optimize" in res.stdout
