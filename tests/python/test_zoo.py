"""The model zoo (tests/models/zoo): small random-weight models written by the real exporters
(torch.onnx.export, ONNX Runtime's transformer optimizer, quantize_dynamic). For every model,
`kiln run --inputs MODEL/inputs` must reproduce the committed onnxruntime outputs in
MODEL/expected within the model's tolerance (TOLERANCES below), on the CPU and, where an OpenCL
device is present, on OpenCL, where `kiln compare --device opencl --against cpu` must also exit 0.

Models that use com.microsoft contrib ops (CONTRIB_MODELS) are tested by their own test
functions, strictly: they fail while kiln lacks one of their ops, so the rest of the file does
not depend on them. On OpenCL a node that the backend accepted but failed to prepare (it
falls back to the CPU with a warning) fails the test too. The OpenCL tests skip visibly when
`kiln devices` lists no OpenCL device. Also: every model at --level 99 on the CPU, on Vulkan
(skipped visibly without a Vulkan device or while the build has no Vulkan backend), other
batch/sequence sizes, sixteen greedy GPT-2 steps through the KV cache, and T5 generation
through Optimum's three files (encoder, decoder, decoder with past), against onnxruntime live.
KILN_BIN selects the binary (default <repo>/build/kiln); see conftest.py.
"""

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

ZOO = Path(__file__).resolve().parents[2] / "tests" / "models" / "zoo"
MANIFEST = {k: v for k, v in json.loads((ZOO / "zoo.json").read_text()).items()
            if not k.startswith("_")}

# Max abs error against onnxruntime's outputs, per model: the "fp32" part of the one tolerance
# table, tests/models/tolerances.json, which gives the reasons.
TOLERANCES = {k: v for k, v in json.loads(
    (ZOO.parent / "tolerances.json").read_text())["fp32"].items() if not k.startswith("_")}
CONTRIB_MODELS = sorted(n for n, m in MANIFEST.items()
                        if any(op.startswith("com.microsoft.") for op in m["ops"]))
MODELS = sorted(n for n in MANIFEST if n not in CONTRIB_MODELS)


def expected(name):
    return {p.stem: np.load(p) for p in sorted((ZOO / name / "expected").glob("*.npy"))}


def feeds(name):
    return {p.stem: np.load(p) for p in sorted((ZOO / name / "inputs").glob("*.npy"))}


def check_outputs(name, out_dir, device):
    want = expected(name)
    atol = TOLERANCES[name]
    errors = []
    for out, ref in want.items():
        path = out_dir / f"{out}.npy"
        assert path.is_file(), f"{name} on {device}: kiln wrote no {out}"
        got = np.load(path)
        assert got.dtype == ref.dtype, f"{name}/{out} on {device}: dtype {got.dtype} != {ref.dtype}"
        assert got.shape == ref.shape, f"{name}/{out} on {device}: shape {got.shape} != {ref.shape}"
        err = float(np.max(np.abs(got.astype(np.float64) - ref))) if ref.size else 0.0
        if not err <= atol:  # also catches NaN
            errors.append(f"{out}: max abs error {err:.3g} > {atol}")
    assert not errors, f"{name} on {device}: " + "; ".join(errors)


def run_and_check(kiln, name, device, tmp_path, *extra):
    out = tmp_path / "out"
    res = kiln("run", ZOO / f"{name}.onnx", "--device", device, "--inputs", ZOO / name / "inputs",
               "--output-dir", out, "--quiet", *extra)
    if device == "vulkan" and "not available in this build" in res.stderr:
        pytest.skip("the Vulkan backend is not in this build")
    assert res.returncode == 0, res.describe()
    # A node the backend claimed but then failed to prepare (e.g. a kernel that does not
    # build) runs on the CPU with a warning: the numbers would still pass, so fail here.
    assert "falls back to the CPU" not in res.stderr, res.describe()
    check_outputs(name, out, device)


def compare_with_cpu(kiln, name, tmp_path):
    js = tmp_path / "compare.json"
    res = kiln("compare", ZOO / f"{name}.onnx", "--device", "opencl", "--against", "cpu",
               "--inputs", ZOO / name / "inputs", "--json", js)
    assert res.returncode == 0, res.describe()
    report = json.loads(js.read_text())
    assert report["ok"], report


@pytest.fixture(scope="module")
def devices(kiln, tmp_path_factory):
    path = tmp_path_factory.mktemp("devices") / "d.json"
    res = kiln("devices", "--json", path)
    assert res.returncode == 0, res.describe()
    return json.loads(path.read_text())


@pytest.fixture
def opencl(devices):
    if not devices["opencl"]["devices"]:
        pytest.skip("no OpenCL device")
    return "opencl"


@pytest.fixture
def vulkan(devices):
    if not devices.get("vulkan", {}).get("devices"):
        pytest.skip("no Vulkan device")
    return "vulkan"


def test_zoo_is_complete():
    """Every committed .onnx file is in zoo.json with inputs/, expected/ and a tolerance."""
    files = sorted(p.stem for p in ZOO.glob("*.onnx"))
    assert files == sorted(MANIFEST), "zoo.json and the .onnx files disagree"
    for name, entry in MANIFEST.items():
        assert name in TOLERANCES, f"{name}: no tolerance in test_zoo.py"
        assert sorted(feeds(name)) == sorted(entry["inputs"]), name
        assert sorted(expected(name)) == sorted(entry["outputs"]), name


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_committed_expected_matches_onnxruntime(name):
    """The committed expected/ files are what this onnxruntime computes (guards the data)."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(ZOO / f"{name}.onnx"), so,
                                providers=["CPUExecutionProvider"])
    want = expected(name)
    got = dict(zip(want, sess.run(list(want), feeds(name))))
    for out, ref in want.items():
        np.testing.assert_allclose(got[out], ref, rtol=0, atol=1e-5, err_msg=f"{name}/{out}")


@pytest.mark.parametrize("name", MODELS)
def test_zoo_cpu(kiln, name, tmp_path):
    run_and_check(kiln, name, "cpu", tmp_path)


@pytest.mark.parametrize("name", MODELS)
def test_zoo_cpu_all_passes(kiln, name, tmp_path):
    """kiln's whole optimization pipeline (--level 99) must not change the results."""
    run_and_check(kiln, name, "cpu", tmp_path, "--level", "99")


@pytest.mark.parametrize("name", MODELS)
def test_zoo_opencl(kiln, opencl, name, tmp_path):
    run_and_check(kiln, name, opencl, tmp_path / "run")
    compare_with_cpu(kiln, name, tmp_path)


@pytest.mark.parametrize("name", MODELS)
def test_zoo_vulkan(kiln, vulkan, name, tmp_path):
    """Skips visibly while the Vulkan backend is not in the build."""
    run_and_check(kiln, name, vulkan, tmp_path)


@pytest.mark.parametrize("name", CONTRIB_MODELS)
def test_zoo_contrib_cpu(kiln, name, tmp_path):
    """ORT-optimized models (com.microsoft Attention, EmbedLayerNormalization,
    SkipLayerNormalization, BiasGelu): strict, no skip."""
    run_and_check(kiln, name, "cpu", tmp_path)


@pytest.mark.parametrize("name", CONTRIB_MODELS)
def test_zoo_contrib_opencl(kiln, opencl, name, tmp_path):
    run_and_check(kiln, name, opencl, tmp_path / "run")
    compare_with_cpu(kiln, name, tmp_path)


@pytest.mark.parametrize("name", ["bert_op14", "gpt2"])
def test_zoo_other_shapes(kiln, name, tmp_path):
    """The symbolic batch and sequence dims at other sizes (batch 3, sequence 7, each row
    padded differently), against onnxruntime live."""
    rng = np.random.default_rng(7)
    base = feeds(name)
    mask = np.ones((3, 7), np.int64)
    mask[1, 5:] = 0
    mask[2, 2:] = 0
    new = {"input_ids": rng.integers(3, 500, size=(3, 7), dtype=np.int64),
           "attention_mask": mask}
    if "token_type_ids" in base:
        new["token_type_ids"] = (np.arange(7)[None, :] >= 4).astype(np.int64).repeat(3, 0)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for k, v in new.items():
        np.save(inputs / f"{k}.npy", v)
    out = tmp_path / "out"
    res = kiln("run", ZOO / f"{name}.onnx", "--device", "cpu", "--inputs", inputs,
               "--output-dir", out, "--quiet")
    assert res.returncode == 0, res.describe()
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(ZOO / f"{name}.onnx"), so,
                                providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    for n, ref in zip(names, sess.run(names, new)):
        got = np.load(out / f"{n}.npy")
        assert got.shape == ref.shape, f"{name}/{n}: shape {got.shape} != {ref.shape}"
        err = float(np.max(np.abs(got.astype(np.float64) - ref)))
        assert err <= TOLERANCES[name], f"{name}/{n}: max abs error {err:.3g}"


def test_gpt2_greedy_decode_with_past(kiln, tmp_path):
    """Sixteen greedy decoder steps of gpt2_with_past (16 generated tokens), each feeding the
    previous step's present.N.* back as past_key_values.N.* (past length 12 -> 28), against
    onnxruntime doing the same: the same tokens, logits within the fp32 tolerance."""
    name = "gpt2_with_past"
    sess = ort.InferenceSession(str(ZOO / f"{name}.onnx"), providers=["CPUExecutionProvider"])
    out_names = [o.name for o in sess.get_outputs()]
    state = {"kiln": feeds(name), "ort": feeds(name)}
    for step in range(16):
        want = dict(zip(out_names, sess.run(out_names, state["ort"])))
        d = tmp_path / f"step{step}"
        (d / "inputs").mkdir(parents=True)
        for k, v in state["kiln"].items():
            np.save(d / "inputs" / f"{k}.npy", v)
        res = kiln("run", ZOO / f"{name}.onnx", "--device", "cpu", "--inputs", d / "inputs",
                   "--output-dir", d / "out", "--quiet")
        assert res.returncode == 0, f"step {step}: {res.describe()}"
        outs = {n: np.load(d / "out" / f"{n}.npy") for n in out_names}
        for n in out_names:
            assert outs[n].shape == want[n].shape, f"step {step} {n}: {outs[n].shape}"
            err = float(np.max(np.abs(outs[n] - want[n])))
            assert err <= TOLERANCES[name], f"step {step} {n}: max abs error {err:.3g}"
        for who, o in (("kiln", outs), ("ort", want)):
            prev = state[who]
            token = o["logits"][:, -1].argmax(-1)[:, None].astype(np.int64)
            nxt = {"input_ids": token,
                   "attention_mask": np.concatenate(
                       [prev["attention_mask"], np.ones((token.shape[0], 1), np.int64)], 1),
                   "position_ids": prev["position_ids"] + 1}
            for n in out_names[1:]:
                nxt[n.replace("present.", "past_key_values.")] = o[n]
            state[who] = nxt
        assert np.array_equal(state["kiln"]["input_ids"], state["ort"]["input_ids"]), \
            f"step {step}: kiln chose {state['kiln']['input_ids'].ravel()}, onnxruntime " \
            f"{state['ort']['input_ids'].ravel()}"


def kiln_run_files(kiln, model, inputs, out_names, d, device="cpu"):
    """Runs MODEL in kiln on the feeds `inputs` (written to d/inputs), returns its outputs."""
    (d / "inputs").mkdir(parents=True)
    for k, v in inputs.items():
        np.save(d / "inputs" / f"{k}.npy", v)
    res = kiln("run", ZOO / f"{model}.onnx", "--device", device, "--inputs", d / "inputs",
               "--output-dir", d / "out", "--quiet")
    assert res.returncode == 0, f"{model}: {res.describe()}"
    assert "falls back to the CPU" not in res.stderr, res.describe()
    return {n: np.load(d / "out" / f"{n}.npy") for n in out_names}


@pytest.mark.parametrize("device", ["cpu", "opencl", "vulkan"])
def test_t5_greedy_generation(kiln, devices, device, tmp_path):
    """Seq2seq generation as Optimum runs a T5 export: t5_gen_encoder once, t5_gen_decoder for
    the start token (its present.N.encoder.* is the cross-attention cache for every later step),
    then t5_gen_decoder_with_past for eight more greedy tokens, feeding present.N.decoder.* back
    as the self-attention past. kiln and onnxruntime each run the whole loop on their own
    outputs: the same nine tokens, and every logits tensor within the fp32 tolerance."""
    if device != "cpu" and not devices.get(device, {}).get("devices"):
        pytest.skip(f"no {device} device")
    sess = {m: ort.InferenceSession(str(ZOO / f"{m}.onnx"), providers=["CPUExecutionProvider"])
            for m in ("t5_gen_encoder", "t5_gen_decoder", "t5_gen_decoder_with_past")}
    names = {m: [o.name for o in s.get_outputs()] for m, s in sess.items()}
    atol = TOLERANCES["t5_gen_decoder_with_past"]
    step_dir = iter(tmp_path / f"s{i}" for i in range(100))

    def both(model, inputs):
        want = dict(zip(names[model], sess[model].run(names[model], inputs["ort"])))
        got = kiln_run_files(kiln, model, inputs["kiln"], names[model], next(step_dir), device)
        for n in names[model]:
            assert got[n].shape == want[n].shape, f"{model} {n}: {got[n].shape}"
            err = float(np.max(np.abs(got[n] - want[n])))
            assert err <= atol, f"{model} {n}: max abs error {err:.3g} > {atol}"
        return {"kiln": got, "ort": want}

    enc_in = feeds("t5_gen_encoder")
    enc = both("t5_gen_encoder", {"kiln": enc_in, "ort": enc_in})
    batch = enc_in["input_ids"].shape[0]
    start = np.zeros((batch, 1), np.int64)  # decoder_start_token_id
    first = both("t5_gen_decoder", {w: {"input_ids": start,
                                        "encoder_attention_mask": enc_in["attention_mask"],
                                        "encoder_hidden_states": enc[w]["last_hidden_state"]}
                                    for w in ("kiln", "ort")})
    tokens = {w: [first[w]["logits"][:, -1].argmax(-1)] for w in ("kiln", "ort")}
    cross = {w: {n.replace("present.", "past_key_values."): v for n, v in first[w].items()
                 if ".encoder." in n} for w in ("kiln", "ort")}
    past = {w: {n.replace("present.", "past_key_values."): v for n, v in first[w].items()
                if ".decoder." in n} for w in ("kiln", "ort")}
    for step in range(8):
        assert np.array_equal(tokens["kiln"][-1], tokens["ort"][-1]), \
            f"step {step}: kiln chose {tokens['kiln'][-1]}, onnxruntime {tokens['ort'][-1]}"
        inputs = {w: {"input_ids": tokens[w][-1][:, None].astype(np.int64),
                      "encoder_attention_mask": enc_in["attention_mask"], **past[w], **cross[w]}
                  for w in ("kiln", "ort")}
        out = both("t5_gen_decoder_with_past", inputs)
        for w in ("kiln", "ort"):
            tokens[w].append(out[w]["logits"][:, -1].argmax(-1))
            past[w] = {n.replace("present.", "past_key_values."): v for n, v in out[w].items()
                       if n != "logits"}
    assert np.array_equal(np.stack(tokens["kiln"]), np.stack(tokens["ort"]))
    assert past["kiln"]["past_key_values.0.decoder.key"].shape[2] == 9
