#!/usr/bin/env python3
"""Checks the CPU conformance figures that issue 2 asks for.

Reads a `kiln conformance --report` JSON file and the expectations file used for that run.
Among the cases whose ops are all in kiln's required op list, at least 95 % must pass, and every
one that does not pass must be listed in the expectations file with a reason. Prints the figure.
Usage: check_figures.py REPORT.json EXPECTATIONS.txt
"""
import json
import re
import sys

REQUIRED_OPS = set("""
Add Sub Mul Div Pow Sqrt Exp Log Erf Tanh Sigmoid Relu LeakyRelu Elu HardSigmoid Gelu Neg Abs
Reciprocal Floor Ceil Clip Min Max Mean Sum Where Equal Less LessOrEqual Greater GreaterOrEqual
Not And Or Xor Cast CastLike Identity Dropout MatMul Gemm Softmax LogSoftmax ReduceMean ReduceSum
ReduceMax ReduceMin ReduceProd ReduceL2 LayerNormalization InstanceNormalization Reshape Transpose
Squeeze Unsqueeze Flatten Concat Split Slice Gather GatherElements GatherND ScatterND Expand Shape
Size ConstantOfShape Constant Range Tile Pad Conv ConvTranspose BatchNormalization MaxPool
AveragePool GlobalAveragePool GlobalMaxPool Resize ArgMax ArgMin TopK CumSum Einsum Trilu NonZero
DequantizeLinear QuantizeLinear DynamicQuantizeLinear MatMulInteger QLinearMatMul ConvInteger
QLinearConv
""".split())


# Element types outside the list (float, float16, double, int64, int32, int8, uint8,
# bool and the other plain numeric types): cases that need them are out of scope.
OUT_OF_SCOPE_DTYPES = re.compile(
    r"dtype string|casting to string|unknown data_type (1[7-9]|2[0-9])|casting to ONNX type "
    r"(1[7-9]|2[0-9])")


def read_expectations(path):
    out = {}
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            name, _, reason = line.partition(" ")
            out[name] = reason.strip()
    return out


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    report = json.load(open(sys.argv[1]))
    expected = read_expectations(sys.argv[2])
    in_scope = [c for c in report["cases"] if c["ops"] and set(c["ops"]) <= REQUIRED_OPS
                and not OUT_OF_SCOPE_DTYPES.search(c["message"])]
    passed = [c for c in in_scope if c["status"] == "pass"]
    missing = [c for c in report["cases"] if c["status"] != "pass" and c["name"] not in expected]
    rate = len(passed) / max(len(in_scope), 1)
    print(f"{sys.argv[1]}: {len(passed)} of {len(in_scope)} cases whose ops are all in the "
          f"required list pass ({100 * rate:.1f} %); {report['passed']} of "
          f"{len(report['cases'])} cases pass overall")
    ok = True
    if rate < 0.95:
        print("FAIL: below 95 %")
        ok = False
    for c in missing:
        print(f"FAIL: {c['name']} ({c['status']}) is not in the expectations file: {c['message']}")
        ok = False
    no_ops = [c["name"] for c in report["cases"] if not c["ops"]]
    if no_ops:
        print(f"note: {len(no_ops)} cases could not be imported: {', '.join(no_ops[:5])} ...")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
