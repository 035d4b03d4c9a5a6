// The machine's floating-point limit as the kernels see it: how many multiply-adds per
// second the active SIMD target's vector FMA reaches, on every engine thread at once.
// It is what `pyrnn bench` states its "% of peak" against (issue 3: "% of the FMA peak
// measured in the same run"); a GEMM, however good, stays below it.
#pragma once
#include <cstdint>

namespace pyrnn {

// Per target: `iters` rounds of 12 independent vector FMAs (enough chains to cover the
// FMA latency on 2 pipes) on the calling thread. Returns the FLOPs done (2 per
// multiply-add); *sink gets a sum of the results, so the loop cannot be optimised away.
#define PYRNN_FMA_LOOP_DECL                          \
  template <typename T>                              \
  double fma_loop(int64_t iters, double* sink);
namespace generic { PYRNN_FMA_LOOP_DECL }
namespace avx2 { PYRNN_FMA_LOOP_DECL }
namespace avx512 { PYRNN_FMA_LOOP_DECL }
#undef PYRNN_FMA_LOOP_DECL

// GFLOP/s of the active target's fma_loop<T> on get_num_threads() threads at once (one
// team; each thread its own loop): the best of `repeats` runs of about `seconds` each.
template <typename T>
double fma_peak_gflops(double seconds, int repeats);

}  // namespace pyrnn
