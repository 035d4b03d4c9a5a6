// How fast one core streams a buffer of floats through vector FMAs, by buffer size: the
// ceiling of a step that uses each weight once (B = 1: streaming, shape (d)), where the
// weights come from L1, L2, L3 or memory. Each pass reads the whole buffer in order with
// the widest vectors the CPU has (AVX-512, AVX2 or SSE2), as the kernels' B = 1 tiles do;
// the result is the best of 5 runs of ~0.2 s, in GB/s, with the time one pass takes.
//   bench_bandwidth [KB,KB,...]       (default 16,32,128,256,512,1024,4096,8192,65536)
// The floor of a step's time is then (bytes of weights a step reads) / (bandwidth at that
// size): LSTM, B = 1, I = H = 128 reads 512 KB a step; shape (d)'s recurrent part 256 KB.
#include <algorithm>
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

int main(int argc, char** argv) {
  std::vector<int64_t> sizes = {16, 32, 128, 256, 512, 1024, 4096, 8192, 65536};
  if (argc > 1) {
    sizes.clear();
    std::string s = argv[1];
    for (size_t at = 0; at < s.size();) {
      const size_t comma = std::min(s.find(',', at), s.size());
      sizes.push_back(std::atoll(s.substr(at, comma - at).c_str()));
      at = comma + 1;
    }
  }
  __builtin_cpu_init();
  float (*passes)(const float*, int64_t, int64_t, float) = passes128;
  const char* isa = "sse2 (16-byte vectors)";
  if (__builtin_cpu_supports("avx512f")) passes = passes512, isa = "avx512 (64-byte vectors)";
  else if (__builtin_cpu_supports("avx2")) passes = passes256, isa = "avx2 (32-byte vectors)";
  std::printf("1 thread, %s, 8 FMA chains; best of 5 runs\n", isa);
  std::printf("%10s %10s %12s\n", "KB", "GB/s", "us/pass");
  float sink = 0;
  for (int64_t kb : sizes) {
    if (kb <= 0) {
      std::fprintf(stderr, "bench_bandwidth: sizes must be positive KB, got %lld\n", (long long)kb);
      return 2;
    }
    const int64_t n = kb * 1024 / 4;
    float* buf = static_cast<float*>(std::aligned_alloc(64, static_cast<size_t>(n) * 4));
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
