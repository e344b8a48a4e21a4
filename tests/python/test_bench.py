"""`kiln bench` on the bundled example encoder (tests/models/example), on the CPU and on OpenCL
when a device is there. Checks consistency only, never speed: percentiles ordered, the mean
within [min, max], the number of timed runs, valid JSON with every documented key, the OpenCL
program-cache report (a fresh cache misses, the next start hits), and exit codes (1 for a
failure such as a missing model, 2 for a usage error).

KILN_BIN selects the binary (default <repo>/build/kiln); see conftest.py.
"""

import json
import math
import os
import subprocess

import pytest

LATENCY_KEYS = {"mean", "std", "min", "p50", "p90", "p99", "max"}
TOP_KEYS = {"model", "device", "runs", "warmup", "load_ms", "first_run_ms", "latency_ms",
            "throughput_per_s"}
DIMS = ["--dim", "batch=1", "--dim", "sequence=16"]


@pytest.fixture(scope="module")
def example(repo_root):
    return repo_root / "tests" / "models" / "example"


@pytest.fixture(scope="module")
def model(example):
    return example / "encoder.onnx"


@pytest.fixture(scope="module")
def opencl_available(kiln, tmp_path_factory):
    path = tmp_path_factory.mktemp("devices") / "d.json"
    res = kiln("devices", "--json", path)
    assert res.returncode == 0, res.describe()
    return bool(json.loads(path.read_text())["opencl"]["devices"])


def bench_json(kiln, tmp_path, model, *args, timeout=300):
    """Runs `kiln bench ... --json` and returns the result and the parsed JSON."""
    out = tmp_path / "bench.json"
    head = [model] if model is not None else []
    res = kiln("bench", *head, "--json", out, *args, timeout=timeout)
    assert res.returncode == 0, res.describe()
    return res, json.loads(out.read_text())


def check_consistent(res, j, runs, warmup, device_prefix):
    assert TOP_KEYS <= set(j), sorted(j)
    assert set(j["latency_ms"]) == LATENCY_KEYS
    assert j["runs"] == runs and j["warmup"] == warmup
    assert j["device"].startswith(device_prefix), j["device"]
    lat = j["latency_ms"]
    for k in LATENCY_KEYS:
        assert isinstance(lat[k], (int, float)) and math.isfinite(lat[k]), (k, lat[k])
    assert 0 <= lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"], lat
    assert lat["min"] <= lat["mean"] <= lat["max"], lat
    assert lat["std"] >= 0
    if runs == 1:
        assert lat["std"] == 0 and lat["min"] == lat["max"] == lat["p50"] == lat["mean"]
    assert j["load_ms"] > 0 and j["first_run_ms"] > 0
    assert j["throughput_per_s"] > 0
    assert math.isclose(j["throughput_per_s"], 1000.0 / lat["mean"], rel_tol=1e-9)
    # The printed summary; progress goes to stderr only for long runs, and never as a bar
    # (stderr is not a terminal here).
    assert "\r" not in res.stdout and "\r" not in res.stderr
    assert f"run {runs}/" not in res.stdout, res.stdout
    assert f"latency (ms) over {runs} runs: mean" in res.stdout, res.stdout
    assert "throughput:" in res.stdout and "runs/s" in res.stdout


def test_help(kiln):
    res = kiln("bench", "--help")
    assert res.returncode == 0
    assert "--warmup" in res.stdout and "linear interpolation" in res.stdout


def test_cpu_random_inputs(kiln, tmp_path, model):
    res, j = bench_json(kiln, tmp_path, model, "--device", "cpu", "--runs", "7", "--warmup", "2",
                        *DIMS)
    check_consistent(res, j, 7, 2, "cpu")
    assert j["batch"] == 1
    assert math.isclose(j["inferences_per_s"], j["throughput_per_s"], rel_tol=1e-9)
    assert [i["source"] for i in j["inputs"]] == ["random", "random"]
    assert [i["shape"] for i in j["inputs"]] == [[1, 16], [1, 16]]
    assert "opencl_program_cache" not in j
    assert "warm-up: 2 runs (not timed)" in res.stdout


def test_cpu_inputs_folder_one_thread(kiln, tmp_path, model, example):
    res, j = bench_json(kiln, tmp_path, model, "--device", "cpu", "--runs", "5", "--warmup", "0",
                        "--threads", "1", "--inputs", example / "inputs")
    check_consistent(res, j, 5, 0, "cpu")
    assert all(i["source"].endswith(".npy") for i in j["inputs"]), j["inputs"]
    assert j["threads"] == 1


def test_cpu_single_run_and_batch(kiln, tmp_path, model):
    res, j = bench_json(kiln, tmp_path, model, "--device", "cpu", "--runs", "1", "--warmup",
                        "0", "--dim", "batch=3", "--dim", "sequence=8", "--seed", "4")
    check_consistent(res, j, 1, 0, "cpu")
    assert j["batch"] == 3
    assert math.isclose(j["inferences_per_s"], 3 * j["throughput_per_s"], rel_tol=1e-9)
    assert "inferences/s (batch 3" in res.stdout


def test_default_counts(kiln, tmp_path, model):
    res, j = bench_json(kiln, tmp_path, model, "--device", "cpu", *DIMS)
    check_consistent(res, j, 50, 5, "cpu")


@pytest.mark.parametrize("inputs", ["dims", "folder"])
def test_opencl(kiln, tmp_path, model, example, opencl_available, inputs):
    if not opencl_available:
        pytest.skip("no OpenCL device")
    feed = DIMS if inputs == "dims" else ["--inputs", example / "inputs"]
    res, j = bench_json(kiln, tmp_path, model, "--device", "opencl", "--runs", "6", "--warmup",
                        "1", *feed)
    check_consistent(res, j, 6, 1, "opencl")
    assert j["opencl_program_cache"] in ("hit", "miss", "off")
    assert j["kernels_prepared"] > 0
    assert "OpenCL program cache:" in res.stdout


def test_opencl_program_cache(kiln_bin, tmp_path, model, opencl_available):
    """A fresh KILN_CACHE_DIR misses (programs compiled and written); the next process hits."""
    if not opencl_available:
        pytest.skip("no OpenCL device")
    cache = tmp_path / "cache"
    env = dict(os.environ, KILN_CACHE_DIR=str(cache))
    results = []
    for k in range(2):
        out = tmp_path / f"b{k}.json"
        proc = subprocess.run([str(kiln_bin), "bench", str(model), "--device", "opencl", "--runs",
                               "2", "--warmup", "0", *DIMS, "--json", str(out)],
                              capture_output=True, text=True, env=env, timeout=600,
                              stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, proc.stderr
        results.append(json.loads(out.read_text()))
    assert results[0]["opencl_program_cache"] == "miss"
    assert results[0]["programs_compiled"] > 0
    assert results[1]["opencl_program_cache"] == "hit"
    assert results[1]["programs_compiled"] == 0

    env["KILN_CACHE_DIR"] = "off"
    out = tmp_path / "off.json"
    proc = subprocess.run([str(kiln_bin), "bench", str(model), "--device", "opencl", "--runs",
                           "1", "--warmup", "0", *DIMS, "--json", str(out)],
                          capture_output=True, text=True, env=env, timeout=600,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["opencl_program_cache"] == "off"


def assert_error(res, code, *fragments):
    assert res.returncode == code, res.describe()
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.describe()  # one line
    assert lines[0].startswith("kiln bench: "), res.describe()
    for f in fragments:
        assert f in lines[0], res.describe()


def test_missing_model(kiln, tmp_path):
    assert_error(kiln("bench", tmp_path / "missing.onnx", "--device", "cpu"), 1, "missing.onnx")


def test_failures(kiln, tmp_path, model):
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x01\x12\xff\xff")
    assert_error(kiln("bench", tmp_path / "junk.onnx", "--device", "cpu"), 1, "junk.onnx")
    assert_error(kiln("bench", model, "--device", "cpu", "--inputs", tmp_path / "nope"), 1,
                 "--inputs")
    # An unwritable JSON path fails after the runs.
    assert_error(kiln("bench", model, "--device", "cpu", "--runs", "1", "--warmup", "0", *DIMS,
                      "--json", tmp_path / "no" / "such" / "dir" / "b.json"), 1, "JSON")


@pytest.mark.parametrize("args", [
    [],                                   # no model
    ["--bogus"],
    ["--runs", "0"],
    ["--runs", "-3"],
    ["--runs", "abc"],
    ["--warmup", "-1"],
    ["--warmup"],                         # missing value
    ["--threads", "-2"],
    ["--device", "gpu9"],
    ["--dim", "batch"],
    ["--dim", "batch=-1"],
    ["--seed", "x"],
    ["extra.onnx"],                       # two models
])
def test_usage_errors(kiln, model, args):
    argv = args if args == [] else [model, *args]
    assert_error(kiln("bench", *argv), 2, "--help")


def test_missing_dim_is_usage_error(kiln, model):
    # The symbolic dimensions need --dim (or --inputs) to make random inputs.
    assert_error(kiln("bench", model, "--device", "cpu", "--dim", "batch=1"), 2, "sequence")


@pytest.mark.parametrize("device", ["cpu", "opencl"])
def test_profile_table_and_trace(kiln, tmp_path, model, device, opencl_available):
    """The per-kernel table sums to no more than the profiled runs, every kernel row is
    consistent, and --profile writes a Chrome trace with one complete event per node and run."""
    if device == "opencl" and not opencl_available:
        pytest.skip("no OpenCL device")
    trace = tmp_path / "trace.json"
    res, j = bench_json(kiln, tmp_path, model, "--device", device, "--runs", "3", "--warmup", "0",
                        "--profile-runs", "2", "--profile", trace, *DIMS)
    assert "per kernel over 2 profiled runs" in res.stdout, res.stdout
    assert j["profiled_runs"] == 2 and j["level"] == 1
    kernels = j["kernels"]
    assert kernels, j
    total = sum(k["total_ms"] for k in kernels)
    assert abs(sum(k["share"] for k in kernels) - 1.0) < 1e-6
    assert all(k["calls"] >= 1 and k["total_ms"] >= 0 and k["gflops"] >= 0 for k in kernels)
    assert [k["total_ms"] for k in kernels] == sorted((k["total_ms"] for k in kernels),
                                                      reverse=True)
    assert sum(k["calls"] for k in kernels) % 2 == 0  # the same nodes in each profiled run
    if device == "opencl":
        assert any(k["device"].startswith("opencl") for k in kernels), kernels
    doc = json.loads(trace.read_text())
    events = doc["traceEvents"]
    runs = [e for e in events if e.get("cat") == "run"]
    nodes = [e for e in events if e.get("ph") == "X" and e.get("cat") != "run"]
    assert len(runs) == 2 and len(nodes) == sum(k["calls"] for k in kernels)
    run_us = sum(e["dur"] for e in runs)
    assert total * 1000.0 <= run_us + 1.0, (total, run_us)
    for e in nodes:
        assert e["dur"] >= 0 and "ts" in e and "tid" in e
    check_roofline(j, res)


def check_roofline(j, res):
    """Every kernel has a roofline share in [0, 1.05] from measured peaks of its device."""
    assert "roof" in res.stdout
    peaks = j["peaks"]
    for k in j["kernels"]:
        assert k["device"] in peaks, (k, list(peaks))
        assert k["roofline"] is not None and 0 <= k["roofline"] <= 1.05, k
    for p in peaks.values():
        assert p["gflops"] > 0 and p["gbytes_s"] > 0, p
        assert max(b["gbytes_s"] for b in p["bandwidth"]) == pytest.approx(p["gbytes_s"])


def test_bad_level_is_a_usage_error(kiln, model):
    res = kiln("bench", model, "--level", "3")
    assert res.returncode == 2, res.describe()
    assert "--level" in res.stderr


def test_compare_ort_script(repo_root, kiln_bin, venv_python, tmp_path):
    """bench/compare_ort.py runs kiln and onnxruntime on a model and writes a consistent table."""
    md = tmp_path / "t.md"
    res = subprocess.run([str(venv_python), str(repo_root / "bench" / "compare_ort.py"),
                          "--kiln", str(kiln_bin), "--rounds", "1", "--runs", "2", "--warmup", "0",
                          "--models", str(repo_root / "tests/models/zoo/bert_op17.onnx"),
                          "--markdown", str(md)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    rows = [l for l in md.read_text().splitlines() if l.startswith("| bert_op17")]
    assert len(rows) == 1, md.read_text()
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    kiln_ms, ort_ms, ratio = float(cells[2]), float(cells[3]), float(cells[4])
    assert kiln_ms > 0 and ort_ms > 0
    assert abs(ratio - kiln_ms / ort_ms) <= 0.01 + 0.01 * ratio


@pytest.mark.parametrize("op,shape,flops", [
    ("gemm", "13,7,5", 2 * 13 * 7 * 5),
    ("gemm", "2,3,4,5", 2 * 2 * 3 * 4 * 5),
    ("conv", "1,3,9,9,4,3", 2 * 4 * 9 * 9 * 3 * 3 * 3),
    ("dwconv", "1,4,9,9,3,2", 2 * 4 * 5 * 5 * 3 * 3),
    ("attention", "1,7,2,8", 4 * 2 * 7 * 7 * 8 + 5 * 2 * 7 * 7),
    ("layernorm", "3,16", 8 * 48),
])
def test_op_micro_benchmark(kiln, tmp_path, op, shape, flops):
    """`kiln bench --op` builds a one-op model, runs it, and reports GFLOP/s = flops / p50."""
    res, j = bench_json(kiln, tmp_path, None, "--op", op, "--shape", shape, "--device", "cpu",
                        "--runs", "3", "--warmup", "0", "--profile-runs", "1")
    assert j["op"]["flops"] == pytest.approx(flops), j["op"]
    p50 = j["latency_ms"]["p50"]
    assert j["op"]["gflops_p50"] == pytest.approx(flops / (p50 / 1000.0) / 1e9, rel=1e-6)
    assert "op: " in res.stdout and "GFLOP/s" in res.stdout


@pytest.mark.parametrize("shape,flops", [("13,7,5", 2 * 13 * 7 * 5),
                                         ("2,3,4,5", 2 * 2 * 3 * 4 * 5)])
def test_op_int8_gemm(kiln, tmp_path, device, shape, flops):
    """`--op gemm --dtype int8` times a MatMulInteger (GOP/s) and the fp32 MatMul beside it."""
    res, j = bench_json(kiln, tmp_path, None, "--op", "gemm", "--dtype", "int8", "--shape", shape,
                        "--device", device, "--runs", "3", "--warmup", "0", "--profile-runs",
                        "1", "--no-roofline")
    op = j["op"]
    assert op["dtype"] == "int8" and "MatMulInteger" in op["description"], op
    assert op["flops"] == pytest.approx(flops), op
    p50 = j["latency_ms"]["p50"]
    assert op["gops_p50"] == op["gflops_p50"] > 0, op
    assert op["gflops_p50"] == pytest.approx(flops / (p50 / 1000.0) / 1e9, rel=1e-6)
    assert op["fp32_gflops_p50"] > 0, op
    assert op["int8_over_fp32"] == pytest.approx(op["gops_p50"] / op["fp32_gflops_p50"], rel=1e-6)
    assert [k["op"] for k in j["kernels"]] == ["MatMulInteger"], j["kernels"]
    assert "GOP/s (int8)" in res.stdout and "int8 / fp32" in res.stdout


def test_op_peak_each_run(kiln, tmp_path):
    """`--peak-each-run` times the FMA loop after every timed run: one loop rate and one share
    (this run's rate / the loop's rate) per run, and their medians."""
    res, j = bench_json(kiln, tmp_path, None, "--op", "gemm", "--shape", "64,48,32", "--device",
                        "cpu", "--threads", "1", "--runs", "5", "--warmup", "0",
                        "--profile-runs", "0", "--no-roofline", "--peak-each-run")
    e = j["op"]["peak_each_run"]
    assert len(e["gflops"]) == len(e["shares"]) == 5, e
    assert all(x > 0 for x in e["gflops"] + e["shares"]), e
    assert sorted(e["shares"])[2] == pytest.approx(e["share_p50"], rel=1e-12), e
    assert sorted(e["gflops"])[2] == pytest.approx(e["gflops_p50"], rel=1e-12), e
    assert "against the FMA loop timed after each run" in res.stdout


@pytest.mark.parametrize("args,msg", [
    (["--op", "nope", "--shape", "1"], "unknown --op"),
    (["--op", "gemm", "--shape", "1,2"], "expected 3 to 4 sizes"),
    (["--op", "gemm", "--shape", "1,0,3"], "at least 1"),
    (["--op", "gemm"], "--op needs --shape"),
    (["--op", "gemm", "--shape", "2,2,2", "--dtype", "int4"], "--dtype"),
    (["--op", "conv", "--shape", "1,3,9,9,4,3", "--dtype", "int8"], "--dtype int8"),
    (["--op", "gemm", "--shape", "1,2", "--dtype", "int8"], "expected 3 to 4 sizes"),
    (["--op", "gemm", "--shape", "8,8,8", "--device", "cpu", "--threads", "2",
      "--peak-each-run"], "--peak-each-run goes with"),
    (["--op", "gemm", "--shape", "8,8,8", "--device", "cpu", "--threads", "1", "--dtype", "int8",
      "--peak-each-run"], "--peak-each-run goes with"),
    (["--op", "gemm", "--shape", "8,8,8", "--threads", "1", "--peak-each-run"],
     "--peak-each-run goes with"),
])
def test_op_usage_errors(kiln, args, msg):
    res = kiln("bench", *args)
    assert res.returncode == 2, res.describe()
    assert msg in res.stderr, res.stderr


@pytest.fixture(scope="module")
def vulkan_available(kiln, tmp_path_factory):
    path = tmp_path_factory.mktemp("vkdevices") / "d.json"
    res = kiln("devices", "--json", path)
    assert res.returncode == 0, res.describe()
    return bool(json.loads(path.read_text()).get("vulkan", {}).get("devices"))


@pytest.mark.parametrize("device", ["cpu", "opencl", "vulkan"])
def test_trace_one_event_per_node_every_backend(kiln, tmp_path, model, device, opencl_available,
                                                vulkan_available):
    """On every backend: the trace is valid JSON with one event per node and run, node times
    within the run, the device's nodes on its own track; OpenCL nodes on the device clock
    (Vulkan: host or device clock); roofline shares in [0, 1.05]."""
    if (device == "opencl" and not opencl_available) or (device == "vulkan" and
                                                         not vulkan_available):
        pytest.skip(f"no {device} device")
    trace = tmp_path / "trace.json"
    res, j = bench_json(kiln, tmp_path, model, "--device", device, "--runs", "2", "--warmup",
                        "0", "--profile-runs", "1", "--profile", trace, *DIMS)
    doc = json.loads(trace.read_text())
    runs = [e for e in doc["traceEvents"] if e.get("cat") == "run"]
    nodes = [e for e in doc["traceEvents"] if e.get("ph") == "X" and e.get("cat") != "run"]
    assert len(runs) == 1
    assert len(nodes) == sum(k["calls"] for k in j["kernels"])
    assert sum(e["dur"] for e in nodes) <= runs[0]["dur"] + 1.0
    clocks = {e["args"]["clock"] for e in nodes if e["tid"] != 0}
    tracks = {m["args"]["name"]: m["tid"] for m in doc["traceEvents"]
              if m.get("name") == "thread_name"}
    dev_tid = [tid for name, tid in tracks.items() if name.startswith(device)]
    if device != "cpu":
        assert dev_tid, tracks
        dev_nodes = [e for e in nodes if e["tid"] == dev_tid[0]]
        assert dev_nodes
        if device == "opencl":
            # Views (Reshape...) enqueue no work: no device interval, a zero duration.
            timed = [e for e in dev_nodes if e["args"]["kernel"] != "view"]
            assert all(e["args"]["clock"] == "device" for e in timed), timed[:3]
            assert all(e["dur"] == 0 for e in dev_nodes if e["args"]["kernel"] == "view")
            assert any(e["dur"] > 0 for e in dev_nodes if e["cat"] == "MatMul")
        else:
            assert {e["args"]["clock"] for e in dev_nodes} <= {"host", "device"}
    else:
        assert clocks == {"host"}
    check_roofline(j, res)


def test_progress_lines_on_stderr(kiln_bin, tmp_path, model):
    """A long run (here: progress shown at once) prints plain progress lines on stderr when
    stderr is not a terminal, never a bar, and nothing of it on stdout or in the JSON."""
    out = tmp_path / "p.json"
    env = dict(os.environ, KILN_PROGRESS_AFTER_MS="0")
    proc = subprocess.run([str(kiln_bin), "bench", str(model), "--device", "cpu", "--runs", "20",
                           "--warmup", "2", "--profile-runs", "0", *DIMS, "--json", str(out)],
                          capture_output=True, text=True, env=env, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert "run 20/20" in proc.stderr and "run 2/20" in proc.stderr, proc.stderr
    assert "warm-up 2/2" in proc.stderr
    assert "\r" not in proc.stderr and "\033" not in proc.stderr
    assert "run 20/20" not in proc.stdout
    json.loads(out.read_text())  # the JSON holds only the results


def test_peak(kiln_bin, tmp_path):
    """`--op peak` measures once, caches in the cache dir, and prints the cached figures later."""
    env = dict(os.environ, KILN_CACHE_DIR=str(tmp_path / "cache"))
    figures = []
    for k in range(2):
        out = tmp_path / f"peak{k}.json"
        proc = subprocess.run([str(kiln_bin), "bench", "--op", "peak", "--device", "cpu",
                               "--threads", "1", "--json", str(out)],
                              capture_output=True, text=True, env=env, timeout=120,
                              stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, proc.stderr
        assert "peak FP32:" in proc.stdout and "peak bandwidth:" in proc.stdout
        j = json.loads(out.read_text())
        assert j["gflops"] > 0 and j["gbytes_s"] > 0 and len(j["bandwidth"]) >= 3
        assert j["cached"] == (k == 1)
        figures.append((j["gflops"], j["gbytes_s"]))
    assert figures[0] == figures[1]
    assert "1 threads" in json.loads((tmp_path / "peak1.json").read_text())["key"]
    assert (tmp_path / "cache" / "peaks.json").exists()


def test_tune_opencl(kiln_bin, tmp_path, opencl_available):
    """--tune on OpenCL times candidates, prints a table and the table entry; --tune-save stores
    it (in a private cache dir here) and a later process uses it."""
    if not opencl_available:
        pytest.skip("no OpenCL device")
    env = dict(os.environ, KILN_CACHE_DIR=str(tmp_path / "cache"))
    out = tmp_path / "tune.json"
    proc = subprocess.run([str(kiln_bin), "bench", "--op", "gemm", "--shape", "96,80,72",
                           "--device", "opencl", "--tune", "--tune-save", "--json", str(out)],
                          capture_output=True, text=True, env=env, timeout=300,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert "stage" in proc.stdout and "GFLOP/s" in proc.stdout
    assert "entry for the table in runtime/opencl/gemm_tuning.cpp" in proc.stdout
    assert "[](GemmTuning* g) {" in proc.stdout and "g->nt_vw = " in proc.stdout
    j = json.loads(out.read_text())
    ok = [c for c in j["candidates"] if not c["error"]]
    assert len(ok) >= 3
    assert j["best_ms"] == pytest.approx(min(c["ms"] for c in ok))
    assert all(c["gflops"] > 0 for c in ok)
    saved = json.loads((tmp_path / "cache" / "gemm_tuning.json").read_text())
    assert len(saved) == 1 and "tuning" in next(iter(saved.values()))
    # A later run on the same device picks the saved entry (and still computes correctly: the
    # GEMM results are checked by the unit tests; here it must run).
    res = subprocess.run([str(kiln_bin), "bench", "--op", "gemm", "--shape", "33,17,9",
                          "--device", "opencl", "--runs", "1", "--warmup", "0",
                          "--profile-runs", "0"],
                         capture_output=True, text=True, env=env, timeout=120,
                         stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("device", ["vulkan", "cpu"])
def test_tune_nothing_to_tune(kiln, device):
    res = kiln("bench", "--op", "gemm", "--shape", "64,64,64", "--device", device, "--tune")
    assert res.returncode == 0, res.describe()
    assert "no tunable parameters" in res.stdout


@pytest.mark.parametrize("args,msg", [
    (["--op", "peak"], "--op peak needs --device"),
    (["--op", "peak", "--device", "auto"], "--op peak needs --device"),
    (["--op", "peak", "--device", "cpu", "--shape", "1,2,3"], "--op peak takes no"),
    (["--op", "peak", "--device", "cpu", "--threads", "-1"], "--threads"),
    (["--op", "conv", "--shape", "1,3,9,9,4,3", "--device", "opencl", "--tune"],
     "--tune goes with --op gemm"),
    (["--op", "gemm", "--shape", "1,2", "--device", "opencl", "--tune"], "--shape M,N,K"),
    (["--op", "gemm", "--shape", "4,4,99999", "--device", "opencl", "--tune"], "--shape M,N,K"),
    (["--op", "gemm", "--shape", "4,4,4", "--tune"], "--tune needs --device"),
    (["--op", "gemm", "--shape", "4,4,4", "--device", "opencl", "--tune", "--dtype", "float16"],
     "float32"),
    (["--op", "gemm", "--shape", "4,4,4", "--device", "cpu", "--remeasure"], "--remeasure"),
])
def test_peak_and_tune_usage_errors(kiln, args, msg):
    res = kiln("bench", *args)
    assert res.returncode == 2, res.describe()
    assert msg in res.stderr, res.stderr
