"""The kernels' float32 exp/sigmoid/tanh stay within the error bounds stated in csrc/simd/vec.h."""
from __future__ import annotations

import numpy as np
import pytest

from pyrnn import _core

BOUNDS = {"exp": 2e-7, "sigmoid": 3e-7, "tanh": 3e-7}
EXACT = {"exp": np.exp, "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "tanh": np.tanh}


def _points() -> np.ndarray:
    dense = np.linspace(-30, 30, 1 << 22, dtype=np.float32)
    tiny = np.float32(10.0) ** np.arange(-30, 1, dtype=np.float32)
    # tanh's range reduction switches n where 2x = (k + 1/2) ln 2: both sides of the first few
    edges = np.float32((np.arange(4) + 0.5) * np.log(2) / 2)
    edges = np.concatenate([edges, -edges])
    around = np.concatenate([np.nextafter(edges, np.float32(-np.inf)), edges,
                             np.nextafter(edges, np.float32(np.inf))])
    return np.concatenate([dense, tiny, -tiny, around])


@pytest.mark.parametrize("name", list(BOUNDS))
def test_relative_error_within_stated_bound(name, simd_target):
    x = _points()
    y = _core.activation(name, x).astype(np.float64)
    exact = EXACT[name](x.astype(np.float64))
    keep = np.abs(exact) > 1e-37  # below the normal range a relative bound means nothing
    err = np.max(np.abs(y[keep] - exact[keep]) / np.abs(exact[keep]))
    assert err < BOUNDS[name], f"{name} on {simd_target}: relative error {err:.3g}"


def test_special_values(simd_target):
    special = np.float32([np.nan, np.inf, -np.inf, 0.0, -0.0])
    t = _core.activation("tanh", special)
    assert np.isnan(t[0]) and t[1] == 1 and t[2] == -1 and t[3] == 0
    assert np.signbit(t[4]), "tanh(-0) keeps its sign"
    s = _core.activation("sigmoid", special)
    assert np.isnan(s[0]) and s[1] == 1 and 0 <= s[2] < 1e-37 and s[3] == 0.5
    e = _core.activation("exp", special)
    assert np.isnan(e[0]) and np.isfinite(e[1]) and e[2] < 1.2e-38 and e[3] == 1


def test_float64_is_libm(simd_target):
    x = np.linspace(-20, 20, 10001)
    np.testing.assert_allclose(_core.activation("tanh", x), np.tanh(x), rtol=1e-15, atol=0)
    np.testing.assert_allclose(_core.activation("exp", x), np.exp(x), rtol=1e-15, atol=0)
