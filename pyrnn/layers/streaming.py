"""Streaming inference: a recurrent layer advanced one time step at a time, with state.

``stream = layer.stream(batch_size=1)`` packs each layer's weights once into the
engine's layout and allocates every buffer up front; ``stream.step(x_t)`` then runs one
engine call per stacked layer and allocates nothing. Each of the B rows is an
independent stream; ``reset(rows)`` restarts some of them.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import numpy as np

from .. import _core

Array = np.ndarray

_CELL = {"RNN_TANH": "rnn", "RNN_RELU": "rnn", "LSTM": "lstm", "GRU": "gru"}


def _aligned_zeros(shape, dtype) -> Array:
    """Zeros whose data start on a 64-byte cache line (numpy guarantees 16). The step
    kernels' vector loads and stores need no alignment; aligned rows are faster."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape))
    buf = np.zeros(n + 64 // dtype.itemsize, dtype)
    off = (-buf.ctypes.data % 64) // dtype.itemsize
    return buf[off:off + n].reshape(shape)


class Stream:
    """One-step-at-a-time inference over a unidirectional RNN, LSTM or GRU layer.

    The weights are copied (packed) when the stream is made: later changes to the layer's
    parameters need a new stream. ``step`` returns the last layer's new hidden state
    (B, H); the array is the stream's own buffer, overwritten by the next step (copy it
    to keep it).

    A stream serves one thread at a time: ``step`` called while another thread's step
    runs raises RuntimeError, and ``reset`` or writes to ``state`` during another thread's
    step are not guarded (lock around them, or make one stream per thread).
    """

    def __init__(self, layer, batch_size: int = 1) -> None:
        if layer.bidirectional:
            raise ValueError("layer: a bidirectional layer needs the whole sequence; stream "
                             "a unidirectional one or call the layer on the sequence")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"batch_size: expected an int >= 1, got {batch_size!r}")
        self.layer_type = type(layer).__name__
        self.cell = _CELL[layer.mode]
        self.dtype = layer.dtype
        self.batch_size = B = int(batch_size)
        self.input_size, self.hidden_size = layer.input_size, layer.hidden_size
        self.num_layers = layer.num_layers
        self._reset_after = bool(layer.reset_after)
        self._nonlinearity = layer.nonlinearity
        H, p = self.hidden_size, layer.params
        # The packed layout follows the vector width of the SIMD target that packed it:
        # every step runs that target's kernels, whatever is active by then.
        self._target = _core.simd_target()
        self._packed = []
        self._work = []
        for k in range(self.num_layers):
            self._packed.append(_core.pack_cell(
                self.cell, p[f"weight_ih_l{k}"], p[f"weight_hh_l{k}"], p.get(f"bias_ih_l{k}"),
                p.get(f"bias_hh_l{k}"), self._reset_after))
            I = self.input_size if k == 0 else H
            self._work.append(_aligned_zeros(_core.step_workspace_size(self.cell, B, I, H),
                                             self.dtype))
        self.h = _aligned_zeros((self.num_layers, B, H), self.dtype)
        self.c = _aligned_zeros((self.num_layers, B, H), self.dtype) if self.cell == "lstm" \
            else None
        # One engine call per step for all layers: a step of a small layer takes about as
        # long as the Python around it.
        self._steps = _core.StreamSteps(self.cell, self._packed, self.h, self.c, self._work,
                                        self.input_size, self._reset_after,
                                        self._nonlinearity, self._target)

    def step(self, x: Array) -> Array:
        """Advance every row one step: x (B, input_size) -> new h of the last layer (B, H).

        x must be a numpy array of the stream's dtype (TypeError otherwise) and shape
        (ValueError); a non-contiguous one is copied first."""
        return self._steps.step(x)

    def reset(self, rows: Optional[Union[int, Sequence[int]]] = None) -> None:
        """Zero the state of the given rows (all rows by default): new streams start there."""
        sel = slice(None) if rows is None else rows
        self.h[:, sel] = 0
        if self.c is not None:
            self.c[:, sel] = 0

    @property
    def state(self) -> Union[Array, Tuple[Array, Array]]:
        """The carried state (num_layers, B, H) (LSTM: (h, c)), live: writable to seed it."""
        return (self.h, self.c) if self.c is not None else self.h

    def __repr__(self) -> str:
        return (f"Stream({self.layer_type}, batch_size={self.batch_size}, "
                f"num_layers={self.num_layers}, hidden_size={self.hidden_size})")
