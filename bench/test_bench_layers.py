"""Whole-sequence benchmarks: cell x shape (issue 3's a-d) x mode (inference, training) x
threads. Each case is checked against the NumPy reference once, outside the timed call
(see conftest.py for when the check uses a proxy of the first steps).

Timed call: inference = one forward under no_grad; training = forward + BPTT with
parameter gradients (they accumulate, as without zero_grad). extra_info carries the
case, FLOPs, GFLOP/s, the SIMD target and the check's error.
"""
from __future__ import annotations

import pytest

from pyrnn.commands import bench as B


@pytest.mark.pyrnn_bench
@pytest.mark.parametrize("mode", ["inference", "training"])
@pytest.mark.parametrize("shape", list(B.SHAPES))
@pytest.mark.parametrize("cell", list(B.CELLS))
def test_sequence(benchmark, case_runner, cell, shape, mode, threads):
    case_runner.run(benchmark, cell, case_runner.shape(shape), mode, threads)
