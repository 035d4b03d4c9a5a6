"""Tests of pyrnn.init: shapes, variances, orthogonality, seeding, and init_recurrent's
per-gate blocks and LSTM forget-gate bias, on a fake layer (no engine needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pyrnn import init
from pyrnn.init import (
    glorot_normal,
    glorot_uniform,
    he_normal,
    he_uniform,
    identity,
    init_recurrent,
    normal,
    orthogonal,
    pytorch_default,
    uniform,
    zeros,
)

GATE_COUNT = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


class FakeRecurrent:
    """Parameters named and shaped like torch.nn.LSTM/GRU/RNN, filled with NaN."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bidirectional=False,
                 bias=True, dtype=np.float32, extra=()):
        self.mode = mode
        self.hidden_size = hidden_size
        G, H = GATE_COUNT[mode], hidden_size
        self.params: dict[str, np.ndarray] = {}
        for k in range(num_layers):
            I = input_size if k == 0 else H * (2 if bidirectional else 1)
            for sfx in ("", "_reverse") if bidirectional else ("",):
                self.params[f"weight_ih_l{k}{sfx}"] = np.full((G * H, I), np.nan, dtype)
                self.params[f"weight_hh_l{k}{sfx}"] = np.full((G * H, H), np.nan, dtype)
                if bias:
                    self.params[f"bias_ih_l{k}{sfx}"] = np.full(G * H, np.nan, dtype)
                    self.params[f"bias_hh_l{k}{sfx}"] = np.full(G * H, np.nan, dtype)
        for name in extra:
            self.params[name] = np.full(H, np.nan, dtype)

    def named_parameters(self):
        return iter(self.params.items())


def blocks(w: np.ndarray, H: int) -> list[np.ndarray]:
    return [w[g * H:(g + 1) * H] for g in range(w.shape[0] // H)]


# --------------------------------------------------------------------------- initialisers

ALL = [
    glorot_uniform, glorot_normal, he_uniform, he_normal, orthogonal, identity, uniform, normal,
    zeros,
]


@pytest.mark.parametrize("fn", ALL, ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shape_and_dtype(fn, dtype):
    w = fn((5, 7), 0, dtype=dtype)
    assert w.shape == (5, 7) and w.dtype == dtype
    assert np.all(np.isfinite(w))
    assert fn((5, 7), 0).dtype == np.float32  # default, like the layers


def test_pytorch_default_shape_bounds_and_variance():
    H = 16
    w = pytorch_default((400, 500), 1, hidden_size=H, dtype=np.float64)
    k = 1 / math.sqrt(H)
    assert w.shape == (400, 500)
    assert np.abs(w).max() <= k and np.abs(w).max() > 0.99 * k
    assert w.var() == pytest.approx(k * k / 3, rel=0.03)
    with pytest.raises(ValueError, match="hidden_size must be an int >= 1, got 0"):
        pytorch_default((2, 2), 0, hidden_size=0)


@pytest.mark.parametrize(
    "fn, var, bound",
    [
        (glorot_uniform, 2 / (500 + 400), math.sqrt(6 / (500 + 400))),
        (glorot_normal, 2 / (500 + 400), None),
        (he_uniform, 2 / 500, math.sqrt(6 / 500)),
        (he_normal, 2 / 500, None),
    ],
    ids=lambda x: getattr(x, "__name__", ""),
)
def test_variance_and_bounds(fn, var, bound):
    w = fn((400, 500), 2, dtype=np.float64)  # (fan_out, fan_in)
    assert abs(w.mean()) < 0.01 * math.sqrt(var)
    assert w.var() == pytest.approx(var, rel=0.03)
    if bound is not None:
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    w2 = fn((400, 500), 2, gain=2.0, dtype=np.float64)
    np.testing.assert_allclose(w2, 2 * w, rtol=1e-15)  # gain scales the same draw


def test_fans_include_receptive_field():
    # (out=4, in=3, 5): fan_in = 15, fan_out = 20
    w = glorot_uniform((4, 3, 5), 0, dtype=np.float64)
    assert np.abs(w).max() <= math.sqrt(6 / 35)
    assert np.abs(w).max() > 0.8 * math.sqrt(6 / 35)


def test_uniform_and_normal_parameters():
    u = uniform((300, 300), 3, low=0.5, high=2.0, dtype=np.float64)
    assert u.min() >= 0.5 and u.max() < 2.0 and u.mean() == pytest.approx(1.25, rel=0.01)
    n = normal((300, 300), 3, mean=1.0, std=0.1, dtype=np.float64)
    assert n.mean() == pytest.approx(1.0, rel=0.01) and n.std() == pytest.approx(0.1, rel=0.02)
    assert not zeros((3, 4)).any()


@pytest.mark.parametrize("shape", [(6, 6), (8, 3), (3, 8), (4, 2, 3)])
def test_orthogonal_is_orthogonal(shape):
    q = orthogonal(shape, 5, dtype=np.float64)
    assert q.shape == shape
    m = q.reshape(shape[0], -1)
    small = min(m.shape)
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)
    q2 = orthogonal(shape, 5, gain=1.5, dtype=np.float64).reshape(m.shape)
    gram2 = q2.T @ q2 if m.shape[0] >= m.shape[1] else q2 @ q2.T
    np.testing.assert_allclose(gram2, 2.25 * np.eye(small), atol=1e-12)


@pytest.mark.parametrize("shape", [(6, 6), (8, 3)])
def test_orthogonal_sign_fix(shape):
    # Q comes from A ~ N(0,1) of this shape; with the sign fix R = Q.T A has a positive
    # diagonal, so the first column of Q is A's first column, normalised, same direction
    q = orthogonal(shape, 9, dtype=np.float64)
    a = np.random.default_rng(9).standard_normal(shape)
    r = q.T @ a
    assert np.all(np.diag(r) > 0)
    np.testing.assert_allclose(np.tril(r, -1), 0, atol=1e-12)
    np.testing.assert_allclose(q[:, 0], a[:, 0] / np.linalg.norm(a[:, 0]), rtol=1e-12)


def test_identity():
    np.testing.assert_array_equal(identity((3, 3), gain=0.5), 0.5 * np.eye(3, dtype=np.float32))
    np.testing.assert_array_equal(identity((2, 4)), np.eye(2, 4, dtype=np.float32))
    with pytest.raises(ValueError, match=r"identity needs a 2-D shape, got \(3,\)"):
        identity(3)


def test_seeded_reproducibility():
    np.testing.assert_array_equal(glorot_uniform((5, 5), 42), glorot_uniform((5, 5), 42))
    assert not np.array_equal(glorot_uniform((5, 5), 42), glorot_uniform((5, 5), 43))
    rng = np.random.default_rng(42)
    first, second = orthogonal((4, 4), rng), orthogonal((4, 4), rng)
    assert not np.array_equal(first, second)  # the generator advances
    np.testing.assert_array_equal(first, orthogonal((4, 4), np.random.default_rng(42)))
    # the same numbers whatever the dtype
    np.testing.assert_allclose(he_normal((5, 5), 1, dtype=np.float32),
                               he_normal((5, 5), 1, dtype=np.float64), rtol=1e-6)


def test_initialiser_errors():
    with pytest.raises(ValueError, match=r"glorot_uniform needs .*at least 2 dimensions.*\(5,\)"):
        glorot_uniform(5)
    with pytest.raises(ValueError, match="orthogonal needs a shape with at least 2 dimensions"):
        orthogonal((5,))
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator, .* got float"):
        glorot_uniform((2, 2), 1.5)
    with pytest.raises(ValueError, match="shape must be a tuple of non-negative ints"):
        glorot_uniform((2, -1))
    with pytest.raises(TypeError, match="dtype must be a floating-point dtype, got int32"):
        glorot_uniform((2, 2), 0, dtype=np.int32)
    assert glorot_uniform((0, 3), 0).shape == (0, 3)


# --------------------------------------------------------------------------- init_recurrent


def test_lstm_blocks_forget_bias_and_in_place():
    H, I = 8, 5
    layer = FakeRecurrent("LSTM", I, H, num_layers=2, bidirectional=True)
    arrays = dict(layer.params)
    done = init_recurrent(layer, seed=0)
    assert done == list(layer.params)  # every parameter, in order
    for name, p in layer.params.items():
        assert p is arrays[name] and p.dtype == np.float32  # written in place
        assert np.all(np.isfinite(p)), name
    for name, p in layer.params.items():
        if name.startswith("weight_hh"):
            hh_blocks = blocks(p.astype(np.float64), H)
            for blk in hh_blocks:
                np.testing.assert_allclose(blk.T @ blk, np.eye(H), atol=1e-5)
            assert not np.allclose(hh_blocks[0], hh_blocks[1])  # each gate drawn afresh
        elif name.startswith("bias_ih"):
            np.testing.assert_array_equal(p[H:2 * H], 1.0)  # forget gate (i, f, g, o)
            np.testing.assert_array_equal(np.delete(p, np.s_[H:2 * H]), 0.0)
        elif name.startswith("bias_hh"):
            np.testing.assert_array_equal(p, 0.0)
    # Glorot fans are the block's (H, I), not the stacked (4H, I)
    w = layer.params["weight_ih_l0"]
    assert np.abs(w).max() <= math.sqrt(6 / (I + H)) * (1 + 1e-6)
    assert np.abs(w).max() > math.sqrt(6 / (I + 4 * H))
    assert layer.params["weight_ih_l1_reverse"].shape == (4 * H, 2 * H)


def test_forget_bias_sum_with_random_bias():
    H = 6
    layer = FakeRecurrent("LSTM", 3, H, dtype=np.float64)
    init_recurrent(layer, bias="pytorch_default", forget_bias=2.0, seed=1)
    b_ih, b_hh = layer.params["bias_ih_l0"], layer.params["bias_hh_l0"]
    np.testing.assert_array_equal(b_ih[H:2 * H] + b_hh[H:2 * H], 2.0)
    others = np.concatenate([b_ih[:H], b_ih[2 * H:], b_hh[:H], b_hh[2 * H:]])
    assert np.abs(others).max() <= 1 / math.sqrt(H) and np.abs(others).min() > 0
    layer = FakeRecurrent("LSTM", 3, H)
    init_recurrent(layer, bias=0.5, forget_bias=None, seed=1)
    np.testing.assert_array_equal(layer.params["bias_ih_l0"], 0.5)  # untouched by forget_bias


def test_gru_has_three_orthogonal_blocks_and_no_forget_bias():
    H = 5
    layer = FakeRecurrent("GRU", 4, H, dtype=np.float64)
    init_recurrent(layer, kernel="he_uniform", forget_bias=1.0, seed=2)
    hh = layer.params["weight_hh_l0"]
    assert hh.shape == (3 * H, H)
    for blk in blocks(hh, H):
        np.testing.assert_allclose(blk.T @ blk, np.eye(H), atol=1e-12)
    # the whole stack is not one orthogonal matrix: its columns have norm sqrt(3)
    np.testing.assert_allclose(np.linalg.norm(hh, axis=0), math.sqrt(3), rtol=1e-12)
    np.testing.assert_array_equal(layer.params["bias_ih_l0"], 0.0)
    assert np.abs(layer.params["weight_ih_l0"]).max() <= math.sqrt(6 / 4)


def test_irnn_identity_recurrent_with_gain():
    H = 7
    layer = FakeRecurrent("RNN_RELU", 3, H)
    init_recurrent(layer, kernel="normal", recurrent="identity", recurrent_gain=0.5, seed=3)
    np.testing.assert_array_equal(layer.params["weight_hh_l0"], 0.5 * np.eye(H, dtype=np.float32))
    assert np.abs(layer.params["weight_ih_l0"]).max() < 0.05 * 6


def test_init_recurrent_is_reproducible():
    def build(seed):
        layer = FakeRecurrent("LSTM", 3, 4, num_layers=2)
        init_recurrent(layer, seed=seed)
        return layer.params

    a, b, c = build(11), build(11), build(12)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert not np.array_equal(a["weight_hh_l1"], c["weight_hh_l1"])


def test_callable_and_constant_initialisers():
    H = 3
    layer = FakeRecurrent("RNN_TANH", 2, H, dtype=np.float64)
    seen = []

    def kernel(shape, rng):
        seen.append(shape)
        return np.full(shape, 0.25)

    init_recurrent(layer, kernel=kernel, recurrent=0.1, bias=-1.0, seed=0)
    assert seen == [(H, 2)]
    np.testing.assert_array_equal(layer.params["weight_ih_l0"], 0.25)
    np.testing.assert_array_equal(layer.params["weight_hh_l0"], 0.1)
    np.testing.assert_array_equal(layer.params["bias_hh_l0"], -1.0)


def test_init_recurrent_errors():
    with pytest.raises(ValueError, match=r"layer.mode must be one of .*got 'ELMAN'"):
        layer = FakeRecurrent("RNN_TANH", 2, 3)
        layer.mode = "ELMAN"
        init_recurrent(layer)
    layer = FakeRecurrent("LSTM", 2, 3)
    layer.params["weight_hh_l0"] = np.zeros((9, 3), np.float32)
    msg = r"'weight_hh_l0' of a LSTM layer with hidden_size 3 must have shape \(12, 3\), got \(9"
    with pytest.raises(ValueError, match=msg):
        init_recurrent(layer)
    layer = FakeRecurrent("LSTM", 2, 3, extra=("weight_peephole_l0",))
    with pytest.raises(ValueError, match="parameter 'weight_peephole_l0' is not"):
        init_recurrent(layer)
    assert all(np.all(np.isnan(p)) for p in layer.params.values())  # nothing written
    done = init_recurrent(layer, strict=False, seed=0)
    assert "weight_peephole_l0" not in done and len(done) == 4
    assert np.all(np.isnan(layer.params["weight_peephole_l0"]))  # left alone
    with pytest.raises(ValueError, match="kernel must be one of .*got 'xavier'"):
        init_recurrent(FakeRecurrent("GRU", 2, 3), kernel="xavier")
    with pytest.raises(ValueError, match="recurrent initialiser 'uniform' takes no gain"):
        init_recurrent(FakeRecurrent("GRU", 2, 3), recurrent="uniform", recurrent_gain=2.0)
    class NoMode:
        hidden_size = 3

        def named_parameters(self):
            return iter(())

    with pytest.raises(TypeError, match="NoMode has no 'mode'"):
        init_recurrent(NoMode())
    assert init.GATES["LSTM"] == ("i", "f", "g", "o") and init.GATES["GRU"] == ("r", "z", "n")
