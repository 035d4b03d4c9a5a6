"""pytest-benchmark configuration for bench/: thread fixture, smoke mode, and the helpers that
check a case against the NumPy reference once and then time it (pyrnn's Python API, and
the C API's pyrnn_step timed in C++).

Smoke mode (``pytest bench --bench-smoke`` or ``PYRNN_BENCH_SMOKE=1``) shrinks every
shape to a few steps and units and runs each benchmark once: a correctness run for CI
that takes seconds, not a timing. ``pytest bench --benchmark-disable`` also runs each
benchmarked call once, at the real shapes.
"""
from __future__ import annotations

import math
import os
import statistics
from typing import Any, Dict, List

import numpy as np
import pytest

import pyrnn
from pyrnn.commands import bench as B

# A check runs the reference on the full problem when one call costs at most this many
# FLOPs (the reference does ~1 GFLOP/s plus Python overhead per step); larger problems
# are checked on the first PROXY_STEPS steps of the same weights, inputs, B, I and H.
REFERENCE_FULL_MAX_FLOPS = 5e7
# One C API benchmark round: this many pyrnn_step calls in one C++ loop, so the single
# Python call per round is noise (~1 us against >= 0.2 ms: 256 x 0.8 us at H=32 here);
# fixed, so that rounds compare across runs.
CAPI_STEPS_PER_ROUND = 256


def pytest_addoption(parser) -> None:
    parser.addoption("--bench-smoke", action="store_true", default=False,
                     help="pyrnn bench suite: tiny shapes, each benchmark run once "
                          "(correctness only; also PYRNN_BENCH_SMOKE=1)")


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "pyrnn_bench: a pyrnn benchmark (bench/)")


@pytest.fixture(scope="session")
def smoke(request) -> bool:
    env = os.environ.get("PYRNN_BENCH_SMOKE", "").strip().lower()
    return bool(request.config.getoption("--bench-smoke")) or env not in ("", "0", "false", "no")


@pytest.fixture(params=[1, 2], ids=["1thr", "2thr"])
def threads(request) -> int:
    """Every benchmark at 1 and 2 threads (pyrnn.set_num_threads), restored afterwards."""
    before = pyrnn.get_num_threads()
    pyrnn.set_num_threads(request.param)
    yield request.param
    pyrnn.set_num_threads(before)


def shrink(shape: B.Shape) -> B.Shape:
    """The smoke-mode stand-in: a few steps and units, none a multiple of the SIMD width."""
    return B.Shape(shape.label, min(shape.B, 3), min(shape.T, 5), min(shape.I, 11),
                   min(shape.H, 13))


class CaseRunner:
    """Builds a case, checks pyrnn against the reference once, times it, fills extra_info."""

    def __init__(self, smoke: bool) -> None:
        self.smoke = smoke

    def shape(self, label_or_shape) -> B.Shape:
        s = B.SHAPES[label_or_shape] if isinstance(label_or_shape, str) else label_or_shape
        return shrink(s) if self.smoke else s

    def check(self, p: B.Problem, pyrnn_result: Dict[str, np.ndarray],
              who: str = "pyrnn") -> Dict[str, Any]:
        """pyrnn (or `who`'s result) vs the reference, outside timing; on the proxy if the
        full case is big."""
        full = B.case_flops(p.cell, p.shape, p.mode) <= REFERENCE_FULL_MAX_FLOPS
        proxy = p if full else p.truncated(B.PROXY_STEPS)
        ours = pyrnn_result if proxy is p else B.PyrnnFramework().prepare(proxy).result()
        ref = B.ReferenceFramework().prepare(proxy).result()
        err, worst = B.compare_results(ours, ref)
        tol = B.check_tolerance(p.dtype, p.mode)
        assert err <= tol, (f"{p.cell} {p.shape.label} {p.mode}: {who} vs reference relative "
                            f"error {err:.3g} > {tol:g} in {worst!r}")
        for name, value in pyrnn_result.items():
            assert np.all(np.isfinite(value)), f"{name}: {who} produced non-finite values"
        return {"check_against": "reference",
                "check_scope": "full" if proxy is p else f"proxy T={proxy.shape.T}",
                "check_rel_error": err, "check_tolerance": tol}

    def run(self, benchmark, cell: str, shape: B.Shape, mode: str, threads: int,
            dtype: str = "float32") -> None:
        p = B.make_problem(cell, shape, mode, dtype)
        prep = B.PyrnnFramework().prepare(p)
        info = self.check(p, prep.result())
        flops = B.case_flops(cell, shape, mode)
        benchmark.group = f"{cell} {shape.label} {mode}"
        benchmark.extra_info.update({
            "cell": cell, "shape": shape.label, "B": shape.B, "T": shape.T, "I": shape.I,
            "H": shape.H, "mode": mode, "threads": threads, "dtype": dtype,
            "simd_target": pyrnn.simd_target(), "flops": flops, "smoke": self.smoke, **info})
        with prep.context():
            if self.smoke:
                benchmark.pedantic(prep.call, rounds=1, iterations=1, warmup_rounds=0)
            else:
                benchmark(prep.call)
        self.record_throughput(benchmark, flops)

    def run_capi(self, benchmark, cell: str, shape: B.Shape, threads: int) -> None:
        """The C API's streaming step (pyrnn.h, bench's CapiFramework): checked against the
        reference and against pyrnn's Python stream, then timed. A benchmark round is
        CAPI_STEPS_PER_ROUND pyrnn_step calls in one C++ loop (the group name says so);
        extra_info["capi_step_median_s"] is the median per step as the C++ loop timed it."""
        fw = B.CapiFramework()
        if fw.version() is None:
            pytest.skip(fw.missing_note())
        p = B.make_problem(cell, shape, "streaming")
        fw.set_threads(threads)
        try:
            prep = fw.prepare(p)
            result = prep.result()
            info = self.check(p, result, who="capi")
            err, worst = B.compare_results(result, B.PyrnnFramework().prepare(p).result())
            tol = B.check_tolerance(p.dtype, p.mode)
            assert err <= tol, (f"{cell} {shape.label}: capi vs pyrnn's Python stream relative "
                                f"error {err:.3g} > {tol:g} in {worst!r}")
            steps = 1 if self.smoke else CAPI_STEPS_PER_ROUND
            flops = B.case_flops(cell, shape, "streaming")
            benchmark.group = f"{cell} {shape.label} streaming capi ({steps} steps per round)"
            benchmark.extra_info.update({
                "cell": cell, "shape": shape.label, "B": shape.B, "T": shape.T, "I": shape.I,
                "H": shape.H, "mode": "streaming", "framework": "capi", "threads": threads,
                "dtype": p.dtype, "simd_target": pyrnn.simd_target(), "flops": flops,
                "steps_per_round": steps, "smoke": self.smoke, "check_vs_pyrnn_stream": err,
                **info})
            seconds: List[float] = []

            def one_round() -> None:
                seconds.append(prep.timed(steps))
            if self.smoke:
                benchmark.pedantic(one_round, rounds=1, iterations=1, warmup_rounds=0)
            else:
                benchmark(one_round)
        finally:
            fw.restore_threads()
        per_step = statistics.median(seconds) / steps
        assert per_step > 0
        benchmark.extra_info["capi_step_median_s"] = per_step
        benchmark.extra_info["gflops"] = flops / per_step / 1e9

    @staticmethod
    def record_throughput(benchmark, flops: float) -> None:
        """GFLOP/s from the median, when timing ran (not with --benchmark-disable)."""
        stats = getattr(getattr(benchmark, "stats", None), "stats", None)
        median = getattr(stats, "median", None)
        if median and math.isfinite(median) and median > 0:
            benchmark.extra_info["gflops"] = flops / median / 1e9


@pytest.fixture(scope="session")
def case_runner(smoke) -> CaseRunner:
    return CaseRunner(smoke)
