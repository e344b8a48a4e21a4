"""Hostile inputs to `kiln run`: each must be refused with exit code 1 (not a signal, not the
usage code 2), exactly one line on stderr that names the problem (the file, node, initializer,
input or feed), and no hang. `make asan` runs this file against the sanitizer build, where the
kiln fixture also fails a test on any sanitizer report."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

TIMEOUT = 60  # seconds; generous for the sanitizer build on a loaded 2-core machine
F = TensorProto.FLOAT


def model_bytes(nodes, inputs, outputs, inits=(), opset=13, extra_opsets=()):
    """Opset 13 models go through libonnx 1.12's checker in kiln; opset 21 ones (IR 10) are
    newer than it knows, so kiln's own import checks must catch the problem."""
    graph = helper.make_graph(nodes, "hostile", inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset),
                                                    *extra_opsets])
    model.ir_version = 8 if opset <= 17 else 10
    return model.SerializeToString()  # no checker: these models are broken on purpose


def vi(name, dtype, shape):
    return helper.make_tensor_value_info(name, dtype, shape)


def add_model(w_tensor, x_shape=(4,)):
    """y = x + w, with the initializer w given as a raw TensorProto."""
    return model_bytes([helper.make_node("Add", ["x", w_tensor.name], ["y"], name="add_node")],
                       [vi("x", F, list(x_shape))], [vi("y", F, list(x_shape))], [w_tensor])


def external_tensor(name, location, dims, length=None):
    t = TensorProto(name=name, data_type=F, dims=list(dims))
    t.data_location = TensorProto.EXTERNAL
    entries = [("location", location)] + ([("length", str(length))] if length else [])
    for key, value in entries:
        e = t.external_data.add()
        e.key, e.value = key, value
    return t


def assert_refused(res, *names):
    """Exit 1, one line on stderr, and that line names one of `names` (case-insensitive)."""
    assert res.returncode == 1, f"expected exit 1\n{res.describe()}"
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected exactly one line on stderr\n{res.describe()}"
    msg = lines[0].lower()
    assert any(n.lower() in msg for n in names), \
        f"the message should name one of {names}\n{res.describe()}"


@pytest.fixture
def refuse(kiln, device, tmp_path):
    """refuse(model_bytes_or_path, names, feeds={}, extra=[]) runs `kiln run` on the model with
    the feeds (written as .npy under tmp_path/inputs) and checks it is refused properly."""

    def run(model, names, feeds=None, extra=(), filename="model.onnx"):
        if isinstance(model, (bytes, bytearray)):
            path = tmp_path / filename
            path.write_bytes(model)
        else:
            path = model
        inputs = tmp_path / "inputs"
        inputs.mkdir(exist_ok=True)
        for name, value in (feeds or {}).items():
            np.save(inputs / f"{name}.npy", value)
        res = kiln("run", path, "--device", device, "--inputs", inputs,
                   "--output-dir", tmp_path / "out", *extra, timeout=TIMEOUT)
        assert_refused(res, *names)
        return res

    return run


# --- files that are not models -----------------------------------------------------------------

def test_missing_model_file(refuse, tmp_path):
    refuse(tmp_path / "no_such_model.onnx", ["no_such_model.onnx"])


def test_empty_file(refuse):
    refuse(b"", ["empty.onnx"], filename="empty.onnx")


def test_random_bytes(refuse):
    junk = np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    refuse(junk, ["random.onnx"], filename="random.onnx")


def test_truncated_model(refuse):
    w = numpy_helper.from_array(np.arange(1024, dtype=np.float32).reshape(256, 4), "w")
    full = add_model(w, x_shape=(256, 4))
    refuse(full[: len(full) * 3 // 5], ["truncated.onnx"], filename="truncated.onnx")


# --- broken graphs -----------------------------------------------------------------------------

OPSETS = pytest.mark.parametrize("opset", [13, 21], ids=["opset13", "opset21"])


@OPSETS
def test_graph_with_a_cycle(refuse, opset):
    m = model_bytes([helper.make_node("Relu", ["b"], ["a"], name="relu_a"),
                     helper.make_node("Relu", ["a"], ["b"], name="relu_b")],
                    [vi("x", F, [2])], [vi("b", F, [2])], opset=opset)
    refuse(m, ["cycle", "relu_a", "relu_b"], feeds={"x": np.zeros(2, np.float32)})


@OPSETS
def test_node_consumes_undefined_value(refuse, opset):
    m = model_bytes([helper.make_node("Add", ["x", "ghost_value"], ["y"], name="add_ghost")],
                    [vi("x", F, [2])], [vi("y", F, [2])], opset=opset)
    refuse(m, ["ghost_value"], feeds={"x": np.zeros(2, np.float32)})


@OPSETS
def test_unknown_op_in_unknown_domain(refuse, opset):
    m = model_bytes([helper.make_node("Frobnicate", ["x"], ["y"], name="frob",
                                      domain="com.example.nothing")],
                    [vi("x", F, [2])], [vi("y", F, [2])], opset=opset,
                    extra_opsets=[helper.make_opsetid("com.example.nothing", 1)])
    refuse(m, ["Frobnicate"], feeds={"x": np.zeros(2, np.float32)})


# --- initializers and external data ------------------------------------------------------------

def test_external_data_escaping_the_folder(refuse, tmp_path):
    (tmp_path / "x.bin").write_bytes(np.ones(4, np.float32).tobytes())  # exists: must not be read
    sub = tmp_path / "sub"
    sub.mkdir()
    path = sub / "model.onnx"
    path.write_bytes(add_model(external_tensor("w", "../x.bin", [4])))
    refuse(path, ["x.bin"], feeds={"x": np.zeros(4, np.float32)})


def test_external_data_absolute_path(refuse):
    refuse(add_model(external_tensor("w", "/etc/passwd", [4])), ["/etc/passwd"],
           feeds={"x": np.zeros(4, np.float32)})


def test_external_data_shorter_than_declared(refuse, tmp_path):
    (tmp_path / "short.bin").write_bytes(np.ones(2, np.float32).tobytes())  # 8 of 64 bytes
    refuse(add_model(external_tensor("w_short", "short.bin", [16]), x_shape=(16,)),
           ["short.bin", "w_short"], feeds={"x": np.zeros(16, np.float32)})


def test_external_data_length_beyond_file(refuse, tmp_path):
    (tmp_path / "short2.bin").write_bytes(np.ones(2, np.float32).tobytes())
    refuse(add_model(external_tensor("w_len", "short2.bin", [16], length=64), x_shape=(16,)),
           ["short2.bin", "w_len"], feeds={"x": np.zeros(16, np.float32)})


def test_raw_data_size_disagrees_with_dims(refuse):
    t = TensorProto(name="bad_raw", data_type=F, dims=[4, 4], raw_data=b"\0" * 10)
    refuse(add_model(t, x_shape=(4, 4)), ["bad_raw"], feeds={"x": np.zeros((4, 4), np.float32)})


def test_negative_dim_in_initializer(refuse):
    t = TensorProto(name="neg_dim", data_type=F, dims=[-1, 4], raw_data=b"\0" * 16)
    refuse(add_model(t, x_shape=(1, 4)), ["neg_dim"], feeds={"x": np.zeros((1, 4), np.float32)})


# --- failures at run time ----------------------------------------------------------------------

def test_gather_index_out_of_range(refuse):
    data = numpy_helper.from_array(np.ones((5, 4), np.float32), "table")
    m = model_bytes([helper.make_node("Gather", ["table", "idx"], ["y"], name="gather_node")],
                    [vi("idx", TensorProto.INT64, [3])], [vi("y", F, [3, 4])], [data])
    refuse(m, ["gather_node"], feeds={"idx": np.array([0, 7, 1], np.int64)})


def test_impossible_reshape(refuse):
    shape = numpy_helper.from_array(np.array([4, 4], np.int64), "new_shape")
    m = model_bytes([helper.make_node("Reshape", ["x", "new_shape"], ["y"], name="reshape_node")],
                    [vi("x", F, [2, 3])], [vi("y", F, [4, 4])], [shape])
    refuse(m, ["reshape_node"], feeds={"x": np.zeros((2, 3), np.float32)})


@pytest.mark.parametrize("dims", [[1 << 20, 1 << 20, 4],  # 2^42 floats: 16 TiB
                                  [1 << 40, 1 << 40]],   # element count overflows int64
                         ids=["16TiB", "overflow"])
def test_constant_of_shape_terabytes(refuse, dims):
    shape = numpy_helper.from_array(np.array(dims, np.int64), "huge_shape")
    m = model_bytes([helper.make_node("ConstantOfShape", ["huge_shape"], ["y"], name="huge_node"),
                     helper.make_node("Add", ["y", "x"], ["z"], name="add_node")],
                    [vi("x", F, [1])], [vi("z", F, [None] * len(dims))], [shape])
    refuse(m, ["huge_node", "huge_shape"], feeds={"x": np.zeros(1, np.float32)})


# --- feeds -------------------------------------------------------------------------------------

def two_input_model():
    return model_bytes([helper.make_node("Add", ["features", "bias_in"], ["y"], name="add_node")],
                       [vi("features", F, [2, 3]), vi("bias_in", F, [2, 3])],
                       [vi("y", F, [2, 3])])


def test_feed_of_wrong_dtype(refuse):
    refuse(two_input_model(), ["features"],
           feeds={"features": np.zeros((2, 3), np.int64), "bias_in": np.zeros((2, 3), np.float32)})


def test_feed_of_wrong_rank(refuse):
    refuse(two_input_model(), ["features"],
           feeds={"features": np.zeros((2, 3, 1), np.float32),
                  "bias_in": np.zeros((2, 3), np.float32)})


def test_feed_of_wrong_dim(refuse):
    refuse(two_input_model(), ["features"],
           feeds={"features": np.zeros((2, 4), np.float32),
                  "bias_in": np.zeros((2, 3), np.float32)})


def test_missing_input(refuse):
    refuse(two_input_model(), ["bias_in"], feeds={"features": np.zeros((2, 3), np.float32)})


def test_feed_file_not_npy(refuse, tmp_path):
    bad = tmp_path / "garbage.npy"
    bad.write_bytes(b"\x93NUMPY\x01\x00\xff\xff{'descr': '<f4', 'fortran_order': False")
    refuse(two_input_model(), ["garbage.npy"],
           feeds={"bias_in": np.zeros((2, 3), np.float32)},
           extra=["--input", f"features={bad}"])
