// How fast one core streams a buffer of floats through vector FMAs, by buffer size: the
// ceiling of a step that uses each weight once (B = 1: streaming, shape (d)), where the
// weights come from L1, L2, L3 or memory. Each pass reads the whole buffer in order with
// the widest vectors the CPU has (AVX-512, AVX2 + FMA, or SSE2), as the kernels' B = 1
// tiles do, into 8 accumulators (multiply-adds that GCC and Clang contract into FMAs with
// memory operands; SSE2 has no FMA); the result is the best of 5 runs of ~0.2 s, in GB/s,
// with the time one pass takes. GCC or Clang on x86-64 (vector extensions, target
// attributes, __builtin_cpu_supports).
//   bench_bandwidth [KB,KB,...]       (default 16,32,128,256,512,1024,4096,8192,65536)
// The floor of a step's time is then (bytes of weights a step reads) / (bandwidth at that
// size): LSTM, B = 1, I = H = 128 reads 512 KB a step; shape (d)'s recurrent part 256 KB.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// Vectors of W floats (GCC/Clang vector extensions); 8 independent accumulators.
typedef float V16 __attribute__((vector_size(64)));
typedef float V8 __attribute__((vector_size(32)));
typedef float V4 __attribute__((vector_size(16)));

template <typename V, int W>
__attribute__((always_inline)) inline float stream_passes(const float* p, int64_t n,
                                                          int64_t reps, float x) {
  V acc[8] = {};
  V xv = {};
  xv += x;
  for (int64_t r = 0; r < reps; ++r)
    for (int64_t i = 0; i + 8 * W <= n; i += 8 * W)
#pragma GCC unroll 8
      for (int a = 0; a < 8; ++a) {
        V w;
        std::memcpy(&w, p + i + a * W, sizeof w);
        acc[a] += xv * w;
      }
  for (int a = 1; a < 8; ++a) acc[0] += acc[a];
  float s = 0;
  for (int l = 0; l < W; ++l) s += acc[0][l];
  return s;
}

__attribute__((target("avx512f"))) float passes512(const float* p, int64_t n, int64_t reps,
                                                   float x) {
  return stream_passes<V16, 16>(p, n, reps, x);
}
__attribute__((target("avx2,fma"))) float passes256(const float* p, int64_t n, int64_t reps,
                                                    float x) {
  return stream_passes<V8, 8>(p, n, reps, x);
}
float passes128(const float* p, int64_t n, int64_t reps, float x) {
  return stream_passes<V4, 4>(p, n, reps, x);
}

}  // namespace

// Sizes in KB from "16,256,...": every one a whole positive number of at most 16 GB.
bool parse_sizes(const char* arg, std::vector<int64_t>& sizes) {
  sizes.clear();
  const char* p = arg;
  while (true) {
    char* end = nullptr;
    errno = 0;
    const long long kb = std::strtoll(p, &end, 10);
    if (end == p || errno || kb <= 0 || kb > (16LL << 20) || (*end != ',' && *end != '\0')) {
      std::fprintf(stderr,
                   "bench_bandwidth: sizes must be whole numbers of KB from 1 to %lld, "
                   "separated by commas; got '%s'\n",
                   16LL << 20, arg);
      return false;
    }
    sizes.push_back(kb);
    if (*end == '\0') return true;
    p = end + 1;
  }
}

int main(int argc, char** argv) {
  std::vector<int64_t> sizes = {16, 32, 128, 256, 512, 1024, 4096, 8192, 65536};
  if (argc > 2) {
    std::fprintf(stderr, "usage: bench_bandwidth [KB,KB,...]\n");
    return 2;
  }
  if (argc > 1 && !parse_sizes(argv[1], sizes)) return 2;
  __builtin_cpu_init();
  float (*passes)(const float*, int64_t, int64_t, float) = passes128;
  const char* isa = "sse2 (16-byte vectors)";
  if (__builtin_cpu_supports("avx512f")) {
    passes = passes512, isa = "avx512 (64-byte vectors), 8 FMA chains";
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    passes = passes256, isa = "avx2 (32-byte vectors), 8 FMA chains";
  } else {
    isa = "sse2 (16-byte vectors), 8 multiply-add chains";
  }
  std::printf("1 thread, %s; best of 5 runs\n", isa);
  std::printf("%10s %10s %12s\n", "KB", "GB/s", "us/pass");
  float sink = 0;
  for (int64_t kb : sizes) {
    const int64_t n = kb * 1024 / 4;
    float* buf = static_cast<float*>(std::aligned_alloc(64, static_cast<size_t>(n) * 4));
    if (!buf) {
      std::fprintf(stderr, "bench_bandwidth: cannot allocate %lld KB\n", (long long)kb);
      return 1;
    }
    for (int64_t i = 0; i < n; ++i) buf[i] = 1e-6f * float(i % 7);
    sink += passes(buf, n, 1, 1.0f);  // warm: pages touched, cache filled where it fits
    double best = 1e30;
    for (int r = 0; r < 5; ++r) {
      int64_t reps = 1;
      double t = 0;
      while (true) {  // enough passes for ~0.2 s
        const auto t0 = Clock::now();
        sink += passes(buf, n, reps, 1.0f + 1e-7f * float(r));
        t = std::chrono::duration<double>(Clock::now() - t0).count();
        if (t > 0.2) break;
        reps *= t > 0.02 ? 2 : 10;
      }
      best = std::min(best, t / double(reps));
    }
    std::printf("%10lld %10.1f %12.3f\n", (long long)kb, double(n) * 4 / best * 1e-9, best * 1e6);
    std::free(buf);
  }
  return sink == 12345.0f ? 1 : 0;  // keeps the passes from being optimised away
}
