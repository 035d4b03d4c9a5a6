"""Recurrent layers RNN, LSTM and GRU with torch.nn's signatures, names, shapes and gate orders.

A layer runs one kernel call per (layer, direction) for the whole sequence; stacking,
bidirectional concatenation, dropout between layers, batch_first and unbatched inputs
are handled here, in NumPy, outside any time loop. ``backward`` does full BPTT from the
tape the last training forward left, returns gradients for the input and the initial
states, and accumulates parameter gradients into ``grads`` until ``zero_grad()``.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from ._params import Parameters
from .. import functional, reference

Array = np.ndarray
State = Union[Array, Tuple[Optional[Array], Optional[Array]], None]

_MODES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}
_grad_state = threading.local()


class BackwardError(RuntimeError, ValueError):
    """backward() without a matching training forward (none yet, or already consumed)."""


def is_grad_enabled() -> bool:
    return getattr(_grad_state, "enabled", True)


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Inside this block, forward keeps no cache for backward (faster, less memory)."""
    previous = is_grad_enabled()
    _grad_state.enabled = False
    try:
        yield
    finally:
        _grad_state.enabled = previous


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")
    return int(value)


def _check_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype: expected 'float32' or 'float64', got {dtype!r}")
    return dt


def _shape(a: Array) -> str:
    return str(tuple(a.shape))


class RecurrentLayer(Parameters):
    """Shared machinery of RNN, LSTM and GRU (see their docstrings for the API)."""

    mode: str

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, dtype="float32", *, seed: Optional[int] = None,
                 backend: str = "engine", reset_after: bool = True,
                 nonlinearity: str = "tanh") -> None:
        self.mode = mode
        self.input_size = _check_int("input_size", input_size, 1)
        self.hidden_size = _check_int("hidden_size", hidden_size, 1)
        self.num_layers = _check_int("num_layers", num_layers, 1)
        for name, flag in (("bias", bias), ("batch_first", batch_first),
                           ("bidirectional", bidirectional), ("reset_after", reset_after)):
            if not isinstance(flag, (bool, np.bool_)):
                raise TypeError(f"{name}: expected a bool, got {type(flag).__name__} {flag!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float, np.floating)) \
                or not 0.0 <= float(dropout) <= 1.0:
            raise ValueError(f"dropout: expected a float in [0, 1], got {dropout!r}")
        if backend not in ("engine", "reference"):
            raise ValueError(f"backend: expected 'engine' or 'reference', got {backend!r}")
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.reset_after = bool(reset_after)
        self.nonlinearity = nonlinearity
        self.dtype = _check_dtype(dtype)
        self.backend = backend
        self.training = True
        # Diagnostics: with record_hidden_grads, backward leaves in hidden_grad_norms
        # (num_layers * num_directions, T) the batch mean of ||dL/dh_t|| at every step.
        self.record_hidden_grads = False
        self.hidden_grad_norms: Optional[Array] = None
        self._kernels = functional if backend == "engine" else reference
        self._rng = np.random.default_rng(seed)
        self._tape: Optional[dict] = None
        G, H = _MODES[mode], self.hidden_size
        self._gates = G
        self.params: Dict[str, Array] = {}
        k = 1.0 / np.sqrt(H)  # torch.nn's default: U(-1/sqrt(H), 1/sqrt(H)) for every tensor
        for layer in range(self.num_layers):
            in_size = self.input_size if layer == 0 else H * self.num_directions
            for sfx in self._suffixes():
                shapes = [(f"weight_ih_l{layer}{sfx}", (G * H, in_size)),
                          (f"weight_hh_l{layer}{sfx}", (G * H, H))]
                if self.bias:
                    shapes += [(f"bias_ih_l{layer}{sfx}", (G * H,)),
                               (f"bias_hh_l{layer}{sfx}", (G * H,))]
                for name, shape in shapes:
                    self.params[name] = self._rng.uniform(-k, k, shape).astype(self.dtype)
        self.grads: Dict[str, Array] = {n: np.zeros_like(p) for n, p in self.params.items()}

    # ---- parameters -------------------------------------------------------------------

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _suffixes(self) -> List[str]:
        return ["", "_reverse"] if self.bidirectional else [""]

    def stream(self, batch_size: int = 1):
        """A :class:`~pyrnn.layers.streaming.Stream` stepping this layer one time step at a
        time with carried state (inference; weights packed once, nothing allocated per step)."""
        from .streaming import Stream
        return Stream(self, batch_size)

    def __repr__(self) -> str:
        extra = ""
        if self.num_layers != 1:
            extra += f", num_layers={self.num_layers}"
        if not self.bias:
            extra += ", bias=False"
        if self.batch_first:
            extra += ", batch_first=True"
        if self.dropout:
            extra += f", dropout={self.dropout}"
        if self.bidirectional:
            extra += ", bidirectional=True"
        if self.dtype != np.float32:
            extra += f", dtype='{self.dtype}'"
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size}{extra})"

    # ---- argument checks ----------------------------------------------------------------

    def _time_major(self, x, name: str, features: int, what: str) -> Tuple[Array, bool]:
        """x in the user's layout -> (T, B, features) and whether it was unbatched."""
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{name}: expected a numpy.ndarray, got {type(x).__name__}"
                            + (" (use tensor.numpy())" if hasattr(x, "numpy") else ""))
        if x.dtype != self.dtype:
            raise TypeError(f"{name}: expected dtype {self.dtype} (the layer's dtype), got "
                            f"{x.dtype}")
        layout = "(B, T, {0})" if self.batch_first else "(T, B, {0})"
        if x.ndim not in (2, 3):
            raise ValueError(f"{name}: expected a 3-D array {layout.format(what)} or 2-D "
                             f"(T, {what}), got shape {_shape(x)}")
        if x.shape[-1] != features:
            raise ValueError(f"{name}: expected {features} features in the last axis "
                             f"({what}), got shape {_shape(x)}")
        if x.ndim == 2:
            if x.shape[0] < 1:
                raise ValueError(f"{name}: expected at least one step, got shape {_shape(x)}")
            return x[:, None, :], True
        if self.batch_first:
            x = x.transpose(1, 0, 2)
        if x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(f"{name}: expected at least one step and one sequence, got shape "
                             f"{_shape(x)}")
        return x, False

    def _state(self, s, name: str, B: int, unbatched: bool) -> Array:
        LD, H = self.num_layers * self.num_directions, self.hidden_size
        if s is None:
            return np.zeros((LD, B, H), self.dtype)
        if not isinstance(s, np.ndarray):
            raise TypeError(f"{name}: expected a numpy.ndarray or None, got {type(s).__name__}")
        if s.dtype != self.dtype:
            raise TypeError(f"{name}: expected dtype {self.dtype}, got {s.dtype}")
        expected = (LD, H) if unbatched else (LD, B, H)
        if s.shape != expected:
            raise ValueError(f"{name}: expected shape (num_layers*num_directions, "
                             f"{'' if unbatched else 'B, '}H) = {expected}, got {_shape(s)}")
        return s[:, None, :] if unbatched else s

    def _lengths(self, lengths, T: int, B: int) -> Optional[Array]:
        if lengths is None:
            return None
        arr = np.asarray(lengths)
        if arr.dtype.kind not in "iu" or arr.ndim != 1:
            raise TypeError(f"lengths: expected a 1-D sequence of B={B} ints, got "
                            f"{'dtype ' + str(arr.dtype) if arr.ndim == 1 else 'shape ' + _shape(arr)}")
        if arr.shape[0] != B:
            raise ValueError(f"lengths: expected B={B} lengths, got {arr.shape[0]}")
        bad = np.flatnonzero((arr < 1) | (arr > T))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"lengths: expected every length in 1..T=1..{T}, got {int(arr[i])} "
                             f"at index {i}")
        return arr.astype(np.int64)

    def _split_hx(self, hx) -> Tuple[object, object]:
        if self.mode != "LSTM":
            return hx, None
        if hx is None:
            return None, None
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"hx: expected a tuple (h0, c0) or None, got {type(hx).__name__}")
        return hx[0], hx[1]

    # ---- forward / backward -----------------------------------------------------------

    def _cell_forward(self, x, h0, c0, layer: int, sfx: str, lengths, reverse, store):
        p = self.params
        W_ih, W_hh = p[f"weight_ih_l{layer}{sfx}"], p[f"weight_hh_l{layer}{sfx}"]
        b_ih, b_hh = p.get(f"bias_ih_l{layer}{sfx}"), p.get(f"bias_hh_l{layer}{sfx}")
        k = self._kernels
        if self.mode == "LSTM":
            return k.lstm_forward(x, h0, c0, W_ih, W_hh, b_ih, b_hh, lengths, reverse, store)
        if self.mode == "GRU":
            out, h, cache = k.gru_forward(x, h0, W_ih, W_hh, b_ih, b_hh, lengths, reverse,
                                          self.reset_after, store)
        else:
            out, h, cache = k.rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh, lengths, reverse,
                                          self.nonlinearity, store)
        return out, h, None, cache

    def _cell_backward(self, dout, dh, dc, x, h0, c0, out, cache, layer, sfx, lengths, reverse,
                       dh_all=None):
        p, g = self.params, self.grads
        names = [f"weight_ih_l{layer}{sfx}", f"weight_hh_l{layer}{sfx}",
                 f"bias_ih_l{layer}{sfx}", f"bias_hh_l{layer}{sfx}"]
        W_ih, W_hh = p[names[0]], p[names[1]]
        dW_ih, dW_hh, db_ih, db_hh = g[names[0]], g[names[1]], g.get(names[2]), g.get(names[3])
        k = self._kernels
        if self.mode == "LSTM":
            return k.lstm_backward(dout, dh, dc, x, h0, c0, W_ih, W_hh, out, cache, dW_ih, dW_hh,
                                   db_ih, db_hh, lengths, reverse, dh_all=dh_all)
        if self.mode == "GRU":
            dx, dh0 = k.gru_backward(dout, dh, x, h0, W_ih, W_hh, out, cache, dW_ih, dW_hh,
                                     db_ih, db_hh, lengths, reverse, self.reset_after,
                                     dh_all=dh_all)
        else:
            dx, dh0 = k.rnn_backward(dout, dh, x, h0, W_ih, W_hh, out, cache, dW_ih, dW_hh,
                                     db_ih, db_hh, lengths, reverse, self.nonlinearity,
                                     dh_all=dh_all)
        return dx, dh0, None

    def forward(self, input: Array, hx: State = None, lengths: Optional[Sequence[int]] = None):
        """Run the layer over whole sequences.

        input: (T, B, input_size), or (B, T, input_size) with batch_first, or unbatched
        (T, input_size). hx: initial state(s) (num_layers * num_directions, B, H) or None
        for zeros; for LSTM a tuple (h0, c0). lengths: B valid lengths (packed-sequence
        meaning: outputs past a row's length are zero, h_n is taken at its last valid step).

        Returns output (T, B, D*H) in the input's layout and h_n (L*D, B, H); LSTM returns
        (output, (h_n, c_n)).
        """
        x, unbatched = self._time_major(input, "input", self.input_size, "input_size")
        T, B, _ = x.shape
        h0_arg, c0_arg = self._split_hx(hx)
        h0 = self._state(h0_arg, "h0" if self.mode == "LSTM" else "hx", B, unbatched)
        c0 = self._state(c0_arg, "c0", B, unbatched) if self.mode == "LSTM" else None
        if lengths is not None and unbatched:
            raise ValueError("lengths: not supported for unbatched (2-D) input; add a batch axis")
        lens = self._lengths(lengths, T, B)
        store = is_grad_enabled()
        D, H = self.num_directions, self.hidden_size
        h_n = np.empty((self.num_layers * D, B, H), self.dtype)
        c_n = np.empty_like(h_n) if self.mode == "LSTM" else None
        tape: List[dict] = []
        layer_in = np.ascontiguousarray(x)
        for layer in range(self.num_layers):
            entry = {"x": layer_in, "mask": None, "dirs": []}
            outs = []
            for d, sfx in enumerate(self._suffixes()):
                i = layer * D + d
                hi = np.ascontiguousarray(h0[i])
                ci = np.ascontiguousarray(c0[i]) if c0 is not None else None
                out, h, c, cache = self._cell_forward(layer_in, hi, ci, layer, sfx, lens, d == 1,
                                                      store)
                h_n[i] = h
                if c_n is not None:
                    c_n[i] = c
                outs.append(out)
                entry["dirs"].append((hi, ci, out, cache))
            layer_out = outs[0] if D == 1 else np.concatenate(outs, axis=2)
            if self.training and self.dropout > 0 and layer < self.num_layers - 1:
                # inverted dropout between layers, as torch.nn does
                keep = self._rng.random(layer_out.shape) >= self.dropout
                mask = (keep / (1.0 - self.dropout)).astype(self.dtype) if self.dropout < 1 \
                    else np.zeros(layer_out.shape, self.dtype)
                layer_out = layer_out * mask
                entry["next_mask"] = mask
            tape.append(entry)
            layer_in = layer_out
        self._tape = {"layers": tape, "T": T, "B": B, "unbatched": unbatched, "lengths": lens} \
            if store else None
        out = layer_in
        if unbatched:
            out, h_n = out[:, 0], h_n[:, 0]
            c_n = c_n[:, 0] if c_n is not None else None
        elif self.batch_first:
            out = np.ascontiguousarray(out.transpose(1, 0, 2))
        return (out, (h_n, c_n)) if self.mode == "LSTM" else (out, h_n)

    __call__ = forward

    def backward(self, grad_output: Optional[Array], grad_state: State = None):
        """BPTT through the last training forward.

        grad_output: dL/d(output), shaped like the forward's output (or None for zeros).
        grad_state: dL/d(h_n) like h_n (LSTM: a tuple (dh_n, dc_n)); None or None parts are
        zeros. Returns dx shaped like the input, and dL/d(hx) shaped like hx (LSTM: a
        tuple). Parameter gradients are added into ``self.grads``. A forward's tape serves
        one backward.
        """
        if self._tape is None:
            raise BackwardError("backward: no forward to differentiate; call forward() first "
                                "(outside no_grad()), once per backward")
        tape = self._tape
        T, B, unbatched, lens = tape["T"], tape["B"], tape["unbatched"], tape["lengths"]
        D, H = self.num_directions, self.hidden_size
        if grad_output is None:
            dy = np.zeros((T, B, D * H), self.dtype)
        else:
            dy, _ = self._time_major(grad_output, "grad_output", D * H, "D*H")
            if dy.shape[:2] != (T, B):
                raise ValueError(f"grad_output: expected the forward output's shape, got "
                                 f"{_shape(grad_output)} for T={T}, B={B}")
        dh_arg, dc_arg = self._split_hx(grad_state)
        name = "grad_state[0]" if self.mode == "LSTM" else "grad_state"
        dh_n = self._state(dh_arg, name, B, unbatched)
        dc_n = self._state(dc_arg, "grad_state[1]", B, unbatched) if self.mode == "LSTM" else None
        self._tape = None  # arguments are valid: this backward consumes the tape
        dh0 = np.empty((self.num_layers * D, B, H), self.dtype)
        dc0 = np.empty_like(dh0) if self.mode == "LSTM" else None
        record = self.record_hidden_grads
        norms = np.zeros((self.num_layers * D, T)) if record else None
        dh_all = np.empty((T, B, H), self.dtype) if record else None
        if record:  # rows that are active at each step, for the batch mean
            active = np.ones((T, B), bool) if lens is None else np.arange(T)[:, None] < lens
            counts = np.maximum(active.sum(1), 1)
        for layer in reversed(range(self.num_layers)):
            entry = tape["layers"][layer]
            if "next_mask" in entry:
                dy = dy * entry["next_mask"]
            dx = None
            for d, sfx in enumerate(self._suffixes()):
                i = layer * D + d
                hi, ci, out, cache = entry["dirs"][d]
                dout = dy[:, :, d * H:(d + 1) * H] if D > 1 else dy
                dci = dc_n[i] if dc_n is not None else None
                dxd, dhi, dci0 = self._cell_backward(dout, dh_n[i], dci, entry["x"], hi, ci, out,
                                                     cache, layer, sfx, lens, d == 1, dh_all)
                if record:
                    norms[i] = np.linalg.norm(dh_all, axis=2).sum(1) / counts
                dh0[i] = dhi
                if dc0 is not None:
                    dc0[i] = dci0
                dx = dxd if dx is None else dx + dxd
            dy = dx
        if record:
            self.hidden_grad_norms = norms
        if unbatched:
            dy, dh0 = dy[:, 0], dh0[:, 0]
            dc0 = dc0[:, 0] if dc0 is not None else None
        elif self.batch_first:
            dy = np.ascontiguousarray(dy.transpose(1, 0, 2))
        return (dy, (dh0, dc0)) if self.mode == "LSTM" else (dy, dh0)


class RNN(RecurrentLayer):
    """Elman RNN, like torch.nn.RNN: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh).

    ``RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
    batch_first=False, dropout=0.0, bidirectional=False, dtype='float32', *, seed=None,
    backend='engine')``. ``out, h_n = rnn(x, h0=None, lengths=None)``; shapes as torch's.
    Parameters ``weight_ih_l{k}`` (H, I), ``weight_hh_l{k}`` (H, H), ``bias_*`` (H,).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, dtype="float32", *,
                 seed: Optional[int] = None, backend: str = "engine") -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         dtype, seed=seed, backend=backend, nonlinearity=nonlinearity)


class LSTM(RecurrentLayer):
    """LSTM, like torch.nn.LSTM (gate order i, f, g, o).

    ``LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
    dropout=0.0, bidirectional=False, dtype='float32', *, seed=None, backend='engine')``.
    ``out, (h_n, c_n) = lstm(x, (h0, c0)=None, lengths=None)``;
    ``dx, (dh0, dc0) = lstm.backward(dout, (dh_n, dc_n))``.
    Parameters ``weight_ih_l{k}`` (4H, I), ``weight_hh_l{k}`` (4H, H), ``bias_*`` (4H,).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, dtype="float32", *, seed: Optional[int] = None,
                 backend: str = "engine") -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, dtype, seed=seed, backend=backend)


class GRU(RecurrentLayer):
    """GRU, like torch.nn.GRU (gate order r, z, n).

    ``reset_after=True`` is PyTorch's/cuDNN's form n = tanh(W_in x + b_in + r*(W_hn h + b_hn));
    ``reset_after=False`` is Cho et al. 2014's n = tanh(W_in x + b_in + W_hn (r*h) + b_hn).
    ``out, h_n = gru(x, h0=None, lengths=None)``. Parameters ``weight_ih_l{k}`` (3H, I),
    ``weight_hh_l{k}`` (3H, H), ``bias_*`` (3H,).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, dtype="float32", *, reset_after: bool = True,
                 seed: Optional[int] = None, backend: str = "engine") -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, dtype, seed=seed, backend=backend,
                         reset_after=reset_after)
