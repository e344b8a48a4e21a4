#!/usr/bin/env python3
"""Fused against unfused, per backend, in one run (issue 5's benchmark).

For each model and each kiln device, alternates `kiln bench --level 1` (no transformer fusions:
attention as MatMul/Softmax/MatMul, LayerNorm and GELU spelled out) and `kiln bench --level 2`
(Attention, SkipLayerNormalization, BiasGelu, EmbedLayerNormalization...) for --rounds rounds, so
machine noise hits both alike, and prints the median p50 latencies and the ratio
unfused / fused as a markdown table.

  build/venv/bin/python bench/fused_vs_unfused.py [--devices cpu,opencl,vulkan] [--threads 1]
      [--rounds 3] [--runs 20] [--models a.onnx ...] [--dim batch=1 --dim sequence=128]
      [--markdown out.md]

Default models: the zoo's BERT-shaped exports (bert_op14, distilbert, minilm) with their
committed inputs. With --dim, `kiln bench` makes random inputs of that shape instead (e.g. a
BERT-base export at batch 1, sequence 128).
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ZOO = REPO / "tests" / "models" / "zoo"


def bench(kiln, model, device, level, threads, runs, dims):
    with tempfile.TemporaryDirectory() as d:
        js = Path(d) / "b.json"
        cmd = [str(kiln), "bench", str(model), "--device", device, "--level", str(level),
               "--threads", str(threads), "--runs", str(runs), "--warmup", "3",
               "--profile-runs", "0", "--json", str(js)]
        if dims:
            for dim in dims:
                cmd += ["--dim", dim]
        else:
            inputs = ZOO / Path(model).stem / "inputs"
            if inputs.is_dir():
                cmd += ["--inputs", str(inputs)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: {res.stderr.strip()[-500:]}")
        return json.loads(js.read_text())["latency_ms"]["p50"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kiln", default=str(REPO / "build" / "kiln"))
    ap.add_argument("--devices", default="cpu,opencl,vulkan")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--models", nargs="*")
    ap.add_argument("--dim", action="append", default=[])
    ap.add_argument("--markdown")
    a = ap.parse_args()
    models = a.models or [str(ZOO / f"{m}.onnx") for m in ("bert_op14", "distilbert", "minilm")]
    rows = []
    for model in models:
        for device in a.devices.split(","):
            times = {1: [], 2: []}
            try:
                for _ in range(a.rounds):
                    for level in (1, 2):
                        times[level].append(bench(a.kiln, model, device, level, a.threads,
                                                  a.runs, a.dim))
            except RuntimeError as e:
                print(f"skipped {Path(model).stem} on {device}: {e}", file=sys.stderr)
                continue
            unfused, fused = statistics.median(times[1]), statistics.median(times[2])
            rows.append((Path(model).stem, device, unfused, fused, unfused / fused))
            print(f"{rows[-1][0]} {device}: level 1 {unfused:.3f} ms, level 2 {fused:.3f} ms",
                  file=sys.stderr)
    lines = ["| model | device | unfused (level 1) p50 ms | fused (level 2) p50 ms | speed-up |",
             "|---|---|---|---|---|"]
    lines += [f"| {m} | {d} | {u:.3f} | {f:.3f} | {r:.2f}x |" for m, d, u, f, r in rows]
    text = "\n".join(lines)
    print(text)
    if a.markdown:
        Path(a.markdown).write_text(text + "\n")
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
