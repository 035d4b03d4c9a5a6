"""The GEMM figure `pyrnn bench` quotes beside the FMA peak: a large square sgemm with
pyrnn's own GEMM and with numpy's matmul, at 1 and 2 threads (GFLOP/s in extra_info)."""
from __future__ import annotations

import numpy as np
import pytest

import pyrnn


@pytest.mark.pyrnn_bench
@pytest.mark.parametrize("impl", ["pyrnn", "numpy"])
def test_sgemm(benchmark, smoke, case_runner, impl, threads):
    n = 64 if smoke else 1024
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
    c = np.empty((n, n), np.float32)
    if impl == "pyrnn":
        def call():
            return pyrnn._core.gemm(False, False, 1.0, a, b, 0.0, c)
        limiter = None
    else:
        threadpoolctl = pytest.importorskip("threadpoolctl")
        limiter = threadpoolctl.threadpool_limits(limits=threads, user_api="blas")

        def call():
            return np.matmul(a, b, out=c)
    try:
        call()
        np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-3, atol=1e-3 * n)
        flops = 2.0 * n ** 3
        benchmark.group = f"sgemm {n}"
        benchmark.extra_info.update({"impl": impl, "n": n, "threads": threads, "flops": flops,
                                     "simd_target": pyrnn.simd_target()})
        if smoke:
            benchmark.pedantic(call, rounds=1, iterations=1)
        else:
            benchmark(call)
        case_runner.record_throughput(benchmark, flops)
    finally:
        if limiter is not None:
            limiter.restore_original_limits()
