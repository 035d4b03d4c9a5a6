// The single place that picks a SIMD target: once, on first use, from the CPU's
// features and the PYRNN_SIMD environment variable (generic | avx2 | avx512).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "pyrnn/gemm.h"
#include "pyrnn/kernels.h"
#include "pyrnn/peak.h"
#include "pyrnn/threads.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace pyrnn {
namespace {

#define PYRNN_KERNEL_TABLE(ns, T)                                                        \
  KernelTable<T> {                                                                       \
    &ns::rnn_workspace_size, &ns::lstm_workspace_size, &ns::gru_workspace_size,          \
        &ns::rnn_forward<T>, &ns::rnn_backward<T>, &ns::lstm_forward<T>,                 \
        &ns::lstm_backward<T>, &ns::gru_forward<T>, &ns::gru_backward<T>,                \
        &ns::activation<T>, &ns::rnn_packed_size, &ns::lstm_packed_size,                 \
        &ns::gru_packed_size, &ns::rnn_step_workspace_size, &ns::lstm_step_workspace_size, \
        &ns::gru_step_workspace_size, &ns::rnn_pack<T>, &ns::lstm_pack<T>, &ns::gru_pack<T>, \
        &ns::rnn_step<T>, &ns::lstm_step<T>, &ns::gru_step<T>                            \
  }

const KernelTable<float> kGenericF = PYRNN_KERNEL_TABLE(generic, float);
const KernelTable<double> kGenericD = PYRNN_KERNEL_TABLE(generic, double);
#ifdef PYRNN_HAVE_AVX2
const KernelTable<float> kAvx2F = PYRNN_KERNEL_TABLE(avx2, float);
const KernelTable<double> kAvx2D = PYRNN_KERNEL_TABLE(avx2, double);
#endif
#ifdef PYRNN_HAVE_AVX512
const KernelTable<float> kAvx512F = PYRNN_KERNEL_TABLE(avx512, float);
const KernelTable<double> kAvx512D = PYRNN_KERNEL_TABLE(avx512, double);
#endif

bool cpu_has_avx2() {
#if defined(PYRNN_HAVE_AVX2) && (defined(__GNUC__) || defined(__clang__))
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

// libgcc's cpu model checks that the OS saves the zmm and mask registers (XCR0) before it
// reports avx512 features.
bool cpu_has_avx512() {
#if defined(PYRNN_HAVE_AVX512) && (defined(__GNUC__) || defined(__clang__))
  return cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

SimdTarget best_target() {
  if (cpu_has_avx512()) return SimdTarget::avx512;
  if (cpu_has_avx2()) return SimdTarget::avx2;
  return SimdTarget::generic;
}

SimdTarget pick_initial_target() {
  // An unknown or unsupported request (avx512 on a CPU without it) falls back to the best
  // supported target rather than crash.
  SimdTarget t;
  const char* env = std::getenv("PYRNN_SIMD");
  if (env && parse_target_name(env, &t) && target_supported(t)) return t;
  return best_target();
}

std::atomic<SimdTarget>& current() {
  static std::atomic<SimdTarget> target{pick_initial_target()};
  return target;
}

}  // namespace

bool target_supported(SimdTarget t) {
  switch (t) {
    case SimdTarget::generic: return true;
    case SimdTarget::avx2: return cpu_has_avx2();
    case SimdTarget::avx512: return cpu_has_avx512();
  }
  return false;
}

SimdTarget active_target() { return current().load(std::memory_order_relaxed); }

bool set_active_target(SimdTarget t) {
  if (!target_supported(t)) return false;
  current().store(t, std::memory_order_relaxed);
  return true;
}

const char* target_name(SimdTarget t) {
  switch (t) {
    case SimdTarget::avx2: return "avx2";
    case SimdTarget::avx512: return "avx512";
    default: return "generic";
  }
}

bool parse_target_name(const char* name, SimdTarget* t) {
  for (SimdTarget c : kAllTargets)
    if (name && std::strcmp(name, target_name(c)) == 0) {
      *t = c;
      return true;
    }
  return false;
}

template <>
const KernelTable<float>& kernels<float>(SimdTarget t) {
  if (!target_supported(t)) t = best_target();  // never hand out code this CPU cannot run
#ifdef PYRNN_HAVE_AVX512
  if (t == SimdTarget::avx512) return kAvx512F;
#endif
#ifdef PYRNN_HAVE_AVX2
  if (t == SimdTarget::avx2) return kAvx2F;
#endif
  return kGenericF;
}

template <>
const KernelTable<double>& kernels<double>(SimdTarget t) {
  if (!target_supported(t)) t = best_target();  // never hand out code this CPU cannot run
#ifdef PYRNN_HAVE_AVX512
  if (t == SimdTarget::avx512) return kAvx512D;
#endif
#ifdef PYRNN_HAVE_AVX2
  if (t == SimdTarget::avx2) return kAvx2D;
#endif
  return kGenericD;
}

template <>
const KernelTable<float>& kernels<float>() {
  return kernels<float>(active_target());
}

template <>
const KernelTable<double>& kernels<double>() {
  return kernels<double>(active_target());
}

template <typename T>
void gemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
#ifdef PYRNN_HAVE_AVX512
  if (active_target() == SimdTarget::avx512)
    return avx512::gemm<T>(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
#ifdef PYRNN_HAVE_AVX2
  if (active_target() == SimdTarget::avx2)
    return avx2::gemm<T>(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
  generic::gemm<T>(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*,
                           int64_t, const double*, int64_t, double, double*, int64_t);

template <typename T>
double fma_peak_gflops(double seconds, int repeats) {
  auto loop = &generic::fma_loop<T>;
#ifdef PYRNN_HAVE_AVX512
  if (active_target() == SimdTarget::avx512) loop = &avx512::fma_loop<T>;
#endif
#ifdef PYRNN_HAVE_AVX2
  if (active_target() == SimdTarget::avx2) loop = &avx2::fma_loop<T>;
#endif
  using Clock = std::chrono::steady_clock;
  auto since = [](Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  // Iterations for `seconds`, from a short calibration run on this thread.
  double sink = 0;
  int64_t iters = 1 << 16;
  for (;;) {
    const auto t0 = Clock::now();
    loop(iters, &sink);
    const double dt = since(t0);
    if (dt > 0.01 || iters > (int64_t(1) << 40)) {
      iters = std::max<int64_t>(1, static_cast<int64_t>(iters * seconds / std::max(dt, 1e-9)));
      break;
    }
    iters *= 4;
  }
  const int nt = get_num_threads();
  double best = 0;
  for (int r = 0; r < std::max(1, repeats); ++r) {
    double flops = 0;
    const auto t0 = Clock::now();
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) reduction(+ : flops, sink)
#endif
    {
      double s = 0;
      flops += loop(iters, &s);
      sink += s;
    }
    best = std::max(best, flops / since(t0) / 1e9);
  }
  // sink is finite and positive by construction (see fma_loop); the comparison keeps it live.
  return sink == sink ? best : 0.0;
}

template double fma_peak_gflops<float>(double, int);
template double fma_peak_gflops<double>(double, int);

}  // namespace pyrnn
