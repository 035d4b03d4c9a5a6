// GFLOP/s of pyrnn::gemm (float and double) on the engine's typical shapes, for
// each SIMD target and 1 and 2 threads; median of repeated timed runs.
// Usage: bench_gemm [float|double|all] [seconds per measurement, default 0.3] [wall|cpu]
// "cpu" times the 1-thread columns by the calling thread's CPU time instead of the wall clock:
// on a shared, oversubscribed machine that shows what the code does while it actually runs.
// 2-thread columns always use the wall clock.
#include "pyrnn/gemm.h"
#include "pyrnn/kernels.h"
#include "pyrnn/threads.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <time.h>
#include <vector>


namespace {



struct Shape {
  int64_t M, N, K;
  bool ta, tb;
  const char* what;
};

const Shape kShapes[] = {
    {512, 512, 512, false, false, "square"},
    {6400, 1024, 256, false, true, "input projection T*B x G*H x I"},
    {64, 1024, 256, false, true, "recurrent step B=64"},
    {16, 1024, 256, false, true, "recurrent step B=16"},
    {1, 512, 128, false, true, "recurrent step B=1"},
    {1, 4096, 1024, false, true, "recurrent step B=1, big H"},
    {64, 256, 1024, false, false, "backward step dh = dG W"},
    {1024, 256, 6400, true, false, "weight grad dW = dG^T X"},
    {6400, 256, 1024, false, false, "input grad dx = dG W_ih, LSTM (a)"},
    {6400, 128, 2048, false, false, "input grad dx, LSTM (b)"},
    {2048, 512, 6400, true, false, "weight grad dW_hh, LSTM (b)"},
};

bool g_cpu_time = false;

// Seconds on the wall clock, or (1 thread, "cpu") this thread's CPU seconds.
double now(int threads) {
#ifdef CLOCK_THREAD_CPUTIME_ID
  if (g_cpu_time && threads == 1) {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  }
#endif
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

template <typename T>
double median_gflops(const Shape& s, double seconds, int threads) {
  const int64_t lda = s.ta ? s.M : s.K, ldb = s.tb ? s.K : s.N;
  std::vector<T> A(size_t(s.M * s.K)), B(size_t(s.K * s.N)), C(size_t(s.M * s.N));
  for (size_t i = 0; i < A.size(); ++i) A[i] = T((i * 7 % 13) - 6) / T(8);
  for (size_t i = 0; i < B.size(); ++i) B[i] = T((i * 5 % 11) - 5) / T(8);
  auto once = [&] {
    pyrnn::gemm<T>(s.ta, s.tb, s.M, s.N, s.K, T(1), A.data(), lda, B.data(), ldb, T(0), C.data(), s.N);
  };
  // Batch enough calls that one sample lasts >= ~1 ms, then take >= 9 samples.
  once();
  double t0 = now(threads);
  for (int i = 0; i < 3; ++i) once();
  const double one = std::max((now(threads) - t0) / 3, 1e-9);
  const int per = std::max(1, int(1e-3 / one));
  const int samples = std::max(9, int(seconds / (one * per)));
  std::vector<double> t;
  for (int r = 0; r < samples; ++r) {
    t0 = now(threads);
    for (int i = 0; i < per; ++i) once();
    t.push_back((now(threads) - t0) / per);
  }
  std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
  return 2.0 * double(s.M) * double(s.N) * double(s.K) / t[t.size() / 2] * 1e-9;
}

template <typename T>
void run(const char* tname, double seconds) {
  std::vector<pyrnn::SimdTarget> tgs;
  for (pyrnn::SimdTarget t : pyrnn::kAllTargets)
    if (pyrnn::target_supported(t)) tgs.push_back(t);
  std::printf("%-6s %-22s", tname, "M x N x K");
  for (auto tg : tgs) std::printf(" %8s-1t %8s-2t", pyrnn::target_name(tg), pyrnn::target_name(tg));
  std::printf("   (GFLOP/s, median)\n");
  for (const auto& s : kShapes) {
    char dims[64];
    std::snprintf(dims, sizeof dims, "%lldx%lldx%lld%s%s", (long long)s.M, (long long)s.N,
                  (long long)s.K, s.ta ? " tA" : "", s.tb ? " tB" : "");
    std::printf("%-6s %-22s", tname, dims);
    for (auto tg : tgs)
      for (int threads : {1, 2}) {
        pyrnn::set_active_target(tg);
        pyrnn::set_num_threads(threads);
        std::printf(" %11.1f", median_gflops<T>(s, seconds, threads));
        std::fflush(stdout);
      }
    std::printf("   %s\n", s.what);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const char* which = argc > 1 ? argv[1] : "all";
  const double seconds = argc > 2 ? std::atof(argv[2]) : 0.3;
  g_cpu_time = argc > 3 && !std::strcmp(argv[3], "cpu");
  std::printf("timing: %s\n", g_cpu_time ? "1 thread: thread CPU time; 2 threads: wall clock"
                                         : "wall clock");
  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {  // timings mean little on a busy box
    char buf[128] = {};
    if (std::fgets(buf, sizeof buf, f)) std::printf("load average: %s", buf);
    std::fclose(f);
  }
  if (!std::strcmp(which, "float") || !std::strcmp(which, "all")) run<float>("float", seconds);
  if (!std::strcmp(which, "double") || !std::strcmp(which, "all")) run<double>("double", seconds);
  return 0;
}
