"""pyrnn.interop.export_onnx: exported graphs pass onnx.checker and onnxruntime's outputs equal
pyrnn's eval-mode forward (float32) for every cell, stacked and bidirectional layers, both
layouts, with and without lengths and initial states, and for Sequential models.
"""
from __future__ import annotations

from typing import Dict

import numpy as np
import pytest

import pyrnn
from pyrnn.interop import export_onnx
from pyrnn.layers.core import Dense, Dropout, Embedding, LastStep
from pyrnn.model import Sequential

from conftest import assert_close

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

CELLS = {"rnn_tanh": (pyrnn.RNN, {}), "rnn_relu": (pyrnn.RNN, {"nonlinearity": "relu"}),
         "lstm": (pyrnn.LSTM, {}), "gru": (pyrnn.GRU, {}),
         "gru_cho": (pyrnn.GRU, {"reset_after": False})}
CONFIGS = {"plain": {}, "stacked_bi": {"num_layers": 2, "bidirectional": True},
           "nobias_bi": {"bias": False, "bidirectional": True}}
T_, B_, I_, H_ = 7, 4, 3, 5
LENGTHS = np.array([7, 1, 4, 6])  # unsorted, with a length-1 row and a full row


def ort_run(model, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, feeds)))


def layout(x_tb: np.ndarray, batch_first: bool) -> np.ndarray:
    """A time-major array in the requested layout."""
    return np.ascontiguousarray(np.swapaxes(x_tb, 0, 1)) if batch_first else x_tb


@pytest.mark.parametrize("with_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["tbf", "btf"])
@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("cell", list(CELLS))
def test_layer_matches_pyrnn(cell, config, batch_first, with_lengths):
    cls, kw = CELLS[cell]
    layer = cls(I_, H_, batch_first=batch_first, seed=1, **kw, **CONFIGS[config]).eval()
    x = layout(np.random.default_rng(2).standard_normal((T_, B_, I_)).astype(np.float32),
               batch_first)
    lens = LENGTHS if with_lengths else None
    with pyrnn.no_grad():
        out, state = layer(x, lengths=lens)
    model = export_onnx(layer, None, lengths=with_lengths)
    feeds = {"input": x}
    if with_lengths:
        feeds["lengths"] = LENGTHS
    got = ort_run(model, feeds)
    expected = {"output": out}
    if isinstance(state, tuple):
        expected.update(h_n=state[0], c_n=state[1])
    else:
        expected["h_n"] = state
    assert set(got) == set(expected)
    for name, value in expected.items():
        assert_close(got[name], value, "float32", "forward", name)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_relu"])
def test_layer_initial_state(cell):
    cls, kw = CELLS[cell]
    layer = cls(I_, H_, num_layers=2, bidirectional=True, seed=3, **kw).eval()
    rng = np.random.default_rng(4)
    x = rng.standard_normal((T_, B_, I_)).astype(np.float32)
    h0 = rng.standard_normal((4, B_, H_)).astype(np.float32)
    c0 = rng.standard_normal((4, B_, H_)).astype(np.float32)
    hx = (h0, c0) if cell == "lstm" else h0
    with pyrnn.no_grad():
        out, state = layer(x, hx, lengths=LENGTHS)
    feeds = {"input": x, "lengths": LENGTHS, "h0": h0}
    if cell == "lstm":
        feeds["c0"] = c0
    got = ort_run(export_onnx(layer, None, lengths=True, initial_state=True), feeds)
    assert_close(got["output"], out, "float32", "forward", "output")
    assert_close(got["h_n"], state[0] if cell == "lstm" else state, "float32", "forward", "h_n")
    if cell == "lstm":
        assert_close(got["c_n"], state[1], "float32", "forward", "c_n")


def char_model(batch_first: bool) -> Sequential:
    return Sequential([Embedding(11, 4, seed=0),
                       pyrnn.LSTM(4, 6, num_layers=2, dropout=0.3, batch_first=batch_first,
                                  seed=1),
                       Dropout(0.5, seed=2),
                       Dense(6, 11, activation="softmax", seed=3)])


def classifier(batch_first: bool) -> Sequential:
    return Sequential([pyrnn.GRU(I_, 5, bidirectional=True, reset_after=False,
                                 batch_first=batch_first, seed=4),
                       pyrnn.RNN(10, 6, nonlinearity="relu", batch_first=batch_first, seed=5),
                       LastStep(),
                       Dense(6, 2, activation="sigmoid", seed=6)])


def token_classifier(batch_first: bool) -> Sequential:
    return Sequential([Embedding(11, 3, seed=7),
                       pyrnn.GRU(3, 4, num_layers=2, bidirectional=True,
                                 batch_first=batch_first, seed=8),
                       LastStep(),
                       Dense(8, 5, seed=9),
                       Dense(5, 3, activation="tanh", bias=False, seed=10)])


def dense_first(batch_first: bool) -> Sequential:
    return Sequential([Dense(I_, 6, activation="relu", seed=11),
                       pyrnn.LSTM(6, 4, bidirectional=True, batch_first=batch_first, seed=12),
                       Dense(8, 3, seed=13)])


MODELS = {"char_lstm": char_model, "gru_cho_rnn_laststep": classifier,
          "embed_bigru_laststep": token_classifier, "dense_bilstm_dense": dense_first}


@pytest.mark.parametrize("with_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("batch_first", [True, False], ids=["btf", "tbf"])
@pytest.mark.parametrize("name", list(MODELS))
def test_sequential_matches_pyrnn(name, batch_first, with_lengths, tmp_path):
    model = MODELS[name](batch_first)  # left in training mode: export is the eval forward
    rng = np.random.default_rng(14)
    if model.takes_tokens:
        x = layout(rng.integers(0, 11, (T_, B_)), batch_first)
    else:
        x = layout(rng.standard_normal((T_, B_, I_)).astype(np.float32), batch_first)
    lens = LENGTHS if with_lengths else None
    path = tmp_path / "model.onnx"
    export_onnx(model, path, lengths=with_lengths)
    loaded = onnx.load(str(path))
    onnx.checker.check_model(loaded, full_check=True)
    model.eval()
    with pyrnn.no_grad():
        expected = model(x, lengths=lens)
    feeds = {"input": x}
    if with_lengths:
        feeds["lengths"] = LENGTHS
    got = ort_run(loaded, feeds)
    assert list(got) == ["output"]
    assert_close(got["output"], expected, "float32", "forward", "output")


def test_sequential_initial_and_final_states():
    model = Sequential([pyrnn.LSTM(I_, 4, batch_first=True, seed=1),
                        pyrnn.GRU(4, 3, bidirectional=True, batch_first=True, seed=2),
                        Dense(6, 2, seed=3)], ).eval()
    rng = np.random.default_rng(5)
    x = rng.standard_normal((B_, T_, I_)).astype(np.float32)
    h_a, c_a = (rng.standard_normal((1, B_, 4)).astype(np.float32) for _ in range(2))
    h_b = rng.standard_normal((2, B_, 3)).astype(np.float32)
    with pyrnn.no_grad():
        y, states = model(x, lengths=LENGTHS, initial_state=[(h_a, c_a), h_b],
                          return_state=True)
    om = export_onnx(model, None, lengths=True, initial_state=True)
    assert [i.name for i in om.graph.input] == ["input", "lengths", "lstm.h0", "lstm.c0",
                                                 "gru.h0"]
    got = ort_run(om, {"input": x, "lengths": LENGTHS, "lstm.h0": h_a, "lstm.c0": c_a,
                       "gru.h0": h_b})
    assert_close(got["output"], y, "float32", "forward", "output")
    assert_close(got["lstm.h_n"], states[0][0], "float32", "forward", "lstm.h_n")
    assert_close(got["lstm.c_n"], states[0][1], "float32", "forward", "lstm.c_n")
    assert_close(got["gru.h_n"], states[1], "float32", "forward", "gru.h_n")


def test_dynamic_and_fixed_dimensions():
    layer = pyrnn.GRU(I_, H_, batch_first=True, seed=1).eval()
    om = export_onnx(layer, None)
    dims = [d.dim_param or d.dim_value for d in om.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["B", "T", I_]
    rng = np.random.default_rng(0)
    for shape in [(1, 1, I_), (6, 2, I_), (2, 9, I_)]:  # one graph, any batch and length
        x = rng.standard_normal(shape).astype(np.float32)
        with pyrnn.no_grad():
            out, _ = layer(x)
        assert_close(ort_run(om, {"input": x})["output"], out, "float32", "forward", str(shape))
    om = export_onnx(layer, None, seq_len=5, batch=2)
    dims = [d.dim_param or d.dim_value for d in om.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [2, 5, I_]
    out_dims = [d.dim_param or d.dim_value for d in om.graph.output[0].type.tensor_type.shape.dim]
    assert out_dims == [2, 5, H_]


@pytest.mark.parametrize("opset", [14, 17, 20])
def test_opsets(opset):
    layer = pyrnn.LSTM(I_, H_, bidirectional=True, seed=1).eval()
    om = export_onnx(layer, None, opset=opset)
    assert om.opset_import[0].version == opset
    x = np.random.default_rng(0).standard_normal((T_, B_, I_)).astype(np.float32)
    with pyrnn.no_grad():
        out, _ = layer(x)
    assert_close(ort_run(om, {"input": x})["output"], out, "float32", "forward")


def test_float64_models():
    model = Sequential([Embedding(7, 3, dtype="float64", seed=0),
                        pyrnn.GRU(3, 4, dtype="float64", batch_first=True, seed=1),
                        Dense(4, 7, activation="softmax", dtype="float64", seed=2)]).eval()
    om = export_onnx(model, None)
    assert om.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    # onnxruntime's recurrent kernels are float32 only: cast on export to run there
    om32 = export_onnx(model, None, dtype="float32")
    assert om32.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    ids = np.random.default_rng(0).integers(0, 7, (B_, T_))
    with pyrnn.no_grad():
        expected = model(ids)
    assert_close(ort_run(om32, {"input": ids})["output"], expected, "float32", "forward")


def test_bad_arguments_raise():
    layer = pyrnn.LSTM(2, 3)
    with pytest.raises(ValueError, match="opset"):
        export_onnx(layer, None, opset=9)
    with pytest.raises(ValueError, match="seq_len"):
        export_onnx(layer, None, seq_len=0)
    with pytest.raises(ValueError, match="batch"):
        export_onnx(layer, None, batch=2.5)
    with pytest.raises(TypeError, match="model_or_layer"):
        export_onnx(Dense(2, 3), None)
    with pytest.raises(TypeError, match="dtype"):
        export_onnx(layer, None, dtype="float16")
    with pytest.raises(TypeError, match="lengths"):
        export_onnx(layer, None, lengths="yes")
    with pytest.raises(ValueError, match="no layers"):
        export_onnx(Sequential(), None)
