"""Bad input raises ValueError/TypeError naming the argument; nothing crashes or hangs.

Guards the error contract of DESIGN.md at both levels (layers and pyrnn.functional), that
failed checks have no side effects, that valid but unusual memory layouts (strided,
transposed, Fortran-ordered, read-only, broadcast) give the contiguous result, and that
NaN/Inf behave as in PyTorch (compared with torch when importable, else the reference).
Crash-prone checks run in-process on purpose: a segfault kills pytest, which is a failure.
"""
from __future__ import annotations

import faulthandler
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pytest

import pyrnn
from pyrnn import functional as F
from pyrnn import reference as R
from pyrnn.layers import BackwardError

try:
    import torch
except ImportError:  # torch is optional: NaN/Inf tests fall back to the reference backend
    torch = None

T, B, I, H = 5, 3, 4, 6
LAYERS = {
    "rnn_tanh": lambda **kw: pyrnn.RNN(I, H, nonlinearity="tanh", **kw),
    "rnn_relu": lambda **kw: pyrnn.RNN(I, H, nonlinearity="relu", **kw),
    "lstm": lambda **kw: pyrnn.LSTM(I, H, **kw),
    "gru": lambda **kw: pyrnn.GRU(I, H, **kw),
}
STATE_NAMES = {"rnn_tanh": ("hx",), "rnn_relu": ("hx",), "lstm": ("h0", "c0"), "gru": ("hx",)}


def rng(seed=0):
    return np.random.default_rng(seed)


def hx_for(cell, *states):
    return tuple(states) if cell == "lstm" else states[0]


@pytest.fixture
def watchdog():
    """Kill the process (a detected failure) if a test hangs in C++ for 60 s."""
    faulthandler.dump_traceback_later(60, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


# =======================================================================================
# Layers: forward arguments
# =======================================================================================

@pytest.mark.parametrize("shape", [(I,), (2, T, B, I), ()], ids=["1d", "4d", "0d"])
@pytest.mark.parametrize("cell", list(LAYERS))
def test_layer_input_wrong_ndim(cell, shape):
    """A 1-D, 4-D or 0-D input is a ValueError naming input and the expected layout."""
    layer = LAYERS[cell]()
    with pytest.raises(ValueError, match=r"^input.*3-D"):
        layer(np.zeros(shape, np.float32))


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("cell", list(LAYERS))
def test_layer_input_wrong_feature_size(cell, batch_first):
    """Last axis != input_size is a ValueError naming input, the expected size and the shape."""
    layer = LAYERS[cell](batch_first=batch_first)
    with pytest.raises(ValueError, match=rf"^input.*{I}.*\(5, 3, {I + 1}\)"):
        layer(np.zeros((5, 3, I + 1), np.float32))
    with pytest.raises(ValueError, match="^input"):
        layer(np.zeros((T, I - 1), np.float32))  # unbatched too


@pytest.mark.parametrize("shape", [(0, B, I), (T, 0, I), (0, I)], ids=["T0", "B0", "unbatched_T0"])
@pytest.mark.parametrize("cell", list(LAYERS))
def test_layer_input_empty(cell, shape):
    """Zero steps or zero sequences is a ValueError naming input (not a kernel's 'x')."""
    # The unbatched (0, I) case must be caught by the layer, which names 'input', not by
    # the kernel binding, which would name its own argument 'x'.
    layer = LAYERS[cell]()
    with pytest.raises(ValueError, match="^input"):
        layer(np.zeros(shape, np.float32))


@pytest.mark.parametrize("bad", [np.float64, np.int32, np.int64, np.float16, np.complex64, bool],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("cell", list(LAYERS))
def test_layer_input_wrong_dtype(cell, bad):
    """Input of another dtype than the layer's is a TypeError naming input and both dtypes."""
    layer = LAYERS[cell]()  # float32
    with pytest.raises(TypeError, match=rf"^input.*float32.*{np.dtype(bad).name}"):
        layer(np.zeros((T, B, I), bad))


def test_layer_float32_input_to_float64_layer():
    """The check is symmetric: float32 into a float64 layer is refused too, not cast."""
    layer = pyrnn.GRU(I, H, dtype="float64")
    with pytest.raises(TypeError, match=r"^input.*float64.*float32"):
        layer(np.zeros((T, B, I), np.float32))


@pytest.mark.parametrize("value", [[[[0.0] * I] * B] * T, "abc", None, 3.0],
                         ids=["list", "str", "None", "float"])
def test_layer_input_not_an_array(value):
    """Non-arrays are a TypeError naming input."""
    with pytest.raises(TypeError, match="^input"):
        pyrnn.LSTM(I, H)(value)


@pytest.mark.parametrize("cell", list(LAYERS))
def test_layer_state_batch_mismatch(cell):
    """A state whose batch differs from the input's is a ValueError naming that state."""
    layer = LAYERS[cell]()
    x = np.zeros((T, B, I), np.float32)
    good = np.zeros((1, B, H), np.float32)
    bad = np.zeros((1, B + 1, H), np.float32)
    names = STATE_NAMES[cell]
    for k, name in enumerate(names):
        states = [good] * len(names)
        states[k] = bad
        with pytest.raises(ValueError, match=rf"^{name}.*\(1, {B}, {H}\).*\(1, {B + 1}, {H}\)"):
            layer(x, hx_for(cell, *states))


@pytest.mark.parametrize("shape", [(2, B, H), (1, B, H + 1), (B, H), (1, 1, B, H)],
                         ids=["layers", "hidden", "2d", "4d"])
@pytest.mark.parametrize("cell", list(LAYERS))
def test_layer_state_wrong_shape(cell, shape):
    """Wrong layer count, hidden size or ndim of the state is a ValueError naming it."""
    layer = LAYERS[cell]()
    bad = np.zeros(shape, np.float32)
    with pytest.raises(ValueError, match="^" + STATE_NAMES[cell][0]):
        layer(np.zeros((T, B, I), np.float32), hx_for(cell, bad, np.zeros((1, B, H), np.float32)))


@pytest.mark.parametrize("cell", list(LAYERS))
def test_layer_unbatched_input_with_batched_state(cell):
    """Unbatched input takes (L*D, H) states; a 3-D state is a ValueError naming it."""
    layer = LAYERS[cell]()
    s = np.zeros((1, 1, H), np.float32)
    with pytest.raises(ValueError, match="^" + STATE_NAMES[cell][0]):
        layer(np.zeros((T, I), np.float32), hx_for(cell, s, s))


@pytest.mark.parametrize("cell", list(LAYERS))
def test_layer_state_wrong_dtype(cell):
    """A float64 state for a float32 layer is a TypeError naming the state."""
    layer = LAYERS[cell]()
    x = np.zeros((T, B, I), np.float32)
    good = np.zeros((1, B, H), np.float32)
    for k, name in enumerate(STATE_NAMES[cell]):
        states = [good] * len(STATE_NAMES[cell])
        states[k] = good.astype(np.float64)
        with pytest.raises(TypeError, match=rf"^{name}.*float32.*float64"):
            layer(x, hx_for(cell, *states))


@pytest.mark.parametrize("hx", ["array", "triple", "list_of_one", "str"])
def test_lstm_hx_must_be_a_pair(hx):
    """LSTM hx must be (h0, c0) or None: anything else is a TypeError naming hx."""
    s = np.zeros((1, B, H), np.float32)
    value = {"array": s, "triple": (s, s, s), "list_of_one": [s], "str": "zeros"}[hx]
    with pytest.raises(TypeError, match="^hx"):
        pyrnn.LSTM(I, H)(np.zeros((T, B, I), np.float32), value)


@pytest.mark.parametrize("cell", ["rnn_tanh", "gru"])
def test_single_state_layers_refuse_a_tuple(cell):
    """RNN/GRU take one state array; an LSTM-style tuple is a TypeError naming hx."""
    s = np.zeros((1, B, H), np.float32)
    with pytest.raises(TypeError, match="^hx"):
        LAYERS[cell]()(np.zeros((T, B, I), np.float32), (s, s))


@pytest.mark.parametrize("lengths,exc,match", [
    ([T, 0, 2], ValueError, r"^lengths.*1\.\.5.*got 0"),
    ([T, T + 1, 2], ValueError, r"^lengths.*got 6"),
    ([T, -1, 2], ValueError, r"^lengths.*got -1"),
    ([T, 2], ValueError, r"^lengths.*3.*got 2"),
    ([T, 2, 2, 2], ValueError, r"^lengths.*3.*got 4"),
    ([5.0, 2.0, 1.0], TypeError, r"^lengths.*float"),
    ([5.5, 2, 1], TypeError, r"^lengths.*float"),
    ([[5, 2, 1]], (TypeError, ValueError), r"^lengths.*shape"),
    (["5", "2", "1"], TypeError, r"^lengths"),
    ([True, True, True], TypeError, r"^lengths"),
    (5, (TypeError, ValueError), r"^lengths"),
], ids=["zero", "T+1", "negative", "too_few", "too_many", "float_integral", "float",
        "2d", "str", "bool", "scalar"])
@pytest.mark.parametrize("cell", list(LAYERS))
def test_layer_bad_lengths(cell, lengths, exc, match):
    """Out-of-range, miscounted, non-integer or mis-shaped lengths raise naming lengths."""
    with pytest.raises(exc, match=match):
        LAYERS[cell]()(np.zeros((T, B, I), np.float32), lengths=lengths)


def test_layer_lengths_with_unbatched_input():
    """lengths with a 2-D (unbatched) input is a ValueError naming lengths."""
    with pytest.raises(ValueError, match="^lengths"):
        pyrnn.GRU(I, H)(np.zeros((T, I), np.float32), lengths=[3])


@pytest.mark.parametrize("lengths", [np.array([5, 2, 1], np.int32), np.array([5, 2, 1], np.uint8),
                                     (5, 2, 1)], ids=["int32", "uint8", "tuple"])
def test_layer_lengths_any_integer_type_works(lengths):
    """Valid lengths of any integer type or sequence give the int64 result."""
    layer = pyrnn.LSTM(I, H, seed=0)
    x = rng().standard_normal((T, B, I)).astype(np.float32)
    want, _ = layer(x, lengths=np.array([5, 2, 1], np.int64))
    got, _ = layer(x, lengths=lengths)
    np.testing.assert_array_equal(got, want)


# =======================================================================================
# Layers: state_dict
# =======================================================================================

def _params_snapshot(layer):
    return {k: v.copy() for k, v in layer.state_dict().items()}


def _assert_unchanged(layer, snapshot):
    for k, v in layer.state_dict().items():
        np.testing.assert_array_equal(v, snapshot[k], err_msg=f"{k} changed by a failed load")


@pytest.mark.parametrize("cell", list(LAYERS))
def test_load_state_dict_unknown_key(cell):
    """An unexpected key is a ValueError naming state_dict and the key; nothing changes."""
    layer = LAYERS[cell](seed=0)
    before = _params_snapshot(layer)
    sd = {k: np.ones_like(v) for k, v in before.items()}
    sd["weight_ih_l1"] = np.zeros((H, I))
    with pytest.raises(ValueError, match=r"^state_dict.*weight_ih_l1"):
        layer.load_state_dict(sd)
    _assert_unchanged(layer, before)


@pytest.mark.parametrize("cell", list(LAYERS))
def test_load_state_dict_missing_key(cell):
    """A missing key is a ValueError naming state_dict and the key (strict=False allows it)."""
    layer = LAYERS[cell](seed=0)
    before = _params_snapshot(layer)
    sd = {k: np.ones_like(v) for k, v in before.items() if k != "bias_hh_l0"}
    with pytest.raises(ValueError, match=r"^state_dict.*missing.*bias_hh_l0"):
        layer.load_state_dict(sd)
    _assert_unchanged(layer, before)
    layer.load_state_dict(sd, strict=False)
    np.testing.assert_array_equal(layer.state_dict()["weight_ih_l0"], 1)
    np.testing.assert_array_equal(layer.state_dict()["bias_hh_l0"], before["bias_hh_l0"])


@pytest.mark.parametrize("key,shape", [("weight_ih_l0", "transposed"), ("weight_hh_l0", "short"),
                                       ("bias_ih_l0", "2d")])
@pytest.mark.parametrize("cell", list(LAYERS))
def test_load_state_dict_misshaped_value(cell, key, shape):
    """A value of the wrong shape is a ValueError naming the key and both shapes; atomic."""
    layer = LAYERS[cell](seed=0)
    before = _params_snapshot(layer)
    sd = {k: np.ones_like(v) for k, v in before.items()}
    v = sd[key]
    sd[key] = {"transposed": v.T, "short": v[:-1], "2d": v[None]}[shape]
    with pytest.raises(ValueError, match=rf"^state_dict\['{key}'\].*{v.shape[0]}"):
        layer.load_state_dict(sd)
    _assert_unchanged(layer, before)


@pytest.mark.parametrize("value", ["weights", None, object(), np.array(["a", "b"]),
                                   np.zeros(3, complex), {"a": 1}],
                         ids=["str", "None", "object", "str_array", "complex", "dict"])
def test_load_state_dict_non_numeric_value(value):
    """A non-numeric value is a TypeError naming the key; nothing changes."""
    layer = pyrnn.RNN(I, H, seed=0)
    before = _params_snapshot(layer)
    sd = {k: np.ones_like(v) for k, v in before.items()}
    sd["bias_ih_l0"] = value
    with pytest.raises(TypeError, match=r"^state_dict\['bias_ih_l0'\]"):
        layer.load_state_dict(sd)
    _assert_unchanged(layer, before)


@pytest.mark.parametrize("value", [[("weight_ih_l0", 1)], "weights", None, 3],
                         ids=["list", "str", "None", "int"])
def test_load_state_dict_not_a_mapping(value):
    """A non-mapping is a TypeError naming state_dict."""
    with pytest.raises(TypeError, match="^state_dict"):
        pyrnn.GRU(I, H).load_state_dict(value)


def test_load_state_dict_casts_integers_and_lists():
    """Integer arrays and nested lists are valid and cast to the layer dtype."""
    layer = pyrnn.RNN(2, 2, dtype="float64")
    layer.load_state_dict({"weight_ih_l0": [[1, 2], [3, 4]], "weight_hh_l0": np.eye(2, dtype=int),
                           "bias_ih_l0": np.array([1, 2], np.uint8), "bias_hh_l0": [0.5, 0.5]})
    sd = layer.state_dict()
    assert all(v.dtype == np.float64 for v in sd.values())
    np.testing.assert_array_equal(sd["weight_ih_l0"], [[1, 2], [3, 4]])


# =======================================================================================
# Layers: backward
# =======================================================================================

@pytest.mark.parametrize("cell", list(LAYERS))
def test_backward_before_forward(cell):
    """backward() with no forward is a BackwardError (a ValueError) naming backward."""
    layer = LAYERS[cell]()
    assert issubclass(BackwardError, ValueError)
    with pytest.raises(BackwardError, match="^backward.*forward"):
        layer.backward(np.zeros((T, B, H), np.float32))


@pytest.mark.parametrize("cell", list(LAYERS))
def test_backward_twice_for_one_forward(cell):
    """A forward's tape serves one backward; the second is a BackwardError, grads untouched."""
    layer = LAYERS[cell]()
    x = rng().standard_normal((T, B, I)).astype(np.float32)
    dout = rng(1).standard_normal((T, B, H)).astype(np.float32)
    layer(x)
    layer.backward(dout)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    with pytest.raises(BackwardError, match="^backward"):
        layer.backward(dout)
    for k, v in layer.grads.items():
        np.testing.assert_array_equal(v, grads[k], err_msg=k)


@pytest.mark.parametrize("where", ["inside", "after"])
@pytest.mark.parametrize("cell", list(LAYERS))
def test_backward_of_no_grad_forward(cell, where):
    """A forward under no_grad() keeps no tape: backward inside or after it is BackwardError."""
    layer = LAYERS[cell]()
    x = np.zeros((T, B, I), np.float32)
    dout = np.zeros((T, B, H), np.float32)
    with pyrnn.no_grad():
        layer(x)
        if where == "inside":
            with pytest.raises(BackwardError):
                layer.backward(dout)
    if where == "after":
        with pytest.raises(BackwardError):
            layer.backward(dout)
    assert pyrnn.layers.is_grad_enabled()
    layer(x)  # grad mode is restored: this forward can be differentiated
    layer.backward(dout)


def test_no_grad_restores_mode_after_an_exception():
    """no_grad() re-enables gradients even when its block raises."""
    with pytest.raises(ValueError):
        with pyrnn.no_grad():
            pyrnn.RNN(I, H)(np.zeros((T, B, I + 1), np.float32))
    assert pyrnn.layers.is_grad_enabled()


@pytest.mark.parametrize("shape", [(T, B, H + 1), (T + 1, B, H), (T, B + 1, H), (T, H)],
                         ids=["features", "steps", "batch", "2d"])
@pytest.mark.parametrize("cell", list(LAYERS))
def test_backward_grad_output_wrong_shape(cell, shape):
    """grad_output not shaped like the output is a ValueError naming grad_output."""
    layer = LAYERS[cell]()
    layer(np.zeros((T, B, I), np.float32))
    with pytest.raises(ValueError, match="^grad_output"):
        layer.backward(np.zeros(shape, np.float32))


@pytest.mark.parametrize("cell", list(LAYERS))
def test_backward_grad_output_wrong_dtype(cell):
    """A float64 grad_output for a float32 layer is a TypeError naming grad_output."""
    layer = LAYERS[cell]()
    layer(np.zeros((T, B, I), np.float32))
    with pytest.raises(TypeError, match=r"^grad_output.*float32.*float64"):
        layer.backward(np.zeros((T, B, H), np.float64))


@pytest.mark.parametrize("cell", list(LAYERS))
def test_backward_grad_state_wrong_shape(cell):
    """A grad_state not shaped like h_n is a ValueError naming grad_state."""
    layer = LAYERS[cell]()
    layer(np.zeros((T, B, I), np.float32))
    bad = np.zeros((1, B + 1, H), np.float32)
    with pytest.raises(ValueError, match="^grad_state"):
        layer.backward(None, hx_for(cell, bad, None))


# =======================================================================================
# Layers: constructor
# =======================================================================================

CTOR_CASES = [
    ({"hidden_size": 0}, ValueError, r"^hidden_size.*>= 1.*0"),
    ({"hidden_size": -3}, ValueError, r"^hidden_size"),
    ({"hidden_size": 2.5}, TypeError, r"^hidden_size"),
    ({"input_size": 0}, ValueError, r"^input_size"),
    ({"input_size": "4"}, TypeError, r"^input_size"),
    ({"num_layers": 0}, ValueError, r"^num_layers.*>= 1.*0"),
    ({"num_layers": True}, TypeError, r"^num_layers"),
    ({"dropout": 1.5}, ValueError, r"^dropout.*\[0, 1\].*1\.5"),
    ({"dropout": -0.1}, ValueError, r"^dropout"),
    ({"dropout": "0.5"}, ValueError, r"^dropout"),
    ({"dtype": "int32"}, TypeError, r"^dtype.*float32.*int32"),
    ({"dtype": "float16"}, TypeError, r"^dtype"),
    # An unknown dtype name must not slip through as None (np.dtype('float64') == None).
    ({"dtype": "banana"}, TypeError, r"^dtype"),
    ({"dtype": np.complex128}, TypeError, r"^dtype"),
    ({"bidirectional": "yes"}, TypeError, r"^bidirectional.*bool.*yes"),
    ({"batch_first": "no"}, TypeError, r"^batch_first"),
    ({"bias": None}, TypeError, r"^bias"),
    ({"backend": "gpu"}, ValueError, r"^backend"),
]


@pytest.mark.parametrize("kwargs,exc,match", [
    pytest.param(*case, id=",".join(f"{k}={v!r}" for k, v in case[0].items()))
    for case in CTOR_CASES])
@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_constructor_rejects(cls, kwargs, exc, match):
    """Bad constructor arguments raise naming the argument, the expectation and the value."""
    args = {"input_size": I, "hidden_size": H, **kwargs}
    with pytest.raises(exc, match=match):
        getattr(pyrnn, cls)(**args)


@pytest.mark.parametrize("nonlinearity", ["sigmoid", "TANH", None])
def test_rnn_nonlinearity(nonlinearity):
    """RNN nonlinearity other than 'tanh'/'relu' is a ValueError naming nonlinearity."""
    with pytest.raises(ValueError, match="^nonlinearity"):
        pyrnn.RNN(I, H, nonlinearity=nonlinearity)


def test_gru_reset_after_must_be_bool():
    with pytest.raises(TypeError, match="^reset_after"):
        pyrnn.GRU(I, H, reset_after="yes")


# =======================================================================================
# set_num_threads
# =======================================================================================

@pytest.mark.parametrize("n,exc", [(0, ValueError), (-1, ValueError), ("2", TypeError),
                                   (2.0, TypeError), (None, TypeError), (True, TypeError)],
                         ids=["0", "-1", "str", "float", "None", "bool"])
def test_set_num_threads_rejects(n, exc):
    """Thread counts < 1 and non-ints raise; the current count is kept."""
    before = pyrnn.get_num_threads()
    with pytest.raises(exc, match=r"^n: expected"):
        pyrnn.set_num_threads(n)
    assert pyrnn.get_num_threads() == before


def test_set_num_threads_accepts_numpy_int():
    before = pyrnn.get_num_threads()
    try:
        pyrnn.set_num_threads(np.int64(1))
        assert pyrnn.get_num_threads() == 1
    finally:
        pyrnn.set_num_threads(before)


def test_absurd_thread_count_does_not_crash():
    """set_num_threads(10**6) either raises or is survivable: a forward must not crash.

    Once it was accepted and the next parallel region segfaulted (thread creation
    fails). The check runs in a subprocess so that a crash reports as a failure here
    instead of ending the whole pytest run.
    """
    code = textwrap.dedent("""
        import numpy as np, pyrnn
        try:
            pyrnn.set_num_threads(10**6)
        except (ValueError, TypeError):
            raise SystemExit(0)
        layer = pyrnn.LSTM(5, 200)
        out, _ = layer(np.zeros((3, 100, 5), np.float32))
        assert out.shape == (3, 100, 200)
    """)
    # cwd outside the checkout: there, "import pyrnn" would find the source tree, which
    # has no compiled module, instead of the installed package.
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=tempfile.gettempdir())
    assert proc.returncode == 0, f"process died with code {proc.returncode}: {proc.stderr[-500:]}"


# =======================================================================================
# Functional level
# =======================================================================================

FCELLS = {"rnn": 1, "lstm": 4, "gru": 3}


def fproblem(cell, dtype=np.float64, T=T, B=B, I=I, H=H, seed=0):
    """Valid keyword arguments of <cell>_forward, plus the upstream gradients."""
    G = FCELLS[cell]
    r = rng(seed)
    p = {"x": r.standard_normal((T, B, I)), "h0": r.standard_normal((B, H)) * 0.5,
         "W_ih": r.standard_normal((G * H, I)) * 0.4, "W_hh": r.standard_normal((G * H, H)) * 0.4,
         "b_ih": r.standard_normal(G * H) * 0.1, "b_hh": r.standard_normal(G * H) * 0.1}
    if cell == "lstm":
        p["c0"] = r.standard_normal((B, H)) * 0.5
    up = {"dout": r.standard_normal((T, B, H)), "dh_n": r.standard_normal((B, H))}
    if cell == "lstm":
        up["dc_n"] = r.standard_normal((B, H))
    cast = lambda d: {k: v.astype(dtype) for k, v in d.items()}  # noqa: E731
    return cast(p), cast(up)


def fforward(mod, cell, p, **kw):
    return getattr(mod, f"{cell}_forward")(**p, **kw)


def fbackward_args(mod, cell, p, up, **kw):
    """Valid keyword arguments of <cell>_backward (fresh zero gradient buffers)."""
    res = fforward(mod, cell, p, **kw)
    out, cache = res[0], res[-1]
    a = {**up, **{k: p[k] for k in ("x", "h0", "c0", "W_ih", "W_hh") if k in p},
         "out": out, "cache": cache,
         "dW_ih": np.zeros_like(p["W_ih"]), "dW_hh": np.zeros_like(p["W_hh"]),
         "db_ih": np.zeros_like(p["b_ih"]), "db_hh": np.zeros_like(p["b_hh"])}
    return {**a, **kw}


def fbackward(mod, cell, a):
    return getattr(mod, f"{cell}_backward")(**a)


def flip(a):
    """The same values in the other float dtype."""
    return a.astype(np.float32 if a.dtype == np.float64 else np.float64)


def _wrong_gates(p):
    W = p["W_hh"]
    return {"W_hh": np.zeros((W.shape[0] + W.shape[1], W.shape[1]), W.dtype)}


FWD_CASES = [
    # id, cells, overrides(p), exception, match
    ("x_2d", None, lambda p: {"x": p["x"][0]}, ValueError, r"^x.*3-D"),
    ("x_4d", None, lambda p: {"x": p["x"][None]}, ValueError, r"^x.*3-D"),
    ("x_0d", None, lambda p: {"x": np.float64(1.0)}, ValueError, r"^x"),
    ("x_int", None, lambda p: {"x": p["x"].astype(np.int64)}, TypeError, r"^x.*int64"),
    ("x_float16", None, lambda p: {"x": p["x"].astype(np.float16)}, TypeError, r"^x.*float16"),
    ("x_complex", None, lambda p: {"x": p["x"].astype(complex)}, TypeError, r"^x.*complex"),
    ("x_zero_steps", None, lambda p: {"x": p["x"][:0]}, ValueError, r"^x"),
    ("x_zero_batch", None, lambda p: {"x": p["x"][:, :0]}, ValueError, r"^x"),
    ("x_zero_features", None, lambda p: {"x": p["x"][:, :, :0]}, ValueError, r"^x"),
    ("x_wrong_features", None, lambda p: {"x": p["x"][:, :, :-1]}, ValueError, r"^W_ih"),
    ("W_ih_rows", None, lambda p: {"W_ih": p["W_ih"][:-1]}, ValueError, r"^W_ih"),
    ("W_ih_1d", None, lambda p: {"W_ih": p["W_ih"].ravel()}, ValueError, r"^W_ih"),
    ("W_ih_other_dtype", None, lambda p: {"W_ih": flip(p["W_ih"])}, TypeError, r"^W_ih.*float"),
    ("W_hh_1d", None, lambda p: {"W_hh": p["W_hh"].ravel()}, ValueError, r"^W_hh"),
    ("W_hh_rows", None, lambda p: {"W_hh": p["W_hh"][:-1]}, ValueError, r"^W_hh"),
    ("W_hh_gates", None, _wrong_gates, ValueError, r"^(W_ih|W_hh)"),
    ("W_hh_empty", None, lambda p: {"W_hh": np.zeros((0, 0))}, ValueError, r"^W_hh"),
    ("W_hh_other_dtype", None, lambda p: {"W_hh": flip(p["W_hh"])}, TypeError, r"^W_hh.*float"),
    ("b_ih_short", None, lambda p: {"b_ih": p["b_ih"][:-1]}, ValueError, r"^b_ih"),
    ("b_hh_2d", None, lambda p: {"b_hh": p["b_hh"][None]}, ValueError, r"^b_hh"),
    ("b_hh_other_dtype", None, lambda p: {"b_hh": flip(p["b_hh"])}, TypeError, r"^b_hh.*float"),
    ("h0_batch", None, lambda p: {"h0": p["h0"][:-1]}, ValueError, r"^h0.*\(B, H\)"),
    ("h0_hidden", None, lambda p: {"h0": p["h0"][:, :-1]}, ValueError, r"^h0"),
    ("h0_1d", None, lambda p: {"h0": p["h0"][0]}, ValueError, r"^h0"),
    ("h0_layer_style_3d", None, lambda p: {"h0": p["h0"][None]}, ValueError, r"^h0"),
    ("h0_other_dtype", None, lambda p: {"h0": flip(p["h0"])}, TypeError, r"^h0.*float"),
    ("h0_str", None, lambda p: {"h0": "zeros"}, TypeError, r"^h0"),
    # None for a required array: a TypeError naming it, not pybind11's argument dump.
    ("h0_None", None, lambda p: {"h0": None}, TypeError, r"^h0"),
    ("c0_batch", {"lstm"}, lambda p: {"c0": p["c0"][:-1]}, ValueError, r"^c0"),
    ("c0_other_dtype", {"lstm"}, lambda p: {"c0": flip(p["c0"])}, TypeError, r"^c0.*float"),
    ("lengths_zero", None, lambda p: {"lengths": np.array([T, 0, 1])}, ValueError,
     r"^lengths.*1\.\.5.*got 0"),
    ("lengths_T+1", None, lambda p: {"lengths": np.array([T, T + 1, 1])}, ValueError,
     r"^lengths.*got 6"),
    ("lengths_negative", None, lambda p: {"lengths": np.array([T, -2, 1])}, ValueError,
     r"^lengths.*got -2"),
    ("lengths_count", None, lambda p: {"lengths": np.array([T, 1])}, ValueError, r"^lengths"),
    ("lengths_2d", None, lambda p: {"lengths": np.array([[T, 1, 1]])}, ValueError, r"^lengths"),
    # Float lengths must be refused, not truncated (2.5 -> 2) by a cast.
    ("lengths_float", None, lambda p: {"lengths": np.array([T, 2.5, 1.0])}, TypeError,
     r"^lengths"),
    ("nonlinearity", {"rnn"}, lambda p: {"nonlinearity": "sigmoid"}, ValueError,
     r"^nonlinearity.*sigmoid"),
]


def _fwd_params():
    for case_id, cells, over, exc, match in FWD_CASES:
        for cell in FCELLS:
            if cells is None or cell in cells:
                yield pytest.param(cell, over, exc, match, id=f"{cell}-{case_id}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("cell,over,exc,match", list(_fwd_params()))
def test_functional_forward_rejects(cell, over, exc, match, dtype):
    """Bad forward arguments raise naming the argument (never a crash)."""
    p, _ = fproblem(cell, dtype)
    ov = over(p)
    p = {**p, **{k: v for k, v in ov.items() if k in p}}
    kw = {k: v for k, v in ov.items() if k not in p}
    with pytest.raises(exc, match=match):
        fforward(F, cell, p, **kw)


def _cache_overrides(cell):
    def shrink(a):
        return {"cache": tuple(c[:-1] for c in a["cache"])}

    def retype(a):
        return {"cache": tuple(c.astype(np.float32) for c in a["cache"])}

    def readonly(a):
        cs = tuple(c.copy() for c in a["cache"])
        for c in cs:
            c.setflags(write=False)
        return {"cache": cs}

    return [("cache_wrong_shape", shrink, ValueError, r"^cache"),
            ("cache_wrong_dtype", retype, TypeError, r"^cache"),
            ("cache_read_only", readonly, ValueError, r"^cache.*writable")]


def _readonly(name):
    def f(a):
        v = a[name].copy()
        v.setflags(write=False)
        return {name: v}
    return f


BWD_CASES = [
    ("cache_None", None, lambda a: {"cache": None}, ValueError, r"^cache"),
    ("cache_list", {"lstm", "gru"}, lambda a: {"cache": list(a["cache"])}, ValueError, r"^cache"),
    ("cache_too_long", None, lambda a: {"cache": tuple(a["cache"]) + (a["out"],)}, ValueError,
     r"^cache"),
    ("dW_ih_shape", None, lambda a: {"dW_ih": a["dW_ih"][:-1]}, ValueError, r"^dW_ih"),
    ("dW_ih_transposed_shape", None, lambda a: {"dW_ih": np.zeros(a["dW_ih"].shape[::-1])},
     ValueError, r"^dW_ih"),
    ("dW_hh_shape", None, lambda a: {"dW_hh": a["dW_hh"][:, :-1].copy()}, ValueError, r"^dW_hh"),
    ("db_ih_shape", None, lambda a: {"db_ih": a["db_ih"][:-1]}, ValueError, r"^db_ih"),
    ("db_hh_shape", None, lambda a: {"db_hh": np.zeros((1,) + a["db_hh"].shape)}, ValueError,
     r"^db_hh"),
    ("dW_ih_float32", None, lambda a: {"dW_ih": flip(a["dW_ih"])}, TypeError, r"^dW_ih.*float"),
    ("db_hh_int", None, lambda a: {"db_hh": a["db_hh"].astype(np.int64)}, TypeError, r"^db_hh"),
    # A non-array gradient buffer gets a TypeError naming it, not pybind11's
    # "incompatible function arguments" dump of every argument.
    ("dW_ih_list", None, lambda a: {"dW_ih": a["dW_ih"].tolist()}, TypeError, r"^dW_ih"),
    ("dW_ih_read_only", None, _readonly("dW_ih"), ValueError, r"^dW_ih.*writable"),
    ("dW_hh_read_only", None, _readonly("dW_hh"), ValueError, r"^dW_hh.*writable"),
    ("db_ih_read_only", None, _readonly("db_ih"), ValueError, r"^db_ih.*writable"),
    ("db_hh_read_only", None, _readonly("db_hh"), ValueError, r"^db_hh.*writable"),
    ("dout_shape", None, lambda a: {"dout": a["dout"][:-1]}, ValueError, r"^dout"),
    ("dout_float32", None, lambda a: {"dout": flip(a["dout"])}, TypeError, r"^dout.*float"),
    ("dh_n_shape", None, lambda a: {"dh_n": a["dh_n"][:-1]}, ValueError, r"^dh_n"),
    ("dc_n_shape", {"lstm"}, lambda a: {"dc_n": a["dc_n"][:, :-1]}, ValueError, r"^dc_n"),
    ("out_shape", None, lambda a: {"out": a["out"][:-1]}, ValueError, r"^out"),
    ("x_other_T", None, lambda a: {"x": a["x"][:-1]}, ValueError, r"^(cache|out|dout)"),
    ("lengths_bad", None, lambda a: {"lengths": np.array([T, 0, 1])}, ValueError, r"^lengths"),
]


def _bwd_params():
    for cell in FCELLS:
        for case_id, cells, over, exc, match in BWD_CASES:
            if cells is None or cell in cells:
                yield pytest.param(cell, over, exc, match, id=f"{cell}-{case_id}")
        if cell != "rnn":  # the RNN's cache is () whatever store_cache says
            for case_id, over, exc, match in _cache_overrides(cell):
                yield pytest.param(cell, over, exc, match, id=f"{cell}-{case_id}")


@pytest.mark.parametrize("cell,over,exc,match", list(_bwd_params()))
def test_functional_backward_rejects(cell, over, exc, match):
    """Bad backward arguments raise naming the argument, touching no buffer.

    After the error, the gradient buffers are still zero and the original cache still
    serves a valid backward that matches the reference.
    """
    p, up = fproblem(cell)
    a = fbackward_args(F, cell, p, up)
    cache_before = tuple(c.copy() for c in a["cache"])
    with pytest.raises(exc, match=match):
        fbackward(F, cell, {**a, **over(a)})
    for k in ("dW_ih", "dW_hh", "db_ih", "db_hh"):
        assert not np.any(a[k]), f"{k} written by a rejected call"
    for c, c0 in zip(a["cache"], cache_before):
        np.testing.assert_array_equal(c, c0, err_msg="cache changed by a rejected call")
    got = fbackward(F, cell, a)
    ref_a = fbackward_args(R, cell, p, up)
    want = fbackward(R, cell, ref_a)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12)
    for k in ("dW_ih", "dW_hh", "db_ih", "db_hh"):
        np.testing.assert_allclose(a[k], ref_a[k], rtol=1e-9, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_functional_backward_with_empty_cache(cell):
    """backward of a store_cache=False forward is a ValueError naming cache and store_cache."""
    p, up = fproblem(cell)
    a = fbackward_args(F, cell, p, up)
    res = fforward(F, cell, p, store_cache=False)
    assert res[-1] == ()
    with pytest.raises(ValueError, match=r"^cache.*store_cache=True"):
        fbackward(F, cell, {**a, "cache": res[-1]})


@pytest.mark.parametrize("layout", ["fortran", "transposed", "strided"])
@pytest.mark.parametrize("cell", list(FCELLS))
def test_functional_noncontiguous_grad_buffer(cell, layout):
    """A non-contiguous dW either raises naming it or accumulates correctly: never lost."""
    p, up = fproblem(cell)
    a = fbackward_args(F, cell, p, up)
    shape = a["dW_hh"].shape
    if layout == "fortran":
        buf = np.asfortranarray(np.zeros(shape))
    elif layout == "transposed":
        buf = np.zeros(shape[::-1]).T
    else:
        buf = np.zeros((shape[0], 2 * shape[1]))[:, ::2]
    try:
        fbackward(F, cell, {**a, "dW_hh": buf})
    except ValueError as e:
        assert "dW_hh" in str(e)
        return
    ref_a = fbackward_args(R, cell, p, up)
    fbackward(R, cell, ref_a)
    np.testing.assert_allclose(buf, ref_a["dW_hh"], rtol=1e-9, atol=1e-12)


# =======================================================================================
# Unusual but valid memory layouts
# =======================================================================================

def relayout(a: np.ndarray, layout: str) -> np.ndarray:
    """The same values as ``a`` in another memory layout."""
    if layout == "contiguous":
        return a.copy()
    if layout == "fortran":
        out = np.asfortranarray(a)
        assert a.ndim < 2 or not out.flags.c_contiguous
        return out
    if layout == "transposed":  # a view whose memory runs in reverse axis order
        if a.ndim < 2:
            return relayout(a, "strided")
        return np.ascontiguousarray(a.T).T
    if layout == "strided":  # sliced with a step on every axis
        big = np.zeros(tuple(2 * n + 1 for n in a.shape), a.dtype)
        view = big[tuple(slice(1, None, 2) for _ in a.shape)]
        view[...] = a
        assert not view.flags.c_contiguous
        return view
    if layout == "read_only":
        out = a.copy()
        out.setflags(write=False)
        return out
    raise AssertionError(layout)


# Read-only inputs must work: the binding only asks for writable memory where it writes.
LAYOUTS = ["fortran", "transposed", "strided", "read_only"]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("batch_first", [False, True], ids=["time_major", "batch_first"])
@pytest.mark.parametrize("cell", list(LAYERS))
def test_layer_unusual_layouts_match_contiguous(cell, batch_first, layout):
    """Every array argument of forward/backward in an odd layout gives the contiguous result.

    Also checks that nothing writes to its inputs (read-only inputs are accepted).
    """
    r = rng(3)
    shape = (B, T, I) if batch_first else (T, B, I)
    oshape = (B, T, 2 * H) if batch_first else (T, B, 2 * H)
    x = r.standard_normal(shape).astype(np.float32)
    states = [r.standard_normal((4, B, H)).astype(np.float32) for _ in STATE_NAMES[cell]]
    dout = r.standard_normal(oshape).astype(np.float32)
    dstates = [r.standard_normal((4, B, H)).astype(np.float32) for _ in STATE_NAMES[cell]]
    lengths = np.array([T, 1, 3])

    def run(conv):
        layer = LAYERS[cell](num_layers=2, bidirectional=True, batch_first=batch_first, seed=7)
        xs, ss, do, ds = conv(x), [conv(s) for s in states], conv(dout), [conv(d) for d in dstates]
        copies = [a.copy() for a in [xs, *ss, do, *ds]]
        out, fin = layer(xs, hx_for(cell, *ss), lengths=conv(lengths))
        dx, dhx = layer.backward(do, hx_for(cell, *ds))
        for a, c in zip([xs, *ss, do, *ds], copies):
            np.testing.assert_array_equal(a, c, err_msg="an input was modified")
        fins = fin if cell == "lstm" else (fin,)
        dhxs = dhx if cell == "lstm" else (dhx,)
        return [out, *fins, dx, *dhxs, *layer.grads.values()]

    want = run(np.array)
    got = run(lambda a: relayout(a, layout))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("cell", list(LAYERS))
def test_layer_broadcast_zero_state(cell):
    """A zero-stride broadcast state (np.broadcast_to) works like an explicit zeros array."""
    x = rng().standard_normal((T, B, I)).astype(np.float32)
    layer = LAYERS[cell](seed=2)
    z = np.broadcast_to(np.float32(0), (1, B, H))
    got, _ = layer(x, hx_for(cell, z, z))
    want, _ = layer(x)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("cell", list(FCELLS))
def test_functional_unusual_layouts_match_contiguous(cell, layout):
    """pyrnn.functional accepts strided/transposed/Fortran/read-only arrays everywhere it reads."""
    p, up = fproblem(cell, np.float32)
    lengths = np.array([T, 1, 3])
    res_c = fforward(F, cell, p, lengths=lengths)
    q = {k: relayout(v, layout) for k, v in p.items()}
    res_l = fforward(F, cell, q, lengths=relayout(lengths, layout))
    for g, w in zip(res_l[:-1], res_c[:-1]):
        np.testing.assert_array_equal(g, w)
    # backward: every read-only argument in the odd layout too (the cache must stay writable)
    a = fbackward_args(F, cell, p, up, lengths=lengths)
    want = fbackward(F, cell, a)
    b = fbackward_args(F, cell, p, up, lengths=lengths)
    for k in ("dout", "dh_n", "dc_n", "x", "h0", "c0", "W_ih", "W_hh", "out"):
        if k in b:
            b[k] = relayout(b[k], layout)
    got = fbackward(F, cell, b)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    for k in ("dW_ih", "dW_hh", "db_ih", "db_hh"):
        np.testing.assert_array_equal(b[k], a[k], err_msg=k)


# =======================================================================================
# NaN and Inf
# =======================================================================================

TORCH_CLS = {"rnn_tanh": "RNN", "rnn_relu": "RNN", "lstm": "LSTM", "gru": "GRU"}


def expected_forward(cell, layer, x, lengths=None):
    """The output the same weights give in torch (if importable) or the reference backend."""
    if torch is not None:
        kw = {"nonlinearity": cell[4:]} if cell.startswith("rnn") else {}
        tl = getattr(torch.nn, TORCH_CLS[cell])(layer.input_size, layer.hidden_size,
                                                num_layers=layer.num_layers,
                                                bidirectional=layer.bidirectional,
                                                dtype=torch.float64, **kw)
        tl.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
        with torch.no_grad():
            xt = torch.from_numpy(x)
            if lengths is None:
                out, _ = tl(xt)
            else:
                packed = torch.nn.utils.rnn.pack_padded_sequence(
                    xt, torch.tensor(lengths), enforce_sorted=False)
                out, _ = tl(packed)
                out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=x.shape[0])
        return out.numpy()
    ref = LAYERS[cell](num_layers=layer.num_layers, bidirectional=layer.bidirectional,
                       dtype="float64", backend="reference")
    ref.load_state_dict(layer.state_dict())
    with pyrnn.no_grad(), np.errstate(invalid="ignore", over="ignore"):
        return ref(x, lengths=lengths)[0]


def assert_same_nan_pattern(got, want):
    assert np.array_equal(np.isnan(got), np.isnan(want)), \
        f"NaN pattern differs: {np.argwhere(np.isnan(got) != np.isnan(want))[:5].tolist()}"
    fin = ~np.isnan(want)
    np.testing.assert_allclose(got[fin], want[fin], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bidir"])
@pytest.mark.parametrize("cell", list(LAYERS))
def test_nan_in_one_row_stays_in_that_row(cell, bidirectional, watchdog):
    """A NaN in row 1 at t=2 poisons row 1 from t=2 on (both ways bidirectional), not others."""
    layer = LAYERS[cell](num_layers=2, bidirectional=bidirectional, dtype="float64", seed=1)
    x = rng().standard_normal((T, B, I))
    xn = x.copy()
    xn[2, 1, 0] = np.nan
    clean, _ = layer(x)
    dclean, _ = layer.backward(np.ones_like(clean))
    out, fin = layer(xn)
    dx, _ = layer.backward(np.ones_like(out))
    assert_same_nan_pattern(out, expected_forward(cell, layer, xn))
    if bidirectional:  # layer 1 sees layer 0's reverse pass, NaN from t=2 back to t=0
        assert np.all(np.isnan(out[:, 1])), "NaN did not reach all of row 1"
    else:
        assert np.all(np.isnan(out[2:, 1])), "NaN did not reach row 1's later outputs"
        assert not np.any(np.isnan(out[:2, 1])), "NaN reached row 1's earlier outputs"
    others = [0, 2]
    np.testing.assert_array_equal(out[:, others], clean[:, others])
    h_n = fin[0] if cell == "lstm" else fin
    assert np.all(np.isnan(h_n[:, 1])) and not np.any(np.isnan(h_n[:, others]))
    np.testing.assert_allclose(dx[:, others], dclean[:, others], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("fill", [np.nan, np.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bidir"])
@pytest.mark.parametrize("cell", list(LAYERS))
def test_garbage_in_padding_is_ignored(cell, bidirectional, fill, watchdog):
    """Padding past each row's length is never read: NaN/Inf there changes nothing.

    torch's packed sequences never see the padding, so outputs, states, d input and every
    parameter gradient must equal those of zero padding.
    The weight_ih gradient must not run over padded rows as they are: their zero
    pre-activation gradients would meet the padding, and 0 * NaN = NaN (0 * Inf too).
    """
    lengths = [T, 2, 1]
    layer = LAYERS[cell](num_layers=2, bidirectional=bidirectional, dtype="float64", seed=1)
    x = rng().standard_normal((T, B, I))
    for b, n in enumerate(lengths):
        x[n:, b] = 0.0
    xg = x.copy()
    for b, n in enumerate(lengths):
        xg[n:, b] = fill
    dout = rng(2).standard_normal((T, B, H * (2 if bidirectional else 1)))

    def run(inp):
        layer.zero_grad()
        out, fin = layer(inp, lengths=lengths)
        dx, _ = layer.backward(dout)
        return out, fin, dx, {k: v.copy() for k, v in layer.grads.items()}

    out0, fin0, dx0, g0 = run(x)
    out1, fin1, dx1, g1 = run(xg)
    np.testing.assert_array_equal(out1, out0)
    np.testing.assert_allclose(out1, expected_forward(cell, layer, xg, lengths), rtol=1e-10,
                               atol=1e-12)
    for a, b in zip(fin1 if cell == "lstm" else [fin1], fin0 if cell == "lstm" else [fin0]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(dx1, dx0)
    for k in g0:
        assert np.all(np.isfinite(g1[k])), f"grads[{k!r}] not finite"
        np.testing.assert_allclose(g1[k], g0[k], rtol=1e-12, atol=1e-14, err_msg=k)


@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm", "gru"])
def test_inf_input_gives_finite_outputs_like_torch(cell, watchdog):
    """A +-Inf input feature saturates tanh/sigmoid: outputs stay finite and match torch."""
    layer = LAYERS[cell](num_layers=2, dtype="float64", seed=4)
    x = rng().standard_normal((T, B, I))
    x[3, 0, 2] = np.inf
    x[1, 2, 0] = -np.inf
    out, fin = layer(x)
    assert np.all(np.isfinite(out)), "Inf input produced non-finite outputs"
    for s in (fin if cell == "lstm" else (fin,)):
        assert np.all(np.isfinite(s))
    np.testing.assert_allclose(out, expected_forward(cell, layer, x), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cell", list(LAYERS))
def test_nan_weights_give_nan_everywhere_without_hanging(cell, watchdog):
    """All-NaN recurrent weights make every output NaN (as torch), forward and backward return."""
    layer = LAYERS[cell](dtype="float64", seed=0)
    sd = layer.state_dict()
    sd["weight_hh_l0"][...] = np.nan
    layer.load_state_dict(sd)
    x = rng().standard_normal((T, B, I))
    out, _ = layer(x)
    assert_same_nan_pattern(out, expected_forward(cell, layer, x))
    assert np.all(np.isnan(out))
    dx, _ = layer.backward(np.ones_like(out))
    assert dx.shape == x.shape


def test_rejected_backward_keeps_the_tape():
    """A backward refused for a bad grad_output does not use up the forward: retrying with
    a correct gradient works and equals a clean run."""
    layer = pyrnn.LSTM(3, 4, dtype="float64", seed=0)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    out, _ = layer(x)
    with pytest.raises(ValueError, match="^grad_output"):
        layer.backward(np.ones((5, 2, 7)))
    dx, _ = layer.backward(np.ones_like(out))
    clean = pyrnn.LSTM(3, 4, dtype="float64", seed=0)
    out2, _ = clean(x)
    dx2, _ = clean.backward(np.ones_like(out2))
    np.testing.assert_array_equal(dx, dx2)
