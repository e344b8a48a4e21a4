"""Common op patterns, each as a small model built with onnx.helper, run through
`kiln run --inputs` and compared to onnxruntime on random inputs of odd sizes (1, 13, 127).
Each test states its tolerance (absolute + relative, as numpy.allclose)."""

import zlib

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

SIZES = [1, 13, 127]
F = TensorProto.FLOAT
I64 = TensorProto.INT64


def make_model(nodes, inputs, outputs, inits=(), opset=13):
    graph = helper.make_graph(nodes, "g", inputs, outputs, [
        numpy_helper.from_array(np.asarray(v), k) for k, v in dict(inits).items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8 if opset <= 17 else 9
    onnx.checker.check_model(model, full_check=True)
    return model


def vi(name, dtype, shape):
    """A value_info; `shape` may be a rank only (dims left unknown)."""
    if isinstance(shape, int):
        shape = [None] * shape
    return helper.make_tensor_value_info(name, dtype, shape)


def check(run_model, tmp_path, model, feeds, atol, rtol=0.0, exact=()):
    """Runs `model` in kiln and onnxruntime and compares every output: names in `exact` must
    be equal, the rest within atol + rtol * |expected|. Dtypes and shapes must match."""
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    names = [o.name for o in model.graph.output]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = dict(zip(names, sess.run(names, feeds)))
    got = run_model(path, feeds, tmp_path, output_names=names)
    for name in names:
        g, w = got[name], want[name]
        assert g.dtype == w.dtype, f"{name}: dtype {g.dtype}, onnxruntime {w.dtype}"
        assert g.shape == w.shape, f"{name}: shape {g.shape}, onnxruntime {w.shape}"
        if name in exact or not np.issubdtype(w.dtype, np.floating):
            assert np.array_equal(g, w), f"{name}: differs from onnxruntime\n{g}\n{w}"
        else:
            g64, w64 = g.astype(np.float64), w.astype(np.float64)
            err = np.abs(g64 - w64) - (atol + rtol * np.abs(w64))
            worst = np.unravel_index(np.argmax(err), err.shape) if err.size else ()
            assert err.size == 0 or err.max() <= 0, (
                f"{name}: at {worst} kiln {g[worst]} vs onnxruntime {w[worst]} "
                f"(atol {atol}, rtol {rtol})")


def randn(rng, *shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


@pytest.fixture
def rng(request):
    return np.random.default_rng(zlib.crc32(request.node.name.encode()))


# Tolerance: float32 dot products of length 13-127, accumulated in a different order than
# onnxruntime's MLAS: 1e-4 absolute + 1e-4 relative.
@pytest.mark.parametrize("n", SIZES)
def test_matmul_add(run_model, tmp_path, rng, n):
    k, m = 13, 127
    model = make_model(
        [helper.make_node("MatMul", ["x", "w"], ["mm"]),
         helper.make_node("Add", ["mm", "b"], ["y"])],
        [vi("x", F, [2, n, k])], [vi("y", F, [2, n, m])],
        {"w": randn(rng, k, m), "b": randn(rng, m)})
    check(run_model, tmp_path, model, {"x": randn(rng, 2, n, k)}, atol=1e-4, rtol=1e-4)


# Tolerance: exp and a sum over the axis: 1e-6 absolute + 1e-5 relative.
@pytest.mark.parametrize("n", SIZES)
def test_softmax(run_model, tmp_path, rng, n):
    model = make_model([helper.make_node("Softmax", ["x"], ["y"], axis=-1)],
                       [vi("x", F, [3, n])], [vi("y", F, [3, n])])
    check(run_model, tmp_path, model, {"x": randn(rng, 3, n) * 4}, atol=1e-6, rtol=1e-5)


# Tolerance: mean and variance over up to 127 values: 1e-5 absolute + 1e-5 relative.
@pytest.mark.parametrize("n", SIZES)
def test_layer_normalization_opset17(run_model, tmp_path, rng, n):
    model = make_model(
        [helper.make_node("LayerNormalization", ["x", "g", "b"], ["y"], axis=-1, epsilon=1e-5)],
        [vi("x", F, [2, 5, n])], [vi("y", F, [2, 5, n])],
        {"g": randn(rng, n), "b": randn(rng, n)}, opset=17)
    check(run_model, tmp_path, model, {"x": randn(rng, 2, 5, n) * 3 + 1}, atol=1e-5, rtol=1e-5)


# Tolerance: a copy, so exact.
@pytest.mark.parametrize("n", SIZES)
def test_gather(run_model, tmp_path, rng, n):
    data = randn(rng, n, 13)
    idx = rng.integers(-n, n, size=(4, 7), dtype=np.int64)  # negative indices count from the end
    model = make_model([helper.make_node("Gather", ["data", "idx"], ["y"], axis=0)],
                       [vi("idx", I64, [4, 7])], [vi("y", F, [4, 7, 13])], {"data": data})
    check(run_model, tmp_path, model, {"idx": idx}, atol=0, exact=("y",))


# Tolerance: data movement only, so exact.
@pytest.mark.parametrize("n", SIZES)
def test_reshape_transpose(run_model, tmp_path, rng, n):
    model = make_model(
        [helper.make_node("Reshape", ["x", "shape"], ["r"]),
         helper.make_node("Transpose", ["r"], ["y"], perm=[2, 0, 3, 1])],
        [vi("x", F, [n, 12, 13])], [vi("y", F, [3, n, 13, 4])],
        {"shape": np.array([0, 4, 3, -1], np.int64)})
    check(run_model, tmp_path, model, {"x": randn(rng, n, 12, 13)}, atol=0, exact=("y",))


# Tolerance: sums of 3*3*3 = 27 products: 1e-5 absolute + 1e-5 relative.
@pytest.mark.parametrize("n", SIZES)
def test_conv_relu(run_model, tmp_path, rng, n):
    model = make_model(
        [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                          strides=[1, 2]),
         helper.make_node("Relu", ["c"], ["y"])],
        [vi("x", F, [1, 3, n, 13])], [vi("y", F, 4)],
        {"w": randn(rng, 8, 3, 3, 3), "b": randn(rng, 8)})
    check(run_model, tmp_path, model, {"x": randn(rng, 1, 3, n, 13)}, atol=1e-5, rtol=1e-5)


# Tolerance: a mean of up to 127 values: 1e-6 absolute + 1e-5 relative.
@pytest.mark.parametrize("n", SIZES)
def test_reduce_mean(run_model, tmp_path, rng, n):
    model = make_model(
        [helper.make_node("ReduceMean", ["x"], ["y"], axes=[1], keepdims=0),
         helper.make_node("ReduceMean", ["x"], ["z"], axes=[0, 2], keepdims=1)],
        [vi("x", F, [5, n, 7])], [vi("y", F, [5, 7]), vi("z", F, [1, n, 1])])
    check(run_model, tmp_path, model, {"x": randn(rng, 5, n, 7)}, atol=1e-6, rtol=1e-5)


# Tolerance: selection only, so exact.
@pytest.mark.parametrize("n", SIZES)
def test_where_broadcast(run_model, tmp_path, rng, n):
    model = make_model([helper.make_node("Where", ["c", "a", "b"], ["y"])],
                       [vi("c", TensorProto.BOOL, [n, 1]), vi("a", F, [1, 13]),
                        vi("b", F, [n, 13])], [vi("y", F, [n, 13])])
    feeds = {"c": rng.random((n, 1)) < 0.5, "a": randn(rng, 1, 13), "b": randn(rng, n, 13)}
    check(run_model, tmp_path, model, feeds, atol=0, exact=("y",))


# Tolerance: float -> float16 rounds to nearest even, float -> int32 truncates toward zero,
# int64 -> float is exact for these values: all exact.
@pytest.mark.parametrize("n", SIZES)
def test_cast(run_model, tmp_path, rng, n):
    model = make_model(
        [helper.make_node("Cast", ["x"], ["h"], to=TensorProto.FLOAT16),
         helper.make_node("Cast", ["x"], ["i"], to=TensorProto.INT32),
         helper.make_node("Cast", ["k"], ["f"], to=TensorProto.FLOAT)],
        [vi("x", F, [n, 13]), vi("k", I64, [n])],
        [vi("h", TensorProto.FLOAT16, [n, 13]), vi("i", TensorProto.INT32, [n, 13]),
         vi("f", F, [n])])
    feeds = {"x": randn(rng, n, 13) * 100, "k": rng.integers(-2**20, 2**20, n, dtype=np.int64)}
    check(run_model, tmp_path, model, feeds, atol=0, exact=("h", "i", "f"))


# Tolerance: data movement only, so exact.
@pytest.mark.parametrize("n", SIZES)
def test_concat_slice(run_model, tmp_path, rng, n):
    model = make_model(
        [helper.make_node("Concat", ["a", "b"], ["c"], axis=1),
         helper.make_node("Slice", ["c", "starts", "ends", "axes", "steps"], ["y"])],
        [vi("a", F, [n, 13]), vi("b", F, [n, 4])], [vi("y", F, 2)],
        {"starts": np.array([-1, 1], np.int64), "ends": np.array([-2**62, 100], np.int64),
         "axes": np.array([0, 1], np.int64), "steps": np.array([-1, 3], np.int64)})
    check(run_model, tmp_path, model, {"a": randn(rng, n, 13), "b": randn(rng, n, 4)}, atol=0,
          exact=("y",))


# Tolerance: bilinear weights computed in float: 1e-5 absolute + 1e-5 relative; nearest exact.
@pytest.mark.parametrize("n", SIZES)
def test_resize(run_model, tmp_path, rng, n):
    model = make_model(
        [helper.make_node("Resize", ["x", "", "scales"], ["up"], mode="nearest",
                          coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
         helper.make_node("Resize", ["x", "", "", "sizes"], ["lin"], mode="linear",
                          coordinate_transformation_mode="half_pixel")],
        [vi("x", F, [1, 2, n, 13])], [vi("up", F, 4), vi("lin", F, 4)],
        {"scales": np.array([1, 1, 2, 3], np.float32),
         "sizes": np.array([1, 2, 2 * n + 1, 7], np.int64)})
    check(run_model, tmp_path, model, {"x": randn(rng, 1, 2, n, 13)}, atol=1e-5, rtol=1e-5,
          exact=("up",))


# Tolerance: selection only, so values and indices exact (random floats: no ties).
@pytest.mark.parametrize("n", SIZES)
def test_topk(run_model, tmp_path, rng, n):
    k = min(n, 5)
    model = make_model(
        [helper.make_node("TopK", ["x", "k"], ["v", "i"], axis=-1, largest=1, sorted=1),
         helper.make_node("TopK", ["x", "k"], ["sv", "si"], axis=0, largest=0, sorted=1)],
        [vi("x", F, [n, n])],
        [vi("v", F, 2), vi("i", I64, 2), vi("sv", F, 2), vi("si", I64, 2)],
        {"k": np.array([k], np.int64)})
    check(run_model, tmp_path, model, {"x": randn(rng, n, n)}, atol=0,
          exact=("v", "i", "sv", "si"))
