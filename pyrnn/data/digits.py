"""scikit-learn's 8x8 handwritten digits as row-by-row sequences (T=8 steps of 8
pixels) for many-to-one classification. Needs scikit-learn, imported only when called."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._common import SeedLike, as_generator

SKLEARN_PIP = "pip install scikit-learn"


class DigitsSplit(NamedTuple):
    """x_train: (N_train, 8, 8) rows as time steps, pixel values scaled to [0, 1];
    y_train: (N_train,) int64 labels 0..9; x_test, y_test likewise."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits_sequences(
    test_fraction: float = 0.2,
    seed: SeedLike = 0,
    stratify: bool = True,
    dtype: np.dtype | type = np.float32,
) -> DigitsSplit:
    """The 1797 digits of ``sklearn.datasets.load_digits`` as (N, T=8, I=8) sequences.

    Step t is image row t; pixels (0..16 in the data) are divided by 16. The split is
    a seeded permutation, per class if ``stratify`` (each digit keeps its share in
    both parts). Raises ImportError with the pip command if scikit-learn is absent.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ImportError(
            f"load_digits_sequences needs scikit-learn, which is not installed. Install it "
            f"with:\n    {SKLEARN_PIP}"
        ) from e
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction: expected a value in (0, 1), got {test_fraction}")
    data = load_digits()  # bundled with scikit-learn: no download
    images = np.asarray(data.images, dtype=np.float64) / 16.0  # (1797, 8, 8)
    labels = np.asarray(data.target, dtype=np.int64)
    rng = as_generator(seed)

    if stratify:
        test_idx = []
        for c in np.unique(labels):
            members = rng.permutation(np.flatnonzero(labels == c))
            test_idx.append(members[: int(round(len(members) * test_fraction))])
        test = np.concatenate(test_idx)
        is_test = np.zeros(len(labels), dtype=bool)
        is_test[test] = True
        train = rng.permutation(np.flatnonzero(~is_test))
        test = rng.permutation(test)
    else:
        order = rng.permutation(len(labels))
        n_test = int(round(len(labels) * test_fraction))
        test, train = order[:n_test], order[n_test:]
    return DigitsSplit(images[train].astype(dtype), labels[train],
                       images[test].astype(dtype), labels[test])
