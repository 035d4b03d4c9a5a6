"""Streaming benchmarks: one time step of one sequence (B=1, I=H) with the state carried
from the previous call, for H in 32, 128, 512 x threads: through the Python layer API
(layer.stream()), and through the C API (pyrnn.h's pyrnn_step on a .pyrnn file of the same
weights, timed in C++: what an embedding application sees).

The check runs 16 steps from the same initial state in pyrnn and in the reference (and,
for the C API, also against pyrnn's Python stream). A C API round is
conftest.CAPI_STEPS_PER_ROUND steps; extra_info["capi_step_median_s"] is per step.
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


@pytest.mark.pyrnn_bench
@pytest.mark.parametrize("hidden", B.STREAM_HIDDEN)
@pytest.mark.parametrize("cell", list(B.CELLS))
def test_capi_step(benchmark, case_runner, cell, hidden, threads):
    case_runner.run_capi(benchmark, cell, case_runner.shape(B.stream_shape(hidden)), threads)
