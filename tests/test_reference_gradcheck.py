"""The NumPy reference agrees with central finite differences (float64, tiny shapes).

Every input, initial state and parameter of every cell, forwards and reversed, with and
without variable lengths and biases; then whole layers (stacked, bidirectional,
batch_first) on the reference backend, which checks the layer's own plumbing too.
"""
from __future__ import annotations

import numpy as np
import pytest

import pyrnn
from pyrnn import reference
from cells import CELLS, loss, make_problem, run, run_forward

EPS = 1e-6
MAX_REL = 1e-6


def numeric_grad(f, a: np.ndarray) -> np.ndarray:
    """Central differences of the scalar f() w.r.t. every element of a (perturbed in place)."""
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + EPS
        up = f()
        a[i] = old - EPS
        down = f()
        a[i] = old
        g[i] = (up - down) / (2 * EPS)
    return g


def grad_rel_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    scale = max(np.linalg.norm(analytic), np.linalg.norm(numeric), 1e-12)
    return float(np.linalg.norm(analytic - numeric) / scale)


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("lengths", [None, [3, 1, 2]], ids=["full", "lengths"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_cell_gradients_match_finite_differences(cell, reverse, lengths, bias):
    p = make_problem(cell, T=3, B=3, I=2, H=3, lengths=lengths, reverse=reverse, bias=bias,
                     scale=1.5, seed=7)
    analytic = run(reference, p)
    for name, arr in p.inputs.items():
        num = numeric_grad(lambda: loss(p, run_forward(reference, p)[0]), arr)
        err = grad_rel_error(analytic[f"d_{name}"], num)
        assert err < MAX_REL, f"{cell} d{name}: relative error {err:.2e}"
        assert np.any(num != 0), f"{cell} d{name}: finite differences are all zero; the check is vacuous"


@pytest.mark.parametrize("cell", list(CELLS))
def test_hidden_gradients_at_each_rows_last_step(cell):
    """dh_all at a row's last processed step is exactly dh_n + dout there; padding is 0."""
    for reverse in (False, True):
        p = make_problem(cell, T=4, B=3, I=2, H=3, lengths=[4, 2, 1], reverse=reverse)
        dh_all = run(reference, p)["d_h_all"]
        for b, n in enumerate(p.lengths):
            last = 0 if reverse else n - 1
            np.testing.assert_allclose(dh_all[last, b], p.dh_n[b] + p.dout[last, b])
            assert np.all(dh_all[n:, b] == 0)


def test_relu_rnn_gradient_is_zero_where_inactive():
    """ReLU units that are off pass no gradient (checked against finite differences above,
    here made explicit so that a sign error in the mask cannot hide)."""
    p = make_problem("rnn_relu", T=2, B=1, I=1, H=1, seed=1)
    p.x[...] = -5.0
    p.h0[...] = 0.0
    p.W_hh[...] = 0.5
    p.W_ih[...] = 1.0
    p.b_ih[...] = p.b_hh[...] = 0.0
    res = run(reference, p)
    assert np.all(res["out"] == 0)
    assert np.all(res["d_x"] == 0) and np.all(res["d_W_ih"] == 0)


LAYER_CASES = [
    # mode, kwargs
    ("LSTM", dict(num_layers=2, bidirectional=True)),
    ("GRU", dict(num_layers=2, bidirectional=True, batch_first=True)),
    ("GRU", dict(reset_after=False, bidirectional=True)),
    ("RNN", dict(num_layers=2, nonlinearity="relu", bidirectional=True)),
    ("RNN", dict(num_layers=2, bias=False)),
]


@pytest.mark.parametrize("mode,kwargs", LAYER_CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("lengths", [None, [3, 1]], ids=["full", "lengths"])
def test_layer_gradients_match_finite_differences(mode, kwargs, lengths):
    layer = getattr(pyrnn, mode)(2, 3, dtype="float64", seed=3, backend="reference", **kwargs)
    rng = np.random.default_rng(5)
    T, B = 3, 2
    bf = kwargs.get("batch_first", False)
    x = rng.standard_normal((B, T, 2) if bf else (T, B, 2))
    LD = layer.num_layers * layer.num_directions
    h0, c0 = rng.standard_normal((LD, B, 3)), rng.standard_normal((LD, B, 3))
    hx = (h0, c0) if mode == "LSTM" else h0
    out, hn = layer(x, hx, lengths=lengths)
    w_out = rng.standard_normal(out.shape)
    w_h = [rng.standard_normal((LD, B, 3)) for _ in range(2)]

    def scalar() -> float:
        o, s = layer(x, hx, lengths=lengths)
        states = s if mode == "LSTM" else (s,)
        return float(np.sum(o * w_out) + sum(np.sum(a * w) for a, w in zip(states, w_h)))

    layer(x, hx, lengths=lengths)
    layer.zero_grad()
    dstate = (w_h[0], w_h[1]) if mode == "LSTM" else w_h[0]
    dx, dhx = layer.backward(w_out, dstate)
    checks = {"x": (x, dx)}
    if mode == "LSTM":
        checks["h0"], checks["c0"] = (h0, dhx[0]), (c0, dhx[1])
    else:
        checks["h0"] = (h0, dhx)
    for name, p in layer.named_parameters():
        checks[name] = (p, layer.grads[name].copy())
    for name, (arr, analytic) in checks.items():
        num = numeric_grad(scalar, arr)
        err = grad_rel_error(analytic, num)
        assert err < MAX_REL, f"{mode} {kwargs} d{name}: relative error {err:.2e}"
