"""Non-recurrent layers: Dense, Embedding, Dropout and LastStep, each a forward/backward pair
on whole (B, T, ...) arrays (no per-time-step Python), with the recurrent layers' API.

Every layer has ``params``/``grads`` dicts (PyTorch names: ``weight``, ``bias``),
``named_parameters()``, ``state_dict()``/``load_state_dict()``, ``zero_grad()``,
``train()``/``eval()``, ``forward(x, lengths=None)`` and ``backward(grad_output) -> grad_input``.
A training forward (outside ``pyrnn.no_grad()``) leaves a tape that serves one backward;
parameter gradients accumulate in ``grads`` until ``zero_grad()``.
"""
from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ._params import Parameters
from .. import functional
from .. import init as _init
from .recurrent import BackwardError, is_grad_enabled

Array = np.ndarray


def _gemm(transA: bool, transB: bool, A: Array, B: Array, beta: float = 0.0,
          C: Optional[Array] = None) -> Array:
    """C = op(A) op(B) + beta C with the engine's GEMM (C updated in place when given).

    Why not NumPy's BLAS: its own thread pool fights the engine's. Measured on the 2-core
    box under load, Dense backward at (3200, 128) x (3200, 96): OpenBLAS (2 threads)
    110-140 ms, engine gemm 5 ms; idle, both about 2 ms.
    """
    return functional.gemm(transA, transB, A, B, beta, C)

ACTIVATIONS = (None, "tanh", "relu", "sigmoid", "softmax")
_MAX_SIZE = 2 ** 20  # the model format's bound on every size


def _check_size(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int in 1..{_MAX_SIZE}, got "
                        f"{type(value).__name__} {value!r}")
    if not 1 <= value <= _MAX_SIZE:
        raise ValueError(f"{name}: expected an int in 1..{_MAX_SIZE}, got {value}")
    return int(value)


def _check_dtype(dtype: Any) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype: expected 'float32' or 'float64', got {dtype!r}")
    return dt


def _check_name(name: Optional[str]) -> Optional[str]:
    if name is None:
        return None
    if not isinstance(name, str) or not name or "." in name:
        raise ValueError(f"name: expected a non-empty str without '.', got {name!r}")
    return name


def _float_input(x: Any, name: str, dtype: np.dtype, features: Optional[int] = None,
                 what: str = "features") -> Array:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray, got {type(x).__name__}")
    if x.dtype != dtype:
        raise TypeError(f"{name}: expected dtype {dtype} (the layer's dtype), got {x.dtype}")
    if x.ndim < 1:
        raise ValueError(f"{name}: expected an array (..., {what}), got a 0-d array")
    if features is not None and x.shape[-1] != features:
        raise ValueError(f"{name}: expected {features} {what} in the last axis, got shape "
                         f"{tuple(x.shape)}")
    return x


class Layer(Parameters):
    """Base class of the non-recurrent layers: parameters, gradients, modes, the tape."""

    def __init__(self, name: Optional[str] = None, dtype: Any = "float32") -> None:
        self.name = _check_name(name)
        self.dtype = _check_dtype(dtype)
        self.training = True
        self.params: Dict[str, Array] = {}
        self.grads: Dict[str, Array] = {}
        self._tape: Optional[dict] = None

    # ---- parameters -------------------------------------------------------------------

    def _add_param(self, name: str, value: Array) -> None:
        self.params[name] = np.ascontiguousarray(value, dtype=self.dtype)
        self.grads[name] = np.zeros_like(self.params[name])

    # ---- shape inference and serialisation ----------------------------------------------

    def output_features(self, input_features: Optional[int]) -> Optional[int]:
        """Size of the last output axis given that of the input (None: unknown)."""
        return input_features

    def get_config(self) -> Dict[str, Any]:
        """The layer's entry in the model file's architecture, without type and name."""
        return {}

    # ---- forward / backward -------------------------------------------------------------

    def forward(self, x: Any, lengths: Optional[Sequence[int]] = None) -> Array:
        raise NotImplementedError

    def __call__(self, x: Any, lengths: Optional[Sequence[int]] = None) -> Array:
        return self.forward(x, lengths)

    def backward(self, grad_output: Array) -> Optional[Array]:
        raise NotImplementedError

    def _take_tape(self) -> dict:
        if self._tape is None:
            raise BackwardError(f"{type(self).__name__}.backward: no forward to differentiate; "
                                "call forward() first (outside no_grad()), once per backward")
        tape, self._tape = self._tape, None
        return tape

    def _check_grad(self, grad_output: Any, shape: Tuple[int, ...]) -> Array:
        if not isinstance(grad_output, np.ndarray):
            raise TypeError(f"grad_output: expected a numpy.ndarray, got "
                            f"{type(grad_output).__name__}")
        if grad_output.shape != shape:
            raise ValueError(f"grad_output: expected the forward output's shape {shape}, got "
                             f"{tuple(grad_output.shape)}")
        return grad_output.astype(self.dtype, copy=False)

    def __repr__(self) -> str:
        cfg = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({cfg})"


# ------------------------------------------------------------------------------- Dense


def _sigmoid(z: Array) -> Array:
    # 0.5 (1 + tanh(z/2)) never overflows, unlike 1 / (1 + exp(-z)) for z << 0
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _softmax(z: Array) -> Array:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class Dense(Layer):
    """Affine map ``y = act(x W^T + b)`` on the last axis, at every time step at once.

    ``Dense(in_features, out_features, bias=True, activation=None, dtype='float32', *,
    name=None, seed=None, init='pytorch')``. x: (..., in_features), e.g. (B, T, I) or
    (B, I) -> y: (..., out_features). ``activation``: None, 'tanh', 'relu', 'sigmoid' or
    'softmax' (over the last axis). Parameters ``weight`` (out, in), ``bias`` (out,),
    torch.nn.Linear's names and layout. ``init='pytorch'`` draws both from
    U(-1/sqrt(in), 1/sqrt(in)) like torch.nn.Linear; any name of ``pyrnn.init.INITIALIZERS``
    (e.g. 'glorot_uniform', Keras' default) initialises the weight with it and zeroes the bias.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 activation: Optional[str] = None, dtype: Any = "float32", *,
                 name: Optional[str] = None, seed: Any = None, init: str = "pytorch") -> None:
        super().__init__(name, dtype)
        self.in_features = _check_size("in_features", in_features)
        self.out_features = _check_size("out_features", out_features)
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"bias: expected a bool, got {type(bias).__name__} {bias!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation: expected one of {ACTIVATIONS}, got {activation!r}")
        self.bias = bool(bias)
        self.activation = activation
        rng = np.random.default_rng(seed)
        shape = (self.out_features, self.in_features)
        if init == "pytorch":
            k = 1.0 / np.sqrt(self.in_features)
            self._add_param("weight", rng.uniform(-k, k, shape))
            if self.bias:
                self._add_param("bias", rng.uniform(-k, k, (self.out_features,)))
        elif init in _init.INITIALIZERS and init != "pytorch_default":
            self._add_param("weight", _init.INITIALIZERS[init](shape, rng, dtype=np.float64))
            if self.bias:
                self._add_param("bias", np.zeros(self.out_features))
        else:
            raise ValueError(f"init: expected 'pytorch' or one of "
                             f"{sorted(k for k in _init.INITIALIZERS if k != 'pytorch_default')}, "
                             f"got {init!r}")

    def output_features(self, input_features: Optional[int]) -> Optional[int]:
        return self.out_features

    def get_config(self) -> Dict[str, Any]:
        return {"in_features": self.in_features, "out_features": self.out_features,
                "bias": self.bias, "activation": self.activation}

    def forward(self, x: Any, lengths: Optional[Sequence[int]] = None) -> Array:
        """x (..., in_features) -> (..., out_features). ``lengths`` is ignored (per-step map)."""
        x = _float_input(x, "input", self.dtype, self.in_features, "in_features")
        x2 = np.ascontiguousarray(x.reshape(-1, self.in_features))
        z = _gemm(False, True, x2, self.params["weight"])
        if self.bias:
            z += self.params["bias"]
        act = self.activation
        if act is None:
            y = z
        elif act == "tanh":
            y = np.tanh(z, out=z)
        elif act == "relu":
            y = np.maximum(z, 0, out=z)
        elif act == "sigmoid":
            y = _sigmoid(z)
        else:
            y = _softmax(z)
        y = y.reshape(x.shape[:-1] + (self.out_features,))
        self._tape = {"x2": x2, "y": y, "in_shape": x.shape} if is_grad_enabled() else None
        return y

    def backward(self, grad_output: Array) -> Array:
        """dL/dy (..., out) -> dL/dx (..., in); adds dL/dweight, dL/dbias into ``grads``."""
        tape = self._take_tape()
        y = tape["y"]
        dy = self._check_grad(grad_output, y.shape).reshape(-1, self.out_features)
        y2 = y.reshape(-1, self.out_features)
        act = self.activation
        # dz from dy, inverting y = act(z)
        if act is None:
            dz = dy
        elif act == "tanh":
            dz = dy * (1.0 - y2 * y2)
        elif act == "relu":
            dz = dy * (y2 > 0)
        elif act == "sigmoid":
            dz = dy * y2 * (1.0 - y2)
        else:  # softmax Jacobian-vector product: y * (dy - <dy, y>)
            dz = y2 * (dy - np.sum(dy * y2, axis=-1, keepdims=True))
        dz = np.ascontiguousarray(dz, dtype=self.dtype)
        # z = x W^T + b
        _gemm(True, False, dz, tape["x2"], 1.0, self.grads["weight"])
        if self.bias:
            self.grads["bias"] += dz.sum(axis=0)
        dx = _gemm(False, False, dz, self.params["weight"])
        return dx.reshape(tape["in_shape"])


# --------------------------------------------------------------------------- Embedding


class Embedding(Layer):
    """Lookup table: integer ids (...) -> vectors (..., embedding_dim), like torch.nn.Embedding.

    ``Embedding(num_embeddings, embedding_dim, dtype='float32', *, name=None, seed=None,
    init='normal')``. Parameter ``weight`` (num_embeddings, embedding_dim), drawn from
    N(0, 1) as PyTorch does (``init='uniform'``: U(-0.05, 0.05), Keras' default).
    backward scatters dL/dy into the rows of ``grads['weight']`` that were looked up and
    returns None (ids have no gradient).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, dtype: Any = "float32", *,
                 name: Optional[str] = None, seed: Any = None, init: str = "normal") -> None:
        super().__init__(name, dtype)
        self.num_embeddings = _check_size("num_embeddings", num_embeddings)
        self.embedding_dim = _check_size("embedding_dim", embedding_dim)
        rng = np.random.default_rng(seed)
        shape = (self.num_embeddings, self.embedding_dim)
        if init == "normal":
            w = rng.standard_normal(shape)
        elif init == "uniform":
            w = rng.uniform(-0.05, 0.05, shape)
        else:
            raise ValueError(f"init: expected 'normal' or 'uniform', got {init!r}")
        self._add_param("weight", w)

    def output_features(self, input_features: Optional[int]) -> Optional[int]:
        return self.embedding_dim

    def get_config(self) -> Dict[str, Any]:
        return {"num_embeddings": self.num_embeddings, "embedding_dim": self.embedding_dim}

    def _check_ids(self, ids: Any) -> Array:
        if not isinstance(ids, np.ndarray):
            ids = np.asarray(ids)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"input: expected an integer array of ids, got dtype {ids.dtype}")
        if ids.size:
            lo, hi = ids.min(), ids.max()
            if lo < 0 or hi >= self.num_embeddings:
                bad = lo if lo < 0 else hi
                raise ValueError(f"input: expected ids in [0, {self.num_embeddings}), got {bad}")
        return ids

    def forward(self, x: Any, lengths: Optional[Sequence[int]] = None) -> Array:
        """ids (...) -> (..., embedding_dim). ``lengths`` is ignored (per-step map)."""
        ids = self._check_ids(x)
        y = self.params["weight"][ids]  # fancy indexing copies: y never aliases weight
        self._tape = {"ids": ids} if is_grad_enabled() else None
        return y

    def backward(self, grad_output: Array) -> None:
        """Add dL/dy into the looked-up rows of ``grads['weight']``; returns None."""
        ids = self._take_tape()["ids"]
        dy = self._check_grad(grad_output, ids.shape + (self.embedding_dim,))
        np.add.at(self.grads["weight"], ids.reshape(-1), dy.reshape(-1, self.embedding_dim))
        return None


# ----------------------------------------------------------------------------- Dropout


class Dropout(Layer):
    """Inverted dropout: in training, zero each element with probability p and scale the
    rest by 1/(1-p); the identity in eval mode. Any shape.

    ``Dropout(p=0.5, *, name=None, seed=None)``. The mask comes from the layer's own
    ``numpy.random.Generator`` (``rng``), whose state checkpoints save so that a resumed
    run draws the same masks.
    """

    def __init__(self, p: float = 0.5, *, name: Optional[str] = None, seed: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(name, "float32" if dtype is None else dtype)
        self._any_dtype = dtype is None  # Dropout has no parameters: any float dtype works
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) \
                or not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"p: expected a float in [0, 1], got {p!r}")
        self.p = float(p)
        self.rng = np.random.default_rng(seed)

    def get_config(self) -> Dict[str, Any]:
        return {"p": self.p}

    def forward(self, x: Any, lengths: Optional[Sequence[int]] = None) -> Array:
        """x (any shape, float) -> same shape. ``lengths`` is ignored."""
        if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
            got = f"dtype {x.dtype}" if isinstance(x, np.ndarray) else type(x).__name__
            raise TypeError(f"input: expected a float numpy.ndarray, got {got}")
        if not self._any_dtype and x.dtype != self.dtype:
            raise TypeError(f"input: expected dtype {self.dtype}, got {x.dtype}")
        mask = None
        if self.training and self.p > 0:
            if self.p >= 1:
                mask = np.zeros(x.shape, x.dtype)
            else:
                keep = self.rng.random(x.shape, dtype=x.dtype) >= self.p  # f32 draws: 30% faster
                mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.p))
        y = x if mask is None else x * mask
        self._tape = {"mask": mask, "shape": x.shape, "dtype": x.dtype} \
            if is_grad_enabled() else None
        return y

    def backward(self, grad_output: Array) -> Array:
        """dL/dy -> dL/dx = dL/dy * mask."""
        tape = self._take_tape()
        if not isinstance(grad_output, np.ndarray) or grad_output.shape != tape["shape"]:
            got = tuple(grad_output.shape) if isinstance(grad_output, np.ndarray) \
                else type(grad_output).__name__
            raise ValueError(f"grad_output: expected the forward output's shape "
                             f"{tape['shape']}, got {got}")
        dy = grad_output.astype(tape["dtype"], copy=False)
        return dy if tape["mask"] is None else dy * tape["mask"]


# ---------------------------------------------------------------------------- LastStep


class LastStep(Layer):
    """Many-to-one: the output at each sequence's last valid step.

    ``LastStep(batch_first=None, *, name=None)``. x: (B, T, F) if batch_first else
    (T, B, F) -> (B, F), taking step ``lengths[b] - 1`` of row b (step T - 1 without
    lengths). Inside ``Sequential`` batch_first is the model's. With a bidirectional
    layer before it, the reverse half of that step has seen only the last element (as
    with PyTorch's ``out[-1]``); use the layer's ``h_n`` if you need the reverse summary.
    """

    def __init__(self, batch_first: Optional[bool] = None, *, name: Optional[str] = None) -> None:
        super().__init__(name, "float32")
        if batch_first is not None and not isinstance(batch_first, (bool, np.bool_)):
            raise TypeError(f"batch_first: expected a bool or None, got "
                            f"{type(batch_first).__name__} {batch_first!r}")
        self.batch_first = None if batch_first is None else bool(batch_first)

    def _index(self, x: Any, lengths: Optional[Sequence[int]]) -> Tuple[Array, Array]:
        if self.batch_first is None:
            raise ValueError("batch_first: LastStep needs to know the time axis; pass "
                             "LastStep(batch_first=...) or use it inside Sequential")
        if not isinstance(x, np.ndarray) or x.ndim != 3:
            got = f"shape {tuple(x.shape)}" if isinstance(x, np.ndarray) else type(x).__name__
            layout = "(B, T, F)" if self.batch_first else "(T, B, F)"
            raise ValueError(f"input: expected a 3-D sequence {layout}, got {got}")
        B, T = (x.shape[0], x.shape[1]) if self.batch_first else (x.shape[1], x.shape[0])
        if lengths is None:
            return np.arange(B), np.full(B, T - 1)
        lens = np.asarray(lengths)
        if lens.dtype.kind not in "iu":
            raise TypeError(f"lengths: expected B={B} ints, got dtype {lens.dtype}")
        if lens.shape != (B,):
            raise ValueError(f"lengths: expected B={B} ints, got shape {lens.shape}")
        if lens.min() < 1 or lens.max() > T:
            raise ValueError(f"lengths: expected every length in 1..T=1..{T}, got "
                             f"{int(lens.min()) if lens.min() < 1 else int(lens.max())}")
        return np.arange(B), lens.astype(np.int64) - 1

    def forward(self, x: Any, lengths: Optional[Sequence[int]] = None) -> Array:
        """(B, T, F) or (T, B, F) -> (B, F) at each row's last valid step."""
        rows, steps = self._index(x, lengths)
        y = x[rows, steps] if self.batch_first else x[steps, rows]
        self._tape = {"rows": rows, "steps": steps, "shape": x.shape, "dtype": x.dtype} \
            if is_grad_enabled() else None
        return y

    def backward(self, grad_output: Array) -> Array:
        """dL/dy (B, F) -> dL/dx, zero except at each row's last valid step."""
        tape = self._take_tape()
        shape, rows, steps = tape["shape"], tape["rows"], tape["steps"]
        expected = (len(rows), shape[2])
        if not isinstance(grad_output, np.ndarray) or grad_output.shape != expected:
            got = tuple(grad_output.shape) if isinstance(grad_output, np.ndarray) \
                else type(grad_output).__name__
            raise ValueError(f"grad_output: expected shape (B, F) = {expected}, got {got}")
        dx = np.zeros(shape, tape["dtype"])
        if self.batch_first:
            dx[rows, steps] = grad_output
        else:
            dx[steps, rows] = grad_output
        return dx
