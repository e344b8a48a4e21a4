"""Turns the cells that tests/python/test_matrix.py and test_full.py log (KILN_MATRIX_LOG=FILE,
one JSON object per passing cell) into the markdown tables of docs/MODELS.md.

    KILN_MATRIX_LOG=/tmp/m.jsonl build/venv/bin/python -m pytest tests/python/test_matrix.py
    python3 tests/models/matrix_report.py /tmp/m.jsonl

Each cell shows the max abs error against onnxruntime on the same file (int8: also the lowest
cosine); a cell that is not in the log (failed, or skipped for a missing device) shows "-".
"""

import json
import sys
from collections import defaultdict


def cell(r):
    if "cells" in r:  # test_full.py: preformatted per-output strings
        worst = max((float(c.split("max abs ")[1].split(",")[0]) for c in r["cells"]),
                    default=0.0)
        cos = min((float(c.split("cosine ")[1].split(",")[0]) for c in r["cells"]), default=1.0)
        return f"{worst:.2g} (cos {cos:.5f})" if r["variant"] == "int8" else f"{worst:.2g}"
    if "min_cosine" in r:
        return f"{r['max_abs']:.2g} (cos {r['min_cosine']:.5f})"
    return f"{r['max_abs']:.2g}"


def main():
    rows = [json.loads(line) for path in sys.argv[1:] for line in open(path) if line.strip()]
    by = defaultdict(dict)
    variants, devices = [], []
    for r in rows:
        by[r["model"]][(r["variant"], r["device"])] = cell(r)
        if r["variant"] not in variants:
            variants.append(r["variant"])
        if r["device"] not in devices:
            devices.append(r["device"])
    cols = [(v, d) for v in variants for d in devices]
    print("| model | " + " | ".join(f"{v} {d}" for v, d in cols) + " |")
    print("|---|" + "---|" * len(cols))
    for m in sorted(by):
        print(f"| {m} | " + " | ".join(by[m].get(c, "-") for c in cols) + " |")


if __name__ == "__main__":
    main()
