"""pyrnn.interop.keras against Keras' semantics, without Keras installed.

Two independent anchors: a NumPy transcription of Keras' documented cell equations
(SimpleRNN, LSTM i,f,c,o, GRU z,r,h in both reset_after forms, Bidirectional), and
outputs that Keras' own test suite asserts for constant-initialised layers. Round trips
must be identities, bit for bit wherever no bias sum is involved.
"""
from __future__ import annotations

import subprocess
import tempfile
import sys
from typing import List, Optional, Tuple

import numpy as np
import pytest

import pyrnn
from pyrnn.interop import from_keras_weights, to_keras_weights

from conftest import assert_close

Array = np.ndarray
GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}


# ---- the Keras-semantics reference (written from Keras' documented equations) ----------

def _sigmoid(z: Array) -> Array:
    return 1.0 / (1.0 + np.exp(-z))


def keras_forward(kind: str, weights: List[Array], x: Array, *, reset_after: bool = True,
                  activation: str = "tanh", go_backwards: bool = False
                  ) -> Tuple[Array, Array, Optional[Array]]:
    """One Keras layer, return_sequences=True: x (B, T, I) -> (y (B, T, H) in processing
    order, final h (B, H), final c (B, H) or None). Computed in float64."""
    kernel, rec = (np.asarray(w, np.float64) for w in weights[:2])
    bias = np.asarray(weights[2], np.float64) if len(weights) == 3 else None
    x = np.asarray(x, np.float64)
    B, T, _ = x.shape
    H = rec.shape[0]
    act = np.tanh if activation == "tanh" else (lambda z: np.maximum(z, 0.0))
    h, c = np.zeros((B, H)), np.zeros((B, H))
    ys = []
    for t in (reversed(range(T)) if go_backwards else range(T)):
        xt = x[:, t]
        if kind == "SimpleRNN":
            h = act(xt @ kernel + (0.0 if bias is None else bias) + h @ rec)
        elif kind == "LSTM":
            z = xt @ kernel + h @ rec + (0.0 if bias is None else bias)
            zi, zf, zc, zo = np.split(z, 4, axis=1)
            c = _sigmoid(zf) * c + _sigmoid(zi) * np.tanh(zc)
            h = _sigmoid(zo) * np.tanh(c)
        elif reset_after:  # GRU, bias (2, 3H): [input bias; recurrent bias]
            b_in, b_rec = (np.zeros(3 * H), np.zeros(3 * H)) if bias is None else bias
            xz, xr, xh = np.split(xt @ kernel + b_in, 3, axis=1)
            hz, hr, hh = np.split(h @ rec + b_rec, 3, axis=1)
            z, r = _sigmoid(xz + hz), _sigmoid(xr + hr)
            cand = np.tanh(xh + r * hh)
            h = z * h + (1.0 - z) * cand
        else:  # GRU, reset before the recurrent matmul, one bias (3H,)
            xz, xr, xh = np.split(xt @ kernel + (0.0 if bias is None else bias), 3, axis=1)
            hz, hr = np.split(h @ rec[:, :2 * H], 2, axis=1)
            z, r = _sigmoid(xz + hz), _sigmoid(xr + hr)
            cand = np.tanh(xh + (r * h) @ rec[:, 2 * H:])
            h = z * h + (1.0 - z) * cand
        ys.append(h)
    return np.stack(ys, axis=1), h, (c if kind == "LSTM" else None)


def keras_bidirectional(kind: str, fwd: List[Array], bwd: List[Array], x: Array,
                        **kw) -> Tuple[Array, Array, Array]:
    """Bidirectional(merge_mode='concat', return_sequences=True): the backward layer runs
    go_backwards and its sequence is reversed back. Returns (y (B, T, 2H), h_fwd, h_bwd)."""
    yf, hf, _ = keras_forward(kind, fwd, x, **kw)
    yb, hb, _ = keras_forward(kind, bwd, x, go_backwards=True, **kw)
    return np.concatenate([yf, yb[:, ::-1]], axis=2), hf, hb


def random_keras_weights(kind: str, I: int, H: int, rng: np.random.Generator, *,
                         reset_after: bool = True, bias: bool = True,
                         dtype=np.float64) -> List[Array]:
    G = GATES[kind]
    w = [rng.uniform(-0.6, 0.6, (I, G * H)), rng.uniform(-0.6, 0.6, (H, G * H))]
    if bias:
        shape = (2, 3 * H) if kind == "GRU" and reset_after else (G * H,)
        w.append(rng.uniform(-0.5, 0.5, shape))
    return [a.astype(dtype) for a in w]


def pyrnn_output(layer, x: Array):
    with pyrnn.no_grad():
        out, state = layer(x)
    h = state[0] if isinstance(state, tuple) else state
    c = state[1] if isinstance(state, tuple) else None
    return out, h, c


# (kind, reset_after, activation)
VARIANTS = [("SimpleRNN", True, "tanh"), ("SimpleRNN", True, "relu"), ("LSTM", True, "tanh"),
            ("GRU", True, "tanh"), ("GRU", False, "tanh")]
VARIANT_IDS = ["simplernn_tanh", "simplernn_relu", "lstm", "gru_reset_after", "gru_cho"]
B_, T_, I_, H_ = 3, 6, 5, 7


# ---- import: pyrnn computes what Keras computes -------------------------------------------

@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("kind,reset_after,act", VARIANTS, ids=VARIANT_IDS)
def test_import_matches_keras_reference(kind, reset_after, act, bias, dtype):
    rng = np.random.default_rng(1)
    w = random_keras_weights(kind, I_, H_, rng, reset_after=reset_after, bias=bias, dtype=dtype)
    x = rng.standard_normal((B_, T_, I_)).astype(dtype)
    layer = from_keras_weights(kind, w, reset_after=reset_after, activation=act)
    assert layer.batch_first and layer.dtype == np.dtype(dtype) and layer.bias == bias
    assert layer.num_layers == 1 and not layer.bidirectional
    if kind == "GRU":
        assert layer.reset_after == reset_after
    y_ref, h_ref, c_ref = keras_forward(kind, w, x, reset_after=reset_after, activation=act)
    out, h, c = pyrnn_output(layer, x)
    assert_close(out, y_ref, dtype, "forward", "output")
    assert_close(h[0], h_ref, dtype, "forward", "h_n")
    if kind == "LSTM":
        assert_close(c[0], c_ref, dtype, "forward", "c_n")


@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested"])
@pytest.mark.parametrize("kind,reset_after,act", VARIANTS, ids=VARIANT_IDS)
def test_import_bidirectional_matches_keras_reference(kind, reset_after, act, nested):
    rng = np.random.default_rng(2)
    fwd = random_keras_weights(kind, I_, H_, rng, reset_after=reset_after)
    bwd = random_keras_weights(kind, I_, H_, rng, reset_after=reset_after)
    x = rng.standard_normal((B_, T_, I_))
    weights = [fwd, bwd] if nested else fwd + bwd  # Bidirectional.get_weights() is flat
    layer = from_keras_weights(kind, weights, reset_after=reset_after, activation=act)
    assert layer.bidirectional
    y_ref, hf_ref, hb_ref = keras_bidirectional(kind, fwd, bwd, x, reset_after=reset_after,
                                                activation=act)
    out, h, _ = pyrnn_output(layer, x)
    assert_close(out, y_ref, "float64", "forward", "output")
    assert_close(h[0], hf_ref, "float64", "forward", "h_n forward")
    assert_close(h[1], hb_ref, "float64", "forward", "h_n backward")


def test_time_major_layout():
    rng = np.random.default_rng(3)
    w = random_keras_weights("LSTM", I_, H_, rng)
    x = rng.standard_normal((B_, T_, I_))
    layer = from_keras_weights("lstm", w, batch_first=False)
    out, _, _ = pyrnn_output(layer, np.ascontiguousarray(x.transpose(1, 0, 2)))
    assert_close(out.transpose(1, 0, 2), keras_forward("LSTM", w, x)[0], "float64", "forward")


# ---- anchors: outputs asserted by Keras' own test suite (keras/src/layers/rnn/*_test.py) ----

def _const(shape, value):
    return np.full(shape, value, np.float32)


def test_keras_suite_gru_forms():
    """GRU(3), kernel 0.01, recurrent_kernel 0.02, bias 0.03, x = arange(72) (3, 6, 4)."""
    x = np.arange(72, dtype=np.float32).reshape(3, 6, 4)
    k, r = _const((4, 9), 0.01), _const((3, 9), 0.02)
    cases = [  # (reset_after, bias, last output asserted by Keras' gru_test.py)
        (True, _const((2, 9), 0.03), [0.5217289, 0.6371659, 0.39384964]),
        (False, _const((9,), 0.03), [0.51447755, 0.6426879, 0.40208298]),
        (True, None, [0.49988455, 0.64701194, 0.4103359]),
    ]
    for reset_after, b, expected in cases:
        w = [k, r] if b is None else [k, r, b]
        out, _, _ = pyrnn_output(from_keras_weights("GRU", w, reset_after=reset_after), x)
        np.testing.assert_allclose(out[:, -1], np.repeat(np.array(expected)[:, None], 3, 1),
                                   rtol=1e-5, atol=1e-6, err_msg=f"reset_after={reset_after}")


def test_keras_suite_bidirectional():
    """Keras' bidirectional_test.py: SimpleRNN(2) concat, GRU(2) sum, LSTM(2) states."""
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    w = [_const((4, 2), 0.01), _const((2, 2), 0.02), _const((2,), 0.03)]
    _, h, _ = pyrnn_output(from_keras_weights("SimpleRNN", w + w), x)
    np.testing.assert_allclose(np.concatenate([h[0], h[1]], 1),
                               [[0.39687276, 0.39687276, 0.10004295, 0.10004295],
                                [0.7237238, 0.7237238, 0.53391594, 0.53391594]], rtol=1e-5)
    w = [_const((4, 6), 0.01), _const((2, 6), 0.02), _const((2, 6), 0.03)]
    out, _, _ = pyrnn_output(from_keras_weights("GRU", [w, w]), x)
    np.testing.assert_allclose(out[..., :2] + out[..., 2:], np.repeat(np.array(
        [[0.20937867, 0.34462988, 0.40290534], [0.59829646, 0.6734641, 0.6479671]])[..., None],
        2, axis=2), rtol=1e-5)
    # LSTM: unit_forget_bias=True makes the forget block of the bias 1.0
    x = np.arange(24, dtype=np.float32).reshape(2, 4, 3)
    b = np.concatenate([_const(2, 0.03), _const(2, 1.0), _const(4, 0.03)])
    w = [_const((3, 8), 0.01), _const((2, 8), 0.02), b]
    _, h, c = pyrnn_output(from_keras_weights("LSTM", w + w), x)
    for got, expected in [(h[0], [0.1990008, 0.52335435]), (c[0], [0.35567185, 1.0492687]),
                          (h[1], [0.12659755, 0.44717982]), (c[1], [0.2501858, 0.941473])]:
        np.testing.assert_allclose(got, np.repeat(np.array(expected)[:, None], 2, 1), rtol=1e-5)


# ---- round trips ----------------------------------------------------------------------------

@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind,reset_after,act", VARIANTS, ids=VARIANT_IDS)
def test_keras_round_trip_is_bit_exact(kind, reset_after, act, dtype, bidirectional):
    rng = np.random.default_rng(4)
    dirs = [random_keras_weights(kind, I_, H_, rng, reset_after=reset_after, dtype=dtype)
            for _ in range(2 if bidirectional else 1)]
    flat = [a for w in dirs for a in w]
    layer = from_keras_weights(kind, flat, reset_after=reset_after, activation=act)
    back = to_keras_weights(layer)
    assert len(back) == len(flat)
    for i, (a, b) in enumerate(zip(flat, back)):
        assert b.dtype == a.dtype and b.shape == a.shape, i
        assert np.array_equal(a, b), f"array {i} changed in the round trip"
    if bidirectional:
        nested = to_keras_weights(layer, nested=True)
        assert [len(n) for n in nested] == [3, 3]
        assert all(np.array_equal(a, b) for a, b in zip(nested[0] + nested[1], flat))


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", ["rnn_tanh", "rnn_relu", "lstm", "gru", "gru_cho"])
def test_pyrnn_round_trip(cell, bidirectional):
    """pyrnn -> Keras -> pyrnn: same function; bit-exact parameters where Keras has both
    biases (reset-after GRU), else bias_ih' = bias_ih + bias_hh and bias_hh' = 0."""
    rng = np.random.default_rng(5)
    kw = {"rnn_tanh": {}, "rnn_relu": {"nonlinearity": "relu"}, "lstm": {}, "gru": {},
          "gru_cho": {"reset_after": False}}[cell]
    cls = {"rnn": pyrnn.RNN, "lst": pyrnn.LSTM, "gru": pyrnn.GRU}[cell[:3]]
    layer = cls(I_, H_, batch_first=True, bidirectional=bidirectional, dtype="float64",
                seed=6, **kw)
    kind = {"rnn": "SimpleRNN", "lst": "LSTM", "gru": "GRU"}[cell[:3]]
    back = from_keras_weights(kind, to_keras_weights(layer), reset_after=layer.reset_after,
                              activation=layer.nonlinearity)
    assert set(back.params) == set(layer.params)
    for name, p in layer.params.items():
        q = back.params[name]
        if cell == "gru" or "weight" in name:
            assert np.array_equal(p, q), name
        elif name.startswith("bias_ih"):
            assert np.array_equal(q, p + layer.params[name.replace("_ih", "_hh")]), name
        else:
            assert not q.any(), name
    x = rng.standard_normal((B_, T_, I_))
    for a, b in zip(pyrnn_output(layer, x), pyrnn_output(back, x)):
        if a is not None:
            assert_close(b, a, "float64", "forward")


def test_export_matches_keras_reference():
    """pyrnn -> Keras weights, run through the Keras reference: same outputs (float64)."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((B_, T_, I_))
    for layer, kind in [(pyrnn.LSTM(I_, H_, batch_first=True, dtype="float64", seed=1), "LSTM"),
                        (pyrnn.GRU(I_, H_, batch_first=True, dtype="float64", seed=2), "GRU"),
                        (pyrnn.GRU(I_, H_, batch_first=True, dtype="float64", seed=3,
                                   reset_after=False), "GRU"),
                        (pyrnn.RNN(I_, H_, batch_first=True, dtype="float64", seed=4,
                                   nonlinearity="relu"), "SimpleRNN")]:
        w = to_keras_weights(layer)
        y_ref, _, _ = keras_forward(kind, w, x, reset_after=layer.reset_after,
                                    activation=layer.nonlinearity)
        assert_close(pyrnn_output(layer, x)[0], y_ref, "float64", "forward", repr(layer))


def test_stacked_layer_exports_per_layer():
    """A 2-layer bidirectional pyrnn GRU = two Keras Bidirectional(GRU) layers."""
    rng = np.random.default_rng(8)
    layer = pyrnn.GRU(I_, H_, num_layers=2, bidirectional=True, batch_first=True,
                      dtype="float64", seed=9)
    with pytest.raises(ValueError, match="layer_index"):
        to_keras_weights(layer)
    x = rng.standard_normal((B_, T_, I_))
    y = x
    for k in range(2):
        fwd, bwd = to_keras_weights(layer, layer_index=k, nested=True)
        assert fwd[0].shape == ((I_ if k == 0 else 2 * H_), 3 * H_)
        y, _, _ = keras_bidirectional("GRU", fwd, bwd, y)
    assert_close(pyrnn_output(layer, x)[0], y, "float64", "forward")


# ---- no exact conversion: clear errors --------------------------------------------------------

def test_gru_forms_do_not_convert_into_each_other():
    with pytest.raises(ValueError, match="reset_after=False"):
        to_keras_weights(pyrnn.GRU(2, 3), reset_after=False)
    with pytest.raises(ValueError, match="reset_after=True"):
        to_keras_weights(pyrnn.GRU(2, 3, reset_after=False), reset_after=True)
    assert len(to_keras_weights(pyrnn.GRU(2, 3), reset_after=True)) == 3
    rng = np.random.default_rng(0)
    cho = random_keras_weights("GRU", 2, 3, rng, reset_after=False)
    with pytest.raises(ValueError, match="pass reset_after=False"):
        from_keras_weights("GRU", cho)  # Keras' default is reset_after=True
    with pytest.raises(ValueError, match="pass reset_after=True"):
        from_keras_weights("GRU", random_keras_weights("GRU", 2, 3, rng), reset_after=False)


def test_unsupported_activations_raise():
    rng = np.random.default_rng(0)
    lstm = random_keras_weights("LSTM", 2, 3, rng)
    with pytest.raises(ValueError, match="hard_sigmoid"):
        from_keras_weights("LSTM", lstm, recurrent_activation="hard_sigmoid")
    with pytest.raises(ValueError, match="activation"):
        from_keras_weights("LSTM", lstm, activation="relu")
    with pytest.raises(ValueError, match="activation"):
        from_keras_weights("SimpleRNN", random_keras_weights("SimpleRNN", 2, 3, rng),
                           activation="sigmoid")
    with pytest.raises(ValueError, match="'linear'"):
        from_keras_weights("SimpleRNN", random_keras_weights("SimpleRNN", 2, 3, rng),
                           activation=None)
    assert from_keras_weights("LSTM", lstm, activation=np.tanh).mode == "LSTM"  # a callable


def test_bad_input_raises_naming_the_argument():
    rng = np.random.default_rng(0)
    w = random_keras_weights("LSTM", 2, 3, rng)
    with pytest.raises(ValueError, match="kind"):
        from_keras_weights("ConvLSTM", w)
    with pytest.raises(ValueError, match=r"recurrent_kernel.*\(H, 3\*H\)"):
        from_keras_weights("GRU", w)
    with pytest.raises(ValueError, match=r"kernel.*\(input, 12\)"):
        from_keras_weights("LSTM", [w[0][:, :8], w[1], w[2]])
    with pytest.raises(ValueError, match="bias"):
        from_keras_weights("LSTM", [w[0], w[1], w[2][:5]])
    with pytest.raises(TypeError, match="weights"):
        from_keras_weights("LSTM", w[0])
    with pytest.raises(ValueError, match="backward"):
        from_keras_weights("LSTM", w + random_keras_weights("LSTM", 2, 4, rng))
    with pytest.raises(ValueError, match="bidirectional=False"):
        from_keras_weights("LSTM", [w, w], bidirectional=False)
    with pytest.raises(TypeError, match="layer"):
        to_keras_weights("lstm")
    with pytest.raises(ValueError, match="layer_index"):
        to_keras_weights(pyrnn.LSTM(2, 3), layer_index=1)
    with pytest.raises(ValueError, match="reset_after"):
        to_keras_weights(pyrnn.LSTM(2, 3), reset_after=True)


def test_importing_interop_loads_neither_torch_nor_onnx():
    code = ("import sys, pyrnn.interop; "
            "assert not {'torch', 'onnx', 'onnxruntime'} & set(sys.modules), sys.modules")
    # cwd outside the checkout, so that the installed package is the one imported
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tempfile.gettempdir())
