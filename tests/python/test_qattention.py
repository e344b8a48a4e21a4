"""Quantized com.microsoft Attention (QAttention) on an ONNX Runtime-optimized BERT
(tests/models/ort_opt/bert_eager_op14_ort.onnx, 2 fused Attention nodes):

1. onnxruntime.quantization.quantize_dynamic makes QAttention of them; kiln runs that model on the
   CPU, OpenCL and Vulkan (where QAttention runs on the CPU, with the reason logged) and agrees
   with onnxruntime.
2. `kiln quantize` makes the same DynamicQuantizeLinear + QAttention pattern (Attention is among
   its default op types, as in onnxruntime); the output loads and runs in onnxruntime, agrees with
   kiln, and stays close to the float model.

The ONNX Runtime quantization is limited to MatMul and Attention: its default op types also turn
EmbedLayerNormalization into QEmbedLayerNormalization, which kiln does not run.

Tolerances. The integer parts (DynamicQuantizeLinear codes, the int32 projection sums) are exact
in both runtimes, but the float ops between them (SkipLayerNorm, Gelu, softmax) may differ in the
last bits; a one-ulp difference in front of a DynamicQuantizeLinear can move a code by 1 and the
next projection by x_scale * w_scale * |w_q| (~1e-3). kiln vs onnxruntime on the same quantized
model: max abs error <= 5e-3 and cosine >= 0.99999 per output (as tests/python/test_quantize.py).
Quantized vs float model: cosine >= 0.99 per output.
"""

import collections
import json
from pathlib import Path

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "tests" / "models" / "ort_opt" / "bert_eager_op14_ort.onnx"
INPUTS = REPO / "tests" / "models" / "zoo" / "bert_eager_op14" / "inputs"
ATOL = 5e-3
MIN_COS = 0.99999


def load_dir(d):
    return {p.stem: np.load(p) for p in sorted(Path(d).glob("*.npy"))}


def cosine(a, b):
    a = a.astype(np.float64).ravel()
    b = b.astype(np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))


def ort_run(model, feeds):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
    names = {i.name for i in sess.get_inputs()}
    outs = sess.run(None, {k: v for k, v in feeds.items() if k in names})
    return {o.name: v for o, v in zip(sess.get_outputs(), outs)}


def kiln_run(kiln, model, device, out_dir, *extra):
    res = kiln("run", model, "--inputs", INPUTS, "--output-dir", out_dir, "--device", device,
               *extra, timeout=300)
    assert res.returncode == 0, res.describe()
    got = {p.stem: np.load(p) for p in Path(out_dir).glob("*.npy")}
    return got, res


def op_counts(model):
    m = onnx.load(str(model))
    return collections.Counter((n.domain, n.op_type) for n in m.graph.node)


def compare(got, want, what):
    for name, ref in want.items():
        g = got[name.replace("/", "_").replace(":", "_")]
        assert g.shape == ref.shape, (what, name, g.shape, ref.shape)
        err = float(np.max(np.abs(g.astype(np.float64) - ref)))
        cos = cosine(g, ref)
        print(f"{what} {name}: max abs error {err:.3g}, cosine {cos:.8f}")
        assert err <= ATOL, f"{what} {name}: max abs error {err}"
        assert cos >= MIN_COS, f"{what} {name}: cosine {cos}"


@pytest.fixture(scope="module")
def devices_available(kiln, tmp_path_factory):
    path = tmp_path_factory.mktemp("devices") / "d.json"
    res = kiln("devices", "--json", path)
    assert res.returncode == 0, res.describe()
    d = json.loads(path.read_text())
    return {api for api in ("opencl", "vulkan") if d.get(api, {}).get("devices")}


@pytest.fixture(scope="module")
def ort_quantized(tmp_path_factory):
    from onnxruntime.quantization import quantize_dynamic
    out = tmp_path_factory.mktemp("ortq") / "bert_eager_qattention.onnx"
    # DefaultTensorType: onnx shape inference cannot type the outputs of the com.microsoft ops.
    quantize_dynamic(str(MODEL), str(out), op_types_to_quantize=["MatMul", "Attention"],
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    counts = op_counts(out)
    assert counts[("com.microsoft", "QAttention")] == 2, counts
    assert counts[("com.microsoft", "Attention")] == 0, counts
    return out


@pytest.mark.parametrize("device", ["cpu", "opencl", "vulkan"])
def test_ort_quantized_qattention_runs_in_kiln(kiln, tmp_path, ort_quantized, device,
                                               devices_available, monkeypatch):
    if device != "cpu" and device not in devices_available:
        pytest.skip(f"no {device} device")
    monkeypatch.setenv("KILN_LOG_LEVEL", "info")  # the "runs on the CPU: why" lines
    want = ort_run(ort_quantized, load_dir(INPUTS))
    got, res = kiln_run(kiln, ort_quantized, device, tmp_path / "out")
    compare(got, want, f"onnxruntime-quantized on kiln {device}")
    if device != "cpu":
        # No device kernel for QAttention: it runs on the CPU, and kiln says why.
        lines = [l for l in res.stderr.splitlines() if "QAttention" in l]
        assert lines and all("runs on the CPU" in l for l in lines), res.stderr[-3000:]


@pytest.mark.parametrize("extra", [[], ["--per-channel"], ["--op-types", "MatMul,Attention",
                                                             "--reduce-range"]],
                         ids=["default", "per_channel", "reduce_range"])
def test_kiln_quantized_attention(kiln, tmp_path, extra):
    out = tmp_path / "q.onnx"
    res = kiln("quantize", MODEL, out, *extra, timeout=300)
    assert res.returncode == 0, res.describe()
    counts = op_counts(out)
    assert counts[("com.microsoft", "QAttention")] == 2, counts
    assert counts[("com.microsoft", "Attention")] == 0, counts
    m = onnx.load(str(out))
    for n in m.graph.node:
        if n.op_type == "QAttention":
            inits = {i.name: i for i in m.graph.initializer}
            w = inits[n.input[1]]
            assert w.data_type == onnx.TensorProto.INT8, n.name
            scale = inits[n.input[4]]
            want_dims = [w.dims[1]] if "--per-channel" in extra else []
            assert list(scale.dims) == want_dims, (n.name, scale.dims)
            if "--reduce-range" in extra:
                q = onnx.numpy_helper.to_array(w)
                assert q.min() >= -64 and q.max() <= 64, n.name
    feeds = load_dir(INPUTS)
    want = ort_run(out, feeds)  # loads and runs in onnxruntime
    got, _ = kiln_run(kiln, out, "cpu", tmp_path / "out")
    compare(got, want, f"kiln-quantized {' '.join(extra) or 'default'}")
    ref = ort_run(MODEL, feeds)
    for name, r in ref.items():
        cos = cosine(want[name], r)
        print(f"quantized vs float {name}: cosine {cos:.6f}, max abs "
              f"{float(np.max(np.abs(want[name] - r))):.3g}")
        assert cos >= 0.99, (name, cos)


def test_kiln_quantize_qdq_leaves_attention_float(kiln, tmp_path):
    """ONNX Runtime has no QDQ form of Attention: --format qdq keeps it in float and says so."""
    out = tmp_path / "q.onnx"
    js = tmp_path / "q.json"
    res = kiln("quantize", MODEL, out, "--format", "qdq", "--json", js, timeout=300)
    assert res.returncode == 0, res.describe()
    counts = op_counts(out)
    assert counts[("com.microsoft", "Attention")] == 2, counts
    assert counts[("com.microsoft", "QAttention")] == 0, counts
    assert "no QDQ form" in js.read_text()


@pytest.mark.parametrize("extra,ort_kw", [([], {}), (["--per-channel"], {"per_channel": True}),
                                          (["--reduce-range"], {"reduce_range": True})],
                         ids=["default", "per_channel", "reduce_range"])
def test_kiln_qattention_weights_equal_onnxruntime(kiln, tmp_path, extra, ort_kw):
    """kiln quantize and onnxruntime's quantize_dynamic write the same QAttention weights,
    scales and zero points, bit for bit (and the same QAttention inputs)."""
    from onnxruntime.quantization import quantize_dynamic
    from onnx import numpy_helper
    ours, theirs = tmp_path / "k.onnx", tmp_path / "o.onnx"
    res = kiln("quantize", MODEL, ours, "--op-types", "MatMul,Attention", *extra, timeout=300)
    assert res.returncode == 0, res.describe()
    quantize_dynamic(str(MODEL), str(theirs), op_types_to_quantize=["MatMul", "Attention"],
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT}, **ort_kw)

    def qattention_inputs(path):
        m = onnx.load(str(path))
        inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
        return {n.output[0]: [inits.get(x) for x in list(n.input)[1:5:3] + [n.input[7]]]
                for n in m.graph.node if n.op_type == "QAttention"}

    k, o = qattention_inputs(ours), qattention_inputs(theirs)
    assert k.keys() == o.keys() and len(k) == 2
    for out, arrays in o.items():
        for a, b in zip(arrays, k[out]):
            assert a is not None and b is not None, out
            assert a.dtype == b.dtype and a.shape == b.shape, (out, a.dtype, b.dtype)
            assert np.array_equal(a, b), out
