"""Tests of pyrnn.losses: gradients against central differences, masks, stability for huge
logits, agreement with torch.nn.functional, error messages and the loss objects."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pyrnn import losses
from pyrnn.losses import (
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    MSELoss,
    binary_cross_entropy_with_logits,
    mse,
    softmax_cross_entropy,
)

T, B, C = 3, 2, 5


def numerical_grad(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of scalar f at float64 x."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        fp = f(x)
        x[i] = old - h
        fm = f(x)
        x[i] = old
        g[i] = (fp - fm) / (2 * h)
    return g


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300))


def make_case(kind: str, rng: np.random.Generator):
    """(loss function, input, target) on (T, B, C) float64 data."""
    x = rng.standard_normal((T, B, C)) * 2
    if kind == "ce":
        return softmax_cross_entropy, x, rng.integers(0, C, size=(T, B))
    if kind == "bce":
        y = (rng.random((T, B, C)) < 0.4).astype(np.float64)
        y[0, 0, 0] = 0.3  # a soft target too
        return binary_cross_entropy_with_logits, x, y
    return mse, x, rng.standard_normal((T, B, C))


MASKS = {
    "none": None,
    "position": np.array([[1, 1], [1, 0], [0, 0]], dtype=bool),  # padded tail of sequence 2
}


@pytest.mark.parametrize("kind", ["ce", "bce", "mse"])
@pytest.mark.parametrize("mask_name", list(MASKS))
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gradient_matches_central_differences(kind, mask_name, reduction):
    rng = np.random.default_rng(0)
    fn, x, y = make_case(kind, rng)
    mask = MASKS[mask_name]
    loss, dx = fn(x, y, mask, reduction)
    assert isinstance(loss, float)
    assert dx.shape == x.shape and dx.dtype == np.float64
    num = numerical_grad(lambda v: fn(v, y, mask, reduction)[0], x.copy())
    assert np.abs(num).max() > 1e-3  # the check is not vacuous
    assert rel_error(dx, num) < 1e-6


def test_elementwise_mask_gradient_for_bce_and_mse():
    rng = np.random.default_rng(1)
    mask = rng.random((T, B, C)) < 0.6
    for fn, x, y in (make_case("bce", rng)[:], make_case("mse", rng)[:]):
        loss, dx = fn(x, y, mask)
        num = numerical_grad(lambda v: fn(v, y, mask)[0], x.copy())
        assert rel_error(dx, num) < 1e-6
        assert np.all(dx[~mask] == 0)


def test_ce_ignore_index_gradient_and_equivalence_to_mask():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((T, B, C))
    t = rng.integers(0, C, size=(T, B))
    mask = MASKS["position"]
    t_ign = np.where(mask, t, -100)
    loss_i, d_i = softmax_cross_entropy(x, t_ign, ignore_index=-100)
    loss_m, d_m = softmax_cross_entropy(x, t, mask)
    assert loss_i == pytest.approx(loss_m, rel=1e-14)
    np.testing.assert_array_equal(d_i, d_m)
    num = numerical_grad(lambda v: softmax_cross_entropy(v, t_ign, ignore_index=-100)[0], x.copy())
    assert rel_error(d_i, num) < 1e-6


@pytest.mark.parametrize("kind", ["ce", "bce", "mse"])
def test_masked_positions_are_ignored_and_get_zero_gradient(kind):
    rng = np.random.default_rng(3)
    fn, x, y = make_case(kind, rng)
    mask = MASKS["position"]
    loss, dx = fn(x, y, mask)
    # garbage (NaN, huge values) at padded positions changes nothing
    x2 = x.copy()
    x2[~mask] = np.nan
    y2 = y.copy()
    if kind == "ce":
        y2[~mask] = -1  # padding label, out of range on purpose
    elif kind == "bce":
        y2[~mask] = 7.0  # out of [0, 1] on purpose
    else:
        y2[~mask] = 1e30
    loss2, dx2 = fn(x2, y2, mask)
    assert loss2 == loss
    np.testing.assert_array_equal(dx2, dx)
    assert np.all(dx[~mask] == 0)
    assert np.any(dx[mask] != 0)
    # mean = masked sum / number of counted positions (or elements)
    loss_sum, _ = fn(x, y, mask, "sum")
    count = mask.sum() * (1 if kind == "ce" else C)
    assert loss == pytest.approx(loss_sum / count, rel=1e-14)


def test_hand_values():
    # two equal logits: -log(1/2)
    loss, d = softmax_cross_entropy(np.zeros((1, 2)), np.array([1]))
    assert loss == pytest.approx(math.log(2), rel=1e-15)
    np.testing.assert_allclose(d, [[0.5, -0.5]], rtol=1e-15)
    # BCE at logit 0: log 2 per element, gradient sigmoid(0) - y = 0.5 - y
    loss, d = binary_cross_entropy_with_logits(np.zeros((1, 2)), np.array([[1.0, 0.0]]))
    assert loss == pytest.approx(math.log(2), rel=1e-15)
    np.testing.assert_allclose(d, [[-0.25, 0.25]], rtol=1e-15)
    # MSE: ((1-0)^2 + (3-1)^2)/2 = 2.5, d = 2*(p-t)/2
    loss, d = mse(np.array([1.0, 3.0]), np.array([0.0, 1.0]))
    assert loss == pytest.approx(2.5, rel=1e-15)
    np.testing.assert_allclose(d, [1.0, 2.0], rtol=1e-15)


@pytest.mark.parametrize("kind", ["ce", "bce", "mse"])
def test_all_masked_gives_zero_not_nan(kind):
    rng = np.random.default_rng(4)
    fn, x, y = make_case(kind, rng)
    loss, dx = fn(x, y, np.zeros((T, B), dtype=bool))
    assert loss == 0.0
    assert np.all(dx == 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ce_stable_for_huge_logits(dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], dtype=dtype)
    t = np.array([1, 2])
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # no overflow on the way
        loss, d = softmax_cross_entropy(z, t, reduction="sum")
    # row 0: logsumexp = 1e4, minus z[1] = -1e4 -> 2e4; row 1: uniform -> log 3
    assert np.isfinite(loss) and np.all(np.isfinite(d))
    assert loss == pytest.approx(2e4 + math.log(3), rel=1e-6)
    assert d.dtype == dtype
    np.testing.assert_allclose(d, [[1, -1, 0], [1 / 3, 1 / 3, -2 / 3]], atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_stable_for_huge_logits(dtype):
    z = np.array([[1e4, -1e4, 1e4, -1e4]], dtype=dtype)
    y = np.array([[1, 0, 0, 1]], dtype=dtype)
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # no overflow on the way
        loss, d = binary_cross_entropy_with_logits(z, y, reduction="sum")
    # right with certainty costs 0, wrong costs |z|
    assert np.isfinite(loss) and np.all(np.isfinite(d))
    assert loss == pytest.approx(2e4, rel=1e-6)
    assert d.dtype == dtype
    np.testing.assert_array_equal(d, [[0, 0, 1, -1]])


def test_float32_inputs_give_float32_gradients_close_to_float64():
    rng = np.random.default_rng(5)
    for kind in ("ce", "bce", "mse"):
        fn, x, y = make_case(kind, rng)
        loss64, d64 = fn(x, y)
        loss32, d32 = fn(x.astype(np.float32), y if kind == "ce" else y.astype(np.float32))
        assert d32.dtype == np.float32
        assert loss32 == pytest.approx(loss64, rel=1e-5)
        np.testing.assert_allclose(d32, d64, rtol=1e-4, atol=1e-6)


def test_bce_accepts_bool_targets_and_per_position_mask_counts_all_classes():
    z = np.array([[0.0, 0.0], [5.0, -5.0]])
    y = np.array([[True, False], [True, True]])
    loss, _ = binary_cross_entropy_with_logits(z, y, mask=np.array([True, False]))
    assert loss == pytest.approx(math.log(2), rel=1e-15)  # 2 elements, each log 2


# --------------------------------------------------------------------------- errors


def test_errors_name_the_argument():
    z = np.zeros((T, B, C))
    t = np.zeros((T, B), dtype=np.int64)
    with pytest.raises(ValueError, match=r"targets must have shape .*\(3, 2\).*got \(3, 3\)"):
        softmax_cross_entropy(z, np.zeros((T, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"targets must be class indices in \[0, 5\), got 5"):
        softmax_cross_entropy(z, np.full((T, B), 5))
    with pytest.raises(ValueError, match=r"got -1"):
        softmax_cross_entropy(z, np.full((T, B), -1))
    with pytest.raises(TypeError, match=r"targets must be an integer array.*float64"):
        softmax_cross_entropy(z, t.astype(float))
    with pytest.raises(TypeError, match=r"logits must be a float32 or float64 array, got .*int64"):
        softmax_cross_entropy(t[..., None], t)
    with pytest.raises(ValueError, match=r"mask must have shape \(3, 2\), got \(2, 3\)"):
        softmax_cross_entropy(z, t, mask=np.ones((B, T), bool))
    with pytest.raises(ValueError, match=r"mask must contain only 0 and 1.*2"):
        softmax_cross_entropy(z, t, mask=np.full((T, B), 2))
    with pytest.raises(ValueError, match=r"reduction must be one of .*'avg'"):
        softmax_cross_entropy(z, t, reduction="avg")
    with pytest.raises(ValueError, match=r"targets must have the shape of logits \(3, 2, 5\), got"):
        binary_cross_entropy_with_logits(z, np.zeros((T, B)))
    with pytest.raises(ValueError, match=r"targets must be in \[0, 1\], got 2"):
        binary_cross_entropy_with_logits(z, np.full((T, B, C), 2.0))
    with pytest.raises(ValueError, match=r"mask must have shape \(3, 2, 5\) or \(3, 2\), got \(3"):
        binary_cross_entropy_with_logits(z, np.zeros_like(z), mask=np.ones(T, bool))
    with pytest.raises(ValueError, match=r"target must have the shape of pred \(3, 2, 5\), got"):
        mse(z, np.zeros((T, B, 4)))
    with pytest.raises(TypeError, match=r"pred must be a float32 or float64 array"):
        mse(np.zeros(3, dtype=np.int32), np.zeros(3))
    with pytest.raises(TypeError, match=r"target must be a real numeric array"):
        mse(np.zeros(3), np.array(["a", "b", "c"]))


def test_out_of_range_target_is_fine_where_masked_but_not_elsewhere():
    z = np.zeros((2, 3))
    t = np.array([1, 7])
    loss, _ = softmax_cross_entropy(z, t, mask=np.array([True, False]))
    assert loss == pytest.approx(math.log(3))
    with pytest.raises(ValueError, match="got 7"):
        softmax_cross_entropy(z, t)


# --------------------------------------------------------------------------- objects


@pytest.mark.parametrize(
    "obj, fn, kind",
    [
        (CrossEntropyLoss(), softmax_cross_entropy, "ce"),
        (BCEWithLogitsLoss(), binary_cross_entropy_with_logits, "bce"),
        (MSELoss(), mse, "mse"),
    ],
)
def test_loss_objects_match_functions(obj, fn, kind):
    rng = np.random.default_rng(6)
    _, x, y = make_case(kind, rng)
    mask = MASKS["position"]
    with pytest.raises(RuntimeError, match="backward\\(\\) called before"):
        type(obj)().backward()
    value = obj(x.astype(np.float32), y, mask)
    ref_loss, ref_grad = fn(x.astype(np.float32), y, mask)
    assert isinstance(value, float) and value == ref_loss
    g = obj.backward()
    assert g.dtype == np.float32
    np.testing.assert_array_equal(g, ref_grad)


def test_loss_object_reduction_and_ignore_index():
    z = np.zeros((2, 4))
    t = np.array([1, -100])
    assert CrossEntropyLoss(reduction="sum", ignore_index=-100)(z, t) == pytest.approx(math.log(4))
    with pytest.raises(ValueError, match="reduction"):
        MSELoss(reduction="none")
    assert losses.__all__  # the module lists its public names
    assert set(losses.__all__) >= {"softmax_cross_entropy", "CrossEntropyLoss"}


# --------------------------------------------------------------------------- torch


def _torch_grad(torch, fn, x: np.ndarray):
    xt = torch.tensor(x, requires_grad=True)
    out = fn(xt)
    out.backward()
    return out.item(), xt.grad.numpy()


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_matches_torch(reduction):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(7)
    x = rng.standard_normal((T, B, C)) * 3
    t = rng.integers(0, C, size=(T, B))
    mask = MASKS["position"]
    t_ign = np.where(mask, t, -100)
    loss, d = softmax_cross_entropy(x, t, mask, reduction)
    ref_loss, ref_d = _torch_grad(
        torch,
        lambda xt: F.cross_entropy(
            xt.reshape(-1, C), torch.tensor(t_ign.reshape(-1)), reduction=reduction
        ),
        x,
    )
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(d, ref_d, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_bce_with_logits_matches_torch(reduction):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(8)
    x = rng.standard_normal((T, B, C)) * 30  # well into the saturated region
    y = rng.random((T, B, C))
    loss, d = binary_cross_entropy_with_logits(x, y, reduction=reduction)
    ref_loss, ref_d = _torch_grad(
        torch,
        lambda xt: F.binary_cross_entropy_with_logits(xt, torch.tensor(y), reduction=reduction),
        x,
    )
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(d, ref_d, rtol=1e-10, atol=1e-15)


def test_masked_bce_and_mse_match_torch_on_selected_positions():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(9)
    x = rng.standard_normal((T, B, C))
    y = rng.random((T, B, C))
    mask = MASKS["position"]
    for ours, theirs in ((binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits),
                         (mse, F.mse_loss)):
        loss, d = ours(x, y, mask)
        sel = torch.tensor(mask)
        ref_loss, ref_d = _torch_grad(torch, lambda xt: theirs(xt[sel], torch.tensor(y)[sel]), x)
        assert loss == pytest.approx(ref_loss, rel=1e-12)
        np.testing.assert_allclose(d, ref_d, rtol=1e-10, atol=1e-15)
