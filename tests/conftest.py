"""Shared test configuration: the one tolerance table, SIMD-target and thread fixtures."""
from __future__ import annotations

import numpy as np
import pytest

import pyrnn
from pyrnn import _core

# Relative tolerance, max|actual - expected| / max|expected|, per dtype and pass.
TOLERANCE = {
    ("float64", "forward"): 1e-10,
    ("float64", "backward"): 1e-10,
    ("float32", "forward"): 1e-5,
    ("float32", "backward"): 1e-4,
}


def rel_error(actual: np.ndarray, expected: np.ndarray) -> float:
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-30)
    return float(np.max(np.abs(actual - expected), initial=0.0)) / scale


def assert_close(actual, expected, dtype, pass_: str, name: str = "") -> None:
    """Assert actual ~ expected within TOLERANCE[(dtype, pass_)]; shapes must match."""
    assert np.shape(actual) == np.shape(expected), f"{name}: shape {np.shape(actual)} != {np.shape(expected)}"
    tol = TOLERANCE[(np.dtype(dtype).name, pass_)]
    err = rel_error(actual, expected)
    assert err <= tol, f"{name}: relative error {err:.3g} > {tol:g} ({np.dtype(dtype).name} {pass_})"


@pytest.fixture(params=_core.available_simd_targets())
def simd_target(request):
    """Run the test once per SIMD target this CPU supports."""
    before = _core.simd_target()
    _core.set_simd_target(request.param)
    yield request.param
    _core.set_simd_target(before)


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def num_threads(request):
    """1 or 2 threads; with 2, even tiny steps split across threads (no work threshold)."""
    before, threshold = pyrnn.get_num_threads(), _core._parallel_min_work()
    pyrnn.set_num_threads(request.param)
    if request.param > 1:
        _core._set_parallel_min_work(0)
    yield request.param
    pyrnn.set_num_threads(before)
    _core._set_parallel_min_work(threshold)
