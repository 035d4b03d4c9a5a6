"""Typed wrappers over the C++ engine, with the same names and arguments as pyrnn.reference.

Each function makes its array arguments C-contiguous (so strided, transposed and
read-only inputs work) and calls ``pyrnn._core``, which checks shapes and dtypes,
releases the GIL and runs the kernel of the active SIMD target. Shapes, caches and
accumulation rules are documented in ``pyrnn.reference``.

Unlike the reference, the engine's backward overwrites the gates array in ``cache``
with gate gradients: one forward cache serves one backward.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from . import _core

Array = np.ndarray


def _c(a: Optional[Array]) -> Optional[Array]:
    """C-contiguous view or copy; None stays None (optional arguments such as biases)."""
    return None if a is None else np.ascontiguousarray(a)


def _req(a, name: str) -> Array:
    """A required array argument, C-contiguous; anything else is a TypeError naming it."""
    if not isinstance(a, (np.ndarray, np.generic)):
        raise TypeError(f"{name}: expected a numpy array, got {type(a).__name__}")
    return np.ascontiguousarray(a)


def _out(a, name: str) -> Optional[Array]:
    """A buffer the kernel writes into: must already be an array (None where optional)."""
    if a is not None and not isinstance(a, np.ndarray):
        raise TypeError(f"{name}: expected a writable numpy array, got {type(a).__name__}")
    return a


def _grads(dW_ih, dW_hh, db_ih, db_hh) -> tuple:
    return (_out(_need(dW_ih, "dW_ih"), "dW_ih"), _out(_need(dW_hh, "dW_hh"), "dW_hh"),
            _out(db_ih, "db_ih"), _out(db_hh, "db_hh"))


def _need(a, name: str):
    if a is None:
        raise TypeError(f"{name}: expected a writable numpy array, got None")
    return a


def _lengths(lengths) -> Optional[Array]:
    if lengths is None:
        return None
    arr = np.asarray(lengths)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"lengths: expected integers, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def rnn_forward(x: Array, h0: Array, W_ih: Array, W_hh: Array, b_ih: Optional[Array],
                b_hh: Optional[Array], lengths: Optional[Array] = None, reverse: bool = False,
                nonlinearity: str = "tanh", store_cache: bool = True
                ) -> Tuple[Array, Array, tuple]:
    """Elman RNN over a sequence: x (T, B, I), h0 (B, H) -> out (T, B, H), h_n (B, H), ()."""
    return _core.rnn_forward(_req(x, "x"), _req(h0, "h0"), _req(W_ih, "W_ih"),
                             _req(W_hh, "W_hh"), _c(b_ih), _c(b_hh),
                             _lengths(lengths), reverse, nonlinearity, store_cache)


def rnn_backward(dout: Array, dh_n: Array, x: Array, h0: Array, W_ih: Array, W_hh: Array,
                 out: Array, cache: tuple, dW_ih: Array, dW_hh: Array,
                 db_ih: Optional[Array], db_hh: Optional[Array],
                 lengths: Optional[Array] = None, reverse: bool = False,
                 nonlinearity: str = "tanh", dh_all: Optional[Array] = None
                 ) -> Tuple[Array, Array]:
    """BPTT for rnn_forward -> dx (T, B, I), dh0 (B, H); accumulates into dW_*, db_*.

    dh_all (T, B, H), if given, receives dL/dh_t for every step (zero at padded steps).
    """
    return _core.rnn_backward(_req(dout, "dout"), _req(dh_n, "dh_n"), _req(x, "x"),
                              _req(h0, "h0"), _req(W_ih, "W_ih"), _req(W_hh, "W_hh"),
                              _req(out, "out"), cache, *_grads(dW_ih, dW_hh, db_ih, db_hh),
                              _lengths(lengths), reverse, nonlinearity, _out(dh_all, "dh_all"))


def lstm_forward(x: Array, h0: Array, c0: Array, W_ih: Array, W_hh: Array,
                 b_ih: Optional[Array], b_hh: Optional[Array],
                 lengths: Optional[Array] = None, reverse: bool = False,
                 store_cache: bool = True) -> Tuple[Array, Array, Array, tuple]:
    """LSTM over a sequence -> out (T, B, H), h_n, c_n (B, H), cache (gates, c_all) or ()."""
    return _core.lstm_forward(_req(x, "x"), _req(h0, "h0"), _req(c0, "c0"), _req(W_ih, "W_ih"),
                              _req(W_hh, "W_hh"), _c(b_ih), _c(b_hh), _lengths(lengths), reverse,
                              store_cache)


def lstm_backward(dout: Array, dh_n: Array, dc_n: Array, x: Array, h0: Array, c0: Array,
                  W_ih: Array, W_hh: Array, out: Array, cache: tuple,
                  dW_ih: Array, dW_hh: Array, db_ih: Optional[Array], db_hh: Optional[Array],
                  lengths: Optional[Array] = None, reverse: bool = False,
                  dh_all: Optional[Array] = None) -> Tuple[Array, Array, Array]:
    """BPTT for lstm_forward -> dx (T, B, I), dh0, dc0 (B, H); accumulates into dW_*, db_*."""
    return _core.lstm_backward(_req(dout, "dout"), _req(dh_n, "dh_n"), _req(dc_n, "dc_n"),
                               _req(x, "x"), _req(h0, "h0"), _req(c0, "c0"), _req(W_ih, "W_ih"),
                               _req(W_hh, "W_hh"), _req(out, "out"), cache,
                               *_grads(dW_ih, dW_hh, db_ih, db_hh), _lengths(lengths), reverse,
                               _out(dh_all, "dh_all"))


def gru_forward(x: Array, h0: Array, W_ih: Array, W_hh: Array, b_ih: Optional[Array],
                b_hh: Optional[Array], lengths: Optional[Array] = None, reverse: bool = False,
                reset_after: bool = True, store_cache: bool = True
                ) -> Tuple[Array, Array, tuple]:
    """GRU over a sequence -> out (T, B, H), h_n (B, H), cache (gates,) or ()."""
    return _core.gru_forward(_req(x, "x"), _req(h0, "h0"), _req(W_ih, "W_ih"),
                             _req(W_hh, "W_hh"), _c(b_ih), _c(b_hh),
                             _lengths(lengths), reverse, reset_after, store_cache)


def gru_backward(dout: Array, dh_n: Array, x: Array, h0: Array, W_ih: Array, W_hh: Array,
                 out: Array, cache: tuple, dW_ih: Array, dW_hh: Array,
                 db_ih: Optional[Array], db_hh: Optional[Array],
                 lengths: Optional[Array] = None, reverse: bool = False,
                 reset_after: bool = True, dh_all: Optional[Array] = None
                 ) -> Tuple[Array, Array]:
    """BPTT for gru_forward -> dx (T, B, I), dh0 (B, H); accumulates into dW_*, db_*."""
    return _core.gru_backward(_req(dout, "dout"), _req(dh_n, "dh_n"), _req(x, "x"),
                              _req(h0, "h0"), _req(W_ih, "W_ih"), _req(W_hh, "W_hh"),
                              _req(out, "out"), cache, *_grads(dW_ih, dW_hh, db_ih, db_hh),
                              _lengths(lengths), reverse, reset_after, _out(dh_all, "dh_all"))


def gemm(transA: bool, transB: bool, A: Array, B: Array, beta: float = 0.0,
         C: Optional[Array] = None, alpha: float = 1.0) -> Array:
    """C = alpha op(A) op(B) + beta C with the engine's GEMM; C (M, N) is updated in place
    when given, else allocated. op(X) = X.T when trans, else X. A and B share a dtype.

    Dense and other per-time-step layers use this rather than NumPy's matmul so that one
    thread pool (the engine's, sized by set_num_threads) does all the work: on a busy
    2-core machine OpenBLAS's own threads fighting the engine's cost 20-60x.
    """
    if C is not None and not isinstance(C, np.ndarray):
        raise TypeError(f"C: expected a writable numpy array, got {type(C).__name__}")
    return _core.gemm(transA, transB, alpha, _req(A, "A"), _req(B, "B"), beta, C)
