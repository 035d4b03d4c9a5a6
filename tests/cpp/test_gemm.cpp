// Checks pyrnn::gemm on every target (float, double; generic, AVX2+FMA and AVX-512 where the CPU has them)
// against a naive double-precision triple loop: all transposes, awkward sizes, padded strides,
// beta in {0 (C full of NaN), 1, 0.5}, alpha != 1, 1 and 2 threads. Exit code = failures > 0.
#include "pyrnn/gemm.h"
#include "pyrnn/kernels.h"
#include "pyrnn/threads.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>


namespace {

int g_passed = 0, g_failed = 0;

// Every target compiled in and supported by this CPU, each called through the dispatcher.
struct Target {
  const char* name;
  pyrnn::SimdTarget target;
};

std::vector<Target> targets() {
  std::vector<Target> t;
  for (pyrnn::SimdTarget c : pyrnn::kAllTargets) {
    if (pyrnn::target_supported(c)) t.push_back({pyrnn::target_name(c), c});
    else std::printf("note: target %s not compiled in or not supported here\n", pyrnn::target_name(c));
  }
  return t;
}

uint64_t g_rng = 0x9E3779B97F4A7C15ull;
double uniform() {  // [-1, 1)
  g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
  return double(g_rng >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

const double kSentinel = 12345.0;  // fills C's padding columns; must survive every call

struct Case {
  bool ta, tb;
  int64_t M, N, K;
  double alpha, beta;
  int pad;  // extra elements per row of every operand
};

template <typename T>
void run_case(const Case& cs) {
  const int64_t M = cs.M, N = cs.N, K = cs.K;
  const int64_t arows = cs.ta ? K : M, acols = cs.ta ? M : K;
  const int64_t brows = cs.tb ? N : K, bcols = cs.tb ? K : N;
  const int64_t lda = acols + cs.pad, ldb = bcols + cs.pad, ldc = N + cs.pad;
  std::vector<T> A(size_t(arows * lda + 1)), B(size_t(brows * ldb + 1)), C0(size_t(M * ldc + 1));
  for (auto& v : A) v = T(uniform());
  for (auto& v : B) v = T(uniform());
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < ldc; ++j)
      C0[size_t(i * ldc + j)] = j >= N                ? T(kSentinel)
                                : cs.beta == 0.0 ? std::numeric_limits<T>::quiet_NaN()
                                                   : T(uniform());

  // Reference and a bound on its magnitude (sum of |terms|) for the relative tolerance.
  std::vector<double> ref(size_t(M * N)), mag(size_t(M * N));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0, m = 0;
      for (int64_t k = 0; k < K; ++k) {
        const double a = cs.ta ? A[size_t(k * lda + i)] : A[size_t(i * lda + k)];
        const double b = cs.tb ? B[size_t(j * ldb + k)] : B[size_t(k * ldb + j)];
        s += a * b;
        m += std::fabs(a * b);
      }
      const double c0 = cs.beta == 0.0 ? 0.0 : double(C0[size_t(i * ldc + j)]);
      ref[size_t(i * N + j)] = cs.alpha * s + cs.beta * c0;
      mag[size_t(i * N + j)] = std::fabs(cs.alpha) * m + std::fabs(cs.beta * c0);
    }
  const double eps = std::numeric_limits<T>::epsilon();
  const double tol = 16.0 * eps * (std::sqrt(double(K)) + 2.0);

  for (const auto& tg : targets()) {
    pyrnn::set_active_target(tg.target);
    for (int threads : {1, 2}) {
      pyrnn::set_num_threads(threads);
      std::vector<T> C = C0;
      pyrnn::gemm<T>(cs.ta, cs.tb, M, N, K, T(cs.alpha), A.data(), lda, B.data(), ldb, T(cs.beta),
            C.data(), ldc);
      int64_t bad_i = -1, bad_j = -1;
      double got = 0, want = 0;
      for (int64_t i = 0; i < M && bad_i < 0; ++i)
        for (int64_t j = 0; j < ldc; ++j) {
          const double g = C[size_t(i * ldc + j)];
          const double w = j < N ? ref[size_t(i * N + j)] : kSentinel;
          const double lim = j < N ? tol * mag[size_t(i * N + j)] + 1e-30 : 0.0;
          if (!(std::fabs(g - w) <= lim)) {  // also catches NaN
            bad_i = i, bad_j = j, got = g, want = w;
            break;
          }
        }
      // Same thread count, same bits: run again and compare exactly.
      bool repeat_ok = true;
      if (bad_i < 0 && M * N * K >= (1 << 17)) {
        std::vector<T> C2 = C0;
        pyrnn::gemm<T>(cs.ta, cs.tb, M, N, K, T(cs.alpha), A.data(), lda, B.data(), ldb, T(cs.beta),
              C2.data(), ldc);
        repeat_ok = std::memcmp(C.data(), C2.data(), C.size() * sizeof(T)) == 0;
      }
      if (bad_i < 0 && repeat_ok) {
        ++g_passed;
      } else {
        if (++g_failed <= 20) {
          std::printf("FAIL %s %s threads=%d tA=%d tB=%d M=%lld N=%lld K=%lld alpha=%g beta=%g "
                      "pad=%d: ",
                      sizeof(T) == 4 ? "float" : "double", tg.name, threads, cs.ta, cs.tb,
                      (long long)M, (long long)N, (long long)K, cs.alpha, cs.beta, cs.pad);
          if (bad_i >= 0)
            std::printf("C[%lld,%lld] = %.9g, expected %.9g\n", (long long)bad_i,
                        (long long)bad_j, got, want);
          else
            std::printf("differs between two identical runs\n");
        }
      }
    }
  }
}

void run_both(const Case& cs) {
  run_case<float>(cs);
  run_case<double>(cs);
}

}  // namespace

int main() {
  const int64_t sizes[] = {0, 1, 3, 7, 17, 33, 65, 130};
  const double alphas[] = {1.0, -0.75, 2.5};
  const double betas[] = {0.0, 1.0, 0.5};
  const int pads[] = {0, 3, 16};
  int n = 0;
  for (int t = 0; t < 4; ++t)
    for (int64_t M : sizes)
      for (int64_t N : sizes)
        for (int64_t K : sizes)
          for (double beta : betas) {
            run_both({bool(t & 1), bool(t & 2), M, N, K, alphas[n % 3], beta, pads[n % 3]});
            ++n;
          }

  // Shapes on both sides of gemm.cpp's internal switches: few-row paths (M <= 8 with B,
  // M <= 32 with B^T), several K blocks (K > 256), several M blocks (M > 240 float, 120
  // double), several N blocks (N > 4096 float, 2048 double), N = 1 with many rows, the
  // engine's typical shapes, and enough work for 2 threads. (M = 13..23 and 47 are routed
  // to the packed path only with B; with B^T, M <= 32 takes the dot-product path.)
  const int64_t shapes[][3] = {
      {1, 1000, 300},  {3, 1000, 300}, {8, 300, 70},   {9, 300, 70},    {16, 512, 130},
      {32, 512, 130},  {33, 512, 130}, {64, 512, 130}, {65, 300, 257},  {250, 300, 600},
      {500, 70, 40},   {1000, 1, 64},  {1000, 3, 40},  {2, 2, 5000},    {16, 4100, 20},
      {70, 4100, 9},   {1, 1, 1000},   {64, 1024, 256}, {200, 8, 513},  {7, 2049, 33},
      {130, 2100, 17},
      // every remainder of the 12-row AVX-512 microkernel (M = 13..23 after one full tile)
      {13, 70, 40}, {14, 70, 40}, {15, 70, 40}, {18, 70, 40}, {19, 70, 40}, {22, 70, 40},
      {23, 70, 40}, {47, 70, 300}};
  for (int t = 0; t < 4; ++t)
    for (const auto& s : shapes) {
      run_both({bool(t & 1), bool(t & 2), s[0], s[1], s[2], alphas[n % 3], betas[n % 3],
                pads[n % 3]});
      ++n;
    }
  // alpha == 0: C = beta * C, A and B not needed.
  for (int t = 0; t < 4; ++t) run_both({bool(t & 1), bool(t & 2), 9, 20, 11, 0.0, 0.5, 2});

  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
