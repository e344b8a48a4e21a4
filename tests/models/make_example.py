"""Writes kiln's bundled example: a small BERT-shaped Transformer encoder, spelled the way the
PyTorch exporter (torch.onnx.export, opset 14) spells a Hugging Face BertModel, with random
weights from a seeded numpy generator, plus example inputs and onnxruntime's outputs for them.

    build/venv/bin/python tests/models/make_example.py [OUT_DIR]   (default tests/models/example)

The model is built with numpy and onnx.helper only; onnxruntime is used to write expected/.
Running it again writes byte-identical files.
"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HIDDEN = 64
HEADS = 4
HEAD_DIM = HIDDEN // HEADS
INTERMEDIATE = 256
LAYERS = 2
VOCAB = 1000
MAX_POSITIONS = 128
TYPE_VOCAB = 2
EPS = 1e-12  # BertConfig.layer_norm_eps
OPSET = 14
SEED = 20240607


class Builder:
    """Collects nodes and initializers, naming them like the exporter does (/path/Op_N)."""

    def __init__(self, rng):
        self.rng = rng
        self.nodes = []
        self.inits = []
        self.count = {}
        self.names = set()

    def init(self, name, array):
        base, k = name, 1
        while name in self.names:
            name, k = f"{base}_{k}", k + 1
        self.names.add(name)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def const(self, name, value, dtype=np.int64):
        return self.init(name, np.array(value, dtype=dtype))

    def weight(self, name, shape, std=0.02):
        return self.init(name, self.rng.normal(0.0, std, size=shape).astype(np.float32))

    def op(self, op_type, inputs, scope, n_out=1, **attrs):
        k = self.count.get((scope, op_type), 0)
        self.count[(scope, op_type)] = k + 1
        name = f"{scope}/{op_type}" + (f"_{k}" if k else "")
        outs = [f"{name}_output_{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=name, **attrs))
        return outs[0] if n_out == 1 else outs

    def linear(self, x, scope, prefix, n_in, n_out):
        """nn.Linear as exported: MatMul with the transposed weight, then Add(bias, .)."""
        w = self.weight(f"onnx::MatMul_{prefix}", (n_in, n_out))
        b = self.weight(f"{prefix}.bias", (n_out,))
        mm = self.op("MatMul", [x, w], scope)
        return self.op("Add", [b, mm], scope)

    def layer_norm(self, x, scope, prefix):
        """nn.LayerNorm below opset 17: the primitive spelling."""
        gamma = self.init(f"{prefix}.weight",
                          (1.0 + self.rng.normal(0.0, 0.02, HIDDEN)).astype(np.float32))
        beta = self.weight(f"{prefix}.bias", (HIDDEN,))
        mean = self.op("ReduceMean", [x], scope, axes=[-1], keepdims=1)
        d = self.op("Sub", [x, mean], scope)
        two = self.const(f"{scope}/Constant_pow", 2.0, np.float32)
        sq = self.op("Pow", [d, two], scope)
        var = self.op("ReduceMean", [sq], scope, axes=[-1], keepdims=1)
        eps = self.const(f"{scope}/Constant_eps", EPS, np.float32)
        ve = self.op("Add", [var, eps], scope)
        sd = self.op("Sqrt", [ve], scope)
        n = self.op("Div", [d, sd], scope)
        m = self.op("Mul", [n, gamma], scope)
        return self.op("Add", [m, beta], scope)

    def dims(self, x, scope, idx):
        """Shape(x)[idx] as a 1-element tensor: Shape, Gather, Unsqueeze."""
        shape = self.op("Shape", [x], scope)
        out = []
        for i in idx:
            g = self.op("Gather", [shape, self.const(f"{scope}/Constant_idx{i}", i)], scope,
                        axis=0)
            out.append(self.op("Unsqueeze", [g, self.const(f"{scope}/Constant_ax0", [0])], scope))
        return out


def build_model(rng):
    b = Builder(rng)
    ids, mask = "input_ids", "attention_mask"

    # --- embeddings --------------------------------------------------------------------------
    s = "/embeddings"
    word = b.weight("embeddings.word_embeddings.weight", (VOCAB, HIDDEN))
    pos = b.weight("embeddings.position_embeddings.weight", (MAX_POSITIONS, HIDDEN))
    typ = b.weight("embeddings.token_type_embeddings.weight", (TYPE_VOCAB, HIDDEN))
    pos_ids_buf = b.init("embeddings.position_ids",
                         np.arange(MAX_POSITIONS, dtype=np.int64)[None, :])
    type_ids_buf = b.init("embeddings.token_type_ids", np.zeros((1, MAX_POSITIONS), np.int64))
    (seq_len,) = b.dims(ids, s, [1])
    zero1 = b.const(f"{s}/Constant_start", [0])
    one1 = b.const(f"{s}/Constant_axis1", [1])
    # position_ids = self.position_ids[:, 0:seq_length]
    pos_ids = b.op("Slice", [pos_ids_buf, zero1, seq_len, one1, one1], s)
    # token_type_ids = self.token_type_ids[:, :seq_length].expand(batch, seq_length)
    type_sliced = b.op("Slice", [type_ids_buf, zero1, seq_len, one1, one1], s)
    ids_shape = b.op("Shape", [ids], s)
    type_ids = b.op("Expand", [type_sliced, ids_shape], s)
    e_word = b.op("Gather", [word, ids], s)
    e_type = b.op("Gather", [typ, type_ids], s)
    e = b.op("Add", [e_word, e_type], s)
    e_pos = b.op("Gather", [pos, pos_ids], s)
    e = b.op("Add", [e, e_pos], s)
    h = b.layer_norm(e, f"{s}/LayerNorm", "embeddings.LayerNorm")

    # --- extended attention mask: (1.0 - mask[:, None, None, :]) * finfo(float32).min --------
    s = ""
    m = b.op("Unsqueeze", [mask, b.const("/Constant_ax1", [1])], s)
    m = b.op("Unsqueeze", [m, b.const("/Constant_ax2", [2])], s)
    m = b.op("Cast", [m], s, to=TensorProto.FLOAT)
    m = b.op("Sub", [b.const("/Constant_one", 1.0, np.float32), m], s)
    ext_mask = b.op("Mul", [m, b.const("/Constant_min", np.finfo(np.float32).min, np.float32)],
                    s)

    # --- encoder layers ----------------------------------------------------------------------
    for layer in range(LAYERS):
        p = f"encoder.layer.{layer}"
        s = f"/encoder/layer.{layer}/attention/self"
        q = b.linear(h, f"{s}/query", f"{p}.attention.self.query", HIDDEN, HIDDEN)
        k = b.linear(h, f"{s}/key", f"{p}.attention.self.key", HIDDEN, HIDDEN)
        v = b.linear(h, f"{s}/value", f"{p}.attention.self.value", HIDDEN, HIDDEN)
        bsz, seq = b.dims(h, s, [0, 1])
        heads_shape = b.op("Concat", [bsz, seq, b.const(f"{s}/Constant_heads", [HEADS]),
                                      b.const(f"{s}/Constant_hd", [HEAD_DIM])], s, axis=0)

        def split_heads(x, perm):
            r = b.op("Reshape", [x, heads_shape], s)
            return b.op("Transpose", [r], s, perm=perm)

        qh = split_heads(q, [0, 2, 1, 3])
        kt = split_heads(k, [0, 2, 3, 1])  # key.transpose(-1, -2) folded into the permutation
        vh = split_heads(v, [0, 2, 1, 3])
        scores = b.op("MatMul", [qh, kt], s)
        scores = b.op("Div", [scores, b.const(f"{s}/Constant_sqrt", np.sqrt(HEAD_DIM),
                                              np.float32)], s)
        scores = b.op("Add", [scores, ext_mask], s)
        probs = b.op("Softmax", [scores], s, axis=-1)
        ctx = b.op("MatMul", [probs, vh], s)
        ctx = b.op("Transpose", [ctx], s, perm=[0, 2, 1, 3])
        merged_shape = b.op("Concat", [bsz, seq, b.const(f"{s}/Constant_hidden", [HIDDEN])], s,
                            axis=0)
        ctx = b.op("Reshape", [ctx, merged_shape], s)

        so = f"/encoder/layer.{layer}/attention/output"
        a = b.linear(ctx, f"{so}/dense", f"{p}.attention.output.dense", HIDDEN, HIDDEN)
        a = b.op("Add", [a, h], so)
        h = b.layer_norm(a, f"{so}/LayerNorm", f"{p}.attention.output.LayerNorm")

        si = f"/encoder/layer.{layer}/intermediate"
        x = b.linear(h, f"{si}/dense", f"{p}.intermediate.dense", HIDDEN, INTERMEDIATE)
        # erf GELU: x * 0.5 * (1 + erf(x / sqrt(2))), as exported
        g = b.op("Div", [x, b.const(f"{si}/Constant_sqrt2", 1.4142135381698608, np.float32)],
                 f"{si}/intermediate_act_fn")
        g = b.op("Erf", [g], f"{si}/intermediate_act_fn")
        g = b.op("Add", [g, b.const(f"{si}/Constant_1", 1.0, np.float32)],
                 f"{si}/intermediate_act_fn")
        g = b.op("Mul", [x, g], f"{si}/intermediate_act_fn")
        g = b.op("Mul", [g, b.const(f"{si}/Constant_half", 0.5, np.float32)],
                 f"{si}/intermediate_act_fn")

        sf = f"/encoder/layer.{layer}/output"
        o = b.linear(g, f"{sf}/dense", f"{p}.output.dense", INTERMEDIATE, HIDDEN)
        o = b.op("Add", [o, h], sf)
        h = b.layer_norm(o, f"{sf}/LayerNorm", f"{p}.output.LayerNorm")

    # --- outputs: last_hidden_state and the pooler ---------------------------------------------
    b.nodes.append(helper.make_node("Identity", [h], ["last_hidden_state"],
                                    name="/Identity_last_hidden_state"))
    s = "/pooler"
    first = b.op("Gather", [h, b.const(f"{s}/Constant_0", 0)], s, axis=1)
    wp = b.weight("pooler.dense.weight", (HIDDEN, HIDDEN))  # [out, in]: Gemm with transB=1
    bp = b.weight("pooler.dense.bias", (HIDDEN,))
    pooled = b.op("Gemm", [first, wp, bp], f"{s}/dense", alpha=1.0, beta=1.0, transB=1)
    b.nodes.append(helper.make_node("Tanh", [pooled], ["pooler_output"], name=f"{s}/activation/Tanh"))

    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"]),
    ]
    outputs = [
        helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT,
                                      ["batch", "sequence", HIDDEN]),
        helper.make_tensor_value_info("pooler_output", TensorProto.FLOAT, ["batch", HIDDEN]),
    ]
    graph = helper.make_graph(b.nodes, "main_graph", inputs, outputs, b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="kiln tests/models/make_example.py",
                              producer_version="1")
    model.ir_version = 7  # what torch.onnx.export writes at opset 14
    model.doc_string = (f"BERT-shaped encoder: {LAYERS} layers, hidden {HIDDEN}, {HEADS} heads, "
                        f"intermediate {INTERMEDIATE}, vocab {VOCAB}; random weights N(0, 0.02), "
                        f"seed {SEED}")
    onnx.checker.check_model(model, full_check=True)
    return model


def example_inputs(rng, batch=1, seq=16, pad=2):
    ids = rng.integers(1, VOCAB, size=(batch, seq), dtype=np.int64)
    ids[:, 0] = 1  # a [CLS]-like first token
    mask = np.ones((batch, seq), np.int64)
    if pad:
        ids[:, -pad:] = 0
        mask[:, -pad:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "example")
    rng = np.random.default_rng(SEED)
    model = build_model(rng)
    feeds = example_inputs(rng)
    os.makedirs(os.path.join(out, "inputs"), exist_ok=True)
    os.makedirs(os.path.join(out, "expected"), exist_ok=True)
    onnx.save(model, os.path.join(out, "encoder.onnx"))
    for name, value in feeds.items():
        np.save(os.path.join(out, "inputs", name + ".npy"), value)

    import onnxruntime as ort  # only for the expected outputs

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(os.path.join(out, "encoder.onnx"), so,
                                providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    for name, value in zip(names, sess.run(names, feeds)):
        np.save(os.path.join(out, "expected", name + ".npy"), value)
        print(f"{name}: shape {list(value.shape)}, first values {value.ravel()[:4]}")
    size = os.path.getsize(os.path.join(out, "encoder.onnx"))
    print(f"wrote {out}/encoder.onnx ({size} bytes, {len(model.graph.node)} nodes, "
          f"onnxruntime {ort.__version__})")


if __name__ == "__main__":
    main()
