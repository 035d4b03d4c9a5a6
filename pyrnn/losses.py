"""Fused, numerically stable losses for sequence models, each returning the loss and its
gradient in one call, with masks for padded steps. Pure NumPy; no engine needed.

Every function returns ``(loss, dinput)``: ``loss`` is a Python float and ``dinput`` is
d(loss)/d(input), an array with the input's shape and dtype. pyrnn has no autograd, so
``dinput`` is what a model's ``backward`` takes next.

Masks. ``mask`` marks the positions that count (True/1) and the padding that does not
(False/0). Masked positions contribute nothing to the loss, get an exactly zero gradient,
and may hold any values (even NaN) in the inputs. ``reduction="mean"`` divides by the
number of unmasked positions (elements, for BCE and MSE); when everything is masked the
loss is 0.0 and the gradient is all zeros rather than NaN, so that a fully padded batch
does not poison training.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "softmax_cross_entropy",
    "binary_cross_entropy_with_logits",
    "mse",
    "CrossEntropyLoss",
    "BCEWithLogitsLoss",
    "MSELoss",
]

_REDUCTIONS = ("mean", "sum")


# --------------------------------------------------------------------------- checks


def _float_input(x: ArrayLike, name: str) -> np.ndarray:
    """Return ``x`` as a float32/float64 array; TypeError naming ``name`` otherwise."""
    arr = np.asarray(x)
    if arr.dtype not in (np.float32, np.float64):
        raise TypeError(
            f"{name} must be a float32 or float64 array, got dtype {arr.dtype}"
        )
    return arr


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _bool_mask(mask: ArrayLike, name: str) -> np.ndarray:
    """Turn a bool or 0/1 numeric mask into a bool array, rejecting other values."""
    m = np.asarray(mask)
    if m.dtype == np.bool_:
        return m
    if m.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a bool or 0/1 numeric array, got dtype {m.dtype}")
    bad = (m != 0) & (m != 1)
    if bad.any():
        raise ValueError(
            f"{name} must contain only 0 and 1 (or True/False), got value {m[bad].flat[0]!r}"
        )
    return m.astype(bool)


def _position_mask(mask: ArrayLike | None, shape: tuple[int, ...], name: str) -> np.ndarray:
    """Mask over positions ``shape`` (exact shape required); all True when ``mask`` is None."""
    if mask is None:
        return np.ones(shape, dtype=bool)
    m = _bool_mask(mask, name)
    if m.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {m.shape}")
    return m


def _element_mask(mask: ArrayLike | None, shape: tuple[int, ...], name: str) -> np.ndarray:
    """Mask over every element of an input of ``shape``.

    Accepts either the full ``shape`` (one flag per element) or ``shape[:-1]`` (one flag
    per position, shared by the last axis), and returns a bool array of ``shape``.
    """
    if mask is None:
        return np.ones(shape, dtype=bool)
    m = _bool_mask(mask, name)
    if m.shape == shape:
        return m
    if len(shape) >= 1 and m.shape == shape[:-1]:
        return np.broadcast_to(m[..., None], shape)
    allowed = f"{shape}" if len(shape) == 0 else f"{shape} or {shape[:-1]}"
    raise ValueError(f"{name} must have shape {allowed}, got {m.shape}")


def _scale(count: int, reduction: str) -> float:
    """Factor that turns a masked sum into the requested reduction (0 if nothing counts)."""
    if reduction == "sum":
        return 1.0
    return 1.0 / count if count > 0 else 0.0


# --------------------------------------------------------------------------- losses


def softmax_cross_entropy(
    logits: ArrayLike,
    targets: ArrayLike,
    mask: ArrayLike | None = None,
    reduction: str = "mean",
    *,
    ignore_index: int | None = None,
) -> tuple[float, np.ndarray]:
    """Softmax + negative log-likelihood of integer class targets, fused.

    For each position ``p`` with logits ``z`` (C values) and target class ``t``::

        loss_p = logsumexp(z) - z[t]          dloss_p/dz = softmax(z) - onehot(t)

    ``logsumexp`` subtracts the row maximum first, so logits of any magnitude (e.g.
    +-1e4 in float32) give a finite loss and gradient.

    Args:
        logits: (..., C) float32 or float64 unnormalised scores, e.g. (T, B, C).
        targets: (...) integer class indices in ``[0, C)``, e.g. (T, B). Values at
            masked or ignored positions are not checked and may be anything (-1, ...).
        mask: (...) bool or 0/1, True where the position counts; None means all count.
        reduction: "mean" (sum over counted positions / their number) or "sum".
        ignore_index: like PyTorch's: positions whose target equals it are masked out.

    Returns:
        ``(loss, dlogits)``: a Python float and an array of ``logits``' shape and dtype.

    Raises:
        TypeError: ``logits`` not float32/float64, or ``targets`` not integer.
        ValueError: shapes that do not match, a target outside ``[0, C)`` at a counted
            position, a mask value other than 0/1, or an unknown ``reduction``.
    """
    z = _float_input(logits, "logits")
    _check_reduction(reduction)
    if z.ndim < 1 or z.shape[-1] < 1:
        raise ValueError(f"logits must have shape (..., C) with C >= 1, got {z.shape}")
    C = z.shape[-1]
    t = np.asarray(targets)
    if t.dtype.kind not in "iu":
        raise TypeError(f"targets must be an integer array of class indices, got dtype {t.dtype}")
    if t.shape != z.shape[:-1]:
        raise ValueError(
            f"targets must have shape logits.shape[:-1] = {z.shape[:-1]}, got {t.shape}"
        )
    t = t.astype(np.int64, copy=False)  # so comparisons with a negative ignore_index are exact
    valid = _position_mask(mask, z.shape[:-1], "mask")
    if ignore_index is not None:
        valid = valid & (t != int(ignore_index))
    counted = t[valid]
    if counted.size and (counted.min() < 0 or counted.max() >= C):
        bad = counted[(counted < 0) | (counted >= C)][0]
        raise ValueError(f"targets must be class indices in [0, {C}), got {bad}")

    scale = _scale(int(valid.sum()), reduction)
    safe_t = np.where(valid, t, 0)[..., None]  # any in-range index for masked positions
    # padded rows may hold Inf/NaN; they are dropped below, so don't warn about them
    with np.errstate(invalid="ignore"):
        shifted = z - z.max(axis=-1, keepdims=True)
        exp = np.exp(shifted)
        sumexp = exp.sum(axis=-1, keepdims=True)
        # -log p_t = log(sum exp(shifted)) - shifted_t; the max cancels out
        nll = np.log(sumexp[..., 0]) - np.take_along_axis(shifted, safe_t, axis=-1)[..., 0]
        loss = float(np.sum(nll, where=valid)) * scale

        dz = exp / sumexp
        np.put_along_axis(dz, safe_t, np.take_along_axis(dz, safe_t, axis=-1) - 1, axis=-1)
        # where, not multiply: a NaN/Inf in a padded row must not leak into the gradient
        dz = np.where(valid[..., None], dz * scale, 0).astype(z.dtype, copy=False)
    return loss, dz


def binary_cross_entropy_with_logits(
    logits: ArrayLike,
    targets: ArrayLike,
    mask: ArrayLike | None = None,
    reduction: str = "mean",
) -> tuple[float, np.ndarray]:
    """Sigmoid + binary cross-entropy per element, fused (multi-hot / multi-label targets).

    For each element with logit ``z`` and target ``y`` in [0, 1]::

        loss = -(y log sigmoid(z) + (1 - y) log(1 - sigmoid(z)))
             = max(z, 0) - z y + log1p(exp(-|z|))      (the stable form used here)
        dloss/dz = sigmoid(z) - y

    Neither form overflows for large ``|z|``: ``exp`` only ever sees ``-|z|``.
    Typical use: the Reber grammar, where the target at each step is the multi-hot set
    of symbols allowed next.

    Args:
        logits: (..., C) float32 or float64, e.g. (T, B, C).
        targets: same shape as ``logits``; bool, integer or float values in [0, 1]
            (soft targets are allowed).
        mask: either ``logits.shape[:-1]`` (one flag per position, applied to all C
            elements of that position) or ``logits.shape`` (one flag per element);
            bool or 0/1. None means everything counts.
        reduction: "mean" (sum over counted *elements* / their number, so a counted
            position contributes C elements) or "sum".

    Returns:
        ``(loss, dlogits)``: a Python float and an array of ``logits``' shape and dtype.

    Raises:
        TypeError: ``logits`` not float32/float64, or ``targets`` not numeric.
        ValueError: shapes that do not match, a target outside [0, 1] at a counted
            element, a mask value other than 0/1, or an unknown ``reduction``.
    """
    z = _float_input(logits, "logits")
    _check_reduction(reduction)
    y = np.asarray(targets)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"targets must be a bool or numeric array, got dtype {y.dtype}")
    if y.shape != z.shape:
        raise ValueError(f"targets must have the shape of logits {z.shape}, got {y.shape}")
    valid = _element_mask(mask, z.shape, "mask")
    counted = y[valid]
    if counted.size and (counted.min() < 0 or counted.max() > 1):
        bad = counted[(counted < 0) | (counted > 1)][0]
        raise ValueError(f"targets must be in [0, 1], got {bad}")
    y = y.astype(z.dtype, copy=False)

    scale = _scale(int(valid.sum()), reduction)
    with np.errstate(invalid="ignore"):  # padded elements may hold Inf/NaN
        e = np.exp(-np.abs(z))  # in (0, 1]: never overflows
        per_elem = np.maximum(z, 0) - z * y + np.log1p(e)
        loss = float(np.sum(per_elem, where=valid)) * scale
        # sigmoid from e = exp(-|z|): 1/(1+e) for z >= 0 and e/(1+e) for z < 0, both stable
        sig = np.where(z >= 0, 1, e) / (1 + e)
        dz = np.where(valid, (sig - y) * scale, 0).astype(z.dtype, copy=False)
    return loss, dz


def mse(
    pred: ArrayLike,
    target: ArrayLike,
    mask: ArrayLike | None = None,
    reduction: str = "mean",
) -> tuple[float, np.ndarray]:
    """Squared error: ``loss = reduce((pred - target)**2)``, ``dloss/dpred = 2 (pred - target)``
    scaled by the reduction.

    Args:
        pred: (..., D) float32 or float64, e.g. (T, B, D); any shape works.
        target: same shape as ``pred``; any real numeric dtype (cast to ``pred``'s).
        mask: ``pred.shape`` (per element) or ``pred.shape[:-1]`` (per position, shared
            by the last axis); bool or 0/1. None means everything counts.
        reduction: "mean" (sum over counted elements / their number, as
            ``torch.nn.MSELoss``) or "sum".

    Returns:
        ``(loss, dpred)``: a Python float and an array of ``pred``'s shape and dtype.

    Raises:
        TypeError: ``pred`` not float32/float64, or ``target`` not real numeric.
        ValueError: shapes that do not match, a bad mask or an unknown ``reduction``.
    """
    p = _float_input(pred, "pred")
    _check_reduction(reduction)
    t = np.asarray(target)
    if t.dtype.kind not in "biuf":
        raise TypeError(f"target must be a real numeric array, got dtype {t.dtype}")
    if t.shape != p.shape:
        raise ValueError(f"target must have the shape of pred {p.shape}, got {t.shape}")
    valid = _element_mask(mask, p.shape, "mask")

    scale = _scale(int(valid.sum()), reduction)
    with np.errstate(invalid="ignore", over="ignore"):  # padded elements may hold Inf/NaN
        diff = p - t.astype(p.dtype, copy=False)
        loss = float(np.sum(diff * diff, where=valid)) * scale
        dp = np.where(valid, diff * (2 * scale), 0).astype(p.dtype, copy=False)
    return loss, dp


# --------------------------------------------------------------------------- objects


class _Loss:
    """Loss object: ``loss = obj(pred, target, mask)`` then ``dpred = obj.backward()``."""

    def __init__(self, reduction: str = "mean") -> None:
        _check_reduction(reduction)
        self.reduction = reduction
        self._grad: np.ndarray | None = None

    def _compute(self, pred: Any, target: Any, mask: Any) -> tuple[float, np.ndarray]:
        raise NotImplementedError

    def __call__(self, pred: ArrayLike, target: ArrayLike, mask: ArrayLike | None = None) -> float:
        """Compute the loss, keep its gradient for ``backward()``, and return the loss."""
        loss, grad = self._compute(pred, target, mask)
        self._grad = grad
        return loss

    def backward(self) -> np.ndarray:
        """Gradient of the last computed loss w.r.t. ``pred`` (same shape and dtype).

        Returns the stored array itself (no copy); calling it twice returns the same one.

        Raises:
            RuntimeError: if the loss has not been computed yet.
        """
        if self._grad is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward() called before the loss was computed; "
                "call the loss object on (pred, target) first"
            )
        return self._grad

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reduction={self.reduction!r})"


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy on logits (..., C) with integer targets (...).

    PyTorch's ``nn.CrossEntropyLoss`` / Keras' ``SparseCategoricalCrossentropy(
    from_logits=True)``. See :func:`softmax_cross_entropy` for shapes and masks.
    """

    def __init__(self, reduction: str = "mean", ignore_index: int | None = None) -> None:
        super().__init__(reduction)
        self.ignore_index = ignore_index

    def _compute(self, pred: Any, target: Any, mask: Any) -> tuple[float, np.ndarray]:
        return softmax_cross_entropy(
            pred, target, mask, self.reduction, ignore_index=self.ignore_index
        )

    def __repr__(self) -> str:
        return (
            f"CrossEntropyLoss(reduction={self.reduction!r}, ignore_index={self.ignore_index!r})"
        )


class BCEWithLogitsLoss(_Loss):
    """Sigmoid binary cross-entropy on logits (..., C) with targets in [0, 1] (..., C).

    PyTorch's ``nn.BCEWithLogitsLoss`` / Keras' ``BinaryCrossentropy(from_logits=True)``.
    See :func:`binary_cross_entropy_with_logits` for shapes and masks.
    """

    def _compute(self, pred: Any, target: Any, mask: Any) -> tuple[float, np.ndarray]:
        return binary_cross_entropy_with_logits(pred, target, mask, self.reduction)


class MSELoss(_Loss):
    """Mean squared error; PyTorch's ``nn.MSELoss`` / Keras' ``MeanSquaredError``.

    See :func:`mse` for shapes and masks.
    """

    def _compute(self, pred: Any, target: Any, mask: Any) -> tuple[float, np.ndarray]:
        return mse(pred, target, mask, self.reduction)
