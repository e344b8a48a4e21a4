"""The kiln command line: `kiln run`, `kiln info` and `kiln devices` on small models built here
with the onnx package. Checks printed summaries, exit codes (0 ok, 1 failure, 2 usage), --json
content, --inputs DIR, --random with --dim, and refusals that name the input or file.

KILN_BIN selects the binary (default <repo>/build/kiln); see conftest.py.
"""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT
I64 = TensorProto.INT64


def save_model(path, nodes, inputs, outputs, inits=(), opset=17, extra_opsets=(), check=True):
    graph = helper.make_graph(nodes, "cli_test", inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset),
                                                    *extra_opsets],
                              producer_name="kiln-tests", producer_version="1.2")
    model.ir_version = 8
    if check:
        onnx.checker.check_model(model)
    Path(path).write_bytes(model.SerializeToString())
    return Path(path)


@pytest.fixture
def add_relu(tmp_path):
    """z = Relu(x + b), x: float32[batch, 3], b = [0.5, -1, 2]."""
    b = numpy_helper.from_array(np.array([0.5, -1.0, 2.0], np.float32), "b")
    return save_model(tmp_path / "add_relu.onnx",
                      [helper.make_node("Add", ["x", "b"], ["s"], name="add"),
                       helper.make_node("Relu", ["s"], ["z"], name="relu")],
                      [helper.make_tensor_value_info("x", F, ["batch", 3])],
                      [helper.make_tensor_value_info("z", F, ["batch", 3])], [b])


def ref_add_relu(x):
    return np.maximum(x + np.array([0.5, -1.0, 2.0], np.float32), 0)


@pytest.fixture
def token_model(tmp_path):
    """Token ids index an embedding table of 50 rows; the mask and a count pass through."""
    emb = numpy_helper.from_array(np.arange(200, dtype=np.float32).reshape(50, 4), "emb")
    return save_model(tmp_path / "tokens.onnx",
                      [helper.make_node("Gather", ["emb", "input_ids"], ["embedded"], name="g"),
                       helper.make_node("Identity", ["input_ids"], ["ids_out"]),
                       helper.make_node("Identity", ["attention_mask"], ["mask_out"]),
                       helper.make_node("Identity", ["count"], ["count_out"]),
                       helper.make_node("Identity", ["flag"], ["flag_out"]),
                       helper.make_node("Identity", ["noise"], ["noise_out"])],
                      [helper.make_tensor_value_info("input_ids", I64, ["batch", "seq"]),
                       helper.make_tensor_value_info("attention_mask", I64, ["batch", "seq"]),
                       helper.make_tensor_value_info("count", TensorProto.INT32, [7]),
                       helper.make_tensor_value_info("flag", TensorProto.BOOL, [64]),
                       helper.make_tensor_value_info("noise", TensorProto.FLOAT16, [3, 50])],
                      [helper.make_tensor_value_info("embedded", F, ["batch", "seq", 4]),
                       helper.make_tensor_value_info("ids_out", I64, ["batch", "seq"]),
                       helper.make_tensor_value_info("mask_out", I64, ["batch", "seq"]),
                       helper.make_tensor_value_info("count_out", TensorProto.INT32, [7]),
                       helper.make_tensor_value_info("flag_out", TensorProto.BOOL, [64]),
                       helper.make_tensor_value_info("noise_out", TensorProto.FLOAT16, [3, 50])],
                      [emb])


@pytest.fixture
def odd_names(tmp_path):
    """Tensor names with '/' and ':' (as TensorFlow exports have)."""
    return save_model(tmp_path / "odd.onnx",
                      [helper.make_node("Relu", ["in/x:0"], ["out/y:0"])],
                      [helper.make_tensor_value_info("in/x:0", F, [2])],
                      [helper.make_tensor_value_info("out/y:0", F, [2])])


def assert_exit(res, code, *names):
    assert res.returncode == code, f"expected exit {code}\n{res.describe()}"
    if code != 0:
        first = [line for line in res.stderr.splitlines() if line.strip()]
        assert first and first[0].startswith("kiln "), res.describe()
        for n in names:
            assert n.lower() in first[0].lower(), f"the message should name {n!r}\n{res.describe()}"


# --- kiln run ---------------------------------------------------------------------------------

def test_run_input_file_and_outputs(kiln, add_relu, tmp_path):
    x = np.array([[1, 2, 3], [-4, 0.25, -3]], np.float32)
    np.save(tmp_path / "x.npy", x)
    res = kiln("run", add_relu, "--device", "cpu", "--input", f"x={tmp_path / 'x.npy'}",
               "--output-dir", tmp_path / "out", "--json", tmp_path / "r.json")
    assert_exit(res, 0)
    expected = ref_add_relu(x)
    got = np.load(tmp_path / "out" / "z.npy")
    assert got.dtype == np.float32 and got.shape == (2, 3)
    np.testing.assert_allclose(got, expected)
    assert "z" in res.stdout and "float32" in res.stdout and "[2, 3]" in res.stdout
    assert "1.5" in res.stdout  # the first value
    assert "load" in res.stdout and "run" in res.stdout
    j = json.loads((tmp_path / "r.json").read_text())
    assert j["model"] == str(add_relu)
    assert j["device"] == "cpu"
    assert j["load_ms"] >= 0 and j["run_ms"] >= 0
    (o,) = j["outputs"]
    assert o["name"] == "z" and o["shape"] == [2, 3] and o["dtype"] == "float32"
    assert o["min"] == pytest.approx(expected.min())
    assert o["max"] == pytest.approx(expected.max())
    assert o["mean"] == pytest.approx(expected.mean(), rel=1e-6)
    assert Path(o["file"]) == tmp_path / "out" / "z.npy"


def test_run_pb_input_and_equals_form(kiln, add_relu, tmp_path):
    x = np.full((1, 3), 2.0, np.float32)
    (tmp_path / "x.pb").write_bytes(numpy_helper.from_array(x, "x").SerializeToString())
    res = kiln("run", add_relu, "--input=x=" + str(tmp_path / "x.pb"),
               "--output-dir=" + str(tmp_path / "out"), "--quiet")
    assert_exit(res, 0)
    assert res.stdout == ""
    np.testing.assert_allclose(np.load(tmp_path / "out" / "z.npy"), ref_add_relu(x))


def test_run_numpy_layouts(kiln, add_relu, tmp_path):
    """Fortran-ordered and big-endian arrays are converted on read."""
    x = np.arange(12, dtype=np.float32).reshape(4, 3) - 5
    for i, arr in enumerate([np.asfortranarray(x), x.astype(">f4")]):
        np.save(tmp_path / f"x{i}.npy", arr)
        res = kiln("run", add_relu, "--input", f"x={tmp_path / f'x{i}.npy'}",
                   "--output-dir", tmp_path / f"out{i}")
        assert_exit(res, 0)
        np.testing.assert_allclose(np.load(tmp_path / f"out{i}" / "z.npy"), ref_add_relu(x))


def test_run_inputs_dir_and_name_mangling(kiln, odd_names, tmp_path):
    (tmp_path / "in").mkdir()
    np.save(tmp_path / "in" / "in_x_0.npy", np.array([-1, 3], np.float32))
    res = kiln("run", odd_names, "--inputs", tmp_path / "in", "--output-dir", tmp_path / "out")
    assert_exit(res, 0)
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "out_y_0.npy"), [0, 3])
    assert "out/y:0" in res.stdout


def test_run_inputs_dir_missing_file(kiln, add_relu, tmp_path):
    (tmp_path / "empty").mkdir()
    res = kiln("run", add_relu, "--inputs", tmp_path / "empty")
    assert_exit(res, 1, "'x'")


def test_run_missing_input(kiln, add_relu):
    assert_exit(kiln("run", add_relu), 1, "'x'")


def test_run_wrong_dtype_and_rank(kiln, add_relu, tmp_path):
    np.save(tmp_path / "i.npy", np.zeros((2, 3), np.int64))
    assert_exit(kiln("run", add_relu, "--input", f"x={tmp_path / 'i.npy'}"), 1, "'x'", "int64")
    np.save(tmp_path / "r.npy", np.zeros((3,), np.float32))
    assert_exit(kiln("run", add_relu, "--input", f"x={tmp_path / 'r.npy'}"), 1, "'x'", "rank")
    np.save(tmp_path / "d.npy", np.zeros((2, 4), np.float32))
    assert_exit(kiln("run", add_relu, "--input", f"x={tmp_path / 'd.npy'}"), 1, "'x'")


def test_run_bad_input_files(kiln, add_relu, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 3), np.float32))
    data = (tmp_path / "x.npy").read_bytes()
    (tmp_path / "short.npy").write_bytes(data[:-4])
    assert_exit(kiln("run", add_relu, "--input", f"x={tmp_path / 'short.npy'}"), 1, "short.npy")
    (tmp_path / "cut.npy").write_bytes(data[:20])
    assert_exit(kiln("run", add_relu, "--input", f"x={tmp_path / 'cut.npy'}"), 1, "cut.npy")
    assert_exit(kiln("run", add_relu, "--input", f"x={tmp_path / 'nope.npy'}"), 1, "nope.npy")
    (tmp_path / "junk.pb").write_bytes(b"\xff\xff\xff\xff")
    assert_exit(kiln("run", add_relu, "--input", f"x={tmp_path / 'junk.pb'}"), 1, "junk.pb")


def test_run_unknown_input_name(kiln, add_relu, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 3), np.float32))
    assert_exit(kiln("run", add_relu, "--input", f"y={tmp_path / 'x.npy'}", "--random",
                     "--dim", "batch=1"), 1, "'y'")


def test_run_random_with_dims(kiln, token_model, tmp_path):
    args = ["run", token_model, "--random", "--dim", "batch=2", "--dim", "seq=33"]
    res = kiln(*args, "--output-dir", tmp_path / "a", "--json", tmp_path / "a.json")
    assert_exit(res, 0)
    out = {p.stem: np.load(p) for p in (tmp_path / "a").glob("*.npy")}
    assert out["embedded"].shape == (2, 33, 4)
    ids = out["ids_out"]
    assert ids.dtype == np.int64 and ids.min() >= 0 and ids.max() < 50
    assert ids.max() >= 10  # the vocabulary bound, not the default [0, 10)
    assert set(np.unique(out["mask_out"])) <= {0, 1}
    assert out["count_out"].dtype == np.int32
    assert out["count_out"].min() >= 0 and out["count_out"].max() < 10
    assert out["flag_out"].dtype == np.bool_ and 0 < out["flag_out"].sum() < 64
    noise = out["noise_out"]
    assert noise.dtype == np.float16 and noise.min() >= -1 and noise.max() < 1
    assert noise.std() > 0.3  # uniform on [-1, 1) has std 0.58
    np.testing.assert_array_equal(out["embedded"][..., 0], ids * 4)
    j = json.loads((tmp_path / "a.json").read_text())
    assert {o["name"] for o in j["outputs"]} == set(out)

    # Reproducible with the same seed (0 is the default), different with another.
    assert_exit(kiln(*args, "--seed", "0", "--output-dir", tmp_path / "b"), 0)
    assert_exit(kiln(*args, "--seed", "7", "--output-dir", tmp_path / "c"), 0)
    for name in out:
        np.testing.assert_array_equal(np.load(tmp_path / "b" / f"{name}.npy"), out[name])
    assert not np.array_equal(np.load(tmp_path / "c" / "noise_out.npy"), noise)


def test_run_random_unknown_dim_is_usage_error(kiln, token_model):
    res = kiln("run", token_model, "--random", "--dim", "batch=1")
    assert_exit(res, 2, "seq")


def test_run_explicit_input_overrides_random(kiln, add_relu, tmp_path):
    x = np.array([[10, 20, 30]], np.float32)
    np.save(tmp_path / "x.npy", x)
    # The file fixes batch=1, so --random needs no --dim here.
    res = kiln("run", add_relu, "--random", "--input", f"x={tmp_path / 'x.npy'}",
               "--output-dir", tmp_path / "out")
    assert_exit(res, 0)
    np.testing.assert_allclose(np.load(tmp_path / "out" / "z.npy"), ref_add_relu(x))


def test_run_usage_errors(kiln, add_relu):
    assert_exit(kiln("run"), 2)
    assert_exit(kiln("run", add_relu, "--no-such-option"), 2, "no-such-option")
    assert_exit(kiln("run", add_relu, "--input", "x"), 2, "NAME=FILE")
    assert_exit(kiln("run", add_relu, "--dim", "batch=two"), 2, "batch=two")
    assert_exit(kiln("run", add_relu, "--seed", "x"), 2, "seed")
    assert_exit(kiln("run", add_relu, "--device", "tpu"), 2, "tpu")
    assert_exit(kiln("run", add_relu, add_relu), 2)
    assert kiln("run", "--help").returncode == 0


def test_run_missing_model_file(kiln, tmp_path):
    assert_exit(kiln("run", tmp_path / "missing.onnx", "--random"), 1, "missing.onnx")


def test_run_unsupported_op_fails(kiln, tmp_path):
    m = save_model(tmp_path / "custom.onnx",
                   [helper.make_node("FancyOp", ["x"], ["y"], domain="com.example")],
                   [helper.make_tensor_value_info("x", F, [2])],
                   [helper.make_tensor_value_info("y", F, [2])],
                   extra_opsets=[helper.make_opsetid("com.example", 1)], check=False)
    assert_exit(kiln("run", m, "--random"), 1, "FancyOp")


def test_run_scalar_and_empty(kiln, tmp_path):
    m = save_model(tmp_path / "se.onnx",
                   [helper.make_node("Identity", ["s"], ["s_out"]),
                    helper.make_node("Identity", ["e"], ["e_out"])],
                   [helper.make_tensor_value_info("s", F, []),
                    helper.make_tensor_value_info("e", I64, [0, 3])],
                   [helper.make_tensor_value_info("s_out", F, []),
                    helper.make_tensor_value_info("e_out", I64, [0, 3])])
    np.save(tmp_path / "s.npy", np.float32(4.5))
    np.save(tmp_path / "e.npy", np.zeros((0, 3), np.int64))
    res = kiln("run", m, "--inputs", tmp_path, "--output-dir", tmp_path / "out",
               "--json", tmp_path / "j.json")
    assert_exit(res, 0)
    s = np.load(tmp_path / "out" / "s_out.npy")
    assert s.shape == () and s == 4.5
    assert np.load(tmp_path / "out" / "e_out.npy").shape == (0, 3)
    outs = {o["name"]: o for o in json.loads((tmp_path / "j.json").read_text())["outputs"]}
    assert outs["s_out"]["shape"] == [] and outs["s_out"]["mean"] == 4.5
    assert outs["e_out"]["min"] is None and outs["e_out"]["shape"] == [0, 3]


# --- kiln info --------------------------------------------------------------------------------

def test_info_text_and_json(kiln, token_model, tmp_path):
    res = kiln("info", token_model, "--json", tmp_path / "i.json")
    assert_exit(res, 0)
    for text in ("ir_version: 8", "kiln-tests 1.2", "ai.onnx 17", "input_ids", "batch", "seq",
                 "Identity", "Gather", "parameters: 200"):
        assert text in res.stdout, f"{text!r} missing\n{res.stdout}"
    j = json.loads((tmp_path / "i.json").read_text())
    assert j["ir_version"] == 8
    assert j["producer_name"] == "kiln-tests" and j["producer_version"] == "1.2"
    assert j["opsets"] == {"ai.onnx": 17}
    ids = next(i for i in j["inputs"] if i["name"] == "input_ids")
    assert ids["dtype"] == "int64" and ids["shape"] == ["batch", "seq"]
    assert j["ops"][0] == {"op": "Identity", "count": 5}
    assert j["ops"][1] == {"op": "Gather", "count": 1}
    assert j["parameters"] == 200 and j["parameter_bytes"] == 800 and j["initializers"] == 1
    assert j["external_data"] == [] and isinstance(j["warnings"], list)
    assert len(j["outputs"]) == 6


def test_info_model_with_unsupported_op(kiln, tmp_path):
    m = save_model(tmp_path / "custom.onnx",
                   [helper.make_node("FancyOp", ["x"], ["y"], domain="com.example"),
                    helper.make_node("Relu", ["y"], ["z"])],
                   [helper.make_tensor_value_info("x", F, ["n"])],
                   [helper.make_tensor_value_info("z", F, ["n"])],
                   extra_opsets=[helper.make_opsetid("com.example", 1)], check=False)
    res = kiln("info", m, "--json", tmp_path / "i.json")
    assert_exit(res, 0)
    assert "com.example.FancyOp" in res.stdout
    j = json.loads((tmp_path / "i.json").read_text())
    assert j["opsets"]["com.example"] == 1


def test_info_external_data(kiln, tmp_path):
    w = numpy_helper.from_array(np.arange(8, dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "ext",
                              [helper.make_tensor_value_info("x", F, [8])],
                              [helper.make_tensor_value_info("y", F, [8])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.external_data_helper.convert_model_to_external_data(
        model, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    onnx.save_model(model, str(tmp_path / "ext.onnx"))
    res = kiln("info", tmp_path / "ext.onnx", "--json", tmp_path / "i.json")
    assert_exit(res, 0)
    assert "weights.bin" in res.stdout
    assert json.loads((tmp_path / "i.json").read_text())["external_data"] == ["weights.bin"]


def test_info_errors(kiln, tmp_path):
    assert_exit(kiln("info", tmp_path / "missing.onnx"), 1, "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x01\x12\xff\xff")
    assert_exit(kiln("info", tmp_path / "junk.onnx"), 1, "junk.onnx")
    assert_exit(kiln("info"), 2)
    assert_exit(kiln("info", "--nope"), 2)


# --- kiln devices -----------------------------------------------------------------------------

def test_devices(kiln, tmp_path):
    res = kiln("devices", "--json", tmp_path / "d.json")
    assert_exit(res, 0)
    assert "OpenCL" in res.stdout and "Vulkan" in res.stdout
    j = json.loads((tmp_path / "d.json").read_text())
    assert set(j) == {"opencl", "vulkan"}
    for api in ("opencl", "vulkan"):
        assert isinstance(j[api]["devices"], list)
        for i, d in enumerate(j[api]["devices"]):
            assert d["index"] == i and d["name"] and d["type"]
    if Path("/etc/OpenCL/vendors/pocl.icd").exists():
        cl = j["opencl"]["devices"]
        assert any("Portable Computing Language" in d["platform"] for d in cl), cl
        for d in cl:
            assert d["global_mem_bytes"] > 0 and d["max_work_group_size"] > 0
            assert d["compute_units"] > 0
    if Path("/usr/share/vulkan/icd.d/lvp_icd.x86_64.json").exists():
        vk = j["vulkan"]["devices"]
        lvp = [d for d in vk if "llvmpipe" in d["name"]]
        assert lvp, vk
        d = lvp[0]
        assert d["type"] == "CPU" and d["api_version"].startswith("1.")
        assert d["subgroup_size"] > 0 and "basic" in d["subgroup_operations"]
        assert d["max_storage_buffer_range"] > 0 and d["max_compute_shared_memory_size"] > 0
        assert d["memory_heaps"] and d["memory_heaps"][0]["size_bytes"] > 0
        for key in ("shader_float16", "shader_int8", "storage_buffer_16bit",
                    "storage_buffer_8bit", "integer_dot_product", "cooperative_matrix"):
            assert isinstance(d[key], bool)


def test_devices_without_drivers(kiln_bin, tmp_path):
    env = dict(os.environ, OCL_ICD_VENDORS=str(tmp_path / "none"),
               OCL_ICD_FILENAMES="", VK_ICD_FILENAMES=str(tmp_path / "none.json"),
               VK_DRIVER_FILES=str(tmp_path / "none.json"))
    proc = subprocess.run([str(kiln_bin), "devices", "--json", str(tmp_path / "d.json")],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "no OpenCL" in proc.stdout and "no Vulkan" in proc.stdout
    j = json.loads((tmp_path / "d.json").read_text())
    assert j["opencl"]["devices"] == [] and j["vulkan"]["devices"] == []


def test_devices_usage(kiln):
    assert_exit(kiln("devices", "--bogus"), 2)
    assert_exit(kiln("devices", "extra"), 2)
