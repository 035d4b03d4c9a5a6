// Engine-wide thread count (see threads.h).
#include "pyrnn/threads.h"

#include <atomic>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace pyrnn {
namespace {
int initial_threads() {
#ifdef _OPENMP
  return omp_get_max_threads() > 0 ? omp_get_max_threads() : 1;
#else
  return 1;
#endif
}
std::atomic<int> g_num_threads{initial_threads()};
// Below this many multiply-adds per step one thread wins. Measured on 2 Zen 5 cores
// (AVX-512, 2026-12-01): shape (d), B=1 T=1000 I=64 H=128, at 2 threads with the
// threshold at 0 against 1 thread: RNN (16K FMAs a step) 1.1-1.3 -> 0.6 ms, GRU (49K)
// 2.7-3.5 -> 1.65 ms, LSTM (65K) 3.0-4.8 -> 2.05 ms; OpenMP's barrier, about 0.26 us a
// step, was still in use then (the time loops now meet at their own, fused.h
// StepBarrier). The AVX2 and generic targets use twice this (fused.h, loop_threads, with
// the Zen 3 measurements behind it). With the cheaper barrier 2 threads paid on this Zen 4
// from about 8K FMAs a step in quiet runs (B=1, I=H=48..96: 0.6-0.9x the one-thread time),
// but lost badly (2-3x slower) in runs where the second vCPU was busy, so it stays here.
std::atomic<long long> g_parallel_min_work{1LL << 14};
std::atomic<int> g_projection_mode{0};
}  // namespace

int get_num_threads() { return g_num_threads.load(std::memory_order_relaxed); }
void set_num_threads(int n) { g_num_threads.store(n < 1 ? 1 : n, std::memory_order_relaxed); }
long long parallel_min_work() { return g_parallel_min_work.load(std::memory_order_relaxed); }
void set_parallel_min_work(long long fmas) {
  g_parallel_min_work.store(fmas < 0 ? 0 : fmas, std::memory_order_relaxed);
}

ProjectionMode projection_mode() {
  return static_cast<ProjectionMode>(g_projection_mode.load(std::memory_order_relaxed));
}
void set_projection_mode(ProjectionMode mode) {
  g_projection_mode.store(static_cast<int>(mode), std::memory_order_relaxed);
}

bool has_openmp() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace pyrnn
