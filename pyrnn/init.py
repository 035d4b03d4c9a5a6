"""Seeded, reproducible weight initialisers (Glorot, He, orthogonal, identity, ...) and
``init_recurrent``, which initialises a recurrent layer gate block by gate block.

Every initialiser has the form ``f(shape, rng=None, *, ..., dtype=np.float32) -> ndarray``.
``rng`` is a ``numpy.random.Generator``, an int seed, or None (fresh OS entropy, not
reproducible). Values are drawn in float64 and then cast, so a given seed gives the same
numbers (up to rounding) whatever ``dtype`` is asked for.

Shapes follow PyTorch's layout ``(fan_out, fan_in, *receptive)``: a weight ``(out, in)``
has ``fan_in = in`` and ``fan_out = out``; extra trailing axes multiply both. (Keras
stores kernels as ``(in, out)``; the formulas are the same once the fans are named.)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import numpy as np
from numpy.typing import DTypeLike

__all__ = [
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "orthogonal",
    "identity",
    "uniform",
    "normal",
    "pytorch_default",
    "zeros",
    "INITIALIZERS",
    "init_recurrent",
    "GATES",
]

Shape = int | tuple[int, ...]
RngLike = np.random.Generator | int | None


def _rng(rng: RngLike) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(
        f"rng must be a numpy.random.Generator, an int seed or None, got {type(rng).__name__}"
    )


def _shape(shape: Shape) -> tuple[int, ...]:
    dims = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    for d in dims:
        if not isinstance(d, (int, np.integer)) or isinstance(d, bool) or d < 0:
            raise ValueError(f"shape must be a tuple of non-negative ints, got {shape!r}")
    return tuple(int(d) for d in dims)


def _fans(shape: tuple[int, ...], who: str) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of PyTorch layout ``(out, in, *receptive)``."""
    if len(shape) < 2:
        raise ValueError(f"{who} needs a shape with at least 2 dimensions (out, in), got {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _out(values: np.ndarray, dtype: DTypeLike) -> np.ndarray:
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"dtype must be a floating-point dtype, got {dt}")
    return values.astype(dt, copy=False)


# --------------------------------------------------------------------------- initialisers


def glorot_uniform(shape: Shape, rng: RngLike = None, *, gain: float = 1.0,
                   dtype: DTypeLike = np.float32) -> np.ndarray:
    """Glorot/Xavier uniform: ``U(-a, a)``, ``a = gain * sqrt(6 / (fan_in + fan_out))``.

    Variance ``gain**2 * 2 / (fan_in + fan_out)``. Shape ``(out, in, ...)``, >= 2-D.
    """
    s = _shape(shape)
    fan_in, fan_out = _fans(s, "glorot_uniform")
    if math.prod(s) == 0:
        return np.zeros(s, dtype=dtype)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return _out(_rng(rng).uniform(-a, a, size=s), dtype)


def glorot_normal(shape: Shape, rng: RngLike = None, *, gain: float = 1.0,
                  dtype: DTypeLike = np.float32) -> np.ndarray:
    """Glorot/Xavier normal: ``N(0, std**2)``, ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    A plain normal as PyTorch's ``xavier_normal_``; Keras draws a truncated normal with
    the same variance. Shape ``(out, in, ...)``, >= 2-D.
    """
    s = _shape(shape)
    fan_in, fan_out = _fans(s, "glorot_normal")
    if math.prod(s) == 0:
        return np.zeros(s, dtype=dtype)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return _out(_rng(rng).normal(0.0, std, size=s), dtype)


def he_uniform(shape: Shape, rng: RngLike = None, *, gain: float = 1.0,
               dtype: DTypeLike = np.float32) -> np.ndarray:
    """He/Kaiming uniform for ReLU: ``U(-a, a)``, ``a = gain * sqrt(6 / fan_in)``.

    Variance ``gain**2 * 2 / fan_in``; equals Keras' ``he_uniform`` and PyTorch's
    ``kaiming_uniform_(nonlinearity="relu")`` at gain 1. Shape ``(out, in, ...)``, >= 2-D.
    """
    s = _shape(shape)
    fan_in, _ = _fans(s, "he_uniform")
    if math.prod(s) == 0:
        return np.zeros(s, dtype=dtype)
    a = gain * math.sqrt(6.0 / fan_in)
    return _out(_rng(rng).uniform(-a, a, size=s), dtype)


def he_normal(shape: Shape, rng: RngLike = None, *, gain: float = 1.0,
              dtype: DTypeLike = np.float32) -> np.ndarray:
    """He/Kaiming normal for ReLU: ``N(0, std**2)``, ``std = gain * sqrt(2 / fan_in)``.

    A plain normal as PyTorch's ``kaiming_normal_``; Keras draws a truncated normal with
    the same variance. Shape ``(out, in, ...)``, >= 2-D.
    """
    s = _shape(shape)
    fan_in, _ = _fans(s, "he_normal")
    if math.prod(s) == 0:
        return np.zeros(s, dtype=dtype)
    std = gain * math.sqrt(2.0 / fan_in)
    return _out(_rng(rng).normal(0.0, std, size=s), dtype)


def orthogonal(shape: Shape, rng: RngLike = None, *, gain: float = 1.0,
               dtype: DTypeLike = np.float32) -> np.ndarray:
    """Random orthogonal matrix (Saxe et al. 2014) times ``gain``, uniform over the group.

    The shape is viewed as ``(rows, cols) = (shape[0], prod(shape[1:]))``. Draws
    ``A ~ N(0, 1)`` of shape ``(rows, cols)``, takes the QR decomposition of ``A`` (of
    ``A.T`` when rows < cols) and flips the sign of each column of Q whose diagonal entry
    of R is negative, so that the result does not depend on the QR routine's sign
    convention and is Haar-distributed (Mezzadri 2007). Result: orthonormal columns when
    rows >= cols (``Q.T @ Q = I``), orthonormal rows otherwise (``Q @ Q.T = I``).
    """
    s = _shape(shape)
    if len(s) < 2:
        raise ValueError(f"orthogonal needs a shape with at least 2 dimensions, got {s}")
    rows, cols = s[0], math.prod(s[1:])
    if rows * cols == 0:
        return np.zeros(s, dtype=dtype)
    a = _rng(rng).standard_normal((rows, cols))
    wide = rows < cols
    q, r = np.linalg.qr(a.T if wide else a)  # reduced QR: q has orthonormal columns
    signs = np.sign(np.diag(r))
    signs[signs == 0] = 1
    q = q * signs
    if wide:
        q = q.T
    return _out((gain * q).reshape(s), dtype)


def identity(shape: Shape, rng: RngLike = None, *, gain: float = 1.0,
             dtype: DTypeLike = np.float32) -> np.ndarray:
    """``gain * I`` (ones on the main diagonal of a 2-D, possibly non-square, shape).

    For the recurrent matrix of an IRNN (Le, Jaitly & Hinton 2015). ``rng`` is ignored;
    it is accepted so every initialiser has the same call form.
    """
    s = _shape(shape)
    if len(s) != 2:
        raise ValueError(f"identity needs a 2-D shape, got {s}")
    return _out(gain * np.eye(s[0], s[1]), dtype)


def uniform(shape: Shape, rng: RngLike = None, *, low: float = -0.05, high: float = 0.05,
            dtype: DTypeLike = np.float32) -> np.ndarray:
    """``U(low, high)``; defaults are Keras' ``RandomUniform``. Any shape."""
    if not low <= high:
        raise ValueError(f"uniform needs low <= high, got low={low}, high={high}")
    return _out(_rng(rng).uniform(low, high, size=_shape(shape)), dtype)


def normal(shape: Shape, rng: RngLike = None, *, mean: float = 0.0, std: float = 0.05,
           dtype: DTypeLike = np.float32) -> np.ndarray:
    """``N(mean, std**2)``; defaults are Keras' ``RandomNormal``. Any shape."""
    if not std >= 0:
        raise ValueError(f"normal needs std >= 0, got {std}")
    return _out(_rng(rng).normal(mean, std, size=_shape(shape)), dtype)


def pytorch_default(shape: Shape, rng: RngLike = None, *, hidden_size: int,
                    dtype: DTypeLike = np.float32) -> np.ndarray:
    """PyTorch's RNN/LSTM/GRU default for every weight and bias: ``U(-k, k)``,
    ``k = 1 / sqrt(hidden_size)``. Any shape."""
    if not isinstance(hidden_size, (int, np.integer)) or hidden_size < 1:
        raise ValueError(f"hidden_size must be an int >= 1, got {hidden_size!r}")
    k = 1.0 / math.sqrt(hidden_size)
    return _out(_rng(rng).uniform(-k, k, size=_shape(shape)), dtype)


def zeros(shape: Shape, rng: RngLike = None, *, dtype: DTypeLike = np.float32) -> np.ndarray:
    """All zeros (``rng`` is ignored). Any shape."""
    return _out(np.zeros(_shape(shape)), dtype)


INITIALIZERS: dict[str, Callable[..., np.ndarray]] = {
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "xavier_uniform": glorot_uniform,
    "xavier_normal": glorot_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "orthogonal": orthogonal,
    "identity": identity,
    "uniform": uniform,
    "normal": normal,
    "pytorch_default": pytorch_default,
    "zeros": zeros,
}
"""Initialisers by name, as accepted by :func:`init_recurrent`."""

# the ones that take a ``gain`` keyword
_WITH_GAIN = {glorot_uniform, glorot_normal, he_uniform, he_normal, orthogonal, identity}


# --------------------------------------------------------------------------- recurrent layers

GATES: dict[str, tuple[str, ...]] = {
    "RNN_TANH": ("h",),
    "RNN_RELU": ("h",),
    "LSTM": ("i", "f", "g", "o"),
    "GRU": ("r", "z", "n"),
}
"""Gate blocks of the stacked weights, in PyTorch's order, for each layer ``mode``."""

_PARAM_NAME = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)(_reverse)?$")


class RecurrentLayer(Protocol):
    """What :func:`init_recurrent` needs from a layer."""

    mode: str
    hidden_size: int

    def named_parameters(self) -> Iterable[tuple[str, np.ndarray]]: ...


Initializer = str | float | Callable[[tuple[int, ...], np.random.Generator], np.ndarray]


def _resolve(spec: Initializer, role: str, gain: float, hidden_size: int
             ) -> Callable[[tuple[int, ...], np.random.Generator], np.ndarray]:
    """Turn a name / constant / callable into ``f(block_shape, rng) -> float64 array``."""
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        if gain != 1.0:
            raise ValueError(f"a {role} gain needs a named initialiser, not the constant {spec}")
        value = float(spec)
        return lambda shape, rng: np.full(shape, value)
    if isinstance(spec, str):
        if spec not in INITIALIZERS:
            raise ValueError(
                f"{role} must be one of {sorted(INITIALIZERS)}, a number or a callable, "
                f"got {spec!r}"
            )
        fn = INITIALIZERS[spec]
        kw: dict[str, Any] = {"dtype": np.float64}
        if fn in _WITH_GAIN:
            kw["gain"] = gain
        elif gain != 1.0:
            raise ValueError(f"{role} initialiser {spec!r} takes no gain, got gain={gain}")
        if fn is pytorch_default:
            kw["hidden_size"] = hidden_size
        return lambda shape, rng: fn(shape, rng, **kw)
    if callable(spec):
        if gain != 1.0:
            raise ValueError(f"a {role} gain needs a named initialiser, not a callable")
        return lambda shape, rng: np.asarray(spec(shape, rng), dtype=np.float64)
    raise TypeError(
        f"{role} must be an initialiser name, a number or a callable, got {type(spec).__name__}"
    )


def init_recurrent(
    layer: RecurrentLayer,
    kernel: Initializer = "glorot_uniform",
    recurrent: Initializer = "orthogonal",
    bias: Initializer = "zeros",
    forget_bias: float | None = 1.0,
    seed: RngLike = None,
    *,
    kernel_gain: float = 1.0,
    recurrent_gain: float = 1.0,
    strict: bool = True,
) -> list[str]:
    """Initialise a recurrent layer's weights in place, one gate block at a time.

    The layer's parameters follow PyTorch's names and layout (``G`` gates of size
    ``H = layer.hidden_size``, stacked along the first axis in :data:`GATES` order,
    LSTM ``i,f,g,o``, GRU ``r,z,n``, RNN one block)::

        weight_ih_l{k}[_reverse]  (G*H, I_k)   each (H, I_k) block <- kernel
        weight_hh_l{k}[_reverse]  (G*H, H)     each (H, H) block   <- recurrent
        bias_ih_l{k}[_reverse]    (G*H,)       each (H,) block     <- bias
        bias_hh_l{k}[_reverse]    (G*H,)       each (H,) block     <- bias

    Each block is drawn on its own, so with ``recurrent="orthogonal"`` every gate's
    H x H recurrent matrix is orthogonal, and ``"identity"`` makes each one
    ``recurrent_gain * I`` (the IRNN of Le et al. 2015 with ``mode="RNN_RELU"``).
    Fans are the block's: Glorot uses ``(H + I_k)``, not ``(G*H + I_k)``. (Keras instead
    draws its whole ``(H, G*H)`` recurrent kernel as one orthogonal matrix and its whole
    ``(I, G*H)`` kernel as one Glorot matrix.)

    For ``mode="LSTM"`` and ``forget_bias`` not None, the forget-gate block of every
    ``bias_ih`` is set to ``forget_bias`` and that of ``bias_hh`` to 0, so their sum --
    what the cell adds -- is ``forget_bias`` (Jozefowicz et al. 2015 recommend 1).

    Args:
        layer: object with ``named_parameters()`` (live, writeable arrays), ``mode``
            (``"RNN_TANH"``, ``"RNN_RELU"``, ``"LSTM"`` or ``"GRU"``) and ``hidden_size``.
        kernel, recurrent, bias: a name from :data:`INITIALIZERS`, a number (constant
            fill) or a callable ``f(block_shape, rng) -> array``.
        forget_bias: LSTM forget-gate bias (None leaves it to ``bias``).
        seed: int, Generator or None. Parameters are visited in ``named_parameters()``
            order and blocks in gate order, so a seed reproduces the same weights.
        kernel_gain, recurrent_gain: ``gain`` passed to kernel/recurrent initialisers
            that take one (Glorot, He, orthogonal, identity).
        strict: raise on a parameter whose name is not one of the four above; with
            False such parameters (e.g. peepholes) are left untouched.

    Returns:
        The names of the parameters that were initialised.

    Raises:
        TypeError: the layer lacks ``named_parameters``/``mode``/``hidden_size``, or a
            parameter is not a float array.
        ValueError: unknown ``mode`` or initialiser name, a parameter whose shape does not
            fit ``G * hidden_size``, or (strict) an unexpected parameter name.
    """
    for attr in ("named_parameters", "mode", "hidden_size"):
        if not hasattr(layer, attr):
            raise TypeError(f"layer must have named_parameters(), mode and hidden_size; "
                            f"{type(layer).__name__} has no {attr!r}")
    mode = layer.mode
    if mode not in GATES:
        raise ValueError(f"layer.mode must be one of {sorted(GATES)}, got {mode!r}")
    H = layer.hidden_size
    if not isinstance(H, (int, np.integer)) or H < 1:
        raise ValueError(f"layer.hidden_size must be an int >= 1, got {H!r}")
    G = len(GATES[mode])
    rng = _rng(seed)
    makers = {
        "weight_ih": _resolve(kernel, "kernel", kernel_gain, H),
        "weight_hh": _resolve(recurrent, "recurrent", recurrent_gain, H),
        "bias_ih": _resolve(bias, "bias", 1.0, H),
        "bias_hh": _resolve(bias, "bias", 1.0, H),
    }

    # check every parameter before writing any, so an error leaves the layer as it was
    todo: list[tuple[str, np.ndarray, str]] = []
    for name, p in layer.named_parameters():
        match = _PARAM_NAME.match(name)
        if match is None:
            if strict:
                raise ValueError(
                    f"parameter {name!r} is not weight_ih/weight_hh/bias_ih/bias_hh"
                    "_l<k>[_reverse]; pass strict=False to leave such parameters untouched"
                )
            continue
        if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
            what = type(p).__name__ if not isinstance(p, np.ndarray) else f"dtype {p.dtype}"
            raise TypeError(f"parameter {name!r} must be a float numpy array, got {what}")
        kind = match.group(1)
        if kind == "weight_hh":
            expected = f"({G * H}, {H})"
            ok = p.shape == (G * H, H)
        elif kind == "weight_ih":
            expected = f"({G * H}, input_size)"
            ok = p.ndim == 2 and p.shape[0] == G * H
        else:
            expected = f"({G * H},)"
            ok = p.shape == (G * H,)
        if not ok:
            raise ValueError(
                f"parameter {name!r} of a {mode} layer with hidden_size {H} must have shape "
                f"{expected}, got {p.shape}"
            )
        if not p.flags.writeable:
            raise ValueError(f"parameter {name!r} must be writeable (it is initialised in place)")
        todo.append((name, p, kind))

    done: list[str] = []
    for name, p, kind in todo:
        block_shape = (H,) + p.shape[1:]
        for gate in range(G):
            block = makers[kind](block_shape, rng)
            if block.shape != block_shape:
                raise ValueError(
                    f"{kind} initialiser returned shape {block.shape} for a block of {name!r}, "
                    f"expected {block_shape}"
                )
            p[gate * H:(gate + 1) * H] = block
        if mode == "LSTM" and forget_bias is not None and kind in ("bias_ih", "bias_hh"):
            f = GATES["LSTM"].index("f")
            p[f * H:(f + 1) * H] = forget_bias if kind == "bias_ih" else 0.0
        done.append(name)
    return done
