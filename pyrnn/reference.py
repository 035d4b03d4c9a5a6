"""NumPy mirror of csrc/kernels, function for function: the oracle the engine is tested against.

Every function here has the same name, arguments, returns and cache layout as its
counterpart in ``pyrnn.functional`` (which calls the C++ engine). Loops over time are
explicit and nothing is fused, so that each line can be checked against the equations.

Sizes: T steps, B batch, I input features, H hidden units, G gates (RNN 1, GRU 3, LSTM 4).
All sequences are time-major: ``x`` is (T, B, I). One call runs one layer in one direction.

Variable lengths (``lengths``: (B,) int64, 1 <= len <= T, or None for all T) mean what
PyTorch's packed sequences mean: row b runs steps 0..len_b-1; outputs at t >= len_b are
zero; the final state is the state after the row's last valid step; with
``reverse=True`` row b runs from t = len_b-1 down to 0.

Backward functions accumulate (+=) into the parameter gradients they are given
(``dW_ih, dW_hh, db_ih, db_hh``; the bias gradients may be None when there is no bias)
and return fresh input and initial-state gradients. Given ``dh_all`` (T, B, H), they
also write into it dL/dh_t, the whole gradient reaching each step's hidden state (zero at
padded steps): the per-step gradient norms that show vanishing and exploding gradients.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

Array = np.ndarray


def sigmoid(a: Array) -> Array:
    # exp(-|a|) never overflows; the two branches are the same function.
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(a.dtype, copy=False)


def _lengths(lengths: Optional[Array], T: int, B: int) -> Array:
    return np.full(B, T, dtype=np.int64) if lengths is None else np.asarray(lengths, np.int64)


def _step_times(s: int, lengths: Array, reverse: bool) -> Tuple[Array, Array]:
    """Time index each row processes at step s (0 where inactive), and which rows are active."""
    active = s < lengths
    t = lengths - 1 - s if reverse else np.full_like(lengths, s)
    return np.where(active, t, 0), active


def _prev_times(s: int, lengths: Array, reverse: bool) -> Array:
    """Time index each row processed at step s-1 (only meaningful for s >= 1)."""
    return _step_times(s - 1, lengths, reverse)[0]


def _bias(b: Optional[Array], n: int, dtype) -> Array:
    return np.zeros(n, dtype) if b is None else b


def _record(dh_all: Optional[Array], t: Array, rows: Array, act: Array, g: Array) -> None:
    if dh_all is not None:
        dh_all[t[act], rows[act]] = g[act]


def _accumulate(grad: Optional[Array], value: Array) -> None:
    if grad is not None:
        grad += value


# --------------------------------------------------------------------------------------
# Elman RNN: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = tanh or relu
# --------------------------------------------------------------------------------------

def _rnn_act(a: Array, nonlinearity: str) -> Array:
    return np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0)


def _rnn_act_grad(h: Array, nonlinearity: str) -> Array:
    """d act / d a expressed through the output h = act(a)."""
    return 1 - h * h if nonlinearity == "tanh" else (h > 0).astype(h.dtype)


def rnn_forward(x: Array, h0: Array, W_ih: Array, W_hh: Array, b_ih: Optional[Array],
                b_hh: Optional[Array], lengths: Optional[Array] = None, reverse: bool = False,
                nonlinearity: str = "tanh", store_cache: bool = True
                ) -> Tuple[Array, Array, tuple]:
    """Elman RNN over a whole sequence.

    x (T, B, I), h0 (B, H), W_ih (H, I), W_hh (H, H), b_ih/b_hh (H,) or None.
    Returns out (T, B, H), h_n (B, H) and the cache () (backward needs only ``out``).
    """
    T, B, _ = x.shape
    H = W_hh.shape[1]
    lens = _lengths(lengths, T, B)
    rows = np.arange(B)
    xp = x @ W_ih.T + _bias(b_ih, H, x.dtype)                 # (T, B, H), hoisted
    out = np.zeros((T, B, H), x.dtype)
    h = h0.copy()
    for s in range(T):
        t, act = _step_times(s, lens, reverse)
        h_new = _rnn_act(xp[t, rows] + h @ W_hh.T + _bias(b_hh, H, x.dtype), nonlinearity)
        h = np.where(act[:, None], h_new, h)
        out[t[act], rows[act]] = h_new[act]
    return out, h, ()


def rnn_backward(dout: Array, dh_n: Array, x: Array, h0: Array, W_ih: Array, W_hh: Array,
                 out: Array, cache: tuple, dW_ih: Array, dW_hh: Array,
                 db_ih: Optional[Array], db_hh: Optional[Array],
                 lengths: Optional[Array] = None, reverse: bool = False,
                 nonlinearity: str = "tanh", dh_all: Optional[Array] = None
                 ) -> Tuple[Array, Array]:
    """BPTT for rnn_forward. dout (T, B, H), dh_n (B, H). Returns dx (T, B, I), dh0 (B, H)."""
    T, B, _ = x.shape
    lens = _lengths(lengths, T, B)
    rows = np.arange(B)
    dx = np.zeros_like(x)
    if dh_all is not None:
        dh_all[...] = 0
    dh = dh_n.copy()
    for s in reversed(range(T)):
        t, act = _step_times(s, lens, reverse)
        h_prev = h0 if s == 0 else np.where(act[:, None], out[_prev_times(s, lens, reverse), rows], 0)
        g = dh + dout[t, rows]
        _record(dh_all, t, rows, act, g)
        # h_t = act(a): da = g * act'(a)
        da = np.where(act[:, None], g * _rnn_act_grad(out[t, rows], nonlinearity), 0)
        dx[t[act], rows[act]] = (da @ W_ih)[act]
        dW_ih += da.T @ x[t, rows]
        dW_hh += da.T @ h_prev
        _accumulate(db_ih, da.sum(0))
        _accumulate(db_hh, da.sum(0))
        dh = np.where(act[:, None], da @ W_hh, dh)
    return dx, dh


# --------------------------------------------------------------------------------------
# LSTM (gate order i, f, g, o):
#   [i f g o] = [sig sig tanh sig](W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
#   c_t = f * c_{t-1} + i * g;  h_t = o * tanh(c_t)
# cache: gates (T, B, 4H) after activation, c (T, B, H) cell states
# --------------------------------------------------------------------------------------

def lstm_forward(x: Array, h0: Array, c0: Array, W_ih: Array, W_hh: Array,
                 b_ih: Optional[Array], b_hh: Optional[Array],
                 lengths: Optional[Array] = None, reverse: bool = False,
                 store_cache: bool = True) -> Tuple[Array, Array, Array, tuple]:
    """LSTM over a whole sequence.

    x (T, B, I), h0/c0 (B, H), W_ih (4H, I), W_hh (4H, H), b_ih/b_hh (4H,) or None.
    Returns out (T, B, H), h_n (B, H), c_n (B, H), cache (gates (T, B, 4H), c_all (T, B, H))
    with zeros at padded steps; the cache is () when store_cache is False.
    """
    T, B, _ = x.shape
    H = W_hh.shape[1]
    lens = _lengths(lengths, T, B)
    rows = np.arange(B)
    xp = x @ W_ih.T + _bias(b_ih, 4 * H, x.dtype)             # (T, B, 4H), hoisted
    out = np.zeros((T, B, H), x.dtype)
    gates = np.zeros((T, B, 4 * H), x.dtype)
    c_all = np.zeros((T, B, H), x.dtype)
    h, c = h0.copy(), c0.copy()
    for s in range(T):
        t, act = _step_times(s, lens, reverse)
        a = xp[t, rows] + h @ W_hh.T + _bias(b_hh, 4 * H, x.dtype)
        i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])
        g, o = np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
        c_new = f * c + i * g
        h_new = o * np.tanh(c_new)
        h = np.where(act[:, None], h_new, h)
        c = np.where(act[:, None], c_new, c)
        out[t[act], rows[act]] = h_new[act]
        gates[t[act], rows[act]] = np.concatenate([i, f, g, o], axis=1)[act]
        c_all[t[act], rows[act]] = c_new[act]
    return out, h, c, ((gates, c_all) if store_cache else ())


def lstm_backward(dout: Array, dh_n: Array, dc_n: Array, x: Array, h0: Array, c0: Array,
                  W_ih: Array, W_hh: Array, out: Array, cache: tuple,
                  dW_ih: Array, dW_hh: Array, db_ih: Optional[Array], db_hh: Optional[Array],
                  lengths: Optional[Array] = None, reverse: bool = False,
                  dh_all: Optional[Array] = None) -> Tuple[Array, Array, Array]:
    """BPTT for lstm_forward. Returns dx (T, B, I), dh0 (B, H), dc0 (B, H)."""
    gates, c_all = cache
    T, B, _ = x.shape
    H = W_hh.shape[1]
    lens = _lengths(lengths, T, B)
    rows = np.arange(B)
    dx = np.zeros_like(x)
    if dh_all is not None:
        dh_all[...] = 0
    dh, dc = dh_n.copy(), dc_n.copy()
    for s in reversed(range(T)):
        t, act = _step_times(s, lens, reverse)
        m = act[:, None]
        if s == 0:
            h_prev, c_prev = h0, c0
        else:
            tp = _prev_times(s, lens, reverse)
            h_prev, c_prev = out[tp, rows], c_all[tp, rows]
        gt = gates[t, rows]
        i, f, g, o = gt[:, :H], gt[:, H:2 * H], gt[:, 2 * H:3 * H], gt[:, 3 * H:]
        tc = np.tanh(c_all[t, rows])
        dh_t = dh + dout[t, rows]
        _record(dh_all, t, rows, act, dh_t)
        # h_t = o * tanh(c_t)
        do = dh_t * tc
        dc_t = dc + dh_t * o * (1 - tc * tc)
        # c_t = f * c_{t-1} + i * g
        di, df, dg = dc_t * g, dc_t * c_prev, dc_t * i
        # gate activations
        da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g * g),
                             do * o * (1 - o)], axis=1)
        da = np.where(m, da, 0)
        dx[t[act], rows[act]] = (da @ W_ih)[act]
        dW_ih += da.T @ x[t, rows]
        dW_hh += da.T @ h_prev
        _accumulate(db_ih, da.sum(0))
        _accumulate(db_hh, da.sum(0))
        dh = np.where(m, da @ W_hh, dh)
        dc = np.where(m, dc_t * f, dc)
    return dx, dh, dc


# --------------------------------------------------------------------------------------
# GRU (gate order r, z, n):
#   r = sig(W_ir x + b_ir + W_hr h + b_hr),  z = sig(W_iz x + b_iz + W_hz h + b_hz)
#   reset_after=True  (PyTorch/cuDNN): n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
#   reset_after=False (Cho 2014):      n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)
#   h_t = (1 - z) * n + z * h_{t-1}
# cache: gates (T, B, 4H) = [r, z, n, W_hn h + b_hn] (reset_after) or [r, z, n, r * h_{t-1}]
# --------------------------------------------------------------------------------------

def gru_forward(x: Array, h0: Array, W_ih: Array, W_hh: Array, b_ih: Optional[Array],
                b_hh: Optional[Array], lengths: Optional[Array] = None, reverse: bool = False,
                reset_after: bool = True, store_cache: bool = True
                ) -> Tuple[Array, Array, tuple]:
    """GRU over a whole sequence.

    x (T, B, I), h0 (B, H), W_ih (3H, I), W_hh (3H, H), b_ih/b_hh (3H,) or None.
    Returns out (T, B, H), h_n (B, H), cache (gates (T, B, 4H),) with zeros at padded steps.
    """
    T, B, _ = x.shape
    H = W_hh.shape[1]
    lens = _lengths(lengths, T, B)
    rows = np.arange(B)
    bh = _bias(b_hh, 3 * H, x.dtype)
    xp = x @ W_ih.T + _bias(b_ih, 3 * H, x.dtype)             # (T, B, 3H), hoisted
    out = np.zeros((T, B, H), x.dtype)
    gates = np.zeros((T, B, 4 * H), x.dtype)
    h = h0.copy()
    for s in range(T):
        t, act = _step_times(s, lens, reverse)
        xi = xp[t, rows]
        a_rz = xi[:, :2 * H] + h @ W_hh[:2 * H].T + bh[:2 * H]
        r, z = sigmoid(a_rz[:, :H]), sigmoid(a_rz[:, H:])
        if reset_after:
            extra = h @ W_hh[2 * H:].T + bh[2 * H:]           # W_hn h + b_hn
            n = np.tanh(xi[:, 2 * H:] + r * extra)
        else:
            extra = r * h                                     # r * h_{t-1}
            n = np.tanh(xi[:, 2 * H:] + extra @ W_hh[2 * H:].T + bh[2 * H:])
        h_new = (1 - z) * n + z * h
        h = np.where(act[:, None], h_new, h)
        out[t[act], rows[act]] = h_new[act]
        gates[t[act], rows[act]] = np.concatenate([r, z, n, extra], axis=1)[act]
    return out, h, ((gates,) if store_cache else ())


def gru_backward(dout: Array, dh_n: Array, x: Array, h0: Array, W_ih: Array, W_hh: Array,
                 out: Array, cache: tuple, dW_ih: Array, dW_hh: Array,
                 db_ih: Optional[Array], db_hh: Optional[Array],
                 lengths: Optional[Array] = None, reverse: bool = False,
                 reset_after: bool = True, dh_all: Optional[Array] = None
                 ) -> Tuple[Array, Array]:
    """BPTT for gru_forward. Returns dx (T, B, I), dh0 (B, H)."""
    (gates,) = cache
    T, B, _ = x.shape
    H = W_hh.shape[1]
    lens = _lengths(lengths, T, B)
    rows = np.arange(B)
    W_hrz, W_hn = W_hh[:2 * H], W_hh[2 * H:]
    dx = np.zeros_like(x)
    if dh_all is not None:
        dh_all[...] = 0
    dh = dh_n.copy()
    for s in reversed(range(T)):
        t, act = _step_times(s, lens, reverse)
        m = act[:, None]
        h_prev = h0 if s == 0 else out[_prev_times(s, lens, reverse), rows]
        gt = gates[t, rows]
        r, z, n, extra = gt[:, :H], gt[:, H:2 * H], gt[:, 2 * H:3 * H], gt[:, 3 * H:]
        dh_t = dh + dout[t, rows]
        _record(dh_all, t, rows, act, dh_t)
        # h_t = (1 - z) * n + z * h_{t-1}
        dn = dh_t * (1 - z)
        dz = dh_t * (h_prev - n)
        dh_prev = dh_t * z
        dan = np.where(m, dn * (1 - n * n), 0)                # d(pre-activation of n)
        if reset_after:
            # n = tanh(xn + r * extra), extra = W_hn h + b_hn
            dr = dan * extra
            dextra = dan * r
            dh_prev = dh_prev + dextra @ W_hn
            dW_hh[2 * H:] += dextra.T @ h_prev
            _accumulate(db_hh, np.concatenate([np.zeros(2 * H, x.dtype), dextra.sum(0)]))
        else:
            # n = tanh(xn + W_hn extra + b_hn), extra = r * h_prev
            dextra = dan @ W_hn
            dr = dextra * h_prev
            dh_prev = dh_prev + dextra * r
            dW_hh[2 * H:] += dan.T @ extra
            _accumulate(db_hh, np.concatenate([np.zeros(2 * H, x.dtype), dan.sum(0)]))
        da_rz = np.where(m, np.concatenate([dr * r * (1 - r), dz * z * (1 - z)], axis=1), 0)
        dh_prev = dh_prev + da_rz @ W_hrz
        dW_hh[:2 * H] += da_rz.T @ h_prev
        _accumulate(db_hh, np.concatenate([da_rz.sum(0), np.zeros(H, x.dtype)]))
        da_i = np.concatenate([da_rz, dan], axis=1)           # d(W_ih x + b_ih)
        dx[t[act], rows[act]] = (da_i @ W_ih)[act]
        dW_ih += da_i.T @ x[t, rows]
        _accumulate(db_ih, da_i.sum(0))
        dh = np.where(m, dh_prev, dh)
    return dx, dh


# --------------------------------------------------------------------------------------
# Dense matrix product, the engine's other public kernel
# --------------------------------------------------------------------------------------

def gemm(transA: bool, transB: bool, A: Array, B: Array, beta: float = 0.0,
         C: Optional[Array] = None, alpha: float = 1.0) -> Array:
    """C = alpha op(A) op(B) + beta C; C updated in place when given (as functional.gemm)."""
    product = alpha * ((A.T if transA else A) @ (B.T if transB else B))
    if C is None:
        return product.astype(A.dtype, copy=False)
    C *= beta
    C += product
    return C
