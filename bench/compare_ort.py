#!/usr/bin/env python3
"""kiln against onnxruntime, side by side in one run.

For each model (default: every model in tests/models/zoo with its committed inputs) and each
kiln device, runs `kiln bench` and an onnxruntime timing loop with the same thread count,
alternating A B A B for --rounds rounds so that machine noise hits both alike, and prints the
median latencies and the ratio kiln / onnxruntime as a markdown table (and a PNG bar chart with
--png when matplotlib is installed: build/venv/bin/pip install matplotlib; without it the
script says so, prints the table and writes no chart).

  build/venv/bin/python bench/compare_ort.py [--devices cpu,opencl] [--threads 1]
      [--rounds 5] [--runs 20] [--models a.onnx b.onnx ...] [--markdown out.md] [--png out.png]

Latency is per run, in milliseconds, inside the process (no start-up): kiln's from
`kiln bench --json` (p50 of its timed runs), onnxruntime's from time.perf_counter around
session.run. Each round's medians are collected and the table shows the median over rounds.
onnxruntime runs with ORT_ENABLE_ALL graph optimizations (its default) and kiln at --level
(default 1); both on the CPU unless the kiln device says otherwise.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def load_inputs(folder):
    feeds = {}
    for f in sorted(Path(folder).glob("*.npy")):
        feeds[f.stem] = np.load(f)
    return feeds


def ort_session(model, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])


def ort_times(sess, feeds, runs, warmup):
    names = {i.name for i in sess.get_inputs()}
    feeds = {k: v for k, v in feeds.items() if k in names}
    for _ in range(warmup):
        sess.run(None, feeds)
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        out.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(out)


def kiln_time(kiln, model, inputs, device, threads, runs, warmup, level):
    with tempfile.TemporaryDirectory() as tmp:
        js = Path(tmp) / "b.json"
        cmd = [str(kiln), "bench", str(model), "--device", device, "--threads", str(threads),
               "--runs", str(runs), "--warmup", str(warmup), "--profile-runs", "0",
               "--level", str(level), "--json", str(js)]
        if inputs:
            cmd += ["--inputs", str(inputs)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")
        return json.loads(js.read_text())["latency_ms"]["p50"]


def zoo_models():
    zoo = REPO / "tests" / "models" / "zoo"
    out = []
    for m in sorted(zoo.glob("*.onnx")):
        inputs = zoo / m.stem / "inputs"
        out.append((m, inputs if inputs.is_dir() else None))
    return out


def load_pyplot():
    """matplotlib.pyplot with the file-only backend, or None when matplotlib is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except ImportError:
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kiln", default=os.environ.get("KILN_BIN", REPO / "build" / "kiln"))
    ap.add_argument("--devices", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--level", type=int, default=1)
    ap.add_argument("--models", nargs="*", help="models (inputs from MODEL_DIR/inputs when present)")
    ap.add_argument("--markdown", help="also write the table to this file")
    ap.add_argument("--png", help="write a bar chart (needs matplotlib)")
    a = ap.parse_args()
    plt = load_pyplot() if a.png else None
    if a.png and plt is None:
        print("--png: matplotlib is not installed: the table will be printed, the chart not "
              "(pip install matplotlib)", file=sys.stderr)
    if a.rounds < 1 or a.runs < 1 or a.threads < 1:
        ap.error("--rounds, --runs and --threads must be at least 1")

    if a.models:
        models = []
        for m in a.models:
            p = Path(m)
            inputs = p.with_suffix("") / "inputs"
            models.append((p, inputs if inputs.is_dir() else None))
    else:
        models = zoo_models()
    devices = [d for d in a.devices.split(",") if d]

    rows = []
    for model, inputs in models:
        if not inputs:
            print(f"skip {model.name}: no inputs folder", file=sys.stderr)
            continue
        feeds = load_inputs(inputs)
        try:
            sess = ort_session(model, a.threads)
        except Exception as e:  # noqa: BLE001 - a model ORT cannot load is reported, not fatal
            print(f"skip {model.name}: onnxruntime cannot load it: {e}", file=sys.stderr)
            continue
        for device in devices:
            k_meds, o_meds = [], []
            err = None
            for _ in range(a.rounds):
                try:
                    k_meds.append(kiln_time(a.kiln, model, inputs, device, a.threads, a.runs,
                                            a.warmup, a.level))
                except RuntimeError as e:
                    err = str(e)
                    break
                o_meds.append(ort_times(sess, feeds, a.runs, a.warmup))
            if err:
                rows.append((model.stem, device, None, None, err))
                continue
            k, o = statistics.median(k_meds), statistics.median(o_meds)
            rows.append((model.stem, device, k, o, ""))
            print(f"{model.stem:20s} {device:8s} kiln {k:8.3f} ms  onnxruntime {o:8.3f} ms  "
                  f"ratio {k / o:6.2f}", file=sys.stderr)

    lines = [f"kiln / onnxruntime, {a.threads} thread(s), median of {a.rounds} rounds x "
             f"{a.runs} runs (lower ratio is better for kiln)", "",
             "| model | kiln device | kiln p50 ms | onnxruntime p50 ms | kiln / ort |",
             "|---|---|---:|---:|---:|"]
    for name, dev, k, o, err in rows:
        if k is None:
            lines.append(f"| {name} | {dev} | failed | | {err[:80]} |")
        else:
            lines.append(f"| {name} | {dev} | {k:.3f} | {o:.3f} | {k / o:.2f} |")
    table = "\n".join(lines)
    print(table)
    if a.markdown:
        Path(a.markdown).write_text(table + "\n")
    if a.png and plt is None:
        print(f"--png: matplotlib is not installed, so no chart was written to {a.png} "
              "(the table above is complete; pip install matplotlib for the chart)",
              file=sys.stderr)
    elif a.png:
        ok = [r for r in rows if r[2] is not None]
        labels = [f"{r[0]} ({r[1]})" for r in ok]
        fig, ax = plt.subplots(figsize=(8, 0.35 * len(ok) + 1.5))
        y = np.arange(len(ok))
        ax.barh(y - 0.2, [r[2] for r in ok], 0.4, label="kiln")
        ax.barh(y + 0.2, [r[3] for r in ok], 0.4, label="onnxruntime")
        ax.set_yticks(y, labels)
        ax.set_xlabel("p50 latency (ms)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(a.png, dpi=100)
    return 1 if any(r[2] is None for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
