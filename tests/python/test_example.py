"""The bundled example (tests/models/example): `kiln run` must match onnxruntime, both live and
the committed expected outputs, within 1e-4 absolute, and give identical results whatever the
thread count."""

import numpy as np
import onnxruntime as ort
import pytest

ATOL = 1e-4
OUTPUTS = ["last_hidden_state", "pooler_output"]


@pytest.fixture(scope="module")
def example(repo_root):
    return repo_root / "tests" / "models" / "example"


@pytest.fixture(scope="module")
def feeds(example):
    return {n: np.load(example / "inputs" / f"{n}.npy") for n in ["input_ids", "attention_mask"]}


def ort_run(model, feeds):
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return dict(zip(OUTPUTS, sess.run(OUTPUTS, feeds)))


def assert_close(got, want, atol=ATOL, what=""):
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, expected {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    err = float(np.max(np.abs(got.astype(np.float64) - want))) if got.size else 0.0
    assert err <= atol, f"{what}: max abs error {err:.3g} > {atol}"


def test_committed_expected_matches_onnxruntime(example, feeds):
    """The committed expected/ files are what this onnxruntime computes (guards the data)."""
    live = ort_run(example / "encoder.onnx", feeds)
    for name in OUTPUTS:
        assert_close(live[name], np.load(example / "expected" / f"{name}.npy"), 1e-5, name)


def test_example_cli_default_device(kiln, example, tmp_path):
    """Exactly what `make run` does (device auto), compared to the committed outputs."""
    out = tmp_path / "out"
    res = kiln("run", example / "encoder.onnx", "--inputs", example / "inputs",
               "--output-dir", out)
    assert res.returncode == 0, res.describe()
    assert res.stdout.strip(), "kiln run printed no summary"
    for name in OUTPUTS:
        assert_close(np.load(out / f"{name}.npy"),
                     np.load(example / "expected" / f"{name}.npy"), what=name)


@pytest.mark.parametrize("threads", [1, 2])
def test_example_matches_onnxruntime(run_model, example, feeds, tmp_path, threads):
    got = run_model(example / "encoder.onnx", feeds, tmp_path, "--threads", threads,
                    output_names=OUTPUTS)
    live = ort_run(example / "encoder.onnx", feeds)
    for name in OUTPUTS:
        assert_close(got[name], live[name], what=f"{name} vs onnxruntime")
        assert_close(got[name], np.load(example / "expected" / f"{name}.npy"),
                     what=f"{name} vs expected/")


def test_example_thread_count_does_not_change_results(run_model, example, feeds, tmp_path):
    one = run_model(example / "encoder.onnx", feeds, tmp_path / "t1", "--threads", 1,
                    output_names=OUTPUTS)
    two = run_model(example / "encoder.onnx", feeds, tmp_path / "t2", "--threads", 2,
                    output_names=OUTPUTS)
    for name in OUTPUTS:
        assert np.array_equal(one[name], two[name]), \
            f"{name}: --threads 1 and 2 differ by {np.max(np.abs(one[name] - two[name])):.3g}"


def test_example_other_shapes(run_model, example, tmp_path):
    """The symbolic dims: batch 3, sequence 7, a different padding per row."""
    rng = np.random.default_rng(7)
    ids = rng.integers(1, 1000, size=(3, 7), dtype=np.int64)
    mask = np.ones((3, 7), np.int64)
    mask[1, 5:] = 0
    mask[2, 2:] = 0
    feeds = {"input_ids": ids, "attention_mask": mask}
    got = run_model(example / "encoder.onnx", feeds, tmp_path, output_names=OUTPUTS)
    live = ort_run(example / "encoder.onnx", feeds)
    for name in OUTPUTS:
        assert_close(got[name], live[name], what=name)
