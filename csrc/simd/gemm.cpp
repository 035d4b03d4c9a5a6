// Cache-blocked GEMM for one SIMD target (compiled once per target with PYRNN_TARGET_NS set):
// BLIS-style packing + register-tiled microkernels, plus unpacked paths for few-row products
// (a recurrent time step): dot products for A*B^T, row streaming for A*B. Deterministic for a
// given thread count (each C element has one owner thread and a fixed summation order).
//
// Measured 2026-11-24, 2-core AMD EPYC (Zen 3), GFLOP/s, medians. The box was shared (load
// average 4-9), so 1-thread figures are thread-CPU-time medians (`bench_gemm all 0.3 cpu`;
// wall-clock medians agree for the short calls) and 2-thread figures are the best wall-clock
// median of 8 runs; numpy 2.4.6 (OpenBLAS 0.3.31) np.matmul(A, B.T, out=C) the same way,
// its 2-thread numbers from a quiet moment (load 0.03) at the start of the session.
//   g++ -O3 -std=c++17 -fopenmp -Icsrc/include -DPYRNN_TARGET_NS=generic -c csrc/simd/gemm.cpp
//   g++ ... -mavx2 -mfma -DPYRNN_TARGET_NS=avx2 ...; link bench/cpp/bench_gemm.cpp + threads.cpp
//                          float avx2    numpy f32    double avx2  numpy f64   float generic
//                          1t    2t      1t    2t     1t           1t          1t
//   512x512x512            90   159      93   185     40           41          31
//   6400x1024x256 B^T      94   181      90   185     46           42          33
//   64x1024x256 B^T        89   174      83   157     45           40          30
//   16x1024x256 B^T        79   145      61     -     42           33          36
//   1x512x128 B^T          41   (1t)     22    22     17           13          25
//   1x4096x1024 B^T        18    39      21     -      8            8          16
//   64x256x1024            81   141      86     -     42           40          30
//   1024x256x6400 A^T      81   167       -     -     42            -          31
// (1x4096x1024 streams 16 MB of weights per call: memory bound. 1x512x128 stays on 1 thread.)
//
// AVX-512 target (12 x 32 float tile), measured 2026-12-01 on a 2-vCPU AMD EPYC Zen 5 guest
// (quiet; `bench_gemm float 0.3`, wall clock), float GFLOP/s 1t / 2t, avx2 target alongside:
//   512^3 202 / 384 (avx2 107 / 202); 6400x1024x256 B^T 219 / 402 (112 / 213);
//   64x256x1024 178 / 314 (104 / 178); 1024x256x6400 A^T 175 / 320 (102 / 189).
// The few-row B^T paths (dot products, M <= 32) gain little from 16 lanes: 16x1024x256 B^T
// 119 / 215 against avx2's 110 / 202 (the horizontal sums cost more per product).
// double keeps the AVX2 kernels on the avx512 target (float64 is the exact path).

#include "pyrnn/gemm.h"
#include "pyrnn/threads.h"
#include "scratch.h"
#include "transpose.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define PYRNN_GEMM_AVX2 1  // also in the avx512 target, which keeps AVX2 for double
#endif
#if defined(__AVX512F__) && defined(__AVX512DQ__) && defined(PYRNN_GEMM_AVX2)
#define PYRNN_GEMM_AVX512 1
#endif

// Kernels stay out of line: inlined into the blocking loops, GCC hoists alpha/beta broadcasts
// into a 16th vector register and spills a B vector in the inner loop (512^3: 58 vs 91 GFLOP/s).
#if defined(__GNUC__)
#define PYRNN_GEMM_NOINLINE __attribute__((noinline))
#elif defined(_MSC_VER)
#define PYRNN_GEMM_NOINLINE __declspec(noinline)
#else
#define PYRNN_GEMM_NOINLINE
#endif

namespace pyrnn {
namespace PYRNN_TARGET_NS {
namespace {

// ---------------------------------------------------------------------------------------
// Vector abstraction: one kernel source serves AVX2 (intrinsics) and generic (plain arrays
// of a fixed width, which the compiler maps onto the baseline SIMD registers).

#ifdef PYRNN_GEMM_AVX2
struct VecF32 {
  using T = float;
  using V = __m256;
  static constexpr int W = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const T* p) { return _mm256_loadu_ps(p); }
  static V bcast(const T* p) { return _mm256_broadcast_ss(p); }
  static V set1(T x) { return _mm256_set1_ps(x); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static void store(T* p, V v) { _mm256_storeu_ps(p, v); }
  static V load_first(const T* p, int n) {  // lanes >= n read as 0 and are never touched
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_maskload_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx));
  }
  static T hsum(V v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  // out[0..3] = hsum(a), hsum(b), hsum(c), hsum(d)
  static void hsum4(V a, V b, V c, V d, T* out) {
    const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1)));
  }
  // dst row q (stride ldd) = src column q, for a W x W block (src row stride lds).
  static void transpose(const T* src, int64_t lds, T* dst, int64_t ldd) {
    transpose8x8(src, lds, dst, ldd);
  }
};

struct VecF64 {
  using T = double;
  using V = __m256d;
  static constexpr int W = 4;
  static V zero() { return _mm256_setzero_pd(); }
  static V load(const T* p) { return _mm256_loadu_pd(p); }
  static V bcast(const T* p) { return _mm256_broadcast_sd(p); }
  static V set1(T x) { return _mm256_set1_pd(x); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V mul(V a, V b) { return _mm256_mul_pd(a, b); }
  static void store(T* p, V v) { _mm256_storeu_pd(p, v); }
  static V load_first(const T* p, int n) {
    const __m256i idx = _mm256_setr_epi64x(0, 1, 2, 3);
    return _mm256_maskload_pd(p, _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), idx));
  }
  static T hsum(V v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
  }
  static void hsum4(V a, V b, V c, V d, T* out) {
    const __m256d ab = _mm256_hadd_pd(a, b), cd = _mm256_hadd_pd(c, d);
    _mm256_storeu_pd(out, _mm256_add_pd(_mm256_permute2f128_pd(ab, cd, 0x20),
                                        _mm256_permute2f128_pd(ab, cd, 0x31)));
  }
  static void transpose(const T* src, int64_t lds, T* dst, int64_t ldd) {
    transpose4x4(src, lds, dst, ldd);
  }
};
#endif

#ifdef PYRNN_GEMM_AVX512
// 16 floats.
struct VecF32x16 {
  using T = float;
  using V = __m512;
  static constexpr int W = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const T* p) { return _mm512_loadu_ps(p); }
  static V bcast(const T* p) { return _mm512_set1_ps(*p); }
  static V set1(T x) { return _mm512_set1_ps(x); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static void store(T* p, V v) { _mm512_storeu_ps(p, v); }
  static V load_first(const T* p, int n) {
    return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1u), p);
  }
  static T hsum(V v) { return _mm512_reduce_add_ps(v); }
  static void hsum4(V a, V b, V c, V d, T* out) {
    // Fold 512 -> 256 bits, then the AVX2 four-way reduction.
    auto fold = [](V x) {
      return _mm256_add_ps(_mm512_castps512_ps256(x),
                           _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
    };
    VecF32::hsum4(fold(a), fold(b), fold(c), fold(d), out);
  }
  static void transpose(const T* src, int64_t lds, T* dst, int64_t ldd) {
    transpose16x16(src, lds, dst, ldd);
  }
};
#endif

#if defined(__GNUC__)
// GCC/Clang vector extensions: portable to any target, and twice as fast as VecPortable on
// baseline x86-64 (512^3 float: 34 vs 16 GFLOP/s) because the accumulators stay in registers.
template <typename T_, int Bytes>
struct VecGnu {
  using T = T_;
  static constexpr int W = Bytes / int(sizeof(T));
  typedef T V __attribute__((vector_size(Bytes)));
  static V zero() { return V{}; }
  static V load(const T* p) {
    V v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static V bcast(const T* p) { return set1(*p); }
  static V set1(T x) {
    V v;
    for (int l = 0; l < W; ++l) v[l] = x;
    return v;
  }
  static V fma(V a, V b, V c) { return a * b + c; }
  static V mul(V a, V b) { return a * b; }
  static void store(T* p, V v) { std::memcpy(p, &v, sizeof v); }
  static V load_first(const T* p, int n) {
    T t[W] = {};
    for (int l = 0; l < n; ++l) t[l] = p[l];
    return load(t);
  }
  static T hsum(V v) {
    T s = v[0];
    for (int l = 1; l < W; ++l) s += v[l];
    return s;
  }
  static void hsum4(V a, V b, V c, V d, T* out) {
    out[0] = hsum(a), out[1] = hsum(b), out[2] = hsum(c), out[3] = hsum(d);
  }
  static void transpose(const T* src, int64_t lds, T* dst, int64_t ldd) {
    transpose_scalar<W>(src, lds, dst, ldd);
  }
};
#endif

// Plain arrays, for compilers without vector extensions.
template <typename T_, int W_>
struct VecPortable {
  using T = T_;
  static constexpr int W = W_;
  struct V {
    T x[W];
  };
  static V zero() {
    V r;
    for (int l = 0; l < W; ++l) r.x[l] = T(0);
    return r;
  }
  static V load(const T* p) {
    V r;
    for (int l = 0; l < W; ++l) r.x[l] = p[l];
    return r;
  }
  static V bcast(const T* p) { return set1(*p); }
  static V set1(T a) {
    V r;
    for (int l = 0; l < W; ++l) r.x[l] = a;
    return r;
  }
  static V fma(V a, V b, V c) {
    for (int l = 0; l < W; ++l) c.x[l] += a.x[l] * b.x[l];
    return c;
  }
  static V mul(V a, V b) {
    for (int l = 0; l < W; ++l) a.x[l] *= b.x[l];
    return a;
  }
  static void store(T* p, V v) {
    for (int l = 0; l < W; ++l) p[l] = v.x[l];
  }
  static V load_first(const T* p, int n) {
    V r;
    for (int l = 0; l < W; ++l) r.x[l] = l < n ? p[l] : T(0);
    return r;
  }
  static T hsum(V v) {
    T s = v.x[0];
    for (int l = 1; l < W; ++l) s += v.x[l];
    return s;
  }
  static void hsum4(V a, V b, V c, V d, T* out) {
    out[0] = hsum(a), out[1] = hsum(b), out[2] = hsum(c), out[3] = hsum(d);
  }
  static void transpose(const T* src, int64_t lds, T* dst, int64_t ldd) {
    transpose_scalar<W>(src, lds, dst, ldd);
  }
};

// Register tile MR x NR (NR = 2 vectors) and cache blocks. AVX2: the 6 x 2 accumulators
// take 12 of 16 vector registers and the KC x NR B micro-panel (32 KB) stays in L1;
// AVX-512: 12 x 2 of 32, a 64 KB micro-panel streaming from L2 (below). The MC x KC block
// of A (<= 288 KB) stays in L2, the KC x NC block of B in L3.
template <typename T>
struct Target;
#ifdef PYRNN_GEMM_AVX512
// 32 zmm registers: 12 x 2 accumulators + 2 B vectors + a broadcast. KC = 512 makes the
// B micro-panel 64 KB, more than L1 (48 KB on Zen 5): it streams from L2 with the A
// micro-panels (15 bytes a cycle at peak, a quarter of L2's bandwidth), and the passes
// over C halve. MC = 120 keeps the A block at 240 KB. Zen 5, 1 thread, medians of 5
// interleaved runs (GFLOP/s, KC,MC = 256,240 -> 512,120): 6400x256x1024 (dx = dG W_ih,
// LSTM (a)) 152 -> 178, 6400x128x2048 (dx, (b)) 132 -> 138, 1024x256x6400 A^T (dW, (a))
// 181 -> 188, 2048x512x6400 A^T (dW_hh, (b)) 187 -> 204, 6400x1024x256 B^T (input
// projection) 214 -> 223, 1024^3 208 -> 214. (KC,MC = 512,240 and 384,160: in between.)
template <>
struct Target<float> {
  using VT = VecF32x16;
  static constexpr int MR = 12, KC = 512, KC_ROWS = 8, MC = 120, NC = 4096;
};
#elif defined(PYRNN_GEMM_AVX2)
// KC = 512 (a 32 KB B micro-panel, 12 KB A micro-panels streaming from L2) halves the
// passes over C against KC = 256; MC = 144 keeps the A block at 288 KB of a 512 KB L2.
// Zen 3, 1 thread, medians of 17 paired runs (GFLOP/s, KC,MC = 256,240 -> 512,144; the
// new blocking faster in): 6400x256x1024 (dx = dG W_ih) 52 -> 64 (15 of 17),
// 1024x256x6400 A^T (dW) 53 -> 56 (12), 6400x1024x256 B^T (input projection) 68 -> 72
// (12), 1024^3 60 -> 60 (8), 2048^3 63 -> 61 (7). The shared L3 makes single runs vary
// by 20%.
template <>
struct Target<float> {
  using VT = VecF32;
  static constexpr int MR = 6, KC = 512, KC_ROWS = 8, MC = 144, NC = 4096;
};
#endif
#ifdef PYRNN_GEMM_AVX2
template <>
struct Target<double> {
  using VT = VecF64;
  static constexpr int MR = 6, KC = 256, KC_ROWS = 8, MC = 120, NC = 2048;
};
#else
// Baseline x86-64 has 16-byte vectors (SSE2): 4 floats or 2 doubles. Without FMA, a 4 x 2
// vector tile is a little faster than 6 x 2 (the separate mul and add need spare registers).
#if defined(__GNUC__)
template <typename T>
using VecBase = VecGnu<T, 16>;
#else
template <typename T>
using VecBase = VecPortable<T, 16 / sizeof(T)>;
#endif
template <>
struct Target<float> {
  using VT = VecBase<float>;
  static constexpr int MR = 4, KC = 256, KC_ROWS = 8, MC = 240, NC = 4096;
};
template <>
struct Target<double> {
  using VT = VecBase<double>;
  static constexpr int MR = 4, KC = 256, KC_ROWS = 8, MC = 120, NC = 2048;
};
#endif

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Per-thread pack buffers, grown once and reused (64-byte aligned).
template <typename T>
struct Scratch {
  ScratchBuffer<T> a, b;
};
template <typename T>
Scratch<T>& scratch() {
  thread_local Scratch<T> s;
  return s;
}

// c[m,n] = alpha * t[m,n] + beta * c (c not read when beta == 0).
template <typename T>
void merge_tile(int m, int n, const T* t, int ldt, T* c, int64_t ldc, T alpha, T beta) {
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j)
      c[i * ldc + j] = beta == T(0) ? alpha * t[i * ldt + j]
                                    : alpha * t[i * ldt + j] + beta * c[i * ldc + j];
}

template <typename T>
void scale_matrix(int64_t M, int64_t N, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    if (beta == T(0)) {
      std::fill(c, c + N, T(0));
    } else if (beta != T(1)) {
      for (int64_t j = 0; j < N; ++j) c[j] *= beta;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Microkernel: C[R, nr] = alpha * Apanel[R, kc] * Bpanel[kc, NR] + beta * C, R <= MR rows.
// a: packed, MR values per k; b: packed, NR values per k. nr < NR goes through a stack tile.

template <typename VT, int R, int MR>
PYRNN_GEMM_NOINLINE void microkernel(int64_t kc, const typename VT::T* a, const typename VT::T* b,
                                     typename VT::T* c, int64_t ldc, int nr, typename VT::T alpha,
                                     typename VT::T beta) {
  using T = typename VT::T;
  using V = typename VT::V;
  constexpr int W = VT::W;
  V c0[R], c1[R];
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i) {
    c0[i] = c1[i] = VT::zero();
#if defined(__GNUC__)
    // C's rows are often 4 KB-multiples apart and miss every cache level; fetch them now
    // rather than stall after the loop.
    __builtin_prefetch(c + i * ldc, 1);
    __builtin_prefetch(c + i * ldc + 2 * W - 1, 1);
#endif
  }
  for (int64_t k = 0; k < kc; ++k) {
    const V b0 = VT::load(b), b1 = VT::load(b + W);
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i) {
      const V ai = VT::bcast(a + i);
      c0[i] = VT::fma(ai, b0, c0[i]);
      c1[i] = VT::fma(ai, b1, c1[i]);
    }
    a += MR;
    b += 2 * W;
  }
  const V va = VT::set1(alpha);
  if (nr == 2 * W) {
    const V vb = VT::set1(beta);
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i) {
      T* ci = c + i * ldc;
      V r0 = VT::mul(va, c0[i]), r1 = VT::mul(va, c1[i]);
      if (beta != T(0)) {
        r0 = VT::fma(vb, VT::load(ci), r0);
        r1 = VT::fma(vb, VT::load(ci + W), r1);
      }
      VT::store(ci, r0);
      VT::store(ci + W, r1);
    }
  } else {
    alignas(64) T t[R * 2 * W];
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i) {
      VT::store(t + i * 2 * W, c0[i]);
      VT::store(t + i * 2 * W + W, c1[i]);
    }
    merge_tile(R, nr, t, 2 * W, c, ldc, alpha, beta);
  }
}

// The kernel for exactly mr (1 <= mr <= MR) rows.
template <typename T, int R = Target<T>::MR>
void run_microkernel(int mr, int64_t kc, const T* a, const T* b, T* c, int64_t ldc, int nr,
                     T alpha, T beta) {
  using VT = typename Target<T>::VT;
  constexpr int MR = Target<T>::MR;
  if constexpr (R > 1) {
    if (mr < R) return run_microkernel<T, R - 1>(mr, kc, a, b, c, ldc, nr, alpha, beta);
  }
  microkernel<VT, R, MR>(kc, a, b, c, ldc, nr, alpha, beta);
}

// ---------------------------------------------------------------------------------------
// Packing. A block [mc, kc] -> MR-row panels, k-major. B block [kc, nc] -> NR-column panels,
// k-major, zero-padded to NR.

// A's rows (or, transposed, its k-runs) are usually whole cache lines a page or more apart,
// which the hardware prefetchers do not follow across pages; so pack_a fetches them ahead in
// software: a transposed A 16 rows ahead, a plain A the next panel's rows. Zen 5, avx512,
// 1 thread, 3 alternating runs (GFLOP/s): 1024x256x6400 tA (dW = dG^T X, LSTM (a)) 152-157 ->
// 167-175, 2048x512x6400 tA 164-171 -> 175-188, 6400x256x1024 (dx = dG W_ih) 152-158 ->
// 173-188; for 1024x32x6400 tA, where packing dominates, 5.4-5.8 -> 4.3-4.6 ms.
// A plain A's panels then went value by value, a strided store each; W x W transposes in
// registers took the dx GEMMs of a training step (A = dG, cold in cache) from 92 to 98
// GFLOP/s (6400x256x1024, LSTM (a)) and 79 to 89 (6400x128x2048, (b)); avx2 86 -> 93 and
// 79 -> 91; generic 26 -> 34 and 26 -> 28 (Zen 4, 1 thread; the old and new gemm.cpp
// linked into one harness, caches flushed before each call, best of 5-7 alternating runs).
// bench_gemm (warm caches, medians of 2 alternating runs of each build) agrees: avx512
// 84 -> 92 and 73 -> 83, avx2 86 -> 90 and 69 -> 87.
constexpr int64_t kPackAhead = 16;

template <typename T>
void pack_a(bool transA, int64_t mc, int64_t kc, const T* A, int64_t lda, int64_t rows, T* dst) {
  using VT = typename Target<T>::VT;
  constexpr int MR = Target<T>::MR, W = VT::W;
  const int64_t line = 64 / sizeof(T);
  if (transA) {  // A stored (K, M): each k is a contiguous run of mc values
    for (int64_t k = 0; k < kc; ++k) {
      const T* src = A + k * lda;
#if defined(__GNUC__)
      if (k + kPackAhead < kc) {
        const T* next = src + kPackAhead * lda;
        for (int64_t i = 0; i < mc; i += line) __builtin_prefetch(next + i);
        __builtin_prefetch(next + mc - 1);  // the run's last line when it is not aligned
      }
#endif
      T* d = dst + k * MR;
      for (int64_t i0 = 0; i0 < mc; i0 += MR, d += MR * kc) {
        const int mr = static_cast<int>(std::min<int64_t>(MR, mc - i0));
        for (int i = 0; i < mr; ++i) d[i] = src[i0 + i];
      }
    }
    return;
  }
  // A stored (M, K): a panel's k-runs are columns. Whole panels whose MRp rows can be read
  // (the rows past the panel, up to MRp, exist: `rows` counts those of A from here on) go
  // through W x W transposes in registers, W values of k at a time, into tmp and from there
  // MR values per k into the panel; the rest value by value.
  constexpr int MRp = (MR + W - 1) / W * W;
  alignas(64) T tmp[W * MRp];
  for (int64_t i0 = 0; i0 < mc; i0 += MR, dst += MR * kc) {
    const int mr = static_cast<int>(std::min<int64_t>(MR, mc - i0));
    const T* src = A + i0 * lda;
    // the next panel's rows, fetched while this one packs
    const int ahead = static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(MR, mc - i0 - MR)));
    auto prefetch_next = [&](int64_t k) {
#if defined(__GNUC__)
      for (int i = 0; i < ahead; ++i) __builtin_prefetch(src + (MR + i) * lda + k);
#endif
    };
    int64_t k = 0;
    if (mr == MR && i0 + MRp <= rows) {
      for (; k + W <= kc; k += W) {
        if (k % line == 0) prefetch_next(k);
        for (int g = 0; g < MRp; g += W) VT::transpose(src + g * lda + k, lda, tmp + g, MRp);
        for (int c = 0; c < W; ++c) std::copy_n(tmp + c * MRp, MR, dst + (k + c) * MR);
      }
    }
    for (int64_t kk = k; kk < kc; kk += line) prefetch_next(kk);
    prefetch_next(kc - 1);  // the rows' last line when they do not start on one
    for (int i = 0; i < mr; ++i)
      for (int64_t kk = k; kk < kc; ++kk) dst[kk * MR + i] = src[i * lda + kk];
  }
}

// One NR-wide panel of B (k-major) into dst[kc, NR].
template <typename T>
void pack_b_panel(bool transB, int64_t kc, int nr, const T* B, int64_t ldb, T* dst) {
  using VT = typename Target<T>::VT;
  constexpr int W = VT::W, NR = 2 * W;
  if (!transB) {  // B stored (K, N): rows are contiguous
    for (int64_t k = 0; k < kc; ++k) {
      const T* src = B + k * ldb;
      T* d = dst + k * NR;
      int j = 0;
      for (; j < nr; ++j) d[j] = src[j];
      for (; j < NR; ++j) d[j] = T(0);
    }
    return;
  }
  // B stored (N, K): transpose W x W blocks (64x1024x256 B^T: 78 -> 88 GFLOP/s against a
  // scalar gather), one group of W rows at a time so their cache lines are used up together.
  int64_t k = 0;
  if (nr == NR) {
    for (int g = 0; g < NR; g += W)
      for (k = 0; k + W <= kc; k += W) VT::transpose(B + g * ldb + k, ldb, dst + k * NR + g, NR);
  }
  for (; k < kc; ++k) {
    T* d = dst + k * NR;
    int j = 0;
    for (; j < nr; ++j) d[j] = B[j * ldb + k];
    for (; j < NR; ++j) d[j] = T(0);
  }
}

// ---------------------------------------------------------------------------------------
// Blocked GEMM on one thread's sub-problem. Each B panel is packed right before its first use
// (so it is still in L1 for the MR-row tiles that follow) and kept for later MC blocks only if
// there are any. (64x4096x1024, B^T: 36 -> 75 GFLOP/s against packing the whole KC x NC block
// first, which sends it out to L3 and back.)
template <typename T>
void gemm_blocked(bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha,
                  const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  using Tg = Target<T>;
  constexpr int MR = Tg::MR, NR = 2 * Tg::VT::W;
  const int64_t kcs = ceil_div(K, ceil_div(K, Tg::KC));  // balanced K blocks
  const int64_t mcs = round_up(ceil_div(M, ceil_div(M, Tg::MC)), MR);
  const int64_t ncs = std::min<int64_t>(round_up(N, NR), Tg::NC);
  const bool keepB = M > mcs;  // several MC blocks reuse each packed B panel
  Scratch<T>& s = scratch<T>();
  T* Ap = s.a.get(static_cast<size_t>(mcs * kcs));
  T* Bp = s.b.get(static_cast<size_t>((keepB ? ncs : NR) * kcs));

  for (int64_t jc = 0; jc < N; jc += ncs) {
    const int64_t nc = std::min(ncs, N - jc);
    for (int64_t pc = 0; pc < K; pc += kcs) {
      const int64_t kc = std::min(kcs, K - pc);
      const T beta_k = pc == 0 ? beta : T(1);
      for (int64_t ic = 0; ic < M; ic += mcs) {
        const int64_t mc = std::min(mcs, M - ic);
        pack_a(transA, mc, kc, transA ? A + pc * lda + ic : A + ic * lda + pc, lda, M - ic, Ap);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int nr = static_cast<int>(std::min<int64_t>(NR, nc - jr));
          T* bp = keepB ? Bp + jr * kc : Bp;
          if (ic == 0 || !keepB) {
            const T* src = transB ? B + (jc + jr) * ldb + pc : B + pc * ldb + jc + jr;
            pack_b_panel(transB, kc, nr, src, ldb, bp);
          }
          T* c = C + ic * ldc + jc + jr;
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int mr = static_cast<int>(std::min<int64_t>(MR, mc - ir));
            run_microkernel(mr, kc, Ap + ir * kc, bp, c + ir * ldc, ldc, nr, alpha, beta_k);
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// Few-row path for C = op(A) * B with B (K,N) row-major and M <= 8: B is read in place (little
// reuse to pack for), R rows x NV vectors of C stay in registers over a K block of 8 so each B
// row segment is loaded once and used R times, and A is broadcast straight from memory. Short
// K blocks keep B's rows streaming (8 concurrent sequential reads), which the prefetchers follow.
// (1x4096x1024: 5 -> 21 GFLOP/s, 1x512x128: 12 -> 38, 8x1024x256: 34 -> 47, against the packed
// 6x16 kernel; K blocks of 64 instead of 8 lose about a third.)

template <typename VT, int R, int NV, bool Partial>
PYRNN_GEMM_NOINLINE void rows_kernel(int64_t kc, const typename VT::T* a, int64_t a_r,
                                     int64_t a_k, const typename VT::T* b, int64_t ldb,
                                     typename VT::T* c, int64_t ldc, int ncols,
                                     typename VT::T alpha, typename VT::T beta) {
  using T = typename VT::T;
  using V = typename VT::V;
  constexpr int W = VT::W;
  int nv[NV];  // valid lanes per vector (Partial only): never read B past column N
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) nv[v] = std::max(0, std::min(W, ncols - v * W));
  V acc[R][NV];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = VT::zero();
  for (int64_t k = 0; k < kc; ++k) {
    V ar[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) ar[r] = VT::bcast(a + r * a_r + k * a_k);
    const T* bk = b + k * ldb;
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      const V bv = Partial ? VT::load_first(bk + v * W, nv[v]) : VT::load(bk + v * W);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[r][v] = VT::fma(ar[r], bv, acc[r][v]);
    }
  }
  if (!Partial) {
    const V va = VT::set1(alpha), vb = VT::set1(beta);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) {
        T* cv = c + r * ldc + v * W;
        V x = VT::mul(va, acc[r][v]);
        if (beta != T(0)) x = VT::fma(vb, VT::load(cv), x);
        VT::store(cv, x);
      }
  } else {
    alignas(64) T t[R * NV * W];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) VT::store(t + (r * NV + v) * W, acc[r][v]);
    merge_tile(R, ncols, t, NV * W, c, ldc, alpha, beta);
  }
}

template <typename VT, int NV, bool Partial>
void rows_tile(int R, int64_t kc, const typename VT::T* a, int64_t a_r, int64_t a_k,
               const typename VT::T* b, int64_t ldb, typename VT::T* c, int64_t ldc, int ncols,
               typename VT::T alpha, typename VT::T beta) {
#define PYRNN_ROWS_ARGS kc, a, a_r, a_k, b, ldb, c, ldc, ncols, alpha, beta
  switch (R) {
    case 4: return rows_kernel<VT, 4, NV, Partial>(PYRNN_ROWS_ARGS);
    case 3: return rows_kernel<VT, 3, NV, Partial>(PYRNN_ROWS_ARGS);
    case 2: return rows_kernel<VT, 2, NV, Partial>(PYRNN_ROWS_ARGS);
    default: return rows_kernel<VT, 1, NV, Partial>(PYRNN_ROWS_ARGS);
  }
#undef PYRNN_ROWS_ARGS
}

// Rows go in groups of 4 innermost, so a K-block x NB tile of B is loaded from memory once and
// from L1 for the other groups.
template <typename VT, int NV>
void gemm_rows_nv(int64_t M, int64_t N, int64_t K, typename VT::T alpha,
                  const typename VT::T* A, int64_t a_r, int64_t a_k, const typename VT::T* B,
                  int64_t ldb, typename VT::T beta, typename VT::T* C, int64_t ldc,
                  int64_t kcs) {
  using T = typename VT::T;
  constexpr int64_t NB = NV * VT::W;
  for (int64_t pc = 0; pc < K; pc += kcs) {
    const int64_t kc = std::min(kcs, K - pc);
    const T beta_k = pc == 0 ? beta : T(1);
    const T* b = B + pc * ldb;
    for (int64_t j = 0; j < N; j += NB) {
      const int ncols = static_cast<int>(std::min(NB, N - j));
      for (int64_t i = 0; i < M; i += 4) {
        const int R = static_cast<int>(std::min<int64_t>(4, M - i));
        const T* a = A + i * a_r + pc * a_k;
        T* c = C + i * ldc + j;
        if (ncols == NB)
          rows_tile<VT, NV, false>(R, kc, a, a_r, a_k, b + j, ldb, c, ldc, ncols, alpha, beta_k);
        else
          rows_tile<VT, NV, true>(R, kc, a, a_r, a_k, b + j, ldb, c, ldc, ncols, alpha, beta_k);
      }
    }
  }
}

// NV vectors per row: R * NV >= 8 accumulators to cover FMA latency, within 16 registers.
template <typename T>
void gemm_rows(bool transA, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
               const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  using VT = typename Target<T>::VT;
  const int64_t a_r = transA ? 1 : lda, a_k = transA ? lda : 1;
  const int64_t kcs = ceil_div(K, ceil_div(K, Target<T>::KC_ROWS));
  switch (M) {
    case 1: return gemm_rows_nv<VT, 8>(M, N, K, alpha, A, a_r, a_k, B, ldb, beta, C, ldc, kcs);
    case 2: return gemm_rows_nv<VT, 4>(M, N, K, alpha, A, a_r, a_k, B, ldb, beta, C, ldc, kcs);
    case 3: return gemm_rows_nv<VT, 3>(M, N, K, alpha, A, a_r, a_k, B, ldb, beta, C, ldc, kcs);
    default: return gemm_rows_nv<VT, 2>(M, N, K, alpha, A, a_r, a_k, B, ldb, beta, C, ldc, kcs);
  }
}

// ---------------------------------------------------------------------------------------
// Dot-product path for C = A * B^T with A (M,K), B (N,K) both row-major: each output is a dot
// product of two contiguous rows, so B (the weight matrix) is streamed once with no packing.
// Used for few-row products (a recurrent step). R x S tile of dot products, vector accumulators.

template <typename VT, int R, int S>
PYRNN_GEMM_NOINLINE void dot_tile(int64_t K, const typename VT::T* a, int64_t lda,
                                  const typename VT::T* b, int64_t ldb, typename VT::T* c,
                                  int64_t ldc, typename VT::T alpha, typename VT::T beta) {
  using T = typename VT::T;
  using V = typename VT::V;
  constexpr int W = VT::W;
  V acc[R][S];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int s = 0; s < S; ++s) acc[r][s] = VT::zero();
  int64_t k = 0;
  for (; k + W <= K; k += W) {
    V bv[S];
#pragma GCC unroll 8
    for (int s = 0; s < S; ++s) bv[s] = VT::load(b + s * ldb + k);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const V av = VT::load(a + r * lda + k);
#pragma GCC unroll 8
      for (int s = 0; s < S; ++s) acc[r][s] = VT::fma(av, bv[s], acc[r][s]);
    }
  }
  if (k < K) {
    const int rem = static_cast<int>(K - k);
    V bv[S];
#pragma GCC unroll 8
    for (int s = 0; s < S; ++s) bv[s] = VT::load_first(b + s * ldb + k, rem);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const V av = VT::load_first(a + r * lda + k, rem);
#pragma GCC unroll 8
      for (int s = 0; s < S; ++s) acc[r][s] = VT::fma(av, bv[s], acc[r][s]);
    }
  }
  // Four reductions at once (AVX2: 11 instead of 24 instructions; 16x1024x256: +5%).
  constexpr int RS = R * S;
  T sum[RS];
  int q = 0;
#pragma GCC unroll 8
  for (; q + 4 <= RS; q += 4)
    VT::hsum4(acc[q / S][q % S], acc[(q + 1) / S][(q + 1) % S], acc[(q + 2) / S][(q + 2) % S],
              acc[(q + 3) / S][(q + 3) % S], sum + q);
#pragma GCC unroll 8
  for (; q < RS; ++q) sum[q] = VT::hsum(acc[q / S][q % S]);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int s = 0; s < S; ++s) {
      T* cij = c + r * ldc + s;
      const T v = alpha * sum[r * S + s];
      *cij = beta == T(0) ? v : v + beta * *cij;
    }
}

// Columns [0, n) of an R-row strip in tiles of S, then one narrower tile for the rest.
template <typename VT, int R, int S>
void dot_strip(int64_t n, int64_t K, const typename VT::T* a, int64_t lda,
               const typename VT::T* b, int64_t ldb, typename VT::T* c, int64_t ldc,
               typename VT::T alpha, typename VT::T beta) {
  int64_t j = 0;
  for (; j + S <= n; j += S)
    dot_tile<VT, R, S>(K, a, lda, b + j * ldb, ldb, c + j, ldc, alpha, beta);
  if constexpr (S > 1) {
    if (j < n)
      dot_strip<VT, R, S - 1>(n - j, K, a, lda, b + j * ldb, ldb, c + j, ldc, alpha, beta);
  }
}

// Register budget (AVX2, 16 ymm): R*S accumulators + S + 1 loads. Rows come in fours; the
// leftover 1-3 rows use wider strips so the FMA chains stay >= 8 deep.
template <typename T>
void gemm_dot(int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
              int64_t ldb, T beta, T* C, int64_t ldc) {
  using VT = typename Target<T>::VT;
  constexpr int64_t JB = 24;  // B rows per block: reused from L1/L2 by every row strip
  for (int64_t j0 = 0; j0 < N; j0 += JB) {
    const int64_t n = std::min(JB, N - j0);
    const T* b = B + j0 * ldb;
    T* c = C + j0;
    int64_t i = 0;
#define PYRNN_DOT_ARGS n, K, A + i * lda, lda, b, ldb, c + i * ldc, ldc, alpha, beta
    for (; i + 4 <= M; i += 4) dot_strip<VT, 4, 3>(PYRNN_DOT_ARGS);
    switch (M - i) {
      case 3: dot_strip<VT, 3, 4>(PYRNN_DOT_ARGS); break;
      case 2: dot_strip<VT, 2, 6>(PYRNN_DOT_ARGS); break;
      case 1: dot_strip<VT, 1, 8>(PYRNN_DOT_ARGS); break;
      default: break;
    }
#undef PYRNN_DOT_ARGS
  }
}

// ---------------------------------------------------------------------------------------
// Thread partition: a tm x tn grid of C blocks, one per thread, each solved independently
// (no shared buffers, no barriers; every C element is summed in the same order whatever the
// thread count). Picks the grid with the least per-thread work, counting packing.

struct Grid {
  int tm = 1, tn = 1;
  int64_t mb = 0, nb = 0;  // rows / cols per block (multiples of the granularity)
};

Grid choose_grid(int nt, int64_t M, int64_t N, int64_t gm, int64_t gn) {
  Grid best;
  double best_cost = -1;
  for (int tm = 1; tm <= nt; ++tm) {
    if (nt % tm) continue;
    const int tn = nt / tm;
    const int64_t mb = round_up(ceil_div(M, tm), gm), nb = round_up(ceil_div(N, tn), gn);
    const double cost = double(mb) * double(nb) + 8.0 * double(mb + nb);
    if (best_cost < 0 || cost < best_cost) {
      best_cost = cost;
      best.tm = tm;
      best.tn = tn;
      best.mb = mb;
      best.nb = nb;
    }
  }
  return best;
}

// Below this many multiply-adds, stay on one thread. Fork/join costs ~1 us (1x256x64 B^T: 38 ->
// 25 GFLOP/s on 2 threads; 1x512x128: 34 -> 48; 4x512x128: 64 -> 103), but on a shared machine
// a descheduled worker stalls the call for a whole time slice, so tiny calls stay serial.
constexpr double kParallelMinWork = 1 << 17;
// Largest M (rows of C) for the dot-product path (B^T) and the few-row path (B): measured
// crossovers with the packed path.
constexpr int64_t kDotMaxM = 32;
constexpr int64_t kRowsMaxM = 8;

}  // namespace

template <typename T>
void gemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == T(0)) {
    scale_matrix(M, N, beta, C, ldc);
    return;
  }
  constexpr int MR = Target<T>::MR, NR = 2 * Target<T>::VT::W;
  const bool dot = transB && !transA && (M <= kDotMaxM || N < NR);
  const bool rows = !transB && M <= kRowsMaxM;
  const int64_t gm = dot ? 4 : rows ? M : MR, gn = dot ? 24 : rows ? 64 : NR;

  const double work = double(M) * double(N) * double(K);
  int nt = work < kParallelMinWork ? 1 : get_num_threads();
  nt = static_cast<int>(std::min<int64_t>(nt, ceil_div(M, gm) * ceil_div(N, gn)));
  nt = std::max(nt, 1);
  const Grid g = choose_grid(nt, M, N, gm, gn);

  auto block = [&](int t) {
    const int64_t i0 = (t / g.tn) * g.mb, j0 = (t % g.tn) * g.nb;
    if (i0 >= M || j0 >= N) return;
    const int64_t m = std::min(g.mb, M - i0), n = std::min(g.nb, N - j0);
    const T* a = transA ? A + i0 : A + i0 * lda;
    const T* b = transB ? B + j0 * ldb : B + j0;
    T* c = C + i0 * ldc + j0;
    if (dot)
      gemm_dot(m, n, K, alpha, a, lda, b, ldb, beta, c, ldc);
    else if (rows)
      gemm_rows(transA, m, n, K, alpha, a, lda, b, ldb, beta, c, ldc);
    else
      gemm_blocked(transA, transB, m, n, K, alpha, a, lda, b, ldb, beta, c, ldc);
  };
  const int blocks = g.tm * g.tn;
  if (nt == 1) {
    block(0);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
  {
    // The team may be smaller than asked (nested region): its threads share the blocks.
    const int tid = omp_get_thread_num(), team = omp_get_num_threads();
    for (int t = tid; t < blocks; t += team) block(t);
  }
#else
  for (int t = 0; t < blocks; ++t) block(t);
#endif
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*,
                           int64_t, const double*, int64_t, double, double*, int64_t);

}  // namespace PYRNN_TARGET_NS
}  // namespace pyrnn
