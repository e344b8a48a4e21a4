"""`kiln compare`: the bundled example encoder on OpenCL against the CPU reference and against
onnxruntime, --per-node (no divergent node at the default tolerance; a named first divergent
node at atol = rtol = 0), integer outputs, a missing onnxruntime, and the exit codes
(0 within tolerance, 1 mismatch or failure, 2 usage error).

The OpenCL cases skip visibly when `kiln devices` lists no OpenCL device.
KILN_BIN selects the binary (default <repo>/build/kiln); see conftest.py.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

OUTPUTS = ["last_hidden_state", "pooler_output"]
OUTPUT_FIELDS = {"name", "max_abs", "max_rel", "cosine", "argmax_agreement", "ok"}


@pytest.fixture(scope="module")
def example(repo_root):
    return repo_root / "tests" / "models" / "example"


@pytest.fixture(scope="module")
def model(example):
    return example / "encoder.onnx"


@pytest.fixture(scope="module")
def inputs(example):
    return example / "inputs"


@pytest.fixture(scope="module")
def opencl_available(kiln, tmp_path_factory):
    path = tmp_path_factory.mktemp("devices") / "d.json"
    res = kiln("devices", "--json", path)
    assert res.returncode == 0, res.describe()
    return bool(json.loads(path.read_text())["opencl"]["devices"])


@pytest.fixture
def opencl(opencl_available):
    if not opencl_available:
        pytest.skip("no OpenCL device")
    return "opencl"


def compare_json(kiln, tmp_path, *args, expect_rc=0):
    """Runs `kiln compare ARGS --json FILE`; checks the exit code unless expect_rc is None."""
    out = tmp_path / "compare.json"
    res = kiln("compare", *args, "--json", out)
    if expect_rc is not None:
        assert res.returncode == expect_rc, res.describe()
    return res, (json.loads(out.read_text()) if out.exists() else None)


def run_env(kiln_bin, env, *args):
    """`kiln compare ARGS` with extra environment variables (the kiln fixture takes none)."""
    proc = subprocess.run([str(kiln_bin), "compare", *map(str, args)], capture_output=True,
                          text=True, errors="replace", timeout=300, stdin=subprocess.DEVNULL,
                          env={**os.environ, **env})
    assert proc.returncode >= 0, f"kiln died from signal {-proc.returncode}: {proc.stderr}"
    return proc


def check_outputs_ok(j):
    assert j["ok"] is True
    assert [o["name"] for o in j["outputs"]] == OUTPUTS
    for o in j["outputs"]:
        assert OUTPUT_FIELDS <= set(o), o
        assert o["ok"] is True, o
        assert 0 <= o["max_abs"] <= 1e-4, o
        assert o["max_rel"] >= 0
        assert o["cosine"] > 0.99999, o
        assert o["argmax_agreement"] == 1.0, o


def save_model(path, nodes, inputs, outputs, inits=(), opset=17):
    graph = helper.make_graph(nodes, "compare_test", inputs, outputs, list(inits))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    Path(path).write_bytes(m.SerializeToString())
    return Path(path)


@pytest.fixture
def long_matmul(tmp_path):
    """y = Relu(x) @ w + b with K = 1000 (float sums whose order differs between paths), beside
    an exact integer output (ArgMax of y)."""
    rng = np.random.default_rng(7)
    w = numpy_helper.from_array(rng.standard_normal((1000, 8)).astype(np.float32), "w")
    F = TensorProto.FLOAT
    return save_model(
        tmp_path / "long_matmul.onnx",
        [helper.make_node("Relu", ["x"], ["r"], name="relu"),
         helper.make_node("MatMul", ["r", "w"], ["m"], name="matmul"),
         helper.make_node("Add", ["m", "b"], ["y"], name="add"),
         helper.make_node("ArgMax", ["y"], ["am"], name="argmax", axis=1, keepdims=0)],
        [helper.make_tensor_value_info("x", F, [4, 1000]),
         helper.make_tensor_value_info("b", F, [4, 8])],
        [helper.make_tensor_value_info("y", F, [4, 8]),
         helper.make_tensor_value_info("am", TensorProto.INT64, [4])], [w])


# --- OpenCL against the CPU reference and onnxruntime -------------------------------------------

def test_opencl_against_cpu(kiln, tmp_path, model, inputs, opencl):
    res, j = compare_json(kiln, tmp_path, model, "--device", opencl, "--against", "cpu",
                          "--inputs", inputs)
    assert j["device"].startswith("opencl")
    assert j["against"] == "cpu"
    assert j["first_divergent_node"] is None
    check_outputs_ok(j)
    lines = res.stdout.splitlines()
    for name in OUTPUTS:
        row = next(line for line in lines if line.startswith(name))
        assert row.split()[-1] == "OK", row
    assert "MISMATCH" not in res.stdout


def test_opencl_against_ort(kiln, tmp_path, model, inputs, opencl):
    res, j = compare_json(kiln, tmp_path, model, "--device", opencl, "--against", "ort",
                          "--inputs", inputs)
    assert j["against"] == "ort"
    check_outputs_ok(j)


def test_cpu_against_ort_with_input_files(kiln, tmp_path, model, inputs):
    """Needs no device: kiln's CPU path against onnxruntime, inputs given one by one."""
    res, j = compare_json(kiln, tmp_path, model, "--device", "cpu", "--against", "ort",
                          "--input", f"input_ids={inputs / 'input_ids.npy'}",
                          "--input", f"attention_mask={inputs / 'attention_mask.npy'}",
                          "--threads", "1")
    assert j["device"] == "cpu"
    check_outputs_ok(j)


def test_per_node_paths_agree(kiln, tmp_path, model, inputs, opencl):
    res, j = compare_json(kiln, tmp_path, model, "--device", opencl, "--per-node",
                          "--inputs", inputs)
    check_outputs_ok(j)
    assert j["first_divergent_node"] is None
    assert j["nodes_compared"] >= 100  # the encoder has 144 nodes
    assert "per-node: all" in res.stdout


def test_per_node_cpu_against_cpu_identical(kiln, tmp_path, model):
    """Two CPU sessions are bit-identical: OK even at zero tolerance, with --random inputs."""
    res, j = compare_json(kiln, tmp_path, model, "--device", "cpu", "--per-node", "--random",
                          "--dim", "batch=2", "--dim", "sequence=8", "--seed", "3",
                          "--atol", "0", "--rtol", "0")
    assert j["ok"] is True
    assert j["first_divergent_node"] is None
    for o in j["outputs"]:
        assert o["max_abs"] == 0 and o["cosine"] == pytest.approx(1.0)


def test_zero_tolerance_names_first_divergent_node(kiln, tmp_path, model, inputs, opencl):
    res, j = compare_json(kiln, tmp_path, model, "--device", opencl, "--per-node",
                          "--inputs", inputs, "--atol", "0", "--rtol", "0", expect_rc=None)
    if res.returncode == 0:
        pytest.skip("OpenCL and CPU are bit-identical on the example here; "
                    "see test_zero_tolerance_long_matmul")
    assert res.returncode == 1, res.describe()
    assert j["ok"] is False
    assert "MISMATCH" in res.stdout
    node = j["first_divergent_node"]
    assert node is not None
    assert node["name"] and node["op"] and node["output"]
    assert node["max_abs"] > 0
    assert node["inputs"], node
    # It is the first: every input that is a computed value still agrees exactly.
    for inp in node["inputs"]:
        assert {"name", "max_abs"} <= set(inp)
        if inp["kind"] == "value":
            assert inp["ok"] is True and inp["max_abs"] == 0, inp
    assert f"first divergent node: '{node['name']}' ({node['op']})" in res.stdout


def test_zero_tolerance_long_matmul(kiln, tmp_path, long_matmul, opencl):
    """K = 1000 float sums: the first divergent node must be the MatMul (Relu is exact), and
    the integer ArgMax output is compared by equality."""
    res, j = compare_json(kiln, tmp_path, long_matmul, "--device", opencl, "--per-node",
                          "--random", "--atol", "0", "--rtol", "0", expect_rc=None)
    if res.returncode == 0:
        pytest.skip("OpenCL and CPU sums are bit-identical for K = 1000 on this device")
    assert res.returncode == 1, res.describe()
    node = j["first_divergent_node"]
    assert (node["name"], node["op"], node["output"]) == ("matmul", "MatMul", "m")
    inputs = {i["name"]: i for i in node["inputs"]}
    assert inputs["r"]["max_abs"] == 0 and inputs["r"]["ok"] is True
    assert inputs["w"]["kind"] == "constant"
    y = next(o for o in j["outputs"] if o["name"] == "y")
    assert y["ok"] is False and y["max_abs"] > 0 and y["cosine"] > 0.9999
    # At the default tolerance the same run is fine.
    res2, j2 = compare_json(kiln, tmp_path, long_matmul, "--device", opencl, "--random")
    assert j2["ok"] is True


def test_integer_output_equality(kiln, tmp_path, long_matmul):
    res, j = compare_json(kiln, tmp_path, long_matmul, "--device", "cpu", "--against", "ort",
                          "--random", "--seed", "5")
    am = next(o for o in j["outputs"] if o["name"] == "am")
    assert am["ok"] is True
    assert am["equal"] == am["count"] == 4
    assert am["cosine"] is None and am["argmax_agreement"] is None
    assert j["first_divergent_node"] is None


# --- onnxruntime missing ------------------------------------------------------------------------

def test_ort_not_importable(kiln_bin, tmp_path, model, inputs):
    """A python whose `import onnxruntime` fails: exit 1 with a message that says so."""
    fake = tmp_path / "fake"
    (fake / "onnxruntime").mkdir(parents=True)
    (fake / "onnxruntime" / "__init__.py").write_text("raise ImportError('not here')\n")
    res = run_env(kiln_bin, {"KILN_PYTHON": sys.executable, "PYTHONPATH": str(fake)}, model,
                  "--device", "cpu", "--against", "ort", "--inputs", inputs)
    assert res.returncode == 1, res.stderr
    assert "onnxruntime is not importable" in res.stderr, res.stderr
    assert "KILN_PYTHON" in res.stderr


def test_ort_python_missing(kiln_bin, tmp_path, model, inputs):
    res = run_env(kiln_bin, {"KILN_PYTHON": str(tmp_path / "no-such-python")}, model, "--device",
                  "cpu", "--against", "ort", "--inputs", inputs)
    assert res.returncode == 1, res.stderr
    assert "no-such-python" in res.stderr


# --- failures and usage errors ------------------------------------------------------------------

def test_failures_exit_1(kiln, tmp_path, model):
    res = kiln("compare", tmp_path / "missing.onnx", "--device", "cpu", "--random")
    assert res.returncode == 1, res.describe()
    res = kiln("compare", model, "--device", "cpu")  # no inputs given
    assert res.returncode == 1, res.describe()
    assert "input_ids" in res.stderr
    res = kiln("compare", model, "--device", "cpu", "--inputs", tmp_path / "nowhere")
    assert res.returncode == 1, res.describe()


@pytest.mark.parametrize("args", [
    [],
    ["{model}", "{model}"],
    ["{model}", "--against", "gpu"],
    ["{model}", "--device", "tpu"],
    ["{model}", "--per-node", "--against", "ort", "--random", "--dim", "batch=1",
     "--dim", "sequence=4"],
    ["{model}", "--atol", "-1"],
    ["{model}", "--rtol", "abc"],
    ["{model}", "--atol", "nan"],
    ["{model}", "--threads", "x"],
    ["{model}", "--bogus"],
    ["{model}", "--input", "no_equals_sign"],
    ["{model}", "--dim", "batch=-1"],
    ["{model}", "--device", "cpu", "--random"],  # symbolic dims without --dim
])
def test_usage_errors_exit_2(kiln, model, args):
    res = kiln("compare", *[a.format(model=model) for a in args])
    assert res.returncode == 2, res.describe()
    assert "kiln compare:" in res.stderr


def test_help(kiln):
    res = kiln("compare", "--help")
    assert res.returncode == 0
    assert "--against" in res.stdout and "--per-node" in res.stdout


def test_against_model_int8_vs_fp32(kiln, repo_root, tmp_path):
    """--against-model runs another model on the reference path: ORT's dynamic int8 BERT against
    its fp32 original, judged by cosine similarity (the int8 model is not within 1e-4)."""
    zoo = repo_root / "tests" / "models" / "zoo"
    js = tmp_path / "c.json"
    args = ["compare", zoo / "bert_int8.onnx", "--device", "cpu", "--against-model",
            zoo / "bert_op14.onnx", "--inputs", zoo / "bert_int8" / "inputs"]
    res = kiln(*args, "--min-cosine", "0.99", "--json", js)
    assert res.returncode == 0, res.describe()
    j = json.loads(js.read_text())
    assert j["reference_model"].endswith("bert_op14.onnx") and j["min_cosine"] == 0.99
    for o in j["outputs"]:
        assert o["cosine"] >= 0.99 and o["max_abs"] > 0 and o["ok"], o
    strict = kiln(*args)  # default atol 1e-4: int8 rounding is far outside it
    assert strict.returncode == 1, strict.describe()
    assert "MISMATCH" in strict.stdout
    too_high = kiln(*args, "--min-cosine", "1.5")
    assert too_high.returncode == 2, too_high.describe()
    per_node = kiln(*args, "--per-node")
    assert per_node.returncode == 2 and "--against-model" in per_node.stderr
