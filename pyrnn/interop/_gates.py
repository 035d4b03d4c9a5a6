"""Gate orders of every framework pyrnn talks to, and the one function that permutes gate
blocks between them. Every conversion in ``pyrnn.interop`` goes through here.
"""
from __future__ import annotations

from typing import Dict, Sequence, Tuple

import numpy as np

Array = np.ndarray

# Names are the gates' roles, shared across frameworks: g (LSTM cell candidate) is Keras' c
# and ONNX's c; n (GRU candidate) is Keras' h and ONNX's h.
PYRNN_ORDER: Dict[str, Tuple[str, ...]] = {"LSTM": ("i", "f", "g", "o"), "GRU": ("r", "z", "n"),
                                           "RNN": ("h",)}
KERAS_ORDER: Dict[str, Tuple[str, ...]] = {"LSTM": ("i", "f", "g", "o"), "GRU": ("z", "r", "n"),
                                           "RNN": ("h",)}
ONNX_ORDER: Dict[str, Tuple[str, ...]] = {"LSTM": ("i", "o", "f", "g"), "GRU": ("z", "r", "n"),
                                          "RNN": ("h",)}


def reorder_gates(a: Array, src: Sequence[str], dst: Sequence[str], axis: int = 0) -> Array:
    """Permute the G equal gate blocks of ``a`` along ``axis`` from order ``src`` to ``dst``.

    a: (..., G*H, ...) with the gate blocks stacked along ``axis``. Returns a new array
    (a copy, never a view of ``a``) with the same shape.
    """
    G = len(src)
    if sorted(src) != sorted(dst):
        raise ValueError(f"dst: expected a permutation of {tuple(src)}, got {tuple(dst)}")
    n = a.shape[axis]
    if n % G:
        raise ValueError(f"a: expected axis {axis} to hold {G} equal gate blocks, got size {n}")
    blocks = np.split(a, G, axis=axis)
    return np.concatenate([blocks[list(src).index(gate)] for gate in dst], axis=axis)
