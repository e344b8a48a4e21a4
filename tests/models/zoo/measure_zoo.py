"""Measures the zoo support matrix that docs/MODELS.md records: for every zoo model and device
(cpu, cpu at --level 99, opencl, vulkan), whether `kiln run` reproduces expected/ within the
tolerance of tests/python/test_zoo.py, the max abs error, which nodes `kiln run --verbose`
placed on the CPU on OpenCL and on Vulkan (host shape computation apart from real fallbacks),
and latency p50 from `kiln bench` beside onnxruntime's (CPUExecutionProvider, default graph
optimizations, a timing loop here with the same warm-up and run counts; --threads N CPU threads
for both, default each one's own default: one per hardware thread for kiln, one per physical
core for ORT).

    build/venv/bin/python tests/models/zoo/measure_zoo.py KILN_BIN [--runs N] [--threads N]
        [--json FILE]

Prints the markdown tables; needs no torch.
"""

import argparse
import collections
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

ZOO = Path(__file__).resolve().parent
sys.path.insert(0, str(ZOO.parents[1] / "python"))
from test_zoo import MANIFEST, TOLERANCES  # noqa: E402

HOST = ("shape computation on small host tensors", "reads only the input's shape")
PLACED = re.compile(r"^\s+cpu: node '(.*)' \((.*)\): (.*)$")
PLACEMENT = re.compile(r"^placement: (\d+) of (\d+) nodes on (\S+)")


def kiln(bin_, *args, timeout=300):
    return subprocess.run([bin_, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def accuracy(bin_, name, device, *extra):
    with tempfile.TemporaryDirectory() as tmp:
        res = kiln(bin_, "run", ZOO / f"{name}.onnx", "--device", device, "--inputs",
                   ZOO / name / "inputs", "--output-dir", tmp, "--quiet", *extra)
        if res.returncode != 0:
            return {"ok": False, "error": res.stderr.strip().splitlines()[-1][:300]}
        err = 0.0
        for p in sorted((ZOO / name / "expected").glob("*.npy")):
            ref = np.load(p)
            got = np.load(Path(tmp) / p.name)
            if got.shape != ref.shape or got.dtype != ref.dtype:
                return {"ok": False, "error": f"{p.stem}: {got.dtype}{got.shape}"}
            e = float(np.max(np.abs(got.astype(np.float64) - ref))) if ref.size else 0.0
            err = max(err, e if np.isfinite(e) else float("inf"))
        return {"ok": err <= TOLERANCES[name], "max_abs": err}


def placement(bin_, name, device):
    res = kiln(bin_, "run", ZOO / f"{name}.onnx", "--device", device, "--inputs",
               ZOO / name / "inputs", "--verbose")
    out = {"on_device": None, "nodes": None, "host": collections.Counter(),
           "fallback": collections.Counter(), "reasons": {}}
    for line in res.stdout.splitlines() + res.stderr.splitlines():
        m = PLACEMENT.match(line)
        if m:
            out["on_device"], out["nodes"] = int(m.group(1)), int(m.group(2))
        m = PLACED.match(line)
        if m:
            node, op, why = m.groups()
            if why.startswith(HOST):
                out["host"][op] += 1
            else:
                out["fallback"][op] += 1
                out["reasons"].setdefault(f"{op}: {why}", []).append(node)
    return out


def kiln_p50(bin_, name, device, runs, threads):
    with tempfile.TemporaryDirectory() as tmp:
        js = Path(tmp) / "b.json"
        res = kiln(bin_, "bench", ZOO / f"{name}.onnx", "--device", device, "--inputs",
                   ZOO / name / "inputs", "--warmup", 5, "--runs", runs, "--json", js,
                   *(["--threads", threads] if threads else []))
        if res.returncode != 0:
            return None
        return json.loads(js.read_text())["latency_ms"]["p50"]


def ort_p50(name, runs, threads):
    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(ZOO / f"{name}.onnx"), so,
                                providers=["CPUExecutionProvider"])
    feeds = {p.stem: np.load(p) for p in (ZOO / name / "inputs").glob("*.npy")}
    for _ in range(5):
        sess.run(None, feeds)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.percentile(times, 50))


def fmt_err(r):
    if not r["ok"] and "error" in r:
        return "FAIL (error)"
    return f"{'pass' if r['ok'] else 'FAIL'} {r['max_abs']:.1e}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kiln")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--threads", type=int, default=0,
                    help="CPU threads, kiln and ORT alike (default 0: each one's default)")
    ap.add_argument("--json")
    a = ap.parse_args()
    rows = {}
    for name in sorted(MANIFEST):
        r = {"cpu": accuracy(a.kiln, name, "cpu"),
             "cpu_level99": accuracy(a.kiln, name, "cpu", "--level", "99"),
             "opencl": accuracy(a.kiln, name, "opencl"),
             "vulkan": accuracy(a.kiln, name, "vulkan"),
             "placement": placement(a.kiln, name, "opencl"),
             "placement_vulkan": placement(a.kiln, name, "vulkan"),
             "p50_ms": {"kiln_cpu": kiln_p50(a.kiln, name, "cpu", a.runs, a.threads),
                        "kiln_opencl": kiln_p50(a.kiln, name, "opencl", a.runs, a.threads),
                        "kiln_vulkan": kiln_p50(a.kiln, name, "vulkan", a.runs, a.threads),
                        "ort_cpu": ort_p50(name, a.runs, a.threads)}}
        rows[name] = r
        print(name, json.dumps(r, default=str), file=sys.stderr)
    f = (lambda v: f"{v:.2f}" if v is not None else "-")

    def fallbacks(pl):
        return ", ".join(f"{op} ({n})" for op, n in pl["fallback"].most_common()) or "none"

    def dev(pl):
        return f"{pl['on_device']}/{pl['nodes']}" if pl["nodes"] else "-"

    print("### Accuracy: max abs error against onnxruntime (pass = within test_zoo.py's tolerance)")
    print()
    print("| model | exported nodes | tolerance | cpu | cpu --level 99 | opencl | vulkan |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {sum(MANIFEST[name]['ops'].values())} | {TOLERANCES[name]:g} | "
              f"{fmt_err(r['cpu'])} | {fmt_err(r['cpu_level99'])} | {fmt_err(r['opencl'])} | "
              f"{fmt_err(r['vulkan'])} |")
    print()
    print("### Placement: nodes on the device / nodes after kiln's level-1 passes, host shape "
          "nodes, and the ops that fall back to the CPU")
    print()
    print("| model | opencl: on device | host shape | opencl fallback ops (count) | "
          "vulkan: on device | host shape | vulkan fallback ops (count) |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        pl, pv = r["placement"], r["placement_vulkan"]
        print(f"| {name} | {dev(pl)} | {sum(pl['host'].values())} | {fallbacks(pl)} | "
              f"{dev(pv)} | {sum(pv['host'].values())} | {fallbacks(pv)} |")
    print()
    print("### Latency p50 (ms)")
    print()
    print("| model | kiln cpu | kiln opencl | kiln vulkan | onnxruntime cpu |")
    print("|---|---|---|---|---|")
    for name, r in rows.items():
        lat = r["p50_ms"]
        print(f"| {name} | {f(lat['kiln_cpu'])} | {f(lat['kiln_opencl'])} | "
              f"{f(lat['kiln_vulkan'])} | {f(lat['ort_cpu'])} |")
    print()
    for name, r in rows.items():
        for k in ("cpu", "cpu_level99", "opencl", "vulkan"):
            if "error" in r[k]:
                print(f"- {name} on {k}: {r[k]['error']}")
        for dev_name, key in (("opencl", "placement"), ("vulkan", "placement_vulkan")):
            for why, nodes in r[key]["reasons"].items():
                print(f"- {name} on {dev_name}: {why}: {', '.join(nodes[:4])}"
                      f"{' ...' if len(nodes) > 4 else ''}")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1, default=dict) + "\n")


if __name__ == "__main__":
    main()
