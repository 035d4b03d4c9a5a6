"""Random problems for the kernel-level functions, run the same way on any kernel module.

``pyrnn.reference`` and ``pyrnn.functional`` share names and signatures, so one runner
serves the finite-difference checks of the reference and the engine-vs-reference grid.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np

# cell name -> (gates G, kernel prefix, extra keyword for forward/backward)
CELLS = {
    "rnn_tanh": (1, "rnn", {"nonlinearity": "tanh"}),
    "rnn_relu": (1, "rnn", {"nonlinearity": "relu"}),
    "lstm": (4, "lstm", {}),
    "gru": (3, "gru", {"reset_after": True}),
    "gru_cho": (3, "gru", {"reset_after": False}),
}


@dataclass
class Problem:
    cell: str
    x: np.ndarray
    h0: np.ndarray
    c0: np.ndarray
    W_ih: np.ndarray
    W_hh: np.ndarray
    b_ih: Optional[np.ndarray]
    b_hh: Optional[np.ndarray]
    lengths: Optional[np.ndarray]
    reverse: bool
    # upstream gradients, i.e. the loss is sum(out*dout) + sum(h_n*dh_n) + sum(c_n*dc_n)
    dout: np.ndarray
    dh_n: np.ndarray
    dc_n: np.ndarray

    @property
    def inputs(self) -> Dict[str, np.ndarray]:
        """Everything a gradient exists for (c0 only for the LSTM, biases when present)."""
        d = {"x": self.x, "h0": self.h0, "W_ih": self.W_ih, "W_hh": self.W_hh}
        if self.cell == "lstm":
            d["c0"] = self.c0
        if self.b_ih is not None:
            d["b_ih"], d["b_hh"] = self.b_ih, self.b_hh
        return d


def make_problem(cell: str, T: int, B: int, I: int, H: int, dtype=np.float64, seed: int = 0,
                 lengths=None, reverse: bool = False, bias: bool = True,
                 scale: float = 0.6) -> Problem:
    G = CELLS[cell][0]
    rng = np.random.default_rng(seed)

    def r(*shape, s=1.0):
        return (rng.standard_normal(shape) * s).astype(dtype)

    if isinstance(lengths, str) and lengths == "random":
        lengths = rng.integers(1, T + 1, size=B)
        lengths[0] = T  # at least one full row, so T is really the longest
    return Problem(cell, r(T, B, I), r(B, H, s=0.5), r(B, H, s=0.5),
                   r(G * H, I, s=scale / np.sqrt(I)), r(G * H, H, s=scale / np.sqrt(H)),
                   r(G * H, s=0.3) if bias else None, r(G * H, s=0.3) if bias else None,
                   None if lengths is None else np.asarray(lengths, np.int64), reverse,
                   r(T, B, H), r(B, H), r(B, H))


def run_forward(mod, p: Problem, **over):
    """Forward only -> dict of outputs (out, h_n, [c_n]) and the cache."""
    G, prefix, extra = CELLS[p.cell]
    a = {**p.inputs, **over}
    b_ih, b_hh = a.get("b_ih"), a.get("b_hh")
    if prefix == "lstm":
        out, h_n, c_n, cache = mod.lstm_forward(a["x"], a["h0"], a["c0"], a["W_ih"], a["W_hh"],
                                                b_ih, b_hh, p.lengths, p.reverse)
        return {"out": out, "h_n": h_n, "c_n": c_n}, cache
    fwd = getattr(mod, f"{prefix}_forward")
    out, h_n, cache = fwd(a["x"], a["h0"], a["W_ih"], a["W_hh"], b_ih, b_hh, p.lengths,
                          p.reverse, **extra)
    return {"out": out, "h_n": h_n}, cache


def loss(p: Problem, res: Dict[str, np.ndarray]) -> float:
    total = np.sum(res["out"] * p.dout) + np.sum(res["h_n"] * p.dh_n)
    if "c_n" in res:
        total += np.sum(res["c_n"] * p.dc_n)
    return float(total)


def run(mod, p: Problem) -> Dict[str, np.ndarray]:
    """Forward + backward -> outputs and the gradient of ``loss`` w.r.t. every input."""
    G, prefix, extra = CELLS[p.cell]
    res, cache = run_forward(mod, p)
    g = {"W_ih": np.zeros_like(p.W_ih), "W_hh": np.zeros_like(p.W_hh)}
    g["b_ih"] = None if p.b_ih is None else np.zeros_like(p.b_ih)
    g["b_hh"] = None if p.b_hh is None else np.zeros_like(p.b_hh)
    grads = (g["W_ih"], g["W_hh"], g["b_ih"], g["b_hh"])
    dh_all = np.full_like(p.dout, np.nan)  # every entry must be written
    if prefix == "lstm":
        dx, dh0, dc0 = mod.lstm_backward(p.dout, p.dh_n, p.dc_n, p.x, p.h0, p.c0, p.W_ih,
                                         p.W_hh, res["out"], cache, *grads, p.lengths, p.reverse,
                                         dh_all=dh_all)
        res["d_c0"] = dc0
    else:
        bwd = getattr(mod, f"{prefix}_backward")
        dx, dh0 = bwd(p.dout, p.dh_n, p.x, p.h0, p.W_ih, p.W_hh, res["out"], cache, *grads,
                      p.lengths, p.reverse, **extra, dh_all=dh_all)
    res["d_h_all"] = dh_all
    res["d_x"], res["d_h0"] = dx, dh0
    for k, v in g.items():
        if v is not None:
            res[f"d_{k}"] = v
    return res
