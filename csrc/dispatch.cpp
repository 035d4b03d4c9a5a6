// The single place that picks a SIMD target: once, on first use, from the CPU's
// features and the PYRNN_SIMD environment variable (generic | avx2).
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "pyrnn/gemm.h"
#include "pyrnn/kernels.h"

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

bool cpu_has_avx2() {
#if defined(PYRNN_HAVE_AVX2) && (defined(__GNUC__) || defined(__clang__))
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

SimdTarget pick_initial_target() {
  const char* env = std::getenv("PYRNN_SIMD");
  if (env && std::strcmp(env, "generic") == 0) return SimdTarget::generic;
  // An unsupported request (avx2 on a CPU without it) falls back rather than crash.
  return cpu_has_avx2() ? SimdTarget::avx2 : SimdTarget::generic;
}

std::atomic<SimdTarget>& current() {
  static std::atomic<SimdTarget> target{pick_initial_target()};
  return target;
}

}  // namespace

bool target_supported(SimdTarget t) { return t == SimdTarget::generic || cpu_has_avx2(); }

SimdTarget active_target() { return current().load(std::memory_order_relaxed); }

bool set_active_target(SimdTarget t) {
  if (!target_supported(t)) return false;
  current().store(t, std::memory_order_relaxed);
  return true;
}

const char* target_name(SimdTarget t) { return t == SimdTarget::avx2 ? "avx2" : "generic"; }

template <>
const KernelTable<float>& kernels<float>() {
#ifdef PYRNN_HAVE_AVX2
  if (active_target() == SimdTarget::avx2) return kAvx2F;
#endif
  return kGenericF;
}

template <>
const KernelTable<double>& kernels<double>() {
#ifdef PYRNN_HAVE_AVX2
  if (active_target() == SimdTarget::avx2) return kAvx2D;
#endif
  return kGenericD;
}

template <typename T>
void gemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
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

}  // namespace pyrnn
