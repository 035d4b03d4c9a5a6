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
// Measured on 2 cores (AVX2): below ~2^17 multiply-adds per step one thread wins.
std::atomic<long long> g_parallel_min_work{1LL << 17};
}  // namespace

int get_num_threads() { return g_num_threads.load(std::memory_order_relaxed); }
void set_num_threads(int n) { g_num_threads.store(n < 1 ? 1 : n, std::memory_order_relaxed); }
long long parallel_min_work() { return g_parallel_min_work.load(std::memory_order_relaxed); }
void set_parallel_min_work(long long fmas) {
  g_parallel_min_work.store(fmas < 0 ? 0 : fmas, std::memory_order_relaxed);
}

bool has_openmp() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace pyrnn
