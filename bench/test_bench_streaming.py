"""Streaming benchmarks: one time step of one sequence (B=1, I=H) with the state carried
from the previous call, through the Python layer API, for H in 32, 128, 512 x threads.

The check runs 16 steps from the same initial state in pyrnn and in the reference.
"""
from __future__ import annotations

import pytest

from pyrnn.commands import bench as B


@pytest.mark.pyrnn_bench
@pytest.mark.parametrize("hidden", B.STREAM_HIDDEN)
@pytest.mark.parametrize("cell", list(B.CELLS))
def test_streaming_step(benchmark, case_runner, cell, hidden, threads):
    case_runner.run(benchmark, cell, case_runner.shape(B.stream_shape(hidden)), "streaming",
                    threads)
