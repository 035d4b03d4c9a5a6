"""Helpers shared by the data modules: seed handling and padded batches of
variable-length sequences. Pure NumPy; nothing here imports the engine."""

from __future__ import annotations

from typing import NamedTuple, Sequence, Union

import numpy as np

#: What every ``seed`` argument accepts: an int (reproducible), a Generator (consumed,
#: so successive calls differ but the whole run is reproducible), or None (OS entropy).
SeedLike = Union[int, np.random.Generator, None]


def as_generator(seed: SeedLike) -> np.random.Generator:
    """Return ``seed`` itself if it is a Generator, else ``np.random.default_rng(seed)``."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and not isinstance(seed, (int, np.integer)):
        raise TypeError(
            f"seed: expected an int, a numpy Generator or None, got {type(seed).__name__}"
        )
    return np.random.default_rng(seed)


class SequenceBatch(NamedTuple):
    """A padded batch of variable-length sequences (batch-first unless built time-major).

    x:       (B, T_max, F_in)  inputs, zero past each sequence's length
    y:       (B, T_max, F_out) targets, zero past each sequence's length
    lengths: (B,) int64        valid steps per sequence, 1 <= lengths[b] <= T_max
    mask:    (B, T_max) bool   True where t < lengths[b]

    With ``time_major=True`` the builders return x, y as (T_max, B, F) and mask as
    (T_max, B), the layout of ``batch_first=False`` layers.
    """

    x: np.ndarray
    y: np.ndarray
    lengths: np.ndarray
    mask: np.ndarray


def pad_batch(
    xs: Sequence[np.ndarray],
    ys: Sequence[np.ndarray],
    dtype: np.dtype | type = np.float32,
    time_major: bool = False,
) -> SequenceBatch:
    """Pad lists of (T_i, F_in) inputs and (T_i, F_out) targets into a SequenceBatch."""
    if len(xs) == 0:
        raise ValueError("sequences: expected at least one sequence, got an empty list")
    if len(xs) != len(ys):
        raise ValueError(f"ys: expected {len(xs)} target sequences, got {len(ys)}")
    lengths = np.array([len(a) for a in xs], dtype=np.int64)
    if lengths.min() < 1:
        raise ValueError("sequences: every sequence needs at least one step, got an empty one")
    B, T = len(xs), int(lengths.max())
    x = np.zeros((B, T, xs[0].shape[1]), dtype=dtype)
    y = np.zeros((B, T, ys[0].shape[1]), dtype=dtype)
    for b, (xb, yb) in enumerate(zip(xs, ys)):
        x[b, : len(xb)] = xb
        y[b, : len(yb)] = yb
    mask = np.arange(T)[None, :] < lengths[:, None]
    if time_major:
        return SequenceBatch(x.transpose(1, 0, 2).copy(), y.transpose(1, 0, 2).copy(),
                             lengths, mask.T.copy())
    return SequenceBatch(x, y, lengths, mask)
