"""Writes the C runtime's test models, their expected outputs and the corpus of nasty files.

    python tests/cpp/make_models.py        # rewrites tests/cpp/models/* and tests/cpp/corpus/*

Weights are NumPy draws (fixed seeds) saved with pyrnn.safetensors_io; expected outputs
come from the pyrnn recurrent layers with backend="reference" in float64 plus NumPy Dense,
so the files do not depend on pyrnn.model (Sequential). Output is deterministic.

models/<name>.pyrnn + models/<name>.expected.txt, one "key count v1 v2 ..." line each:
  T, x | tokens           the input sequence (T steps)
  run                     pyrnn_run from a zero state ((T or 1) x output_size)
  steps                   T pyrnn_step outputs (streamable models only)
  state                   the state after run from zero (layout: pyrnn.h, pyrnn_state_get)
  h0, run_h0, state_h0    run from the nonzero state h0: outputs and final state
models/<name>.embed.txt: outputs for examples/embed/main.c's input (its ctest).
corpus/*.pyrnn + corpus/EXPECTED.txt ("file STATUS"): files every loader must reject.
"""
from __future__ import annotations

import json
import os
import struct
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

import pyrnn  # noqa: E402
from pyrnn import safetensors_io  # noqa: E402

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


# ----------------------------------------------------------------------------- models

def arch_layers(spec):
    """(architecture dict, tensors) for a list of layer specs, weights from fixed seeds."""
    rng = np.random.default_rng(spec["seed"])
    tensors = {}
    layers = []
    width = spec["input"].get("size")
    for L in spec["layers"]:
        L = dict(L)
        t = L["type"]
        if t == "Embedding":
            tensors[f"{L['name']}.weight"] = rng.normal(0, 0.8, (L["num_embeddings"],
                                                                 L["embedding_dim"]))
            width = L["embedding_dim"]
        elif t in GATES:
            G, H, D = GATES[t], L["hidden_size"], 2 if L.get("bidirectional") else 1
            L["input_size"] = width
            for layer in range(L["num_layers"]):
                I = width if layer == 0 else D * H
                for sfx in ["", "_reverse"][:D]:
                    p = f"{L['name']}."
                    tensors[f"{p}weight_ih_l{layer}{sfx}"] = rng.normal(0, 0.6, (G * H, I))
                    tensors[f"{p}weight_hh_l{layer}{sfx}"] = rng.normal(0, 0.6, (G * H, H))
                    if L["bias"]:
                        tensors[f"{p}bias_ih_l{layer}{sfx}"] = rng.normal(0, 0.3, G * H)
                        tensors[f"{p}bias_hh_l{layer}{sfx}"] = rng.normal(0, 0.3, G * H)
            width = D * H
        elif t == "Dense":
            L["in_features"] = width
            tensors[f"{L['name']}.weight"] = rng.normal(0, 0.7, (L["out_features"], width))
            if L["bias"]:
                tensors[f"{L['name']}.bias"] = rng.normal(0, 0.3, L["out_features"])
            width = L["out_features"]
        layers.append(L)
    arch = {"dtype": "float32", "batch_first": True, "input": spec["input"], "layers": layers}
    return arch, {k: v.astype(np.float32) for k, v in tensors.items()}


def recurrent(L, tensors):
    cls = {"LSTM": pyrnn.LSTM, "GRU": pyrnn.GRU, "RNN": pyrnn.RNN}[L["type"]]
    kw = {}
    if L["type"] == "GRU":
        kw["reset_after"] = L.get("reset_after", True)
    if L["type"] == "RNN":
        kw["nonlinearity"] = L.get("nonlinearity", "tanh")
    layer = cls(L["input_size"], L["hidden_size"], L["num_layers"], bias=L["bias"],
                bidirectional=L.get("bidirectional", False), dtype="float64",
                backend="reference", **kw)
    prefix = L["name"] + "."
    layer.load_state_dict({k[len(prefix):]: v.astype(np.float64) for k, v in tensors.items()
                           if k.startswith(prefix)})
    layer.eval()
    return layer


def dense(L, tensors, x):
    z = x @ tensors[f"{L['name']}.weight"].astype(np.float64).T
    if L["bias"]:
        z = z + tensors[f"{L['name']}.bias"]
    a = L.get("activation")
    if a == "tanh":
        return np.tanh(z)
    if a == "relu":
        return np.maximum(z, 0)
    if a == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if a == "softmax":
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)
    return z


def state_len(arch):
    n = 0
    for L in arch["layers"]:
        if L["type"] in GATES:
            D = 2 if L.get("bidirectional") else 1
            n += L["num_layers"] * D * L["hidden_size"] * (2 if L["type"] == "LSTM" else 1)
    return n


def forward(arch, tensors, inp, state=None, last_step=True):
    """Runs the model in float64 on one sequence. inp: (T, I) floats or (T,) tokens.
    state: flat initial state (pyrnn.h layout) or None. Returns (outputs, final state)."""
    x = np.asarray(inp)
    if x.dtype.kind == "f":
        x = x.astype(np.float64)
    pos = 0
    final = []
    with pyrnn.no_grad():
        for L in arch["layers"]:
            t = L["type"]
            if t == "Embedding":
                x = tensors[f"{L['name']}.weight"].astype(np.float64)[x]
            elif t in GATES:
                layer = recurrent(L, tensors)
                D, H, N = layer.num_directions, L["hidden_size"], L["num_layers"]
                k = N * D
                per = H * (2 if t == "LSTM" else 1)
                if state is not None:
                    blk = np.asarray(state[pos:pos + k * per], np.float64).reshape(k, -1)
                    h0 = blk[:, :H].reshape(k, 1, H).copy()
                    c0 = blk[:, H:].reshape(k, 1, H).copy() if t == "LSTM" else None
                else:
                    h0 = np.zeros((k, 1, H))
                    c0 = np.zeros((k, 1, H)) if t == "LSTM" else None
                pos += k * per
                if t == "LSTM":
                    out, (h_n, c_n) = layer(x[:, None, :], (h0, c0))
                    final += [np.concatenate([h_n[i, 0], c_n[i, 0]]) for i in range(k)]
                else:
                    out, h_n = layer(x[:, None, :], h0)
                    final += [h_n[i, 0] for i in range(k)]
                x = out[:, 0, :]
            elif t == "LastStep":
                if last_step:
                    x = x[-1:]
            elif t == "Dense":
                x = dense(L, tensors, x)
    return x, (np.concatenate(final) if final else np.zeros(0))


def fmt(key, values):
    v = np.asarray(values).ravel()
    if v.dtype.kind in "iu":
        return f"{key} {v.size} " + " ".join(str(int(a)) for a in v)
    return f"{key} {v.size} " + " ".join(f"{float(a):.9g}" for a in v)


def write_model(out_dir: Path, name: str, spec, T: int):
    arch, tensors = arch_layers(spec)
    meta = {"format": "pyrnn.model", "version": "1",
            "architecture": json.dumps(arch, separators=(",", ":"))}
    safetensors_io.save_file(out_dir / f"{name}.pyrnn", tensors, meta)
    rng = np.random.default_rng(spec["seed"] + 1000)
    tokens = spec["input"]["kind"] == "tokens"
    if tokens:
        inp = rng.integers(0, spec["input"]["vocab_size"], T)
    else:
        inp = rng.normal(0, 1, (T, spec["input"]["size"])).astype(np.float32)
    streamable = not any(L.get("bidirectional") for L in arch["layers"])
    run, state = forward(arch, tensors, inp)
    h0 = rng.normal(0, 0.5, state_len(arch)).astype(np.float32)
    run_h0, state_h0 = forward(arch, tensors, inp, h0)
    lines = [f"T 1 {T}", fmt("tokens" if tokens else "x", inp), fmt("run", run)]
    if streamable:
        steps, _ = forward(arch, tensors, inp, last_step=False)
        lines.append(fmt("steps", steps))
    lines += [fmt("state", state), fmt("h0", h0), fmt("run_h0", run_h0),
              fmt("state_h0", state_h0)]
    (out_dir / f"{name}.expected.txt").write_text("\n".join(lines) + "\n")
    return arch, tensors


MODELS = {
    # LSTM x2 stacked + dropout + tanh head: the streaming workhorse.
    "lstm_dense": {"seed": 1, "input": {"kind": "features", "size": 3}, "layers": [
        {"type": "LSTM", "name": "rnn", "hidden_size": 5, "num_layers": 2, "bias": True,
         "bidirectional": False, "dropout": 0.1},
        {"type": "Dropout", "name": "drop", "p": 0.2},
        {"type": "Dense", "name": "head", "out_features": 2, "bias": True,
         "activation": "tanh"}]},
    # Token input: Embedding -> GRU (PyTorch form) -> softmax over the vocabulary.
    "gru_tokens": {"seed": 2, "input": {"kind": "tokens", "vocab_size": 11}, "layers": [
        {"type": "Embedding", "name": "embed", "num_embeddings": 11, "embedding_dim": 4},
        {"type": "GRU", "name": "gru", "hidden_size": 6, "num_layers": 1, "bias": True,
         "bidirectional": False, "dropout": 0.0, "reset_after": True},
        {"type": "Dense", "name": "head", "out_features": 11, "bias": True,
         "activation": "softmax"}]},
    # Cho's GRU, a bias-free ReLU RNN, sigmoid head.
    "gru_cho_relu": {"seed": 3, "input": {"kind": "features", "size": 4}, "layers": [
        {"type": "GRU", "name": "g", "hidden_size": 3, "num_layers": 1, "bias": True,
         "bidirectional": False, "dropout": 0.0, "reset_after": False},
        {"type": "RNN", "name": "r", "hidden_size": 5, "num_layers": 1, "bias": False,
         "bidirectional": False, "dropout": 0.0, "nonlinearity": "relu"},
        {"type": "Dense", "name": "out", "out_features": 3, "bias": True,
         "activation": "sigmoid"}]},
    # Many-to-one, bidirectional stacked LSTM: whole-sequence run only.
    "bilstm_last": {"seed": 4, "input": {"kind": "features", "size": 2}, "layers": [
        {"type": "LSTM", "name": "enc", "hidden_size": 4, "num_layers": 2, "bias": True,
         "bidirectional": True, "dropout": 0.0},
        {"type": "LastStep", "name": "last"},
        {"type": "Dense", "name": "cls", "out_features": 3, "bias": True,
         "activation": "softmax"}]},
    # Unidirectional many-to-one: LastStep is the identity when stepping.
    "rnn_last": {"seed": 5, "input": {"kind": "features", "size": 3}, "layers": [
        {"type": "RNN", "name": "rnn", "hidden_size": 7, "num_layers": 2, "bias": True,
         "bidirectional": False, "dropout": 0.0, "nonlinearity": "tanh"},
        {"type": "LastStep", "name": "last"},
        {"type": "Dense", "name": "head", "out_features": 2, "bias": True,
         "activation": "relu"},
        {"type": "Dense", "name": "head2", "out_features": 2, "bias": False,
         "activation": None}]},
    # Bidirectional GRU (Cho form) over tokens, per-step outputs.
    "bigru_tokens": {"seed": 6, "input": {"kind": "tokens", "vocab_size": 5}, "layers": [
        {"type": "Embedding", "name": "e", "num_embeddings": 5, "embedding_dim": 3},
        {"type": "GRU", "name": "g", "hidden_size": 3, "num_layers": 1, "bias": True,
         "bidirectional": True, "dropout": 0.0, "reset_after": False},
        {"type": "Dense", "name": "d", "out_features": 2, "bias": True, "activation": None}]},
}


# ----------------------------------------------------------------------------- corpus

def raw(header: bytes, data: bytes = b"") -> bytes:
    return struct.pack("<Q", len(header)) + header + data


def write_corpus(out_dir: Path, arch, tensors):
    """Files that must be rejected; arch/tensors: a valid model to corrupt."""
    out_dir.mkdir(exist_ok=True)
    for f in out_dir.glob("*.pyrnn"):
        f.unlink()
    meta = {"format": "pyrnn.model", "version": "1",
            "architecture": json.dumps(arch, separators=(",", ":"))}
    good = safetensors_io.save_bytes(tensors, meta)
    (n,) = struct.unpack_from("<Q", good)
    header, data = good[8:8 + n], good[8 + n:]
    cases = {}

    def model_with(a=None, t=None, m=None):
        mm = dict(meta)
        if a is not None:
            mm["architecture"] = a if isinstance(a, str) else json.dumps(a)
        if m is not None:
            mm.update(m)
        return safetensors_io.save_bytes(tensors if t is None else t, mm)

    def arch_edit(fn):
        a = json.loads(json.dumps(arch))
        fn(a)
        return model_with(a)

    F = "PYRNN_ERR_FORMAT"
    M = "PYRNN_ERR_MODEL"
    U = "PYRNN_ERR_UNSUPPORTED"
    # -- container
    cases["empty"] = (b"", F)
    cases["short_length"] = (b"\x10\x00\x00", F)
    cases["length_2to64"] = (b"\xff" * 8 + b"{}", F)
    cases["length_over_cap"] = (struct.pack("<Q", 100_000_001) + b"{}", F)
    cases["length_past_eof"] = (struct.pack("<Q", len(header) + 1) + header, F)
    cases["truncated_data"] = (good[:-5], F)
    cases["header_not_object"] = (raw(b"[1,2]   "), F)
    cases["header_leading_space"] = (raw(b" {}"), F)
    cases["header_newline_pad"] = (raw(b"{}\n"), F)
    cases["header_zero_length"] = (raw(b""), F)
    cases["json_truncated"] = (raw(header[: len(header) // 2]), F)
    cases["json_nan"] = (raw(b'{"a":NaN}'), F)
    cases["json_trailing_comma"] = (raw(b'{"__metadata__":{"a":"b"},}'), F)
    cases["json_bad_utf8"] = (raw(b'{"__metadata__":{"a":"\xc0\xaf"}}'), F)
    cases["json_surrogate_utf8"] = (raw(b'{"__metadata__":{"a":"\xed\xa0\x80"}}'), F)
    cases["json_lone_surrogate"] = (raw(b'{"__metadata__":{"a":"\\ud800"}}'), F)
    cases["json_control_char"] = (raw(b'{"__metadata__":{"a":"\x01"}}'), F)
    cases["json_deep_nesting"] = (raw(b'{"__metadata__":' + b"[" * 300 + b"]" * 300 + b"}"), F)
    cases["json_unterminated_string"] = (raw(b'{"__metadata__":{"a":"b'), F)
    cases["json_leading_zero"] = (raw(b'{"a":{"dtype":"F32","shape":[01],"data_offsets":[0,4]}}',
                                      b"\0" * 4), F)
    cases["duplicate_tensor"] = (raw(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                                     b'"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
                                     b"\0" * 8), F)
    cases["duplicate_metadata"] = (raw(b'{"__metadata__":{},"__metadata__":{}}'), F)
    cases["duplicate_meta_key"] = (raw(b'{"__metadata__":{"a":"1","a":"2"}}'), F)
    cases["metadata_not_string"] = (raw(b'{"__metadata__":{"format":1}}'), F)
    cases["offsets_out_of_range"] = (raw(b'{"a":{"dtype":"F32","shape":[2],'
                                         b'"data_offsets":[0,8]}}', b"\0" * 4), F)
    cases["offsets_huge"] = (raw(b'{"a":{"dtype":"F32","shape":[2],"data_offsets":'
                                 b'[9223372036854775800,9223372036854775807]}}'), F)
    cases["offsets_2to64"] = (raw(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":'
                                  b'[18446744073709551612,18446744073709551616]}}'), F)
    cases["offsets_reversed"] = (raw(b'{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}',
                                     b"\0" * 4), F)
    cases["offsets_overlap"] = (raw(b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
                                    b'"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}',
                                    b"\0" * 12), F)
    cases["offsets_gap"] = (raw(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
                                b"\0" * 8), F)
    cases["trailing_bytes"] = (good + b"\0", F)
    cases["shape_overflow"] = (raw(b'{"a":{"dtype":"F32","shape":[4611686018427387904,'
                                   b'4611686018427387904,4],"data_offsets":[0,0]}}'), F)
    cases["shape_wraps_to_small"] = (raw(b'{"a":{"dtype":"F32","shape":[4611686018427387904,'
                                         b'4],"data_offsets":[0,0]}}'), F)
    cases["shape_negative"] = (raw(b'{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}',
                                   b"\0" * 4), F)
    cases["shape_float"] = (raw(b'{"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}',
                                b"\0" * 4), F)
    cases["shape_rank9"] = (raw(b'{"a":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],'
                                b'"data_offsets":[0,4]}}', b"\0" * 4), F)
    cases["shape_bytes_mismatch"] = (raw(b'{"a":{"dtype":"F32","shape":[3],'
                                         b'"data_offsets":[0,8]}}', b"\0" * 8), F)
    cases["dtype_unknown"] = (raw(b'{"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}',
                                  b"\0" * 4), F)
    cases["tensor_extra_key"] = (raw(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],'
                                     b'"x":0}}', b"\0" * 4), F)
    cases["tensor_missing_key"] = (raw(b'{"a":{"dtype":"F32","shape":[1]}}', b"\0" * 4), F)
    # -- model level
    cases["plain_safetensors"] = (safetensors_io.save_bytes(tensors), M)
    cases["wrong_format"] = (model_with(m={"format": "other"}), M)
    cases["version_2"] = (model_with(m={"version": "2"}), U)
    cases["float64_model"] = (safetensors_io.save_bytes(
        {k: v.astype(np.float64) for k, v in tensors.items()},
        {**meta, "architecture": json.dumps({**arch, "dtype": "float64"})}), U)
    cases["tensor_f64_in_f32_model"] = (model_with(t={**tensors, **{
        k: v.astype(np.float64) for k, v in list(tensors.items())[:1]}}), M)
    cases["arch_not_json"] = (model_with(a="{layers: []}"), M)
    cases["arch_not_object"] = (model_with(a="[]"), M)
    cases["arch_unknown_key"] = (model_with(a=json.dumps({**arch, "junk": [0] * 10})), M)
    cases["arch_deep"] = (model_with(a="[" * 100 + "]" * 100), M)
    cases["arch_no_layers"] = (arch_edit(lambda a: a.update(layers=[])), M)
    cases["arch_65_recurrent_layers"] = (arch_edit(lambda a: a["layers"].insert(1, {
        **a["layers"][0], "name": "more", "input_size": a["layers"][0]["hidden_size"],
        "num_layers": 64})), M)
    cases["recurrent_after_laststep"] = (arch_edit(lambda a: a["layers"].insert(0, {
        "type": "LastStep", "name": "ls"})), M)
    cases["layer_unknown_key"] = (arch_edit(lambda a: a["layers"][0].update(peephole=True)), M)
    cases["layer_name_with_dot"] = (arch_edit(lambda a: a["layers"][0].update(name="a.b")), M)
    first = arch["layers"][0]
    hkey = "hidden_size" if "hidden_size" in first else "embedding_dim"
    cases["hidden_zero"] = (arch_edit(lambda a: a["layers"][0].update({hkey: 0})), M)
    cases["hidden_2to20_plus1"] = (arch_edit(lambda a: a["layers"][0].update({hkey: 2**20 + 1})), M)
    cases["hidden_huge"] = (arch_edit(lambda a: a["layers"][0].update({hkey: 10**30})), M)
    cases["hidden_float"] = (arch_edit(lambda a: a["layers"][0].update({hkey: 5.0})), M)
    cases["hidden_string"] = (arch_edit(lambda a: a["layers"][0].update({hkey: "5"})), M)
    cases["hidden_lies_big"] = (arch_edit(lambda a: a["layers"][0].update({hkey: 2**20})), M)
    cases["num_layers_65"] = (arch_edit(lambda a: a["layers"][0].update(num_layers=65)), M)
    cases["num_layers_lies"] = (arch_edit(lambda a: a["layers"][0].update(num_layers=3)), M)
    cases["bidirectional_lies"] = (arch_edit(lambda a: a["layers"][0].update(bidirectional=True)), M)
    cases["bias_lies"] = (arch_edit(lambda a: a["layers"][0].update(bias=False)), M)
    cases["input_size_mismatch"] = (arch_edit(lambda a: a["input"].update(size=4)), M)
    cases["input_kind_unknown"] = (arch_edit(lambda a: a["input"].update(kind="images")), M)
    cases["tokens_without_embedding"] = (arch_edit(lambda a: a.update(
        input={"kind": "tokens", "vocab_size": 3})), M)
    cases["unknown_layer"] = (arch_edit(lambda a: a["layers"].append(
        {"type": "Conv1d", "name": "c"})), M)
    cases["duplicate_layer_name"] = (arch_edit(lambda a: a["layers"].append(
        {"type": "Dropout", "name": a["layers"][0]["name"], "p": 0.0})), M)
    cases["dropout_p_2"] = (arch_edit(lambda a: a["layers"].append(
        {"type": "Dropout", "name": "dd", "p": 2.0})), M)
    cases["dense_bad_activation"] = (arch_edit(lambda a: a["layers"][-1].update(
        activation="gelu")), M)
    cases["dense_out_lies"] = (arch_edit(lambda a: a["layers"][-1].update(out_features=3)), M)
    cases["layer_not_object"] = (arch_edit(lambda a: a["layers"].append(7)), M)
    cases["name_missing"] = (arch_edit(lambda a: a["layers"][0].pop("name")), M)
    missing = dict(tensors)
    missing.pop(sorted(missing)[0])
    cases["missing_tensor"] = (model_with(t=missing), M)
    cases["extra_tensor"] = (model_with(t={**tensors, "stray.weight": np.zeros(2, np.float32)}), M)
    wrong = dict(tensors)
    k0 = sorted(k for k in wrong if wrong[k].ndim == 2)[0]
    wrong[k0] = wrong[k0].reshape(-1)
    cases["tensor_shape_wrong"] = (model_with(t=wrong), M)
    cases["no_architecture"] = (safetensors_io.save_bytes(tensors, {"format": "pyrnn.model",
                                                                    "version": "1"}), M)
    lines = []
    for name, (blob, status) in sorted(cases.items()):
        (out_dir / f"{name}.pyrnn").write_bytes(blob)
        lines.append(f"{name}.pyrnn {status}")
        try:  # the Python reader must reject container-level cases too
            safetensors_io.load_bytes(blob)
            assert status != F, f"safetensors_io accepted corpus case {name}"
        except ValueError:
            pass
    (out_dir / "EXPECTED.txt").write_text("\n".join(lines) + "\n")


def embed_input(arch, T=20):
    """The input examples/embed/main.c (and train.py) feed a model."""
    t = np.arange(T)
    if arch["input"]["kind"] == "tokens":
        return (7 * t + 3) % arch["input"]["vocab_size"]
    i = np.arange(arch["input"]["size"])
    return (0.8 * np.sin(0.3 * t[:, None] + 0.5 * i[None, :])).astype(np.float32)


def write_embed_expected(path: Path, arch, tensors):
    y, _ = forward(arch, tensors, embed_input(arch), last_step=False)
    path.write_text("\n".join(" ".join(f"{v:.9g}" for v in row) for row in y) + "\n")


def main():
    models = HERE / "models"
    models.mkdir(exist_ok=True)
    made = {}
    for name, spec in MODELS.items():
        made[name] = write_model(models, name, spec, T=7)
    # examples/embed/main.c's input protocol (20 steps), for its ctest.
    for name in ("lstm_dense", "gru_tokens"):
        arch, tensors = made[name]
        write_embed_expected(models / f"{name}.embed.txt", arch, tensors)
    # A model with training state: optimizer.* tensors are ignored by the runtime.
    arch, tensors = made["lstm_dense"]
    meta = {"format": "pyrnn.model", "version": "1",
            "architecture": json.dumps(arch, separators=(",", ":")),
            "optimizer": json.dumps({"class": "Adam", "lr": 0.001}), "training": "{}"}
    extra = {**tensors, "optimizer.step": np.array([3], np.int64),
             "optimizer.m.rnn.weight_ih_l0": np.zeros((20, 3), np.float64)}
    safetensors_io.save_file(models / "lstm_dense_with_optimizer.pyrnn", extra, meta)
    # The corpus corrupts a tiny model, so that it stays small.
    tiny = {"seed": 9, "input": {"kind": "features", "size": 2}, "layers": [
        {"type": "LSTM", "name": "rnn", "hidden_size": 2, "num_layers": 1, "bias": True,
         "bidirectional": False, "dropout": 0.0},
        {"type": "Dense", "name": "head", "out_features": 1, "bias": True,
         "activation": None}]}
    write_corpus(HERE / "corpus", *arch_layers(tiny))
    total = sum(f.stat().st_size for d in ("models", "corpus") for f in (HERE / d).iterdir())
    print(f"wrote {len(MODELS)} models and the corpus: {total} bytes")


if __name__ == "__main__":
    main()
