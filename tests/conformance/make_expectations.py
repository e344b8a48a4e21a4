#!/usr/bin/env python3
"""Writes an expectations file from a `kiln conformance --report` JSON file.

Every case that does not pass is listed with a reason chosen from its message (the categories
below). Review the result before committing it: a reason must be true, and a case that fails
for a reason not listed here is reported on stderr and left out, so that it stays a failure.
Usage: make_expectations.py REPORT.json OUT.txt
"""
import json
import re
import sys

CATEGORIES = [
    (r"casting to string|dtype string is not supported", "string tensors are not supported"),
    (r"unknown data_type (1[7-9]|2[0-9])|casting to ONNX type (1[7-9]|2[0-9])",
     "float8 / int4 / float4 element types are not supported"),
    (r"graph attribute|has a graph|subgraph|is not a supported op.*\((If|Loop|Scan)\)|"
     r"\((If|Loop|Scan)\) is not a supported op",
     "control flow with subgraphs (If / Loop / Scan) is not supported yet"),
    (r"not a tensor|sequence|optional|not a plain tensor",
     "sequence / optional / map values are not supported (tensors only)"),
    (r"training-mode Dropout|training_mode=1",
     "training mode is not supported: kiln is an inference runtime"),
    (r"is not a supported op", "op outside kiln's op list (not implemented yet)"),
]

SPECIFIC = {
    "test_cast_FLOAT_to_BFLOAT16":
        "test data truncates float to bfloat16; kiln rounds to nearest even like onnxruntime",
    "test_castlike_FLOAT_to_BFLOAT16":
        "test data truncates float to bfloat16; kiln rounds to nearest even like onnxruntime",
    "test_castlike_FLOAT_to_BFLOAT16_expanded":
        "test data truncates float to bfloat16; kiln rounds to nearest even like onnxruntime",
    "test_qlinearmatmul_2D_int8_float16":
        "test data wraps int8 overflow; the spec, onnxruntime and kiln saturate",
    "test_qlinearmatmul_2D_int8_float32":
        "test data wraps int8 overflow; the spec, onnxruntime and kiln saturate",
    "test_qlinearmatmul_3D_int8_float16":
        "test data wraps int8 overflow; the spec, onnxruntime and kiln saturate",
    "test_qlinearmatmul_3D_int8_float32":
        "test data wraps int8 overflow; the spec, onnxruntime and kiln saturate",
}


def reason_for(case):
    if case["name"] in SPECIFIC:
        return SPECIFIC[case["name"]]
    msg = case["message"]
    if "'like' expects shape" in msg and "but the feed has shape [1]" in msg:
        return "test data feeds 'like' with shape [1] where the model declares [3, 4]"
    for pattern, reason in CATEGORIES:
        if re.search(pattern, msg):
            if reason.startswith("op outside"):
                m = re.search(r"\((\S+?)\) is not a supported op", msg)
                if m:
                    return f"op {m.group(1)} is outside kiln's op list (not implemented yet)"
            return reason
    return None


def main():
    report = json.load(open(sys.argv[1]))
    lines, unknown = [], []
    for c in report["cases"]:
        if c["status"] == "pass":
            continue
        r = reason_for(c)
        if r is None:
            unknown.append(c)
            continue
        lines.append(f"{c['name']}  {r}")
    with open(sys.argv[2], "w") as f:
        f.write("# Conformance cases kiln's CPU path does not pass, with the reason.\n")
        f.write("# Regenerate with tests/conformance/make_expectations.py and review.\n")
        f.write("\n".join(lines) + "\n")
    for c in unknown:
        print(f"no reason for {c['name']} ({c['status']}): {c['message']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
