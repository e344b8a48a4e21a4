"""bench/cpu_vs_ort.py (issue 9's kiln-vs-onnxruntime table) on its --quick setting: a 2-layer
64-wide encoder at 16 tokens, fp32 and both dynamic int8 forms, 1 thread, 1 round, and a 128^3
GEMM against the peaks. Checks that it runs end to end and that the JSON is consistent (every
latency positive, each ratio the quotient of its two latencies, each verdict the one the target
implies, the GEMM shares rate / peak), never the speeds themselves. A few seconds.
"""

import json
import math
import os
import subprocess

import pytest

PRECISIONS = {"fp32", "int8-ort", "int8-kiln"}


def run_script(repo_root, venv_python, kiln_bin, tmp_path, *args):
    env = dict(os.environ, KILN_CACHE_DIR=str(tmp_path / "kiln-cache"))
    cmd = [str(venv_python), str(repo_root / "bench" / "cpu_vs_ort.py"), "--kiln", str(kiln_bin),
           *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env,
                          stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def quick(repo_root, venv_python, kiln_bin, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cpu_vs_ort")
    out = tmp / "r.json"
    md = tmp / "r.md"
    r = run_script(repo_root, venv_python, kiln_bin, tmp, "--quick", "--cache", tmp / "models",
                   "--json", out, "--markdown", md)
    assert r.returncode == 0, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr[-3000:]}"
    return r, json.loads(out.read_text()), md.read_text(), tmp


def test_model_rows(quick):
    _, j, _, _ = quick
    rows = j["models"]
    assert {r["precision"] for r in rows} == PRECISIONS, rows
    for r in rows:
        assert r["model"] == "tiny" and r["threads"] == 1 and r["seq"] == 16, r
        assert "error" not in r, r
        k, o = r["kiln_p50_ms"], r["ort_p50_ms"]
        assert math.isfinite(k) and k > 0 and math.isfinite(o) and o > 0, r
        assert r["ratio"] == pytest.approx(k / o, rel=1e-12), r
        assert r["pass"] == (k <= o), r
        assert len(r["kiln_rounds_ms"]) == len(r["ort_rounds_ms"]) == 1, r
    # kiln runs onnxruntime's quantized model for int8-ort and its own for int8-kiln.
    by = {r["precision"]: r for r in rows}
    assert by["int8-ort"]["kiln_model"] == by["int8-ort"]["ort_model"]
    assert by["int8-kiln"]["kiln_model"] != by["int8-kiln"]["ort_model"]
    assert by["int8-kiln"]["ort_model"] == by["int8-ort"]["ort_model"]


def test_gemm_rows(quick):
    _, j, _, _ = quick
    g = {r["dtype"]: r for r in j["gemm"]}
    assert set(g) == {"fp32", "int8"}
    for dtype, target in (("fp32", 0.80), ("int8", 0.60)):
        r = g[dtype]
        assert "error" not in r, r
        assert r["shape"] == "128,128,128" and r["threads"] == 1 and r["target"] == target, r
        assert math.isfinite(r["rate"]) and r["rate"] > 0, r
        if r["peak"]:
            assert r["share"] == pytest.approx(r["rate"] / r["peak"], rel=1e-12), r
            assert r["pass"] == (r["share"] >= target), r
        else:  # no AVX512-VNNI on this CPU: no ratio, no verdict
            assert dtype == "int8" and r["share"] is None and r["pass"] is None, r
    assert g["fp32"]["peak"] > 0
    # The FMA loop run alongside each fp32 round: one peak per round, one share per round
    # (kiln has the loop on CPUs with AVX2 or AVX-512).
    f = g["fp32"]
    if "peak_alongside_rounds" not in f:
        flags = [ln for ln in open("/proc/cpuinfo") if ln.startswith("flags")]
        assert not any("avx2" in ln.split() for ln in flags), f
        return
    assert len(f["peak_alongside_rounds"]) == len(f["rounds"]) == len(f["share_alongside_rounds"])
    assert all(p > 0 for p in f["peak_alongside_rounds"]), f
    for rate, peak, share in zip(f["rounds"], f["peak_alongside_rounds"],
                                 f["share_alongside_rounds"]):
        assert share == pytest.approx(rate / peak, rel=1e-12), f
    assert f["pass_alongside"] == (f["share_alongside"] >= 0.80), f
    assert "peak_alongside_rounds" not in g["int8"]
    # --peak-each-run: one loop rate and one share (medians over the runs) per round.
    assert len(f["peak_each_run_rounds"]) == len(f["share_each_run_rounds"]) == len(f["rounds"])
    assert all(0 < x for x in f["peak_each_run_rounds"] + f["share_each_run_rounds"]), f
    assert f["pass_each_run"] == (f["share_each_run"] >= 0.80), f
    assert "peak_each_run_rounds" not in g["int8"]


def test_tables_and_cache(quick):
    r, j, md, tmp = quick
    assert md.strip() in r.stdout
    assert "| model | precision | threads | kiln p50 ms | ORT p50 ms | kiln / ORT | target |" in md
    assert sum(line.startswith("| tiny |") for line in md.splitlines()) == len(j["models"]) == 3
    assert "| fp32 (FMA peak) |" in md and "| int8 (VNNI peak) |" in md
    assert "| fp32 (FMA loop alongside) |" in md
    assert "| fp32 (FMA loop after each run) |" in md
    for name in ("fp32.onnx", "int8-ort.onnx", "int8-kiln.onnx"):
        assert (tmp / "models" / "tiny" / name).is_file(), name


def test_usage_errors(repo_root, venv_python, kiln_bin, tmp_path):
    r = run_script(repo_root, venv_python, kiln_bin, tmp_path, "--precisions", "fp8")
    assert r.returncode == 2 and "--precisions" in r.stderr, r.stderr
    r = run_script(repo_root, venv_python, kiln_bin, tmp_path, "--threads", "0")
    assert r.returncode == 2, r.stderr
