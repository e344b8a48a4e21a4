"""ONNX Runtime contrib ops (domain com.microsoft, plus SimplifiedLayerNormalization and
LayerNormalization below opset 17 in the default domain) run by `kiln run` and compared to
onnxruntime (CPUExecutionProvider, graph optimizations disabled) on random inputs of odd sizes.

To keep the file fast, each test puts many independent single-node cases into one model (one
kiln process, one onnxruntime session). Tolerances are stated per test (absolute + relative, as
numpy.allclose). Forms that onnxruntime does not run on CPU (packed QKV / KV MultiHeadAttention,
BiasAdd) are compared to an equivalent form that it does run, or to numpy.
"""

import zlib

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT
F16 = TensorProto.FLOAT16
I32 = TensorProto.INT32
MS = "com.microsoft"


class Cases:
    """Independent nodes collected into one model; each case's names get a unique prefix."""

    def __init__(self):
        self.nodes, self.inputs, self.outputs, self.inits = [], [], [], []
        self.feeds, self.tol = {}, {}

    def add(self, tag, op, inputs, outputs, atol, rtol, domain=MS, consts=(), int_outputs=(),
            **attrs):
        """inputs: list of (name, array or None); arrays named in `consts` become initializers.
        outputs: names (None skips an output); they have the first floating input's dtype
        (float for none), those in `int_outputs` int32. Returns the prefixed output names."""
        floats = [v.dtype for _, v in inputs if v is not None and v.dtype.kind == "f"]
        otype = helper.np_dtype_to_tensor_dtype(floats[0]) if floats else F
        names = []
        for name, value in inputs:
            if value is None:
                names.append("")
                continue
            full = f"{tag}_{name}"
            names.append(full)
            if name in consts:
                self.inits.append(numpy_helper.from_array(value, full))
            else:
                self.inputs.append(helper.make_tensor_value_info(
                    full, helper.np_dtype_to_tensor_dtype(value.dtype), value.shape))
                self.feeds[full] = value
        outs = [f"{tag}_{o}" if o else "" for o in outputs]
        for o, short in zip(outs, outputs):
            if o:
                t = I32 if short in int_outputs else otype
                self.outputs.append(helper.make_tensor_value_info(o, t, None))
                self.tol[o] = (atol, rtol)
        self.nodes.append(helper.make_node(op, names, outs, name=tag, domain=domain, **attrs))
        return [o for o in outs if o]

    def model(self, opset=17, shapes=None):
        """The model; `shapes` ({output: shape}) declares the outputs' shapes, which the ONNX
        checker kiln runs requires."""
        outputs = self.outputs
        if shapes is not None:
            outputs = [helper.make_tensor_value_info(o.name, o.type.tensor_type.elem_type,
                                                     list(shapes[o.name])) for o in outputs]
        graph = helper.make_graph(self.nodes, "g", self.inputs, outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset),
                                                        helper.make_opsetid(MS, 1)])
        model.ir_version = 8
        return model


def run_ort(model, feeds, names):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])
    return dict(zip(names, sess.run(names, feeds)))


def compare(got, want, tol, names=None):
    for name in names or want:
        g, w = got[name], want[name]
        assert g.shape == w.shape, f"{name}: shape {g.shape}, expected {w.shape}"
        atol, rtol = tol[name]
        if not np.issubdtype(w.dtype, np.floating):
            assert np.array_equal(g, w), f"{name}: differs\n{g}\n{w}"
            continue
        g64, w64 = g.astype(np.float64), w.astype(np.float64)
        err = np.abs(g64 - w64) - (atol + rtol * np.abs(w64))
        worst = np.unravel_index(np.argmax(err), err.shape) if err.size else ()
        assert err.size == 0 or err.max() <= 0, (
            f"{name}: at {worst} kiln {g[worst]} vs expected {w[worst]} "
            f"(atol {atol}, rtol {rtol})")


def run_kiln(run_model, tmp_path, cases, want, opset=17):
    """Runs the cases in kiln, declaring the output shapes of `want`."""
    model = cases.model(opset, {k: v.shape for k, v in want.items()})
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())
    return run_model(path, cases.feeds, tmp_path, output_names=list(want))


def check(run_model, tmp_path, cases, opset=17):
    """Runs the cases in onnxruntime and kiln and compares every output (dtype too)."""
    model = cases.model(opset)
    names = [o.name for o in model.graph.output]
    want = run_ort(model, cases.feeds, names)
    got = run_kiln(run_model, tmp_path, cases, want, opset)
    for name in names:
        assert got[name].dtype == want[name].dtype, f"{name}: dtype {got[name].dtype}"
    compare(got, want, cases.tol)
    return got, want


@pytest.fixture
def rng(request):
    return np.random.default_rng(zlib.crc32(request.node.name.encode()))


def randn(rng, *shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


# Tolerance: one erf / tanh / exp per element in float: 1e-6 absolute + 1e-5 relative.
def test_activations(run_model, tmp_path, rng):
    c = Cases()
    for s in (1, 7, 13):
        x = randn(rng, 2, s, 12) * 3
        b = randn(rng, 12)
        c.add(f"gelu{s}", "Gelu", [("x", x)], ["y"], 1e-6, 1e-5)
        c.add(f"fast{s}", "FastGelu", [("x", x), ("b", b)], ["y"], 1e-6, 1e-5)
        c.add(f"fastnb{s}", "FastGelu", [("x", x)], ["y"], 1e-6, 1e-5)
        c.add(f"biasgelu{s}", "BiasGelu", [("x", x), ("b", b)], ["y"], 1e-6, 1e-5)
        c.add(f"quick{s}", "QuickGelu", [("x", x)], ["y"], 1e-6, 1e-5, alpha=1.5)
        c.add(f"quickd{s}", "QuickGelu", [("x", x)], ["y"], 1e-6, 1e-5)
    check(run_model, tmp_path, c)


# Tolerance: two additions, so exact up to float rounding: 1e-6 absolute. onnxruntime runs
# BiasAdd only on CUDA, so numpy is the reference.
def test_bias_add_vs_numpy(run_model, tmp_path, rng):
    c = Cases()
    x, b, skip = randn(rng, 2, 7, 24), randn(rng, 24), randn(rng, 2, 7, 24)
    c.add("ba", "BiasAdd", [("x", x), ("b", b), ("skip", skip)], ["y"], 1e-6, 0)
    want = {"ba_y": x + b + skip}
    compare(run_kiln(run_model, tmp_path, c, want), want, c.tol)


# Tolerance: mean and variance over 12-24 values: 1e-5 absolute + 1e-5 relative.
def test_layer_norms(run_model, tmp_path, rng):
    c = Cases()
    for s, h in ((1, 12), (7, 16), (13, 24)):
        x, skip = randn(rng, 2, s, h) * 2 + 0.5, randn(rng, 2, s, h)
        g, b, bias = randn(rng, h), randn(rng, h), randn(rng, h)
        c.add(f"sln{s}", "SkipLayerNormalization",
              [("x", x), ("skip", skip), ("g", g), ("b", b), ("bias", bias)],
              ["y", "mean", "inv", "sum"], 1e-5, 1e-5, epsilon=1e-5)
        c.add(f"slnmin{s}", "SkipLayerNormalization", [("x", x), ("skip", skip), ("g", g)],
              ["y"], 1e-5, 1e-5)
        c.add(f"slnbc{s}", "SkipLayerNormalization", [("x", x), ("skip", skip[:1]), ("g", g),
                                                       ("b", b)], ["y"], 1e-5, 1e-5)
        c.add(f"ssln{s}", "SkipSimplifiedLayerNormalization",
              [("x", x), ("skip", skip), ("g", g), ("bias", bias)], ["y", None, None, "sum"],
              1e-5, 1e-5, epsilon=1e-6)
        c.add(f"sln2d{s}", "SkipLayerNormalization",
              [("x", x[0]), ("skip", skip[0]), ("g", g), ("b", b)], ["y"], 1e-5, 1e-5)
    check(run_model, tmp_path, c)


# Tolerance: as above. These two are default-domain ops (ONNX Runtime's registrations), in an
# opset 13 model. kiln's importer runs the ONNX checker, which rejects default-domain ops that
# libonnx has no schema for: the kernels are covered by tests/unit/cpu_contrib_test.cpp until
# the importer accepts ops that kiln registers.
def test_default_domain_norms(run_model, tmp_path, rng):
    c = Cases()
    for s, h in ((1, 12), (13, 24)):
        x, g, b = randn(rng, 2, s, h) * 2 + 0.5, randn(rng, h), randn(rng, h)
        c.add(f"rms{s}", "SimplifiedLayerNormalization", [("x", x), ("g", g)], ["y"], 1e-5, 1e-5,
              domain="", axis=-1, epsilon=1e-6)
        c.add(f"ln{s}", "LayerNormalization", [("x", x), ("g", g), ("b", b)], ["y"], 1e-5, 1e-5,
              domain="", axis=-1, epsilon=1e-5)
        c.add(f"rms2ax{s}", "SimplifiedLayerNormalization", [("x", x), ("g", np.tile(g, (s, 1)))],
              ["y"], 1e-5, 1e-5, domain="", axis=1)
    check(run_model, tmp_path, c, opset=13)


# Tolerance: three embedding rows summed, then a layer norm over 12-24 values: 1e-5 absolute +
# 1e-5 relative; mask_index exact.
def test_embed_layer_norm(run_model, tmp_path, rng):
    c = Cases()
    for s, h in ((1, 12), (7, 16), (13, 24)):
        vocab, maxpos = 30, 16
        ids = rng.integers(0, vocab, (3, s), dtype=np.int32)
        seg = rng.integers(0, 2, (3, s), dtype=np.int32)
        mask = (rng.random((3, s)) < 0.7).astype(np.int32)
        word, pos, segemb = randn(rng, vocab, h), randn(rng, maxpos, h), randn(rng, 2, h)
        g, b = randn(rng, h), randn(rng, h)
        c.add(f"emb{s}", "EmbedLayerNormalization",
              [("ids", ids), ("seg", seg), ("w", word), ("p", pos), ("s", segemb), ("g", g),
               ("b", b), ("mask", mask)], ["y", "mi", "sum"], 1e-5, 1e-5, int_outputs=("mi",),
              consts=("w", "p", "s", "g", "b"), epsilon=1e-12)
        posids = rng.integers(0, maxpos, (1 if s != 7 else 3, s), dtype=np.int32)
        c.add(f"embp{s}", "EmbedLayerNormalization",
              [("ids", ids), ("seg", None), ("w", word), ("p", pos), ("s", None), ("g", g),
               ("b", b), ("mask", None), ("pid", posids)], ["y", "mi"], 1e-5, 1e-5,
              int_outputs=("mi",),
              consts=("w", "p", "g", "b"))
    check(run_model, tmp_path, c)


# Tolerance: float dot products of 5-24 terms: 1e-5 absolute + 1e-5 relative. Quantized
# products are exact in int32; the float scaling adds one rounding: 1e-5 relative (float16
# output: 2e-3).
def test_matmuls(run_model, tmp_path, rng):
    c = Cases()
    a, b = randn(rng, 3, 7, 5), randn(rng, 3, 5, 13)
    c.add("fm", "FusedMatMul", [("a", a), ("b", b)], ["y"], 1e-5, 1e-5, alpha=0.5)
    c.add("fmt", "FusedMatMul", [("a", a.transpose(0, 2, 1).copy()),
                                 ("b", b.transpose(0, 2, 1).copy())], ["y"], 1e-5, 1e-5,
          transA=1, transB=1, alpha=1.25)
    c.add("fmbc", "FusedMatMul", [("a", randn(rng, 2, 1, 7, 5)), ("b", randn(rng, 3, 5, 1))],
          ["y"], 1e-5, 1e-5)
    # transBatch: A [M, batch, K] and B [K, batch, N] (then transposed again by transA/B).
    c.add("fmtb", "FusedMatMul", [("a", randn(rng, 7, 3, 5)), ("b", randn(rng, 5, 3, 13))],
          ["y"], 1e-5, 1e-5, transBatchA=1, transBatchB=1)
    c.add("fmtb2", "FusedMatMul", [("a", randn(rng, 5, 2, 3, 7)), ("b", randn(rng, 2, 3, 13, 5))],
          ["y"], 1e-5, 1e-5, transBatchA=1, transA=1, transB=1)
    c.add("fm1d", "FusedMatMul", [("a", randn(rng, 5)), ("b", randn(rng, 3, 5, 13))], ["y"],
          1e-5, 1e-5)
    for act, extra in (("Relu", {}), ("Tanh", {}), ("Sigmoid", {}),
                       ("LeakyRelu", {"activation_alpha": 0.2}),
                       ("HardSigmoid", {"activation_alpha": 0.3, "activation_beta": 0.4})):
        attrs = {"activation": act, **extra}
        c.add(f"fg{act}", "FusedGemm", [("a", randn(rng, 7, 5)), ("b", randn(rng, 13, 5)),
                                        ("c", randn(rng, 13))], ["y"], 1e-5, 1e-5, transB=1,
              alpha=0.7, beta=1.5, **attrs)
    c.add("fgc2", "FusedGemm", [("a", randn(rng, 5, 7)), ("b", randn(rng, 5, 13)),
                                ("c", randn(rng, 7, 1))], ["y"], 1e-5, 1e-5, transA=1,
          activation="Relu")
    for s in (1, 7, 13):
        au = rng.integers(0, 256, (2, s, 24), dtype=np.uint8)
        ai = rng.integers(-128, 128, (2, s, 24), dtype=np.int8)
        bu = rng.integers(0, 256, (24, 12), dtype=np.uint8)
        bi = rng.integers(-128, 128, (24, 12), dtype=np.int8)
        sc = np.array(0.02, np.float32)
        bsc = (rng.random(12) * 0.05 + 0.001).astype(np.float32)
        c.add(f"mitf{s}", "MatMulIntegerToFloat",
              [("a", au), ("b", bi), ("as", sc), ("bs", bsc), ("az", np.array(130, np.uint8)),
               ("bz", rng.integers(-5, 5, 12, dtype=np.int8)), ("bias", randn(rng, 12))],
              ["y"], 1e-5, 1e-5, consts=("b", "as", "bs", "az", "bz", "bias"))
        c.add(f"mitfh{s}", "MatMulIntegerToFloat",
              [("a", au), ("b", bu), ("as", np.array(0.02, np.float16)),
               ("bs", np.array(0.01, np.float16))], ["y"], 2e-3, 2e-3, consts=("b", "as", "bs"))
        c.add(f"mitfs{s}", "MatMulIntegerToFloat",
              [("a", ai), ("b", bi), ("as", sc), ("bs", np.array(0.03, np.float32))],
              ["y"], 1e-5, 1e-5, consts=("b", "as", "bs"))
        x = randn(rng, 2, s, 24)
        c.add(f"dqmm{s}", "DynamicQuantizeMatMul",
              [("a", x), ("b", bi), ("bs", bsc), ("bz", None), ("bias", randn(rng, 12))],
              ["y"], 1e-5, 1e-5, consts=("b", "bs", "bias"))
        c.add(f"dqmmu{s}", "DynamicQuantizeMatMul",
              [("a", x), ("b", bu), ("bs", np.array(0.01, np.float32)),
               ("bz", np.array(128, np.uint8))], ["y"], 1e-5, 1e-5, consts=("b", "bs", "bz"))
    check(run_model, tmp_path, c)


def attention_case(c, rng, tag, b, s, hidden, heads, past=0, mask=None, causal=0,
                   qkv_sizes=None, bias4=False, present=False):
    """One Attention node. mask: None, "1d", "1d_start", "2d", "3d"."""
    t = past + s
    sizes = qkv_sizes or [hidden] * 3
    x = randn(rng, b, s, hidden)
    w = randn(rng, hidden, sum(sizes)) * 0.3
    bias = randn(rng, sum(sizes)) * 0.1
    inputs = [("x", x), ("w", w), ("bias", bias)]
    if mask == "1d":
        m = rng.integers(1, t + 1, b).astype(np.int32)
    elif mask == "1d_start":
        m = np.concatenate([rng.integers(t // 2 + 1, t + 1, b),
                            rng.integers(0, t // 2 + 1, b)]).astype(np.int32)
    elif mask == "2d":
        m = (rng.random((b, t)) < 0.7).astype(np.int32)
        m[:, 0] = 1
    elif mask == "3d":
        m = (rng.random((b, s, t)) < 0.7).astype(np.int32)
    else:
        m = None
    inputs.append(("mask", m))
    h = sizes[0] // heads
    inputs.append(("past", randn(rng, 2, b, heads, past, h) if past else None))
    if bias4:
        inputs.append(("ab", randn(rng, 1, heads, s, t)))
    attrs = dict(num_heads=heads, unidirectional=causal)
    if qkv_sizes:
        attrs["qkv_hidden_sizes"] = qkv_sizes
    outs = ["y", "present"] if present or past else ["y"]
    c.add(tag, "Attention", inputs, outs, 1e-5, 1e-5, consts=("w", "bias"), **attrs)


# Tolerance: float projections of 12-24 terms, scores of 4-12 terms, a softmax and a weighted
# sum over up to 20 keys: 1e-5 absolute + 1e-5 relative.
def test_attention(run_model, tmp_path, rng):
    c = Cases()
    attention_case(c, rng, "a1", 2, 7, 12, 3, mask="1d")
    attention_case(c, rng, "a2", 2, 13, 24, 4, mask="1d_start")
    attention_case(c, rng, "a3", 3, 1, 16, 2, past=5, mask="2d", causal=1)
    attention_case(c, rng, "a4", 2, 7, 16, 4, mask="3d", causal=1)
    attention_case(c, rng, "a5", 2, 13, 12, 2, mask="2d", qkv_sizes=[12, 12, 24], bias4=True)
    attention_case(c, rng, "a6", 2, 7, 12, 3, past=6, mask="2d", causal=1)
    attention_case(c, rng, "a7", 1, 1, 12, 2, present=True)
    attention_case(c, rng, "a8", 2, 13, 24, 3, causal=1, present=True)
    attention_case(c, rng, "a9", 2, 7, 12, 2, past=3, mask="1d", causal=1)
    check(run_model, tmp_path, c)


def mha_inputs(rng, b, s, l, d, dv, heads, past=0, mask=None, bias=True, bias4=False,
               kv_bnsh=False):
    t = past + l
    q, k, v = randn(rng, b, s, d), randn(rng, b, l, d), randn(rng, b, l, dv)
    if kv_bnsh:
        k = randn(rng, b, heads, l, d // heads)
        v = randn(rng, b, heads, l, dv // heads)
    ins = [("q", q), ("k", k), ("v", v), ("bias", randn(rng, 2 * d + dv) if bias else None)]
    if mask == "1d":
        m = rng.integers(1, t + 1, b).astype(np.int32)
    elif mask == "2d":
        m = (rng.random((b, t)) < 0.7).astype(np.int32)
        m[:, 0] = 1
    elif mask == "3d":
        m = (rng.random((b, s, t)) < 0.7).astype(np.int32)
    else:
        m = None
    ins.append(("mask", m))
    # bias4: True for a [b, heads, s, t] attention_bias, "b1" / "1n" for the broadcast forms
    # [b, 1, s, t] / [1, heads, s, t].
    ab_shape = {True: (b, heads, s, t), "b1": (b, 1, s, t), "1n": (1, heads, s, t)}.get(bias4)
    ins.append(("ab", randn(rng, *ab_shape) if ab_shape else None))
    if past:
        ins += [("pk", randn(rng, b, heads, past, d // heads)),
                ("pv", randn(rng, b, heads, past, dv // heads))]
    return ins


# Tolerance: scores of 4-12 terms, a softmax and a weighted sum over up to 20 keys: 1e-5
# absolute + 1e-5 relative.
def test_multi_head_attention(run_model, tmp_path, rng):
    c = Cases()
    outs3 = ["y", "present_k", "present_v"]
    c.add("m1", "MultiHeadAttention", mha_inputs(rng, 2, 7, 7, 12, 12, 3, mask="2d"), ["y"],
          1e-5, 1e-5, num_heads=3, unidirectional=1)
    c.add("m2", "MultiHeadAttention", mha_inputs(rng, 2, 7, 13, 16, 24, 2, mask="1d"), ["y"],
          1e-5, 1e-5, num_heads=2)
    c.add("m3", "MultiHeadAttention", mha_inputs(rng, 3, 1, 1, 16, 16, 4, past=5, mask="2d"),
          outs3, 1e-5, 1e-5, num_heads=4, unidirectional=1)
    c.add("m4", "MultiHeadAttention",
          mha_inputs(rng, 2, 13, 13, 24, 24, 4, past=3, mask="3d", bias4=True), outs3, 1e-5,
          1e-5, num_heads=4, unidirectional=1)
    c.add("m5", "MultiHeadAttention",
          mha_inputs(rng, 2, 7, 13, 12, 12, 2, bias=False, kv_bnsh=True), ["y"], 1e-5, 1e-5,
          num_heads=2)
    c.add("m5b", "MultiHeadAttention",
          mha_inputs(rng, 2, 7, 13, 12, 12, 2, kv_bnsh=True), outs3, 1e-5, 1e-5, num_heads=2)
    c.add("m6", "MultiHeadAttention", mha_inputs(rng, 1, 13, 7, 12, 12, 3, bias=False), ["y"],
          1e-5, 1e-5, num_heads=3, scale=0.3)
    c.add("m7", "MultiHeadAttention", mha_inputs(rng, 2, 7, 7, 16, 16, 2, past=6), outs3, 1e-5,
          1e-5, num_heads=2, mask_filter_value=-1e9)
    c.add("m8", "MultiHeadAttention", mha_inputs(rng, 3, 5, 6, 12, 12, 3, bias4="b1"), ["y"],
          1e-5, 1e-5, num_heads=3)
    c.add("m9", "MultiHeadAttention", mha_inputs(rng, 2, 5, 6, 12, 12, 3, bias4="1n"), ["y"],
          1e-5, 1e-5, num_heads=3)
    check(run_model, tmp_path, c)


# Packed QKV [B, S, N, 3, H] and packed KV [B, L, N, 2, H]: onnxruntime's CPU kernel does not
# run them, so kiln's packed result is compared to onnxruntime on the same data unpacked.
# Tolerance as above.
def test_multi_head_attention_packed(run_model, tmp_path, rng):
    b, s, l, heads, h = 2, 7, 13, 3, 4
    d = heads * h
    q, k, v = randn(rng, b, s, d), randn(rng, b, l, d), randn(rng, b, l, d)
    qs, ks, vs = randn(rng, b, s, d), randn(rng, b, s, d), randn(rng, b, s, d)
    bias = randn(rng, 3 * d)
    mask = (rng.random((b, s)) < 0.7).astype(np.int32)
    mask[:, 0] = 1
    ref = Cases()
    ref.add("kv", "MultiHeadAttention", [("q", q), ("k", k), ("v", v), ("bias", bias)], ["y"],
            1e-5, 1e-5, num_heads=heads)
    ref.add("qkv", "MultiHeadAttention", [("q", qs), ("k", ks), ("v", vs), ("bias", bias),
                                          ("mask", mask)], ["y"], 1e-5, 1e-5, num_heads=heads,
            unidirectional=1)
    names = ["kv_y", "qkv_y"]
    want = run_ort(ref.model(), ref.feeds, names)
    packed = Cases()
    kv = np.stack([k.reshape(b, l, heads, h), v.reshape(b, l, heads, h)], axis=3)
    packed.add("kv", "MultiHeadAttention", [("q", q), ("k", kv), ("v", None), ("bias", bias)],
               ["y"], 1e-5, 1e-5, num_heads=heads)
    qkv = np.stack([t.reshape(b, s, heads, h) for t in (qs, ks, vs)], axis=3)
    packed.add("qkv", "MultiHeadAttention", [("q", qkv), ("k", None), ("v", None),
                                             ("bias", bias), ("mask", mask)], ["y"], 1e-5, 1e-5,
               num_heads=heads, unidirectional=1)
    compare(run_kiln(run_model, tmp_path, packed, want), want, packed.tol)


# float16: kiln computes in float and rounds the result; onnxruntime's reference is its float32
# result on the same (float16-representable) inputs, where it has no float16 CPU kernel.
# Tolerance: float16 output rounding (2^-11 relative) plus intermediate roundings: 2e-3
# absolute + 2e-3 relative.
def test_float16(run_model, tmp_path, rng):
    ref, half = Cases(), Cases()
    x = randn(rng, 2, 7, 16, dtype=np.float16)
    skip, g, bb = (randn(rng, 2, 7, 16, dtype=np.float16), randn(rng, 16, dtype=np.float16),
                   randn(rng, 16, dtype=np.float16))
    w = (randn(rng, 16, 48) * 0.3).astype(np.float16)
    bias = (randn(rng, 48) * 0.1).astype(np.float16)
    mask = (rng.random((2, 7)) < 0.7).astype(np.int32)
    mask[:, 0] = 1
    specs = [
        ("gelu", "Gelu", [("x", x)], ["y"], {}),
        ("fg", "FastGelu", [("x", x), ("b", bb)], ["y"], {}),
        ("sln", "SkipLayerNormalization", [("x", x), ("skip", skip), ("g", g), ("b", bb)],
         ["y"], {}),
        ("fm", "FusedMatMul", [("a", x), ("b", w)], ["y"], {"transB": 0, "alpha": 0.5}),
        ("att", "Attention", [("x", x), ("w", w), ("bias", bias), ("mask", mask)], ["y"],
         {"num_heads": 4, "unidirectional": 1}),
        ("mha", "MultiHeadAttention", [("q", x), ("k", skip), ("v", x), ("bias", bias),
                                       ("mask", mask)], ["y"], {"num_heads": 2}),
    ]
    for tag, op, ins, outs, attrs in specs:
        as32 = [(n, v.astype(np.float32) if v is not None and v.dtype == np.float16 else v)
                for n, v in ins]
        ref.add(tag, op, as32, outs, 2e-3, 2e-3, **attrs)
        half.add(tag, op, ins, outs, 2e-3, 2e-3, **attrs)
    names = [o.name for o in ref.model().graph.output]
    want = run_ort(ref.model(), ref.feeds, names)
    got = run_kiln(run_model, tmp_path, half, want)
    for name in names:
        assert got[name].dtype == np.float16, f"{name}: dtype {got[name].dtype}"
    compare(got, want, half.tol)
